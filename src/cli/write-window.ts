/**
 * A bound on `batch --out` writes in flight. The batch loop hands a body to the writer and goes
 * on taking outcomes (so readMany's slots free at once and reads keep flowing while files are
 * written); it waits only when `maxCount` writes or `maxBytes` of bodies are pending, so memory
 * stays bounded whatever the disk's speed.
 */

/** See the module comment. */
export class WriteWindow {
  readonly maxCount: number;
  readonly maxBytes: number;
  #count = 0;
  #bytes = 0;
  #waiters: (() => void)[] = [];

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }

  /** Writes in flight. */
  get pending(): number {
    return this.#count;
  }

  /**
   * Track `write` of a body of `bytes` (the caller handles its failure: a rejection here only
   * frees its room). Returns undefined when there is room for another write, else a promise
   * that resolves once there is.
   */
  add(write: Promise<void>, bytes: number): Promise<void> | undefined {
    this.#count++;
    this.#bytes += bytes;
    const settled = (): void => {
      this.#count--;
      this.#bytes -= bytes;
      const waiters = this.#waiters;
      if (waiters.length > 0) {
        this.#waiters = [];
        for (const wake of waiters) wake();
      }
    };
    void write.then(settled, settled);
    return this.#full() ? this.#until(() => !this.#full()) : undefined;
  }

  /** Resolves when every tracked write has finished. */
  drain(): Promise<void> {
    return this.#until(() => this.#count === 0);
  }

  #full(): boolean {
    return this.#count >= this.maxCount || this.#bytes >= this.maxBytes;
  }

  async #until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
