/**
 * The pool executor over chaos backends, assembled the way ReadPath assembles its engine —
 * Failover over a breaker-wrapped store and a location cache, the batch coordinator, GET probes
 * that verify — because ReadPath cannot run backends given as objects in its pool (they cannot
 * cross threads) and takes no `backendModule` yet. The pool builds the chaos backends in every
 * worker from the same plan (chaos-backends.ts is a backend module), so a kill switch in the
 * plan takes a worker down mid-probe. Replace with ReadPath once OpenOptions forwards a
 * `backendModule`/`backendData` to PoolExecutor.fromConfig.
 */
import { Recorder } from '../../src/telemetry/recorder.js';
import { MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { Failover } from '../../src/engine/failover.js';
import { createHedging, type HedgingOptions } from '../../src/policies/hedging.js';
import { PoolExecutor } from '../../src/executors/pool/executor.js';
import { runBatch } from '../../src/engine/batch.js';
import { CircuitBreakerStore } from '../../src/policies/store-breaker.js';
import { assertValidKey } from '../../src/engine/keys.js';
import type { BatchOutcome, GetOutcome, HeadOutcome } from '../../src/read-path.js';
import type { MetadataStore, Probe } from '../../src/types.js';
import { hasCode } from '../../src/errors.js';
import { CHAOS_BACKENDS_MODULE, createBackends, type ChaosPlan } from './chaos-backends.js';

/** The part of ReadPath the chaos suites use. */
export interface ChaosReader {
  get(key: string, opts?: { signal?: AbortSignal }): Promise<GetOutcome>;
  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadOutcome>;
  readMany(keys: Iterable<string>, opts?: { concurrency?: number; op?: 'get' | 'head'; signal?: AbortSignal }): AsyncIterable<BatchOutcome>;
  close(): Promise<void>;
  /** Keys one of whose probes died with its worker (pool only). */
  readonly workerDeaths?: ReadonlySet<string>;
}

/** A pooled engine over the plan's backends and `store`. */
export function openPoolEngine(plan: ChaosPlan, store: MetadataStore, opts: {
  threads?: number;
  parallelBroadcast?: boolean;
  degradedBroadcastParallelism?: number;
  hedging?: HedgingOptions;
} = {}): ChaosReader {
  const recorder = new Recorder();
  const backends = new Map(createBackends(plan).map((b) => [b.name, b]));
  const cache = new MemoryLocationCache({ ttlMs: 60_000, maxEntries: 100_000 });
  const breaker = new CircuitBreakerStore(store, { failureThreshold: 3, openTimeoutMs: 20, onClose: () => cache.clear() });
  const failover = new Failover({
    core: { backends: () => backends, backendOrder: () => plan.names, acct: () => recorder },
    stores: breaker,
    cache,
    parallelBroadcast: opts.parallelBroadcast ?? true,
    degradedBroadcastParallelism: opts.degradedBroadcastParallelism ?? 0,
    ...(opts.hedging === undefined ? {} : { hedgePolicy: createHedging({ ...opts.hedging, recorder }) }),
  });
  const executor = new PoolExecutor({ recorder, backendModule: CHAOS_BACKENDS_MODULE, backendData: plan, threads: opts.threads ?? 2 });
  const workerDeaths = new Set<string>();
  /** Note the keys whose probe was lost with a dying worker (dispatched to it, begun or not). */
  const watch = <T>(key: string, probe: Probe<T>): Probe<T> => (req) => probe(req).catch((err: unknown) => {
    if (hasCode(err, 'WORKER_LOST')) workerDeaths.add(key);
    throw err;
  });
  const get = (key: string, signal?: AbortSignal): Promise<GetOutcome> => {
    try {
      assertValidKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    return failover.read('GetObject', key, watch(key, executor.get(key, { verify: true })), signal === undefined ? undefined : { signal })
      .then((o) => ({ key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...o.value }));
  };
  const head = (key: string, signal?: AbortSignal): Promise<HeadOutcome> => {
    try {
      assertValidKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    return failover.read('HeadObject', key, watch(key, executor.head(key)), signal === undefined ? undefined : { signal })
      .then((o) => ({ key, backend: o.backend, degraded: o.degraded, failover: o.failover, ...o.value }));
  };
  return {
    get: (key, o) => get(key, o?.signal),
    head: (key, o) => head(key, o?.signal),
    readMany: (keys, o = {}) => runBatch<{ key: string; ok: true } & (GetOutcome | HeadOutcome)>(keys, (key, signal) =>
      (o.op === 'head' ? head(key, signal) : get(key, signal)).then(({ key: _k, ...rest }) => rest), {
      concurrency: o.concurrency ?? 64,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
    }) as AsyncIterable<BatchOutcome>,
    // Probes stuck in a black hole never finish: give the drain a short bound.
    close: () => executor.close({ timeoutMs: 1000 }),
    workerDeaths,
  };
}
