/**
 * The probes one reader admitted to a usage ledger, counted until they settle. Readers (ReadPath
 * instances, executors built in code) may share one Recorder, hence one ledger: what a reader's
 * close() waits for and bills before its last flush must be its own probes, not those of a
 * reader still running beside it, which would hold the close up to its drain timeout and be
 * billed as reserved while they still had work to do.
 */

/** The probes one reader admitted and that have not settled yet. */
export class ProbeOwner {
  #out = 0;
  /** Called when the last unsettled probe settles ({@link whenSettled}). */
  #onSettled: (() => void)[] = [];

  /** Probes admitted for this owner and not yet settled. */
  get unsettled(): number {
    return this.#out;
  }

  /** @internal The ledger admitted a probe for this owner. */
  admitted(): void {
    this.#out++;
  }

  /** @internal The ledger settled one of this owner's probes. */
  settled(): void {
    if (--this.#out > 0 || this.#onSettled.length === 0) return;
    const waiters = this.#onSettled;
    this.#onSettled = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves true once none of this owner's probes is left unsettled, or false after `timeoutMs`
   * with some still out. Its timer is not unref'd: a reader closing must not let the process exit
   * before its last flush.
   */
  whenSettled(timeoutMs: number): Promise<boolean> {
    if (this.#out === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#onSettled = this.#onSettled.filter((w) => w !== done);
        resolve(this.#out === 0);
      }, Math.max(0, timeoutMs));
      this.#onSettled.push(done);
    });
  }
}
