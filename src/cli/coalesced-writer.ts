/**
 * Lines written close together leave in one write: those of one turn of the event loop, or with
 * `holdMs`, of that many milliseconds (as nginx's `access_log … buffer= flush=`). The gateway logs a line per
 * request, and on a pipe or a file (journald, a container runtime, `2> log`) Node writes stderr
 * synchronously: one system call per line, and on a pipe a wake-up of the reader too. At 4 KiB
 * objects that write was the largest item of a `--cpu-prof` of the gateway; one write per turn
 * took 4–6% off its CPU per object (`npm run bench:gateway`, bench/RESULTS.md).
 *
 * Nothing is held longer than the turn that wrote it (a `setImmediate`) or `holdMs`, or past `maxBytes`;
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
  /**
   * Hold lines up to this long, ms, rather than to the end of the turn (default 0: the turn). A
   * busy gateway finishes one or two requests a turn, so a turn still cost a write per request
   * or two; 50 ms gathers a few hundred lines into a write.
   */
  holdMs?: number;
}

/** See the module comment. */
export class CoalescedWriter {
  readonly #target: LineTarget;
  readonly #maxBytes: number;
  readonly #holdMs: number;
  #parts: string[] = [];
  #length = 0;
  #scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onExit = (): void => this.flush();

  constructor(target: LineTarget, opts: CoalescedWriterOptions = {}) {
    this.#target = target;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024;
    this.#holdMs = opts.holdMs ?? 0;
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
    // Unreferenced: pending lines never keep the process alive (the exit handler writes them).
    else this.#scheduled ??= this.#holdMs > 0 ? setTimeout(this.#due, this.#holdMs).unref() : setImmediate(this.#due);
  }

  readonly #due = (): void => {
    this.#scheduled = undefined;
    this.flush();
  };

  /** Write what is pending now, as one write. */
  flush(): void {
    const scheduled = this.#scheduled;
    if (scheduled !== undefined) {
      if (this.#holdMs > 0) clearTimeout(scheduled as NodeJS.Timeout);
      else clearImmediate(scheduled as NodeJS.Immediate);
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
