/**
 * The pool executor's options and defaults, and where its worker entry lives.
 */
import type { ResourceLimits } from 'node:worker_threads';
import type { S3BackendOptions } from '../../backends/s3-backend.js';
import { DEFAULT_TASKS_PER_THREAD, defaultThreads } from '../../config/runtime-defaults.js';
import type { DispatchOptions } from '../executor.js';
import { siblingModule } from '../../sibling-module.js';

export { DEFAULT_TASKS_PER_THREAD };
/**
 * Drain bound of {@link PoolExecutor.close} (and of the inline executor's writes under `out`)
 * for an executor closed without one; a ReadPath passes its `circuit_breaker.drain_timeout`.
 */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/** Worker threads when none are configured: the same default as `runtime.threads`. */
export function defaultPoolThreads(): number {
  return defaultThreads();
}

/** Options of {@link PoolExecutor}. */
export interface PoolExecutorOptions extends DispatchOptions {
  /** S3 backends every worker builds once (its keep-alive sockets live in the worker). */
  backends?: S3BackendOptions[];
  /**
   * A module (path or file: URL) whose `createBackends(data)` (or default export) returns the
   * backends a worker serves, built inside the worker from `backendData` — for tests and
   * embedding. May be combined with `backends`.
   */
  backendModule?: string | URL;
  /** Structured-cloneable data for `backendModule` (SharedArrayBuffers are shared). */
  backendData?: unknown;
  /**
   * `server.backend_timeout` in ms (0 or absent: none): the bound of a probe on a backend that
   * does not bound its own calls — those `backendModule` builds.
   */
  probeTimeoutMs?: number;
  /** Worker threads (runtime.threads). Default {@link defaultPoolThreads}. */
  threads?: number;
  /** Concurrent probes per worker (runtime.tasks_per_thread). Default 32. */
  tasksPerThread?: number;
  /** Probes dispatched to workers at once (runtime.max_in_flight). Default threads × tasksPerThread. */
  maxInFlight?: number;
  /**
   * Probes that may wait inside the executor beyond `maxInFlight` before new ones are refused
   * with `EXECUTOR_SATURATED`. Default 16 × maxInFlight. A coordinator honouring
   * {@link PoolExecutor.whenCapacity} never gets near it.
   */
  maxWaiting?: number;
  /**
   * Niceness (0..19) of the worker threads (Linux; ignored elsewhere). Above 0, the main thread
   * — the coordinator choosing winners and feeding the workers — gets the CPU first when the
   * machine is saturated, which keeps its event loop responsive. Default 0.
   */
  workerNice?: number;
  /** Per-worker V8 heap limits; a worker over them dies and only its probes fail. */
  resourceLimits?: ResourceLimits;
  /** The worker entry (tests); default workers/probe-worker.{ts,js} next to this module. */
  workerFilename?: string | URL;
}

/** Extra options of {@link PoolExecutor.fromConfig}. */
export type PoolFromConfigOptions = Omit<PoolExecutorOptions, 'backends' | 'threads' | 'tasksPerThread' | 'maxInFlight'>;

/**
 * The worker entry beside this module: `.ts` when running from source under tsx (worker
 * threads inherit its `--import`), the compiled `.js` in dist/.
 */
export function defaultWorkerFilename(): string {
  return siblingModule(import.meta.url, '../../../workers/probe-worker').href;
}
