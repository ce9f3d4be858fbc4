/**
 * One backend call's cancellation scope: the backend timeout and the caller's signal combined
 * into a single AbortSignal, with the error that ended the call remembered so the caller can
 * tell a timeout (`TIMEOUT`) from its own abort (`ABORTED`) whatever the SDK reports.
 *
 * Cheaper than `AbortSignal.any` + `AbortSignal.timeout` (one timer, at most one listener on
 * the caller's signal, both released as soon as the call — body included — is over), and it
 * can destroy an attached response body first, so the body's readers see the coded error.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { ReadPathError, abortedError } from '../errors.js';

/**
 * The cheap form of an abort signal, for transports that take one (undici accepts an
 * EventEmitter with `aborted` and `reason`): building an AbortSignal costs ~4 us on Node 20,
 * an emitter a fraction of that.
 */
export class AbortEmitter extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/** The scope of one backend call. Create with {@link CallDeadline.start}. */
export class CallDeadline {
  #controller: AbortController | undefined;
  #emitter: AbortEmitter | undefined;
  readonly #caller: AbortSignal | undefined;
  readonly #timeoutMs: number;
  readonly #describe: () => string;
  /** The timeout is a probe's, shared with the calls before this one. */
  readonly #shared: boolean;
  #timer: NodeJS.Timeout | undefined;
  #body: Readable | undefined;
  #failure: ReadPathError | undefined;
  /** Set once the transport was told to stop (the signal or emitter built later starts aborted). */
  #aborted: ReadPathError | undefined;
  #released = false;

  private constructor(caller: AbortSignal | undefined, timeoutMs: number, describe: () => string, shared: boolean) {
    this.#caller = caller;
    this.#timeoutMs = timeoutMs;
    this.#describe = describe;
    this.#shared = shared;
  }

  /**
   * Start a call bounded by `timeoutMs` (0 or less: no timeout) and by `caller`. When `caller`
   * is already aborted the scope starts ended, with the `ABORTED` error as its failure.
   * `since` (`performance.now()`): the timeout counts from then, not from now — the call is one
   * of several sharing it — and when it has already run out this throws its `TIMEOUT`, so no
   * request is sent.
   */
  static start(caller: AbortSignal | undefined, timeoutMs: number, describe: () => string, since?: number): CallDeadline {
    let left = timeoutMs;
    if (since !== undefined && timeoutMs > 0) {
      left = timeoutMs - (performance.now() - since);
      if (left <= 0) throw timeoutError(describe, timeoutMs, true);
    }
    const d = new CallDeadline(caller, timeoutMs, describe, since !== undefined);
    if (caller?.aborted) {
      d.#fire(abortedError(caller));
      return d;
    }
    caller?.addEventListener('abort', d.#onCallerAbort, { once: true });
    if (timeoutMs > 0) {
      d.#timer = setTimeout(d.#onTimeout, left);
      // The in-flight socket keeps the process alive while it matters; the timer need not.
      d.#timer.unref();
    }
    return d;
  }

  /** The combined signal to hand to the transport (built on first use). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted !== undefined) this.#controller.abort(this.#aborted);
    }
    return this.#controller.signal;
  }

  /** The same as an {@link AbortEmitter}, for transports that take one (built on first use). */
  get emitter(): AbortEmitter {
    if (this.#emitter === undefined) {
      this.#emitter = new AbortEmitter();
      if (this.#aborted !== undefined) this.#emitter.abort(this.#aborted);
    }
    return this.#emitter;
  }

  /** The `TIMEOUT`/`ABORTED` error that ended the call, if one did. */
  get failure(): ReadPathError | undefined {
    return this.#failure;
  }

  /**
   * Keep the scope alive until `body` ends, errors or closes: a timeout or caller abort
   * meanwhile destroys it with the coded error. When the scope already ended, the body is
   * destroyed at once and the failure is thrown.
   */
  attachBody(body: Readable): void {
    if (this.#failure !== undefined) {
      destroyQuietly(body, this.#failure);
      throw this.#failure;
    }
    if (body.destroyed || body.readableEnded) {
      this.release();
      return;
    }
    this.#body = body;
    body.once('end', this.release);
    body.once('close', this.release);
  }

  /**
   * The answer's headers arrived with `body`: keep the scope for the body when the deadline
   * covers it ({@link attachBody}); otherwise end the scope here — throwing the failure if one
   * came first — and leave the body to its reader's own pace.
   */
  handOver(body: Readable, coversBody: boolean): void {
    if (coversBody) {
      this.attachBody(body);
      return;
    }
    if (this.#failure !== undefined) throw this.#failure;
    this.release();
  }

  /** Drop the timer and the caller listener. Idempotent. */
  readonly release = (): void => {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
    const body = this.#body;
    if (body !== undefined) {
      this.#body = undefined;
      body.off('end', this.release);
      body.off('close', this.release);
    }
  };

  readonly #onTimeout = (): void => {
    this.#fire(timeoutError(this.#describe, this.#timeoutMs, this.#shared));
  };

  readonly #onCallerAbort = (): void => {
    this.#fire(abortedError(this.#caller));
  };

  #fire(err: ReadPathError): void {
    if (this.#failure !== undefined || this.#released) return;
    this.#failure = err;
    const body = this.#body;
    this.release();
    // Body first: its readers must see the coded error, not the socket teardown the
    // transport's own abort listener causes.
    if (body !== undefined) destroyQuietly(body, err);
    // The transport's teardown (socket destroy, the SDK's rejection chain: ~0.5 ms of CPU)
    // waits for the check phase. The call's outcome is already decided, and the code that
    // aborted us (typically a broadcast delivering its winner) resumes first: aborting the two
    // losers inline cost a broadcast over s3rver ~1 ms at the median.
    setImmediate(this.#abortTransport, err);
  }

  readonly #abortTransport = (err: ReadPathError): void => {
    this.#aborted = err;
    this.#controller?.abort(err);
    this.#emitter?.abort(err);
  };
}

function timeoutError(describe: () => string, timeoutMs: number, shared: boolean): ReadPathError {
  return new ReadPathError('TIMEOUT', shared
    ? `${describe()}: the probe had no complete answer within ${timeoutMs} ms (server.backend_timeout bounds its requests together)`
    : `${describe()}: no complete answer within ${timeoutMs} ms`);
}

/** Destroy a stream with `err` without risking an unhandled 'error' event. */
export function destroyQuietly(body: Readable, err?: Error): void {
  if (body.destroyed) return;
  if (err !== undefined && body.listenerCount('error') === 0) body.on('error', noop);
  body.destroy(err);
}

function noop(): void {}
