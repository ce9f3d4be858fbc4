/**
 * Worlds for executor tests: a scripted fleet, an executor of either kind over it, and Failovers
 * whose Core sees the fleet's backends — the same setup for inline and pool, so one suite's
 * assertions hold for both.
 */
import { Recorder } from '../../src/telemetry/recorder.js';
import { MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { Failover, type FailoverOptions } from '../../src/engine/failover.js';
import { InlineExecutor } from '../../src/executors/inline.js';
import type { ProbeExecutor } from '../../src/executors/executor.js';
import { PoolExecutor, type PoolExecutorOptions } from '../../src/executors/pool/executor.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { Core, ObjectBackend } from '../../src/types.js';
import { SCRIPTED_BACKENDS_MODULE, ScriptedFleet, type ScriptedBackendSpec } from './scripted-backends.js';

/** Which executor a suite runs on. */
export type ExecutorKind = 'inline' | 'pool';

/** An executor over a scripted fleet. */
export interface ExecutorWorld {
  kind: ExecutorKind;
  fleet: ScriptedFleet;
  recorder: Recorder;
  executor: ProbeExecutor;
  backends: Map<string, ObjectBackend>;
  /** A Failover over `names` (default: every backend, in fleet order) sharing the recorder. */
  failover(opts?: Partial<FailoverOptions> & { names?: readonly string[] }): { failover: Failover; store: MemoryMetadataStore; cache: MemoryLocationCache };
  close(): Promise<void>;
}

/**
 * Build a world; `pool` options override the small test defaults (2 threads × 16 tasks); its
 * `breakers` and `storageKeys` apply to an inline executor too.
 */
export function executorWorld(kind: ExecutorKind, specs: ScriptedBackendSpec[], pool: Partial<PoolExecutorOptions> = {}): ExecutorWorld {
  const fleet = new ScriptedFleet(specs);
  const recorder = new Recorder();
  const backends = fleet.createBackends();
  const executor: ProbeExecutor = kind === 'inline'
    ? new InlineExecutor({ recorder, ...(pool.breakers === undefined ? {} : { breakers: pool.breakers }), ...(pool.storageKeys === undefined ? {} : { storageKeys: pool.storageKeys }) })
    : new PoolExecutor({
      recorder,
      backendModule: SCRIPTED_BACKENDS_MODULE,
      backendData: fleet.data,
      threads: 2,
      tasksPerThread: 16,
      ...pool,
    });
  return {
    kind,
    fleet,
    recorder,
    executor,
    backends,
    failover(opts = {}) {
      const names = opts.names ?? fleet.names;
      const core: Core = {
        backends: () => backends,
        backendOrder: () => names,
        acct: () => recorder,
      };
      const store = new MemoryMetadataStore();
      const cache = new MemoryLocationCache({ ttlMs: 60_000, maxEntries: 1000 });
      return { failover: new Failover({ core, stores: store, cache, ...opts }), store, cache };
    },
    close: () => executor.close(),
  };
}

/**
 * Wait (bounded) until `cond()` holds, polling each event-loop turn then each millisecond.
 * Worker threads run on their own clock, so cross-thread state is awaited, never assumed.
 */
export async function until(cond: () => boolean, what: string, maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (let i = 0; !cond(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => (i < 50 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
}
