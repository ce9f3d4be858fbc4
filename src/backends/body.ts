/**
 * Reading and releasing GET bodies.
 *
 * A GET body that is neither read to the end nor destroyed pins its keep-alive socket, so
 * every path here ends with the stream either fully consumed or destroyed: on abort, on a
 * stream error, on a length mismatch, on an over-limit body.
 */
import type { Readable } from 'node:stream';
import { ReadPathError, abortedError, isReadPathErrorLike, messageOf } from '../errors.js';
import type { GetResult, ObjectBackend } from '../types.js';
import { destroyQuietly } from './call-deadline.js';
import { endsBeforeStart, parseRange } from '../ranges/byte-range.js';

/** Options for {@link collectBody}. */
export interface CollectBodyOptions {
  /** Aborting it destroys the stream and rejects with `ABORTED`. */
  signal?: AbortSignal;
  /**
   * The byte count the body must have (the response's Content-Length). A body that ends short
   * (truncated) or runs long is a `BACKEND_ERROR`. Negative or non-integer means unknown.
   */
  expectedSize?: number;
  /** Refuse bodies larger than this (`OBJECT_TOO_LARGE`); default unlimited. */
  maxBytes?: number;
  /**
   * When the read fails, the bytes that came before (the chunk refused included) are added to its
   * `egress`: a body that fails midway was still sent, and is billed for what arrived. A read that
   * succeeds adds nothing: its caller counts the body.
   */
  billFailureTo?: { egress: number };
}

/**
 * Map a body-stream failure to a readpath error: coded errors pass through (the S3 backend
 * destroys its bodies with `TIMEOUT`/`ABORTED` errors), an abort of `signal` is `ABORTED`,
 * anything else (socket reset, premature close) is `BACKEND_ERROR`.
 */
export function bodyError(err: unknown, signal?: AbortSignal): Error {
  if (isReadPathErrorLike(err) && err instanceof Error) return err;
  if (isReadPathErrorLike(err)) return new ReadPathError(err.code, err.message, { cause: err });
  if (signal?.aborted) return abortedError(signal);
  return new ReadPathError('BACKEND_ERROR', `reading body failed: ${messageOf(err)}`, { cause: err });
}

/**
 * A body over a buffering limit: the object is too large to hold, not a failed copy (every copy
 * has the same size), so the read stops with OBJECT_TOO_LARGE rather than trying elsewhere.
 */
export function tooLarge(size: number | undefined, maxBytes: number, hint = ''): ReadPathError {
  return new ReadPathError('OBJECT_TOO_LARGE', `body${size === undefined ? '' : ` of ${size} bytes`} exceeds the ${maxBytes}-byte buffering limit${hint}`);
}

function knownSize(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Read a stream chunk by chunk: `onChunk` gets each chunk as it arrives (synchronously; a throw
 * fails the read), and the promise resolves with the byte count at the end. The same checks as
 * {@link collectBody}: `signal`, `expectedSize` (truncated or over-long is BACKEND_ERROR),
 * `maxBytes`; on any failure the stream is destroyed before the promise rejects.
 */
export function readChunks(stream: Readable, onChunk: (bytes: Uint8Array, offset: number) => void, opts: CollectBodyOptions = {}): Promise<number> {
  const { signal, expectedSize } = opts;
  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  const expected = knownSize(expectedSize) ? expectedSize : undefined;
  return new Promise<number>((resolve, reject) => {
    if (signal?.aborted) {
      const err = abortedError(signal);
      destroyQuietly(stream, err);
      reject(err);
      return;
    }
    if (stream.destroyed || stream.readableEnded) {
      // Someone else consumed or destroyed it: there is nothing left to read.
      const cause = stream.errored ?? undefined;
      reject(
        cause !== undefined && cause !== null
          ? bodyError(cause, signal)
          : new ReadPathError('BACKEND_ERROR', 'body stream already consumed or destroyed'),
      );
      return;
    }
    if (expected !== undefined && expected > maxBytes) {
      const err = tooLarge(expected, maxBytes);
      destroyQuietly(stream, err);
      reject(err);
      return;
    }

    let received = 0;
    /** Bytes the stream gave, the chunk being refused included. */
    let wire = 0;
    let settled = false;

    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      if (opts.billFailureTo !== undefined) opts.billFailureTo.egress += wire;
      cleanup();
      // destroy(err) re-emits err once our listener is gone: it must not go unhandled.
      destroyQuietly(stream, err);
      reject(err);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      wire += bytes.byteLength;
      const next = received + bytes.byteLength;
      if (next > maxBytes) {
        fail(tooLarge(undefined, maxBytes));
        return;
      }
      if (expected !== undefined && next > expected) {
        fail(new ReadPathError('BACKEND_ERROR', `body longer than its announced ${expected} bytes`));
        return;
      }
      try {
        onChunk(bytes, received);
      } catch (err) {
        fail(err instanceof Error ? err : new ReadPathError('BACKEND_ERROR', messageOf(err)));
        return;
      }
      received = next;
    };
    const onEnd = (): void => {
      if (settled) return;
      if (expected !== undefined && received !== expected) {
        fail(new ReadPathError('BACKEND_ERROR', `body truncated: ${received} of ${expected} bytes`));
        return;
      }
      settled = true;
      cleanup();
      resolve(received);
    };
    const onError = (err: unknown): void => fail(bodyError(err, signal));
    const onClose = (): void => {
      if (!settled) fail(new ReadPathError('BACKEND_ERROR', `body closed early after ${received} bytes`));
    };
    const onAbort = (): void => fail(abortedError(signal));

    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.resume();
  });
}

