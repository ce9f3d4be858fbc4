/**
 * One circuit breaker, in cockatiel's `execute(fn, signal)` shape, for everything readpath
 * guards: each backend (`backend-breaker.ts`) and the metadata store (`store-breaker.ts`).
 *
 * closed → open after `failureThreshold` consecutive failures; open rejects without calling
 * `fn`; once the open period (plus jitter) is over, exactly one call goes through as the
 * half-open probe while the others are rejected; the probe's success closes the breaker, its
 * failure re-opens it for a new period, and a neutral probe (its caller gave up) frees the
 * probe slot so the next call probes.
 *
 * What counts as a failure is the caller's business (`classify`): which errors are the guarded
 * service's fault decides more than the state machine does. Two rules are the breaker's own:
 * - Generations. Every state change and every probe admission bumps a counter; an outcome is
 *   applied only when its call was admitted in the current generation. Without this, a slow
 *   call started while closed could close a breaker that opened after it started, or one
 *   started before an outage could count against the recovered service.
 * - No work on the closed hot path: `execute` on a closed breaker adds no listener, no timer and
 *   reads no clock; it costs an async frame and two integer compares (reads run at ~100k/s).
 */
import { ReadPathError, abortedError, requirePositiveInt } from '../errors.js';

/** The breaker's state. What `half-open` covers depends on {@link CircuitBreakerOptions.halfOpen}. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What the classifier decided about one outcome: `neutral` moves nothing (and frees a probe slot). */
export type Verdict = 'success' | 'failure' | 'neutral';

/**
 * What a failure did to the breaker, as given to {@link CircuitBreakerOptions.failureError}:
 * `stale` — admitted in an older generation, ignored; `counted` — counted, still closed;
 * `opened` — it reached the threshold and opened the breaker; `reopened` — the half-open probe
 * failed and the breaker is open again.
 */
export type FailureEffect = 'stale' | 'counted' | 'opened' | 'reopened';

/** Options for {@link CircuitBreaker} (durations in ms). */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** How long the breaker stays open before one probe is let through. */
  openTimeoutMs: number;
  /**
   * Up to this fraction of `openTimeoutMs` is added at random to each open period, so that
   * processes sharing one service do not all probe it in the same instant. Default 0 (none).
   */
  jitterRatio?: number;
  /** Random source in [0, 1) for the jitter, for tests. Default `Math.random`. */
  random?: () => number;
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * Classify a failed call. `callerAborted`: the caller's signal had aborted by the time the
   * error arrived. Default: `neutral` when the caller aborted, else `failure`.
   */
  classify?: (err: unknown, callerAborted: boolean) => Verdict;
  /**
   * The error an open breaker (or a half-open one whose probe is in flight) rejects with.
   * Called only on rejection, so it may read the guarded service's last error for a `cause`.
   */
  rejection: (state: 'open' | 'half-open') => Error;
  /**
   * The error a call classified as a failure rejects with, knowing what the failure did
   * (`failures`: the consecutive count after it). Default: the call's own error.
   */
  failureError?: (err: unknown, effect: FailureEffect, failures: number) => unknown;
  /** Called on every state change. An observer that throws is ignored: it must not change a call's outcome. */
  onStateChange?: (to: BreakerState, from: BreakerState) => void;
  /**
   * What `half-open` means; the two wrappers differ here and their tests pin each meaning.
   * - `'while-probing'` (default; the metadata store): half-open exactly while a probe is in
   *   flight. `state()` says `open` until a call arrives after the open period and becomes the
   *   probe; a probe that ends neutral re-opens the breaker with its period already over, so
   *   the next call probes (the `half-open → open` change is reported).
   * - `'once-due'` (backends): half-open from the moment the open period is over, before any
   *   call, so per-backend metrics show which backends will take a probe; a probe that ends
   *   neutral frees the probe slot and the state stays `half-open` with no change reported.
   * The machine is the same; only what `state()` and `onStateChange` say about the interval
   * between "period over" and "probe admitted" differs.
   */
  halfOpen?: 'while-probing' | 'once-due';
  /** Settings path used in INVALID_CONFIG messages, e.g. `backend_circuit_breaker`. Default `circuit_breaker`. */
  configPath?: string;
}

/** A snapshot for metrics and tests. */
export interface CircuitBreakerStats {
  state: BreakerState;
  /** Consecutive failures seen; reset by a success, kept while open (a failed probe adds one). */
  consecutiveFailures: number;
  probeInFlight: boolean;
  /** Bumped on every state change and every probe admission. */
  generation: number;
}

const defaultClassify = (_err: unknown, callerAborted: boolean): Verdict => (callerAborted ? 'neutral' : 'failure');

