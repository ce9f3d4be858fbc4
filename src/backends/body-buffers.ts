/**
 * Buffers object bodies are read into (`BackendGetOptions.into`, `getStream`'s `into`), reused
 * once whatever used one is done with it: the gateway's responses, the batch's file writes.
 * Reading a body into memory that already exists is what keeps a thread free of the garbage
 * collections fresh socket buffers cause at a few hundred MiB/s (bench/RESULTS.md, issue 16):
 * external memory that does not grow starts no collection.
 *
 * A buffer goes back only when every stream that used it has closed — the body read into it
 * (no socket read lands in it after that) and, for the gateway, the response written from it
 * (no write still refers to it).
 */

/** A stream that says when it has closed (a Readable, a ServerResponse). */
export interface Closable {
  readonly closed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** Kept-for-reuse buffers of one size. */
export class BodyBuffers {
  /** Bytes of each buffer. */
  readonly size: number;
  #keep: number;
  readonly #free: Buffer[] = [];

  readonly #shared: boolean;

  /**
   * `keep`: how many idle buffers to hold for reuse (0: none, each read allocates). `shared`:
   * buffers over SharedArrayBuffers, whose bytes another thread can read in place (a
   * `DigestThread` hashing them).
   */
  constructor(size: number, keep: number, shared = false) {
    this.size = size;
    this.#keep = keep;
    this.#shared = shared;
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
    return this.#free.pop() ?? (this.#shared ? Buffer.from(new SharedArrayBuffer(this.size)) : Buffer.allocUnsafeSlow(this.size));
  }

  /**
   * Give `buf` back once every one of `users` has closed, in any order (a gateway response that
   * never started still closes when its request ends).
   */
  releaseAfter(buf: Buffer, ...users: Closable[]): void {
    let open = users.length;
    const done = (): void => {
      if (--open === 0) this.#release(buf);
    };
    for (const u of users) {
      if (u.closed) done();
      else u.once('close', done);
    }
  }

  /** Give back a buffer nothing was read into. */
  releaseUnused(buf: Buffer): void {
    this.#release(buf);
  }

  #release(buf: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }
}

/**
 * Body buffers in size classes (ascending): a body takes the smallest that holds it, so small
 * objects do not each hold the largest size.
 */
export class SizedBodyBuffers {
  readonly #classes: BodyBuffers[];

  /** `sizes` ascending; each class keeps up to `keep` idle buffers; `shared`: see {@link BodyBuffers}. */
  constructor(sizes: readonly number[], keep: number, shared = false) {
    this.#classes = sizes.map((size) => new BodyBuffers(size, keep, shared));
  }

  set keep(n: number) {
    for (const c of this.#classes) c.keep = n;
  }

  /** A buffer of at least `n` bytes and the class it goes back to; undefined past the largest (or with none kept). */
  take(n: number): { buf: Buffer; pool: BodyBuffers } | undefined {
    const pool = this.#classes.find((c) => c.size >= n);
    const buf = pool?.acquire();
    return pool === undefined || buf === undefined ? undefined : { buf, pool };
  }
}