/**
 * Read a stream to one freshly allocated `Uint8Array` (never a view on a pooled slab, so it
 * can be transferred to another thread). Honours `signal`; on any failure the stream is
 * destroyed before the promise rejects.
 */
export async function collectBody(stream: Readable, opts: CollectBodyOptions = {}): Promise<Uint8Array> {
  const expected = opts.expectedSize;
  if (knownSize(expected)) {
    const out = new Uint8Array(expected <= (opts.maxBytes ?? Number.POSITIVE_INFINITY) ? expected : 0);
    await readChunks(stream, (bytes, at) => out.set(bytes, at), opts);
    return out;
  }
  const chunks: Uint8Array[] = [];
  const received = await readChunks(stream, (bytes) => chunks.push(Uint8Array.from(bytes)), opts);
  const out = new Uint8Array(received);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Read a GET result's body to bytes, checking it against the announced size (`result.size`,
 * when it is a known non-negative integer). Rejects with `ABORTED` when `signal` aborts,
 * `BACKEND_ERROR` for truncated/over-long/broken bodies, or the coded error the backend
 * destroyed the body with (e.g. `TIMEOUT` from {@link S3Backend}).
 */
export function readBody(
  result: GetResult,
  signal?: AbortSignal,
  opts: Omit<CollectBodyOptions, 'signal' | 'expectedSize'> = {},
): Promise<Uint8Array> {
  const o: CollectBodyOptions = { ...opts, expectedSize: result.size };
  if (signal !== undefined) o.signal = signal;
  return collectBody(result.body, o);
}

/** Release a body that will not be read (a broadcast loser, a failed check): destroy it. */
export function discardBody(result: Pick<GetResult, 'body'> | Readable, reason?: Error): void {
  const body = typeof (result as Readable).pipe === 'function' ? (result as Readable) : (result as Pick<GetResult, 'body'>).body;
  destroyQuietly(body, reason);
}

/** The object's size a `Content-Range: bytes a-b/N` header gives (undefined for `/*` or any other form). */
export function contentRangeTotal(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^\s*bytes\s+\d+-\d+\/(\d+)\s*$/i.exec(value);
  if (m === null || m[1] === undefined) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The most bytes `range` can select, read as ranges/byte-range.ts reads every Range: a closed
 * range's length, a suffix's, unbounded for an open end (or an end past 2^53, "from N on"); 0
 * for what is no range (several, other units, an end before its start), which a server answers
 * with the whole object.
 */
export function rangeLength(range: string): number {
  const r = parseRange(range);
  if (r === undefined || endsBeforeStart(r)) return 0;
  if (r.suffix !== undefined) return r.suffix;
  return r.last === undefined ? Number.POSITIVE_INFINITY : r.last - r.first + 1;
}

/**
 * GET `range` (`bytes=a-b`, `bytes=a-` or `bytes=-n`) of `key` and return its bytes — never more
 * than the range holds ({@link rangeLength}): the small extra reads a plan makes (an encrypted
 * copy's header, a compressed copy's seek table). The caller accounts for the request.
 */
export async function readRange(backend: ObjectBackend, key: string, range: string, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await backend.get(key, signal === undefined ? { range } : { signal, range });
  return collectBody(res.body, signal === undefined ? { maxBytes: rangeLength(range) } : { signal, maxBytes: rangeLength(range) });
}
