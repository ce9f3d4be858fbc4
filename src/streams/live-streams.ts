/**
 * The streams a reader has open, so that `close()` can end them with the reader's own error.
 * Without it a stream still being read when its reader closed would see its sockets torn down
 * under it, try every other copy on backends that are closed too, and end with
 * ALL_BACKENDS_FAILED … backend closed: a backend failure that never happened.
 *
 * A set, not an AbortSignal per stream: a listener on a shared signal costs ~5.5 µs a stream
 * (docs/architecture.md), an add and a delete on a set a fraction of that.
 */
import type { ReadPathError } from '../errors.js';

/** A stream that can be ended from outside, with the error its consumer is to see. */
export interface CuttableStream {
  /** End the read with `err`: stop reading its copies now; its body fails with `err` when next read. */
  cut(err: ReadPathError): void;
}

/** The open streams of one reader. */
export class LiveStreams {
  readonly #open = new Set<CuttableStream>();
  #closed: ReadPathError | undefined;

  /** A stream started: it is cut at once when the reader has already closed. */
  add(s: CuttableStream): void {
    if (this.#closed !== undefined) s.cut(this.#closed);
    else this.#open.add(s);
  }

  /** A stream is over (ended, failed, destroyed): nothing to cut any more. */
  delete(s: CuttableStream): void {
    this.#open.delete(s);
  }

  /** The reader closed: cut every open stream, and every one started from now on, with `err`. */
  cutAll(err: ReadPathError): void {
    this.#closed ??= err;
    const open = [...this.#open];
    this.#open.clear();
    for (const s of open) s.cut(err);
  }
}
