/**
 * Opening a reader over chaos backends with either executor: `inline` is a ReadPath over the
 * backends built here; `pool` runs every probe in worker threads that build the same backends
 * from the plan. ReadPath runs backend objects inline only (they cannot cross threads) and takes
 * no backend module yet, so `pool` is the same engine assembled in chaos-engine.ts; once
 * ReadPath.open forwards `backendModule`/`backendData` to its pool, open a ReadPath here too.
 */
import { ReadPath } from '../../src/runtime/read-path.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { MetadataStore } from '../../src/types.js';
import { createBackends, type ChaosPlan } from './chaos-backends.js';
import { openPoolEngine, type ChaosReader } from './chaos-engine.js';

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
    const cb = config.circuit_breaker;
    return openPoolEngine(plan, store, { parallelBroadcast: cb?.parallel_broadcast === true });
  }
  return ReadPath.open({ ...config, runtime: { mode: 'inline' } }, { backends: createBackends(plan), store });
}
