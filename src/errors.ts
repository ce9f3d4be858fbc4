/**
 * Error model: every failure readpath reports carries a string-literal `code`, the HTTP status
 * that code maps to, and the original failure as `cause`. Errors are recognised by shape, not
 * by `instanceof`, so errors rebuilt from worker messages or thrown by another copy of the
 * package still count.
 */

/**
 * Every error code readpath reports. Beyond API.md §1: `EXECUTOR_CLOSED` (503, a probe built or
 * run after its executor closed), `EXECUTOR_SATURATED` (503, the pool's wait queue is full),
 * `WORKER_LOST` (502, the probe's worker thread died twice), `TRANSFORM_FAILED` (502, a transform
 * module threw or its result could not be sent between threads), `WRITE_FAILED` (500, a verified
 * body could not be written where the read was asked to put it: readMany's `out`).
 * API.md §5 adds `OBJECT_TOO_LARGE` (413, `get` would buffer more than
 * runtime.max_buffered_bytes) and `RANGE_NOT_SATISFIABLE` (416, a range starting at or past the
 * object's end) and `DECRYPTION_FAILED` (502, an encrypted copy could not be decrypted with its row's
 * key data: the next copy is tried) and `DECOMPRESSION_FAILED` (502, a copy s3-orchestrator stored
 * compressed could not be decoded — a corrupt stream, an unknown algorithm: the next copy is tried).
 */
export type ErrorCode =
  | 'OBJECT_NOT_FOUND'
  | 'DB_UNAVAILABLE'
  | 'SERVICE_UNAVAILABLE'
  | 'USAGE_LIMIT_EXCEEDED'
  | 'USAGE_LIMIT_SKIP'
  | 'ALL_BACKENDS_FAILED'
  | 'BACKEND_NOT_FOUND'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_ERROR'
  | 'INTEGRITY_MISMATCH'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'INVALID_KEY'
  | 'INVALID_CONFIG'
  | 'METADATA_ERROR'
  | 'EXECUTOR_CLOSED'
  | 'EXECUTOR_SATURATED'
  | 'WORKER_LOST'
  | 'TRANSFORM_FAILED'
  | 'WRITE_FAILED'
  | 'OBJECT_TOO_LARGE'
  | 'RANGE_NOT_SATISFIABLE'
  | 'DECRYPTION_FAILED'
  | 'DECOMPRESSION_FAILED';

/** The HTTP status each code maps to (API.md §1). */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  OBJECT_NOT_FOUND: 404,
  DB_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  USAGE_LIMIT_EXCEEDED: 429,
  USAGE_LIMIT_SKIP: 502,
  ALL_BACKENDS_FAILED: 502,
  BACKEND_NOT_FOUND: 502,
  BACKEND_UNAVAILABLE: 502,
  BACKEND_ERROR: 502,
  INTEGRITY_MISMATCH: 502,
  TIMEOUT: 504,
  ABORTED: 499,
  INVALID_KEY: 400,
  INVALID_CONFIG: 400,
  METADATA_ERROR: 502,
  // Not a backend's failure, so not BACKEND_ERROR: where the probe runs, not the copy, failed.
  EXECUTOR_CLOSED: 503,
  EXECUTOR_SATURATED: 503,
  WORKER_LOST: 502,
  TRANSFORM_FAILED: 502,
  WRITE_FAILED: 500,
  OBJECT_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  DECRYPTION_FAILED: 502,
  DECOMPRESSION_FAILED: 502,
});

/** True when `value` is one of the known error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(HTTP_STATUS, value);
}

/** Options accepted by {@link ReadPathError}. */
export interface ReadPathErrorOptions {
  cause?: unknown;
  /** The HTTP status a backend answered, when there was one (404 = copy missing). */
  backendStatus?: number;
}

/** The shape that identifies a readpath error across threads and package copies. */
export interface ReadPathErrorLike {
  code: ErrorCode;
  httpStatus: number;
  message: string;
  backendStatus?: number;
  cause?: unknown;
}

/** True when `err` looks like a readpath error: a known `code` and a numeric `httpStatus`. */
export function isReadPathErrorLike(err: unknown): err is ReadPathErrorLike {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; httpStatus?: unknown };
  return isErrorCode(e.code) && typeof e.httpStatus === 'number';
}

