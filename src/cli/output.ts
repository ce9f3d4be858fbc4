/**
 * Writing to stdout with backpressure, and noticing when the reader went away (`| head`): an
 * EPIPE ends the command quietly instead of crashing it with a stack trace. {@link Output.queue}
 * gathers small writes (a batch's outcome lines) into one write per event-loop turn.
 */

/** Queued text is written at the latest when it reaches this many UTF-16 units. */
const FLUSH_AT = 64 * 1024;
const RESOLVED = Promise.resolve();

/** See the module comment. */
export class Output {
  readonly #stream: NodeJS.WritableStream;
  #closed = false;
  #onClosed: (() => void) | undefined;
  #queued = '';
  #scheduled = false;
  /** While the stream is over its high-water mark: resolves when it drained. */
  #room: Promise<void> | undefined;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    // EPIPE (the reader closed the pipe) and any other write failure end the output alike.
    stream.on('error', () => this.#close());
  }

  /** True once the stream can no longer be written (its reader closed it). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Call `fn` (once) when the stream closes under us. */
  onClosed(fn: () => void): void {
    this.#onClosed = fn;
    if (this.#closed) fn();
  }

  /** Write, waiting for the stream to drain when its buffer is full. Never rejects. */
  write(data: string | Uint8Array): Promise<void> {
    // Queued lines go out first, in order; the write below waits for the same drain.
    if (this.#queued !== '') void this.#writeQueued();
    return this.#write(data);
  }

  /**
   * Queue `text` (one or more whole lines): queued text is written in one write at the end of
   * this event-loop turn, or as soon as 64 KiB are queued. Resolves at once unless the stream is
   * over its high-water mark, then when it drained. Never rejects.
   */
  queue(text: string): Promise<void> {
    if (this.#closed) return RESOLVED;
    this.#queued += text;
    if (this.#queued.length >= FLUSH_AT) return this.#writeQueued();
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushSoon);
    }
    return this.#room ?? RESOLVED;
  }

  /** Write what is queued now. */
  flush(): Promise<void> {
    return this.#queued === '' ? (this.#room ?? RESOLVED) : this.#writeQueued();
  }

  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    if (this.#queued !== '') void this.#writeQueued();
  };

  #writeQueued(): Promise<void> {
    const text = this.#queued;
    this.#queued = '';
    return this.#write(text);
  }

  #write(data: string | Uint8Array): Promise<void> {
    if (this.#closed) return RESOLVED;
    let ok: boolean;
    try {
      ok = this.#stream.write(data);
    } catch {
      this.#close();
      return RESOLVED;
    }
    if (ok) return this.#room ?? RESOLVED;
    this.#room ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done);
        this.#stream.off('close', done);
        this.#stream.off('error', done);
        this.#room = undefined;
        resolve();
      };
      this.#stream.on('drain', done);
      this.#stream.on('close', done);
      this.#stream.on('error', done);
    });
    return this.#room;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const fn = this.#onClosed;
    this.#onClosed = undefined;
    fn?.();
  }
}
