/**
 * Opening a reader over chaos backends with either executor: `inline` is a ReadPath over the
 * backends built here; `pool` runs every probe in worker threads that build the same backends
 * from the plan. ReadPath runs backend objects inline only (they cannot cross threads) and takes
 * no backend module yet, so `pool` is the same engine assembled in chaos-engine.ts; once
 * ReadPath.open forwards `backendModule`/`backendData` to its pool, open a ReadPath here too.
 */
import { ReadPath } from '../../src/read-path.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { MetadataStore } from '../../src/types.js';
import { createBackends, type ChaosPlan } from './chaos-backends.js';
import { openPoolEngine, type ChaosReader } from './chaos-engine.js';

/** A test config's duration (`'2ms'`, `'1s'`, or ms as a number). */
function durationMs(v: unknown): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(String(v));
  if (m === null) throw new Error(`chaos-reader: unsupported duration ${String(v)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export type { ChaosReader } from './chaos-engine.js';

/** Executors the chaos suites run on. */
export type ChaosExecutor = 'inline' | 'pool';

/** The executors chaos backends can run on. */
export function chaosExecutors(): ChaosExecutor[] {
  return ['inline', 'pool'];
}

/** Open a reader over the plan's backends and `store`. */
export async function openChaosReader(kind: ChaosExecutor, config: ReadPathConfig, plan: ChaosPlan, store: MetadataStore): Promise<ChaosReader> {
  if (kind === 'pool') {
    // The same knobs ReadPath would take from this config.
    const cb = config.circuit_breaker;
    const h = config.hedging;
    const p = cb?.degraded_broadcast_parallelism;
    return openPoolEngine(plan, store, {
      parallelBroadcast: cb?.parallel_broadcast === true,
      ...(typeof p === 'number' ? { degradedBroadcastParallelism: p } : {}),
      ...(h?.enabled === true ? {
        hedging: { enabled: true, delayMs: h.delay === 'auto' ? 'auto' : durationMs(h.delay), locatedReads: h.located_reads === true, ...(typeof h.max_extra_load === 'number' ? { maxExtraLoad: h.max_extra_load } : {}) },
      } : {}),
    });
  }
  return ReadPath.open({ ...config, runtime: { mode: 'inline' } }, { backends: createBackends(plan), store });
}