function chainHolds(err: unknown, code: ErrorCode): boolean {
  let cur: unknown = err;
  // Bounded walk: a cause cycle must not hang the caller.
  for (let depth = 0; depth < 64 && cur !== null && cur !== undefined; depth++) {
    if (typeof cur !== 'object') return false;
    if ((cur as { code?: unknown }).code === code) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** The error every readpath failure is reported as. */
export class ReadPathError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly backendStatus?: number;

  constructor(code: ErrorCode, message: string, options?: ReadPathErrorOptions) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'ReadPathError';
    this.code = code;
    let status = HTTP_STATUS[code];
    // A wrapped 503 stays a 503, as upstream's error mapping does.
    if (code === 'ALL_BACKENDS_FAILED' && options?.cause !== undefined && chainHolds(options.cause, 'SERVICE_UNAVAILABLE')) {
      status = 503;
    }
    this.httpStatus = status;
    if (options?.backendStatus !== undefined) this.backendStatus = options.backendStatus;
  }
}

/** A probe declined one backend because it is over a monthly usage limit. */
export class UsageLimitSkipError extends ReadPathError {
  readonly backendName: string;
  /** Which limit declined the backend, when known. */
  readonly limit?: UsageLimitKind;

  constructor(backendName: string, options?: { cause?: unknown; limit?: UsageLimitKind }) {
    super('USAGE_LIMIT_SKIP', `backend ${backendName} skipped: over its ${options?.limit ?? 'usage'} limit`, options);
    this.name = 'UsageLimitSkipError';
    this.backendName = backendName;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

/** The monthly limits a backend can be over. */
export type UsageLimitKind = 'api_requests' | 'egress_bytes' | 'ingress_bytes';

/** errors.Is: true when `err`, or any error on its `cause` chain, has this code. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return chainHolds(err, code);
}

/** errors.As for HTTP: the httpStatus of the first readpath error on the cause chain, else 502. */
export function httpStatusOf(err: unknown): number {
  let cur: unknown = err;
  for (let depth = 0; depth < 64 && cur !== null && cur !== undefined; depth++) {
    if (isReadPathErrorLike(cur)) return cur.httpStatus;
    if (typeof cur !== 'object') break;
    cur = (cur as { cause?: unknown }).cause;
  }
  return 502;
}

/** The first readpath error on the cause chain, if any. */
export function findReadPathError(err: unknown): ReadPathErrorLike | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 64 && cur !== null && cur !== undefined; depth++) {
    if (isReadPathErrorLike(cur)) return cur;
    if (typeof cur !== 'object') break;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The backend status on the first readpath error of the chain that has one. */
export function backendStatusOf(err: unknown): number | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 64 && cur !== null && cur !== undefined; depth++) {
    if (typeof cur !== 'object') return undefined;
    const s = (cur as { backendStatus?: unknown }).backendStatus;
    if (typeof s === 'number') return s;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** Coerce any thrown value to a readpath error, wrapping unknown failures in `fallback`. */
export function toReadPathError(err: unknown, fallback: ErrorCode = 'BACKEND_ERROR'): ReadPathErrorLike {
  const found = isReadPathErrorLike(err) ? err : undefined;
  return found ?? new ReadPathError(fallback, messageOf(err), { cause: err });
}

/** The plain-data form of an error, for outcomes and worker messages. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  httpStatus: number;
  backendStatus?: number;
}

/** Flatten an error to plain data (the first readpath error on its chain decides the code). */
export function serializeError(err: unknown, fallback: ErrorCode = 'BACKEND_ERROR'): SerializedError {
  const found = findReadPathError(err);
  if (found) {
    const out: SerializedError = { code: found.code, message: found.message, httpStatus: found.httpStatus };
    const bs = backendStatusOf(err);
    if (bs !== undefined) out.backendStatus = bs;
    return out;
  }
  return { code: fallback, message: messageOf(err), httpStatus: HTTP_STATUS[fallback] };
}

/** Rebuild a ReadPathError from its plain-data form. */
export function deserializeError(data: SerializedError, cause?: unknown): ReadPathError {
  const opts: ReadPathErrorOptions = {};
  if (cause !== undefined) opts.cause = cause;
  if (data.backendStatus !== undefined) opts.backendStatus = data.backendStatus;
  const err = new ReadPathError(data.code, data.message, opts);
  // A wrapped 503 arrives as plain data without its chain: keep the status it was sent with.
  if (err.httpStatus !== data.httpStatus) (err as { httpStatus: number }).httpStatus = data.httpStatus;
  return err;
}

/** The error a caller's abort ends a read with. */
export function abortedError(signal?: AbortSignal): ReadPathError {
  const reason: unknown = signal?.reason;
  return new ReadPathError('ABORTED', 'read aborted by caller', reason === undefined ? undefined : { cause: reason });
}

/**
 * `value` as a positive safe integer, or an INVALID_CONFIG error naming `field` (the setting's
 * path as users write it, e.g. `runtime.threads`).
 */
export function requirePositiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new ReadPathError('INVALID_CONFIG', `${field}: must be a positive integer, got ${shown}`);
  }
  return value;
}
