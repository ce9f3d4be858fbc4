/**
 * Buffers the gateway reads object bodies into (`getStream`'s `into`), reused once a response is
 * done with one. Reading a body into memory that already exists is what keeps the gateway's
 * event loop free of the garbage collections fresh socket buffers cause at a few hundred MiB/s
 * (bench/RESULTS.md, issue 16): external memory that does not grow starts no collection.
 *
 * A buffer goes back only when both the body read into it and the response written from it have
 * closed: after that no socket read lands in it and no write still refers to it.
 */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Kept-for-reuse buffers of one size. */
export class BodyBuffers {
  /** Bytes of each buffer. */
  readonly size: number;
  #keep: number;
  readonly #free: Buffer[] = [];

  /** `keep`: how many idle buffers to hold for reuse (0: none, each read allocates). */
  constructor(size: number, keep: number) {
    this.size = size;
    this.#keep = keep;
  }

  /** How many idle buffers are held. */
  get idle(): number {
    return this.#free.length;
  }

  /** Change how many idle buffers are held (a configuration reload); extra ones are let go. */
  set keep(n: number) {
    this.#keep = n;
    if (this.#free.length > n) this.#free.length = n;
  }

  /** A buffer, reused when one is idle; undefined when none are kept at all. */
  acquire(): Buffer | undefined {
    if (this.#keep === 0) return undefined;
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /**
   * Give `buf` back once `body` and `res` have both closed (either may close first; a
   * response that never started still closes when its request ends).
   */
  releaseAfter(buf: Buffer, body: Readable, res: ServerResponse): void {
    let open = 2;
    const done = (): void => {
      if (--open === 0) this.#release(buf);
    };
    if (body.closed) done();
    else body.once('close', done);
    if (res.closed) done();
    else res.once('close', done);
  }

  /** Give back a buffer nothing was read into. */
  releaseUnused(buf: Buffer): void {
    this.#release(buf);
  }

  #release(buf: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }
}
