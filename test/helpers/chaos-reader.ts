/**
 * Opening a ReadPath over chaos backends with either executor: inline (the backends are built
 * here) or pool (every worker builds them from the same plan through the backend module).
 */
import { ReadPath } from '../../src/runtime/read-path.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { MetadataStore } from '../../src/types.js';
import { createBackends, type ChaosPlan } from './chaos-backends.js';

/** Executors the chaos suites run on. */
export type ChaosExecutor = 'inline' | 'pool';

/** The executors ReadPath can run chaos backends on. */
export function chaosExecutors(): ChaosExecutor[] {
  return ['inline'];
}

/** Open a reader over the plan's backends and `store`. */
export async function openChaosReader(kind: ChaosExecutor, config: ReadPathConfig, plan: ChaosPlan, store: MetadataStore): Promise<ReadPath> {
  if (kind === 'pool') throw new Error('pool executor not wired into ReadPath yet');
  return ReadPath.open({ ...config, runtime: { mode: 'inline' } }, { backends: createBackends(plan), store });
}
