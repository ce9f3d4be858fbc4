/**
 * Writing to stdout with backpressure, and noticing when the reader went away (`| head`): an
 * EPIPE ends the command quietly instead of crashing it with a stack trace.
 */

/** See the module comment. */
export class Output {
  readonly #stream: NodeJS.WritableStream;
  #closed = false;
  #onClosed: (() => void) | undefined;

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
    if (this.#closed) return Promise.resolve();
    let ok: boolean;
    try {
      ok = this.#stream.write(data);
    } catch {
      this.#close();
      return Promise.resolve();
    }
    if (ok) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done);
        this.#stream.off('close', done);
        this.#stream.off('error', done);
        resolve();
      };
      this.#stream.on('drain', done);
      this.#stream.on('close', done);
      this.#stream.on('error', done);
    });
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const fn = this.#onClosed;
    this.#onClosed = undefined;
    fn?.();
  }
}
