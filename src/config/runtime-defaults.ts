/**
 * The `runtime:` defaults, apart from the rest of the configuration code: the CLI's early pool
 * start (executors/pool/prestart.ts) needs them before the schema and its validator are loaded.
 */
import { availableParallelism } from 'node:os';

/** Default concurrent probes per worker (runtime.tasks_per_thread). */
export const DEFAULT_TASKS_PER_THREAD = 32;

/** Most worker threads chosen by default, whatever the core count. */
export const MAX_DEFAULT_THREADS = 8;

/**
 * Worker threads when `runtime.threads` is not set: one per core but the main thread's, at
 * least 1, at most 8. On the 2-core machine the pool bench measured one worker giving lower
 * main-loop delay and less CPU per read than two (the coordinator needs a core too).
 */
export function defaultThreads(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, availableParallelism() - 1));
}

/**
 * Worker threads for `readpath batch` when `runtime.threads` is not set: one per core, at most
 * 8. A batch's main thread only dispatches (idle 70-95% of a run, bench/RESULTS.md), so the
 * core {@link defaultThreads} leaves it is better spent on a second worker: on the 2-core
 * machine, 400 x 1 MiB and 20,000 x 4 KiB `batch --out` runs were 13% and 19-28% faster with
 * two workers than with one (alternating runs, same sitting).
 */
export function batchThreads(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, availableParallelism()));
}

/** The most gateway processes `server.processes` (and `serve --processes`) may ask for. */
export const MAX_PROCESSES = 256;

/** Gateway processes for a `server.processes` / `--processes` value: 0 is one per core, unset is 1. */
export function processCount(n: number | undefined): number {
  return n === 0 ? availableParallelism() : n ?? 1;
}
