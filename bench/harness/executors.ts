/**
 * Where the bench's probes run: inline (built-in getProbe on the main thread) or in the probe
 * pool (src/executors/pool/executor.ts). The pool is loaded at run time and used through the few
 * members the bench needs, so the harness still runs its inline cells, and says why the pool
 * ones were skipped, in a build without the pool.
 */
import { Recorder } from '../../src/telemetry/recorder.js';
import { messageOf } from '../../src/errors.js';
import { InlineExecutor } from '../../src/executors/inline.js';
import type { S3BackendOptions } from '../../src/backends/s3-backend.js';
import type { Probe } from '../../src/types.js';
import type { ExecutorKind } from './types.js';

/** A probe factory plus the recorder its usage and hedge metrics go to. */
export interface BenchExecutor {
  kind: ExecutorKind;
  recorder: Recorder;
  probe(key: string): Probe<unknown>;
  close(): Promise<void>;
  /** Worker threads (pool executors). */
  threads?: number;
}

/** How pool workers build the world's backends. */
export interface PoolBackends {
  /** S3 backends the workers connect to (s3 world). */
  backends?: S3BackendOptions[];
  /** A module whose createBackends(backendData) builds them in each worker (sim world). */
  backendModule?: string;
  backendData?: unknown;
}

interface PoolLike {
  get(key: string, opts?: { verify?: boolean }): Probe<unknown>;
  close(): Promise<void>;
  stats(): { threads: number };
}
type PoolCtor = new (opts: PoolBackends & { recorder: Recorder; threads?: number; storageKeys?: boolean }) => PoolLike;

/**
 * The worlds store every object at its key (no s3-orchestrator storage keys), so degraded probes
 * read it at once (`broadcast.storage_keys: false`): the strategies are measured, not the listing
 * a storage-key fleet adds before each backend's read.
 */
const STORAGE_KEYS = false;

// A variable specifier: the harness compiles and runs whether or not the pool module exists.
const POOL_MODULE = '../../src/executors/pool/executor.js';

/** Open the pool executor over `backends`, or say why it cannot run here. */
export async function openPoolExecutor(backends: PoolBackends, threads?: number): Promise<BenchExecutor | { skip: string }> {
  let ctor: PoolCtor | undefined;
  try {
    const mod = (await import(POOL_MODULE)) as { PoolExecutor?: PoolCtor };
    ctor = mod.PoolExecutor;
  } catch (err) {
    return { skip: `pool executor not available (${POOL_MODULE}: ${messageOf(err)})` };
  }
  if (typeof ctor !== 'function') return { skip: `pool executor not available (${POOL_MODULE} exports no PoolExecutor)` };
  const recorder = new Recorder();
  let pool: PoolLike;
  try {
    pool = new ctor({ recorder, storageKeys: STORAGE_KEYS, ...backends, ...(threads !== undefined ? { threads } : {}) });
  } catch (err) {
    return { skip: `pool executor failed to start: ${messageOf(err)}` };
  }
  return {
    kind: 'pool',
    recorder,
    threads: pool.stats().threads,
    probe: (key) => pool.get(key, { verify: false }),
    close: () => pool.close(),
  };
}

/** Probes on the main thread (the built-in GET probe), with their own recorder. */
export function inlineExecutor(): BenchExecutor {
  const recorder = new Recorder();
  const executor = new InlineExecutor({ recorder, storageKeys: STORAGE_KEYS });
  return { kind: 'inline', recorder, probe: (key) => executor.get(key, { verify: false }), close: async () => {} };
}
