/**
 * A {@link Verdict} back into what the failover race expects from a probe: a ProbeResult for a
 * success, a thrown readpath error otherwise. The one place a verdict's shape is read, for a
 * probe run inline and one carried back from a pool worker alike.
 */
import v8 from 'node:v8';
import {
  ReadPathError, UsageLimitSkipError, deserializeError, isReadPathErrorLike, messageOf, toReadPathError,
  type SerializedError,
} from '../errors.js';
import type { HeadResult, ProbeResult } from '../types.js';
import type { OkVerdict, ProbeTask, Verdict } from './task.js';

/** A fetched object: the HEAD fields and the whole body, verified when a hash was known. */
export interface FetchedObject extends HeadResult {
  body: Uint8Array;
  /** True when the body matched the location's content_hash. */
  verified: boolean;
}

/** What a GET probe with a transform yields: the HEAD fields and the transform's result. */
export interface TransformedValue<V = unknown> extends HeadResult {
  value: V;
  /** True when the body the transform received matched the stored content_hash. */
  verified: boolean;
}

/** What a GET probe with `out` yields: the HEAD fields and where the verified body went. */
export interface WrittenObject extends HeadResult {
  /** The path written, relative to the output directory (undefined when the write failed). */
  path?: string;
  /** Why the body could not be written, as a readpath error (WRITE_FAILED or INVALID_KEY). */
  writeError?: unknown;
  verified: boolean;
}

/** What a decoded probe yields, by task kind. */
export type ProbeValue = HeadResult | FetchedObject | TransformedValue | WrittenObject;

const EMPTY = new Uint8Array(0);

/**
 * A probe's result, as a plain object built without an object literal. A literal's allocation
 * site is one V8 may pretenure (allocate in old space) once it sees its objects outlive a
 * young-generation GC; a pretenured result that dies then holds the body it points to past
 * every scavenge until the next full GC. See bench/RESULTS.md, Soak.
 */
function probeResult<T>(size: number, value: T): ProbeResult<T> {
  const r = {} as ProbeResult<T>;
  r.size = size;
  r.value = value;
  return r;
}

/** Why the probe's caller cancelled it, if it did (asked only for an ABORTED verdict). */
export type CancelReason = () => { cancelled: boolean; reason: unknown };

/**
 * The error a failed verdict carries, as a readpath error. On the thread that ran the probe it
 * is the thrown value itself (its cause chain kept); across threads it is plain data. An
 * `ABORTED` that crossed threads takes the caller's abort reason back as its cause.
 */
export function verdictError(error: unknown, cancel?: CancelReason): unknown {
  if (error instanceof Error) return toReadPathError(error);
  if (isReadPathErrorLike(error)) {
    const data = error as SerializedError;
    let cause: unknown;
    if (data.code === 'ABORTED' && cancel !== undefined) {
      const c = cancel();
      if (c.cancelled) cause = c.reason;
    }
    return deserializeError(data, cause);
  }
  return toReadPathError(error);
}

function transformed(v: OkVerdict): unknown {
  if ('value' in v) return v.value;
  if (v.bytes !== undefined) return v.bytes;
  if (v.serialized === undefined) return undefined;
  try {
    return v8.deserialize(v.serialized);
  } catch (err) {
    throw new ReadPathError('TRANSFORM_FAILED', `transform result could not be decoded: ${messageOf(err)}`, { cause: err });
  }
}

/** Decode a verdict for `task`: the probe's result, or throw its error. */
export function decode(v: Verdict, task: ProbeTask, cancel?: CancelReason): ProbeResult<ProbeValue> {
  if (v.kind === 'ok') {
    const head: HeadResult = Object.assign({ size: v.objectSize }, v.head);
    if (task.op === 'head') return probeResult(head.size, head);
    const verified = v.verified ?? false;
    if (task.out !== undefined) {
      const w: WrittenObject = Object.assign(head, { verified });
      if (v.path !== undefined) w.path = v.path;
      if (v.writeError !== undefined) w.writeError = verdictError(v.writeError, cancel);
      return probeResult<WrittenObject>(v.size, w);
    }
    if (task.transform === undefined) return probeResult<FetchedObject>(v.size, Object.assign(head, { body: v.body ?? EMPTY, verified }));
    return probeResult<TransformedValue>(v.size, Object.assign(head, { value: transformed(v), verified }));
  }
  if (v.kind === 'skip') throw new UsageLimitSkipError(task.backend, { limit: v.limit });
  throw verdictError(v.error, cancel);
}