/** A circuit breaker: see the module comment for the rules. */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #classify: (err: unknown, callerAborted: boolean) => Verdict;
  readonly #rejection: (state: 'open' | 'half-open') => Error;
  readonly #failureError: CircuitBreakerOptions['failureError'];
  readonly #onStateChange: CircuitBreakerOptions['onStateChange'];
  readonly #onceDue: boolean;

  #state: BreakerState = 'closed';
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #generation = 0;

  constructor(options: CircuitBreakerOptions) {
    const path = options.configPath ?? 'circuit_breaker';
    this.#threshold = requirePositiveInt(options.failureThreshold, `${path}.failure_threshold`);
    const t = options.openTimeoutMs;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      throw new ReadPathError('INVALID_CONFIG', `${path}.open_timeout: must be a duration >= 0, got ${String(t)}`);
    }
    const jitter = options.jitterRatio ?? 0;
    if (typeof jitter !== 'number' || !Number.isFinite(jitter) || jitter < 0) {
      throw new ReadPathError('INVALID_CONFIG', `${path} jitter ratio: must be >= 0, got ${String(jitter)}`);
    }
    if (typeof options.rejection !== 'function') {
      throw new ReadPathError('INVALID_CONFIG', `${path}: a rejection error factory is required`);
    }
    this.#openMs = t;
    this.#jitter = jitter;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#classify = options.classify ?? defaultClassify;
    this.#rejection = options.rejection;
    this.#failureError = options.failureError;
    this.#onStateChange = options.onStateChange;
    this.#onceDue = options.halfOpen === 'once-due';
  }

  /**
   * Run `fn` through the breaker. Rejects with the caller's abort when `signal` already
   * aborted, with `rejection(state)` while open or while another call is the probe, and with
   * `fn`'s error (or `failureError`'s mapping of it) when `fn` fails. `fn` receives the signal
   * and the generation it was admitted in, to pass to {@link report} for an outcome it only
   * learns later. Never throws synchronously.
   */
  async execute<T>(fn: (signal: AbortSignal | undefined, generation: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw abortedError(signal);
    const generation = this.#admit();
    let value: T;
    try {
      value = await fn(signal, generation);
    } catch (err) {
      const verdict = this.#classify(err, signal?.aborted === true);
      if (verdict !== 'failure') {
        this.#settle(generation, verdict);
        throw err;
      }
      const effect = this.#fail(generation);
      throw this.#failureError === undefined ? err : this.#failureError(err, effect, this.#failures);
    }
    this.#settle(generation, 'success');
    return value;
  }

  /**
   * Report an outcome observed after `execute` resolved — a GET body that breaks after the
   * headers arrived — for the call admitted in `generation` (the second argument `fn` got).
   * Ignored when the breaker has changed generation since, like any stale outcome.
   */
  report(verdict: Verdict, generation: number): void {
    this.#settle(generation, verdict);
  }

  /** The current state (see {@link CircuitBreakerOptions.halfOpen} for what `half-open` covers). */
  state(): BreakerState {
    if (this.#onceDue && this.#state === 'open' && this.#now() >= this.#openUntil) return 'half-open';
    return this.#state;
  }

  /** A snapshot for metrics and tests. */
  stats(): CircuitBreakerStats {
    return { state: this.state(), consecutiveFailures: this.#failures, probeInFlight: this.#probing, generation: this.#generation };
  }

  /** Admit a call (returning its generation) or throw the rejection. */
  #admit(): number {
    if (this.#state === 'closed') return this.#generation;
    if (this.#state === 'open') {
      if (this.#now() < this.#openUntil) throw this.#rejection('open');
      this.#transition('half-open');
    } else if (this.#probing) {
      throw this.#rejection('half-open');
    }
    // The probe gets a generation of its own, so an outcome of an earlier probe (freed as
    // neutral in 'once-due' mode) can never pass for this one's.
    this.#probing = true;
    return ++this.#generation;
  }

  /** Apply one outcome, unless it is stale. */
  #settle(generation: number, verdict: Verdict): void {
    if (verdict === 'failure') {
      this.#fail(generation);
      return;
    }
    if (generation !== this.#generation) return;
    // Current and not closed means half-open with this call as the probe: an open breaker
    // admits nothing, and opening bumps the generation.
    if (verdict === 'neutral') {
      if (this.#state === 'half-open') this.#releaseProbe();
      return;
    }
    this.#failures = 0;
    if (this.#state !== 'closed') this.#transition('closed');
  }

  /** Apply one failure, unless it is stale, and say what it did. */
  #fail(generation: number): FailureEffect {
    if (generation !== this.#generation) return 'stale';
    this.#failures++;
    if (this.#state === 'half-open') {
      this.#open();
      return 'reopened';
    }
    if (this.#failures >= this.#threshold) {
      this.#open();
      return 'opened';
    }
    return 'counted';
  }

  /** A probe that says nothing about the service: let the next call probe instead. */
  #releaseProbe(): void {
    if (this.#onceDue) {
      this.#probing = false;
      this.#generation++;
      return;
    }
    // #openUntil is already past, so the next call is admitted as the probe at once.
    this.#transition('open');
  }

  #open(): void {
    let r = this.#jitter === 0 ? 0 : this.#random();
    // A bad random source must never shorten the period or stretch it past the ratio.
    if (!(r >= 0)) r = 0;
    else if (r > 1) r = 1;
    this.#openUntil = this.#now() + this.#openMs * (1 + this.#jitter * r);
    this.#transition('open');
  }

  #transition(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    this.#probing = false;
    this.#generation++;
    if (from === to) return;
    try {
      this.#onStateChange?.(to, from);
    } catch {
      // An observer must not change the outcome of a call.
    }
  }
}
