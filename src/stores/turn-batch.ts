/**
 * Lookups issued in one turn of the event loop, gathered and run together at its end
 * (setImmediate), as both stores do: SQLite in one read transaction, PostgreSQL in one statement.
 * Not at the end of the microtask queue: in a running batch each key starts when a verdict
 * settles, every one in a chain of its own, so that would run them one at a time (measured on
 * 20,000 keys: 20,000 runs of one; a turn's end gathers ~35).
 */

/** One lookup waiting for its turn's end. */
export interface Pending<R> {
  key: string;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/** Gathers a turn's lookups and hands them to `run` together; `run` settles every one. */
export class TurnBatch<R> {
  #pending: Pending<R>[] = [];
  readonly #run: (pending: Pending<R>[]) => void;

  constructor(run: (pending: Pending<R>[]) => void) {
    this.#run = run;
  }

  /** `key`'s answer, once the lookups of this turn have run. */
  add(key: string): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ key, resolve, reject });
      if (this.#pending.length === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const pending = this.#pending;
    this.#pending = [];
    this.#run(pending);
  };
}
