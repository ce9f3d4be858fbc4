/**
 * The messages between the pool executor (main thread) and its probe actors (workers).
 * Everything here is plain data: a pooled task is a {@link ProbeTask} plus the carrier's own
 * routing fields, a verdict travels in its wire form (errors as SerializedError: structured clone
 * of Error subclasses loses `code` and `cause`; bodies and transform results transferred).
 *
 * Work travels in batches both ways, so a probe costs no message of its own: the tasks the main
 * thread dispatches in one turn go to a worker as one piscina task (a {@link TaskBatch}), and a
 * worker answers the verdicts that completed in one turn of its loop in one {@link VerdictBatch}
 * on its parent port, as they complete — a slow probe never holds back the others' answers.
 * The batch's own piscina result only says the worker is done with it.
 */
import type { UsageLimitKind } from '../../errors.js';
import type { ProbeTask, Verdict } from '../../probe/task.js';
import type { S3BackendOptions } from '../../backends/s3-backend.js';
import type { EncryptionSettings } from '../../encryption/settings.js';

/** Version of this protocol; a worker refuses tasks of another version. */
export const PROBE_PROTOCOL = 3;

/** A probe task as the pool carries it. */
export interface PooledTask extends ProbeTask {
  /** Unique per executor: names the probe in cancel and usage messages. */
  id: number;
  /** Index of this probe's cancel flag in the shared flag array. */
  slot: number;
}

/** Main → a worker: probes dispatched together (one piscina task). */
export interface TaskBatch {
  tasks: PooledTask[];
}

/** Worker → main, on the worker's parent port: verdicts that completed together. */
export interface VerdictBatch {
  readpathVerdicts: true;
  /** Task ids, in the order of `verdicts`. */
  ids: number[];
  verdicts: Verdict[];
}

/** True when `m` is a {@link VerdictBatch}. */
export function isVerdictBatch(m: unknown): m is VerdictBatch {
  return typeof m === 'object' && m !== null && (m as { readpathVerdicts?: unknown }).readpathVerdicts === true;
}

/** Main → workers, on the pool's broadcast channel. */
export type ControlMessage =
  | { t: 'init'; data: ProbeWorkerData }
  | { t: 'cancel'; id: number; why: string }
  | { t: 'grant'; id: number; limit: UsageLimitKind | null };

/**
 * Worker → main, on the worker's parent port: the worker has loaded its code and listens on the
 * channel; the executor answers with `init` (again: a worker ignores an init after its first).
 */
export interface ReadyMessage {
  readpathReady: true;
}

/** True when `m` is a {@link ReadyMessage}. */
export function isReadyMessage(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { readpathReady?: unknown }).readpathReady === true;
}

/**
 * Worker → main, on the worker's parent port: reserve egress before reading a body, or (`api`)
 * API requests before sending one admission did not reserve. Answered by a `grant`.
 */
export interface ReserveMessage {
  readpathReserve: true;
  id: number;
  backend: string;
  bytes: number;
  /** Reserve this many API requests instead of egress. */
  api?: number;
}

/** True when `m` is a {@link ReserveMessage}. */
export function isReserveMessage(m: unknown): m is ReserveMessage {
  return typeof m === 'object' && m !== null && (m as { readpathReserve?: unknown }).readpathReserve === true;
}

/**
 * What a worker is given at start (piscina `workerData`): only where to hear its configuration.
 * Workers are started before it is known (see prestart.ts), so it comes as an `init` message.
 */
export interface ProbeWorkerStart {
  protocol: number;
  /** Name of the pool's BroadcastChannel (init, cancels, usage grants). */
  channel: string;
  /** Load the default S3 transport while waiting for the init (workers started ahead of it). */
  warm?: boolean;
}

/** A worker's configuration (the `init` message). */
export interface ProbeWorkerData {
  protocol: number;
  /** One Int32 cancel flag per slot; set to 1 before a cancel is broadcast. */
  flags: SharedArrayBuffer;
  /** S3 backends to build, in the shape `createS3Backend` takes. */
  s3?: S3BackendOptions[];
  /** file: URL of a module exporting `createBackends(data)`. */
  backendModule?: string;
  /** Data handed to `createBackends`. */
  backendData?: unknown;
  /** Probes a worker runs at once (runtime.tasks_per_thread); more wait in the worker, in order. */
  concurrency: number;
  /** Niceness (1..19) the worker thread gives itself, so the main thread wins the CPU. */
  nice?: number;
  /** The `encryption:` settings: the worker decrypts encrypted copies with keys of its own. */
  encryption?: EncryptionSettings;
  /**
   * `server.backend_timeout` in ms: the bound of a probe on a backend `backendModule` built that
   * does not bound its own calls (ObjectBackend.boundsCalls).
   */
  probeTimeoutMs?: number;
}

/** The shape of a backend module's factory: builds backends from data inside a worker. */
export type { CreateBackends } from '../../backends/build.js';
