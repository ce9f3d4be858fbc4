/**
 * A body's first bytes, collected as its chunks arrive however they are split, and tested once
 * there are enough: how degraded reads (no row to say what a copy is) recognise an encrypted
 * object or s3-orchestrator's compressed layout from the stream itself, at one comparison per
 * chunk after the start.
 */
export class StartSniffer {
  readonly #start: Buffer;
  readonly #test: (start: Buffer) => boolean;
  #have = 0;
  #match = false;

  /** `size` bytes are collected, then `test` decides once. */
  constructor(size: number, test: (start: Buffer) => boolean) {
    this.#start = Buffer.alloc(size);
    this.#test = test;
  }

  /** Feed the next chunk; true once the body is known to begin as `test` wants (and from then on). */
  feed(chunk: Uint8Array): boolean {
    const size = this.#start.byteLength;
    if (this.#have < size) {
      const n = Math.min(size - this.#have, chunk.byteLength);
      this.#start.set(chunk.subarray(0, n), this.#have);
      this.#have += n;
      if (this.#have === size) this.#match = this.#test(this.#start);
    }
    return this.#match;
  }
}
