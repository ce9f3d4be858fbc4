/**
 * Starting the probe pool's workers before the configuration is read. A worker spends ~0.2 s
 * loading its code (its own V8 isolate, piscina's runner, the probe, the S3 transport) and the
 * CLI's main thread ~0.3 s loading its own and the configuration; started one after the other,
 * a `readpath batch` waits for both before its first GET. Workers take their configuration by
 * message (protocol.ts: `init`), so they can be started first and the two loads overlap.
 *
 * {@link prestartProbePool} starts a pool of the default shape; the next {@link PoolExecutor}
 * whose configuration gives the same shape adopts it ({@link takePrestartedPool}) instead of
 * starting its own. A configuration of another shape (say `runtime.threads: 4`) starts its own
 * pool and {@link discardPrestartedPool} stops the unused one. Process-wide, one at a time: this
 * is for a program's start (the CLI's `batch` and `serve`), not for libraries.
 */
import { randomUUID } from 'node:crypto';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { DEFAULT_TASKS_PER_THREAD, defaultPoolThreads, defaultWorkerFilename } from './options.js';
import { PROBE_PROTOCOL, type ProbeWorkerStart, type TaskBatch } from './protocol.js';

/** What fixes a pool's piscina options; two pools of equal shape are interchangeable. */
export interface PoolShape {
  /** The worker entry (a file: URL). */
  filename: string;
  threads: number;
  /** Probes one worker runs at once (runtime.tasks_per_thread). */
  perThread: number;
  /** Probes dispatched at once (runtime.max_in_flight): piscina's queue must hold them all. */
  maxQueue: number;
  resourceLimits?: ResourceLimits | undefined;
}

/** The probe pool's piscina, its workers told to listen on `start.channel`. */
export function newProbePiscina(shape: PoolShape, start: ProbeWorkerStart): Piscina<TaskBatch, number> {
  const pool = new Piscina<TaskBatch, number>({
    filename: shape.filename,
    minThreads: shape.threads,
    maxThreads: shape.threads,
    concurrentTasksPerWorker: shape.perThread,
    // The default freezes an idle worker's loop, and with it its keep-alive sockets and timers.
    atomics: 'disabled',
    // Every dispatched probe must fit, including while a crashed worker is being replaced.
    maxQueue: shape.maxQueue,
    idleTimeout: Number.POSITIVE_INFINITY,
    workerData: start,
    ...(shape.resourceLimits !== undefined ? { resourceLimits: shape.resourceLimits } : {}),
  });
  // A worker dying with no task in flight is reported here; without a listener it would crash the process.
  pool.on('error', () => {});
  return pool;
}

/**
 * The shape of a pool built from a configuration without a `runtime` section (`threads`: the
 * default the program opens its configuration with).
 */
export function defaultPoolShape(threads = defaultPoolThreads()): PoolShape {
  return { filename: defaultWorkerFilename(), threads, perThread: DEFAULT_TASKS_PER_THREAD, maxQueue: threads * DEFAULT_TASKS_PER_THREAD };
}

interface Prestarted {
  pool: Piscina<TaskBatch, number>;
  shape: PoolShape;
  channel: string;
}

let prestarted: Prestarted | undefined;

function sameShape(a: PoolShape, b: PoolShape): boolean {
  return a.filename === b.filename && a.threads === b.threads && a.perThread === b.perThread && a.maxQueue === b.maxQueue
    && a.resourceLimits === undefined && b.resourceLimits === undefined;
}

/**
 * Start a pool of `shape` (default: {@link defaultPoolShape}) whose workers load the default
 * S3 transport and then wait for their configuration; returns it (owned by this module until
 * taken or discarded). When one is already waiting, returns that one.
 */
export function prestartProbePool(shape: PoolShape = defaultPoolShape()): Piscina<TaskBatch, number> {
  if (prestarted !== undefined) return prestarted.pool;
  const channel = `readpath-probes-${randomUUID()}`;
  prestarted = { pool: newProbePiscina(shape, { protocol: PROBE_PROTOCOL, channel, warm: true }), shape, channel };
  return prestarted.pool;
}

/** The prestarted pool, if it has `shape`; it is then the caller's (and no longer discardable). */
export function takePrestartedPool(shape: PoolShape): { pool: Piscina<TaskBatch, number>; channel: string } | undefined {
  if (prestarted === undefined || !sameShape(prestarted.shape, shape)) return undefined;
  const { pool, channel } = prestarted;
  prestarted = undefined;
  return { pool, channel };
}

/** Stop the prestarted pool if nobody took it (its threads end before this resolves). */
export async function discardPrestartedPool(): Promise<void> {
  const p = prestarted;
  prestarted = undefined;
  await p?.pool.destroy();
}

/** True while a prestarted pool waits to be taken. */
export function hasPrestartedPool(): boolean {
  return prestarted !== undefined;
}
