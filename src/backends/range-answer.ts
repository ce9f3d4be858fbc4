/**
 * Holding a ranged GET's answer to the range asked for, for both S3 transports.
 *
 * Nothing above the transport hash-checks a range (the stored hash is the whole object's), so
 * its bytes must be the range's. A 206 must say so in its Content-Range: one for other bytes
 * (a different start, end or length) is refused — served, its bytes would be spliced in at the
 * wrong offset. A 200 is the server ignoring Range (RFC 9110 lets it): the whole object, from
 * byte 0. A range from byte 0 is cut from it (what a degraded copy's first bytes are read by);
 * a range that starts further in is refused rather than read through the bytes before it, and
 * the next copy is tried; a range past the whole object's end is the 416 a server honouring
 * Range would have answered.
 */
import { Readable } from 'node:stream';
import { ReadPathError } from '../errors.js';
import type { GetResult } from '../types.js';
import { destroyQuietly } from './call-deadline.js';
import { endsBeforeStart, parseRange, selectRange, type RangeSpec } from '../ranges/byte-range.js';

/**
 * Check, and where needed cut, the answer `result` (status `status`, Content-Range
 * `contentRange`) to a GET with Range `range`. Changes `result` in place — `size` and `body` when
 * a 200 is cut to a range from byte 0, `totalSize` from a 200's length — or throws a coded error
 * for the copy (`what` names the request). Ranges in other forms than one `bytes=` span pass as
 * they are.
 */
export function holdToRange(range: string, status: number, contentRange: string | undefined, result: GetResult, what: string): void {
  const r = parseRange(range);
  // Not a range S3 honours (it ignores those and answers the whole object): nothing to hold to.
  if (r === undefined || endsBeforeStart(r)) return;
  if (status === 206) {
    checkPartial(r, range, contentRange, result.size, what);
    return;
  }
  const size = result.size;
  if (size < 0) throw new ReadPathError('BACKEND_ERROR', `${what}: answered ${status} without a length to Range ${range} (the server ignored the range)`);
  result.totalSize = size;
  const s = selectRange(r, size);
  if (s === undefined) {
    throw new ReadPathError('BACKEND_ERROR', `${what}: Range ${range} is past the end of the ${size}-byte object (the server ignored the range and answered ${status})`, { backendStatus: 416 });
  }
  if (s.start > 0) {
    throw new ReadPathError('BACKEND_ERROR', `${what}: answered the whole ${size}-byte object (${status}) to Range ${range}: the server ignored the range`);
  }
  const n = s.end + 1;
  if (n < size) {
    result.body = new FirstBytes(result.body, n);
    result.size = n;
  }
}

function checkPartial(r: RangeSpec, range: string, contentRange: string | undefined, size: number, what: string): void {
  const m = contentRange === undefined ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(contentRange);
  if (m === null) throw new ReadPathError('BACKEND_ERROR', `${what}: answered 206 to Range ${range} with ${contentRange === undefined ? 'no Content-Range' : `Content-Range ${JSON.stringify(contentRange)}`}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  let right: boolean;
  if (total !== undefined) {
    const s = selectRange(r, total);
    right = s !== undefined && s.start === start && s.end === end;
  } else if (r.suffix !== undefined) {
    right = end >= start && end - start + 1 <= r.suffix;
  } else {
    right = start === r.first && end >= start && (r.last === undefined || end <= r.last);
  }
  if (right && size >= 0) right = size === end - start + 1;
  if (!right) {
    throw new ReadPathError('BACKEND_ERROR', `${what}: answered bytes ${start}-${end}/${m[3] as string}${size >= 0 ? ` (${size} bytes)` : ''} to Range ${range}: not the bytes asked for`);
  }
}

function noop(): void {}

/**
 * The first `n` bytes of `src`, then its end; `src` is destroyed there (the rest is not wanted),
 * and with this stream. Chunks are copies: the source's may be views of memory it reuses
 * (BackendGetOptions.transient).
 */
class FirstBytes extends Readable {
  readonly #src: Readable;
  #left: number;
  #attached = false;

  constructor(src: Readable, n: number) {
    super();
    this.#src = src;
    this.#left = n;
    // As the transports' own bodies: an error reaches listeners, never an uncaught 'error' event.
    this.on('error', noop);
  }

  override _read(): void {
    if (this.#attached) {
      this.#src.resume();
      return;
    }
    this.#attached = true;
    const src = this.#src;
    src.on('data', this.#onData);
    src.once('end', this.#onEnd);
    src.once('error', this.#onError);
    src.once('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    const take = Math.min(this.#left, chunk.byteLength);
    this.#left -= take;
    const more = this.push(Buffer.from(chunk.subarray(0, take)));
    if (this.#left === 0) {
      this.#detach();
      this.push(null);
      destroyQuietly(this.#src);
    } else if (!more) this.#src.pause();
  };

  /** Short of `n`: the body ends short, which readers' length checks report. */
  readonly #onEnd = (): void => {
    this.#detach();
    this.push(null);
  };

  readonly #onError = (err: Error): void => {
    this.#detach();
    this.destroy(err);
  };

  readonly #onClose = (): void => {
    this.#detach();
    this.destroy(Object.assign(new Error('body closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  };

  #detach(): void {
    const src = this.#src;
    src.off('data', this.#onData);
    src.off('end', this.#onEnd);
    src.off('error', this.#onError);
    src.off('close', this.#onClose);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#detach();
    destroyQuietly(this.#src, err ?? undefined);
    cb(err);
  }
}
