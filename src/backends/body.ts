/**
 * Reading and releasing GET bodies.
 *
 * A GET body that is neither read to the end nor destroyed pins its keep-alive socket, so
 * every path here ends with the stream either fully consumed or destroyed: on abort, on a
 * stream error, on a length mismatch, on an over-limit body.
 */
import type { Readable } from 'node:stream';
import { ReadPathError, abortedError, isReadPathErrorLike, messageOf } from '../errors.js';
import type { GetResult } from '../types.js';
import { destroyQuietly } from './call-deadline.js';

/** Options for {@link collectBody}. */
export interface CollectBodyOptions {
  /** Aborting it destroys the stream and rejects with `ABORTED`. */
  signal?: AbortSignal;
  /**
   * The byte count the body must have (the response's Content-Length). A body that ends short
   * (truncated) or runs long is a `BACKEND_ERROR`. Negative or non-integer means unknown.
   */
  expectedSize?: number;
  /** Refuse bodies larger than this (`BACKEND_ERROR`); default unlimited. */
  maxBytes?: number;
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

function knownSize(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Read a stream to one freshly allocated `Uint8Array` (never a view on a pooled slab, so it
 * can be transferred to another thread). Honours `signal`; on any failure the stream is
 * destroyed before the promise rejects.
 */
export function collectBody(stream: Readable, opts: CollectBodyOptions = {}): Promise<Uint8Array> {
  const { signal, expectedSize } = opts;
  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  return new Promise<Uint8Array>((resolve, reject) => {
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
    if (knownSize(expectedSize) && expectedSize > maxBytes) {
      const err = new ReadPathError('BACKEND_ERROR', `body of ${expectedSize} bytes exceeds the ${maxBytes}-byte limit`);
      destroyQuietly(stream, err);
      reject(err);
      return;
    }

    const prealloc = knownSize(expectedSize) ? new Uint8Array(expectedSize) : undefined;
    const chunks: Uint8Array[] = [];
    let received = 0;
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
      cleanup();
      // destroy(err) re-emits err once our listener is gone: it must not go unhandled.
      destroyQuietly(stream, err);
      reject(err);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const next = received + bytes.byteLength;
      if (next > maxBytes) {
        fail(new ReadPathError('BACKEND_ERROR', `body exceeds the ${maxBytes}-byte limit`));
        return;
      }
      if (prealloc !== undefined) {
        if (next > prealloc.byteLength) {
          fail(new ReadPathError('BACKEND_ERROR', `body longer than its announced ${prealloc.byteLength} bytes`));
          return;
        }
        prealloc.set(bytes, received);
      } else {
        chunks.push(Uint8Array.from(bytes));
      }
      received = next;
    };
    const onEnd = (): void => {
      if (settled) return;
      if (prealloc !== undefined && received !== prealloc.byteLength) {
        fail(new ReadPathError('BACKEND_ERROR', `body truncated: ${received} of ${prealloc.byteLength} bytes`));
        return;
      }
      settled = true;
      cleanup();
      if (prealloc !== undefined) {
        resolve(prealloc);
        return;
      }
      const out = new Uint8Array(received);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
      resolve(out);
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

