/**
 * Lines written in one turn of the event loop leave in one write. The gateway logs a line per
 * request, and on a pipe or a file (journald, a container runtime, `2> log`) Node writes stderr
 * synchronously: one system call per line, and on a pipe a wake-up of the reader too. At 4 KiB
 * objects that write was the largest item of a `--cpu-prof` of the gateway; one write per turn
 * took 4–6% off its CPU per object (`npm run bench:gateway`, bench/RESULTS.md).
 *
 * Nothing is held longer than the turn that wrote it (a `setImmediate`), or past `maxBytes`;
 * what is pending when the process exits — `process.exit()`, an uncaught exception, the loop
 * running dry — is written by the `exit` handler, synchronously as stderr is written there.
 */

/** Where the lines go: stderr, or any stream. */
export interface LineTarget {
  write(text: string): unknown;
}

/** Options of {@link CoalescedWriter}. */
export interface CoalescedWriterOptions {
  /** Pending text that is written at once rather than at the end of the turn. Default 64 KiB. */
  maxBytes?: number;
}

/** See the module comment. */
export class CoalescedWriter {
  readonly #target: LineTarget;
  readonly #maxBytes: number;
  #parts: string[] = [];
  #length = 0;
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;
  readonly #onExit = (): void => this.flush();

  constructor(target: LineTarget, opts: CoalescedWriterOptions = {}) {
    this.#target = target;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024;
    process.on('exit', this.#onExit);
  }

  /** Queue `text` for the end of this turn (or write it now, with what is pending, past `maxBytes`; or at once once closed). */
  write(text: string): void {
    if (this.#closed) {
      this.#target.write(text);
      return;
    }
    this.#parts.push(text);
    // UTF-16 length: a bound on buffering, not a byte count, is all this needs.
    this.#length += text.length;
    if (this.#length >= this.#maxBytes) this.flush();
    else this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      this.flush();
    });
  }

  /** Write what is pending now, as one write. */
  flush(): void {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#parts.length === 0) return;
    const text = this.#parts.join('');
    this.#parts = [];
    this.#length = 0;
    this.#target.write(text);
  }

  /** Flush, and write straight through from now on. */
  close(): void {
    this.flush();
    this.#closed = true;
    process.off('exit', this.#onExit);
  }
}
