/**
 * The messages between the main thread and the probe actors in the worker pool. Everything
 * here is plain data: tasks describe a probe (no closures), verdicts are a tagged union, and
 * errors travel as {@link SerializedError} — structured clone of Error subclasses loses `code`
 * and `cause`, so nothing relies on it.
 */
import type { SerializedError, UsageLimitKind } from '../../errors.js';
import type { HeadResult } from '../../types.js';

/** Version of this protocol; a worker refuses tasks of another version. */
export const PROBE_PROTOCOL = 1;

/** The part of a location row a worker needs. */
export interface WireLocation {
  contentHash: string | null;
  sizeBytes: number;
}

/** One probe, described by data. */
export interface ProbeTask {
  op: 'head' | 'get';
  /** Unique per executor: names the probe in cancel and usage messages. */
  id: number;
  /** Index of this probe's cancel flag in the shared flag array. */
  slot: number;
  /** Configured backend name. */
  backend: string;
  key: string;
  /** Null in degraded-mode broadcasts. */
  location: WireLocation | null;
  range?: string;
  /** Verify the body against `location.contentHash` (GET; default true). */
  verify?: boolean;
  /** With `verify` and no content_hash: check a plain-MD5 ETag (default true). */
  verifyEtag?: boolean;
  /** file: URL of a transform module (GET). */
  transform?: string;
  /**
   * The backend has an egress limit: after the headers the actor asks the main thread to
   * reserve the body's size before reading it.
   */
  egressLimited?: boolean;
}

/** Usage a probe consumed, recorded by the main thread from the verdict. */
export interface WireUsage {
  api: number;
  egress: number;
}

/** HEAD fields of an answer (Dates survive structured clone). */
export type WireHead = Omit<HeadResult, 'size'>;

/** A probe that succeeded. */
export interface OkVerdict extends WireUsage {
  kind: 'ok';
  /** Bytes read (GET) or the object size (HEAD). */
  size: number;
  /** The object's size as the backend reported it. */
  objectSize: number;
  head: WireHead;
  /** The whole body (GET without transform), transferred, never copied. */
  body?: Uint8Array;
  verified?: boolean;
  /** A transform's result: raw bytes (transferred). */
  bytes?: Uint8Array;
  /** A transform's result: an object, as `v8.serialize` bytes (transferred). */
  serialized?: Uint8Array;
}

/** A probe declined for usage limits. */
export interface SkipVerdict extends WireUsage {
  kind: 'skip';
  limit: UsageLimitKind;
}

/** A probe that failed. */
export interface ErrorVerdict extends WireUsage {
  kind: 'error';
  error: SerializedError;
  /** The backend answered 404: the copy is missing. */
  notFound: boolean;
}

/** What a probe actor answers. */
export type Verdict = OkVerdict | SkipVerdict | ErrorVerdict;

/** Main → workers, on the pool's broadcast channel. */
export type ControlMessage =
  | { t: 'cancel'; id: number; why: string }
  | { t: 'grant'; id: number; limit: UsageLimitKind | null };

/** Worker → main, on the worker's parent port: reserve egress before reading a body. */
export interface ReserveMessage {
  readpathReserve: true;
  id: number;
  backend: string;
  bytes: number;
}

/** True when `m` is a {@link ReserveMessage}. */
export function isReserveMessage(m: unknown): m is ReserveMessage {
  return typeof m === 'object' && m !== null && (m as { readpathReserve?: unknown }).readpathReserve === true;
}

/** What a worker is given at start (piscina `workerData`). */
export interface ProbeWorkerData {
  protocol: number;
  /** Name of the pool's BroadcastChannel (cancels, egress grants). */
  channel: string;
  /** One Int32 cancel flag per slot; set to 1 before a cancel is broadcast. */
  flags: SharedArrayBuffer;
  /** S3 backends to build, in the shape S3Backend's constructor takes. */
  s3?: import('../../backends/s3-backend.js').S3BackendOptions[];
  /** file: URL of a module exporting `createBackends(data)`. */
  backendModule?: string;
  /** Data handed to `createBackends`. */
  backendData?: unknown;
  /** Niceness (1..19) the worker thread gives itself, so the main thread wins the CPU. */
  nice?: number;
}

/** The shape of a backend module's factory: builds backends from data inside a worker. */
export type CreateBackends = (data: unknown) =>
  | Iterable<import('../../types.js').ObjectBackend>
  | Promise<Iterable<import('../../types.js').ObjectBackend>>;
