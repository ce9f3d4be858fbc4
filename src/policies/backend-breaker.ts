/**
 * A per-backend circuit breaker (`backend_circuit_breaker`) around any ObjectBackend.
 *
 * closed → open after `failureThreshold` consecutive failures; open answers
 * `BACKEND_UNAVAILABLE` without calling the backend; after `openTimeoutMs` exactly one call
 * goes through as a probe (half-open) while the others are rejected; the probe's success
 * closes the breaker, its failure re-opens it.
 *
 * What is a failure matters more than the state machine: a missing copy (404) or an
 * unsatisfiable range (416) is the backend answering, so it counts as a success; a cancelled
 * broadcast loser (`ABORTED`, or any error once the caller's signal aborted), a usage-limit
 * skip and the breaker's own rejections say nothing about the backend and count as nothing.
 * Upstream once pinned a breaker open for days by counting its own half-open rejections.
 */
import type { Readable } from 'node:stream';
import { ReadPathError, abortedError, backendStatusOf, hasCode, requirePositiveInt } from '../errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';

/** The breaker's state as metrics report it. `half-open`: the next call (or the one in flight) is the probe. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options for {@link CircuitBreakerBackend} (`backend_circuit_breaker`, durations in ms). */
export interface BackendBreakerOptions {
  /** When false every call passes straight through and the state stays `closed`. Default true. */
  enabled?: boolean;
  /** Consecutive failures that open the breaker. Default 10. */
  failureThreshold?: number;
  /** How long the breaker stays open before one probe is let through. Default 300000 (5m). */
  openTimeoutMs?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
  /** Called on every state change. */
  onStateChange?: (change: { backend: string; from: BreakerState; to: BreakerState }) => void;
}

/** What the failure classifier decided about one outcome. */
export type Verdict = 'success' | 'failure' | 'neutral';

const rejections = new WeakSet<object>();

/** True when `err` is a rejection a breaker produced itself (never a backend failure). */
export function isBreakerRejection(err: unknown): boolean {
  return typeof err === 'object' && err !== null && rejections.has(err);
}

/**
 * Classify a backend call's error for the breaker. `callerAborted`: the caller's signal had
 * aborted by the time the error arrived (a cancelled loser may surface as a socket error).
 */
export function classifyBackendError(err: unknown, callerAborted = false): Verdict {
  if (callerAborted) return 'neutral';
  if (isBreakerRejection(err)) return 'neutral';
  if (hasCode(err, 'ABORTED') || hasCode(err, 'USAGE_LIMIT_SKIP') || hasCode(err, 'BACKEND_UNAVAILABLE')) return 'neutral';
  // Not the backend's doing: bad input, or a copy readpath declines to serve (encrypted).
  if (hasCode(err, 'INVALID_KEY') || hasCode(err, 'SERVICE_UNAVAILABLE')) return 'neutral';
  const status = backendStatusOf(err);
  if (status === 404 || status === 416) return 'success';
  return 'failure';
}

/** An ObjectBackend behind a circuit breaker. */
export class CircuitBreakerBackend implements ObjectBackend {
  readonly name: string;
  readonly inner: ObjectBackend;
  readonly #enabled: boolean;
  readonly #threshold: number;
  readonly #openTimeoutMs: number;
  readonly #now: () => number;
  readonly #onStateChange: BackendBreakerOptions['onStateChange'];
  #state: 'closed' | 'open' | 'half-open' = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;

  constructor(inner: ObjectBackend, options: BackendBreakerOptions = {}) {
    this.inner = inner;
    this.name = inner.name;
    this.#enabled = options.enabled ?? true;
    this.#threshold = requirePositiveInt(options.failureThreshold ?? 10, 'backend_circuit_breaker.failure_threshold');
    const t = options.openTimeoutMs ?? 300_000;
    if (!Number.isFinite(t) || t < 0) {
      throw new ReadPathError('INVALID_CONFIG', `backend_circuit_breaker.open_timeout: must be a duration >= 0, got ${String(t)}`);
    }
    this.#openTimeoutMs = t;
    this.#now = options.now ?? Date.now;
    this.#onStateChange = options.onStateChange;
  }

  /** The current state; an open breaker whose timeout has elapsed reports `half-open`. */
  state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#openTimeoutMs) return 'half-open';
    return this.#state;
  }

  /** Counters for metrics and tests. */
  stats(): { state: BreakerState; consecutiveFailures: number; probeInFlight: boolean } {
    return { state: this.state(), consecutiveFailures: this.#failures, probeInFlight: this.#probeInFlight };
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    if (!this.#enabled) return this.inner.head(key, opts);
    return this.#run(opts?.signal, (probe) => this.inner.head(key, opts).then((r) => {
      this.#settle(probe, 'success');
      return r;
    }));
  }

  get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    if (!this.#enabled) return this.inner.get(key, opts);
    return this.#run(opts?.signal, (probe) => this.inner.get(key, opts).then((r) => {
      this.#settle(probe, 'success');
      this.#watchBody(r.body, opts?.signal);
      return r;
    }));
  }

  /**
   * Run any call to this backend through the breaker: rejected with BACKEND_UNAVAILABLE while
   * open, counted by {@link classifyBackendError} when it fails. For probes that reach the
   * backend elsewhere (a worker thread's own client) while the breaker lives here.
   */
  guard<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    if (!this.#enabled) return call();
    return this.#run(signal, (probe) => call().then((r) => {
      this.#settle(probe, 'success');
      return r;
    }));
  }

  /** Close the wrapped backend when it can be closed. */
  async close(): Promise<void> {
    const c = (this.inner as { close?: () => Promise<void> | void }).close;
    if (typeof c === 'function') await c.call(this.inner);
  }

  async #run<T>(signal: AbortSignal | undefined, call: (probe: boolean) => Promise<T>): Promise<T> {
    if (signal?.aborted) throw abortedError(signal);
    const probe = this.#admit();
    try {
      return await call(probe);
    } catch (err) {
      // Successes settle inside `call`; only the backend's errors get here (this breaker's own
      // rejections are thrown by #admit, before the try).
      this.#settle(probe, classifyBackendError(err, signal?.aborted === true));
      throw err;
    }
  }

  /** Admit a call or throw the breaker's rejection. Returns true when the call is the probe. */
  #admit(): boolean {
    if (this.#state === 'closed') return false;
    if (this.#state === 'open') {
      if (this.#now() - this.#openedAt < this.#openTimeoutMs) throw this.#reject('open');
      this.#transition('half-open');
    }
    if (this.#probeInFlight) throw this.#reject('half-open, probe in flight');
    this.#probeInFlight = true;
    return true;
  }

  #reject(why: string): ReadPathError {
    const err = new ReadPathError('BACKEND_UNAVAILABLE', `${this.name}: circuit breaker ${why}`);
    rejections.add(err);
    return err;
  }

  #settle(probe: boolean, verdict: Verdict): void {
    if (probe) this.#probeInFlight = false;
    if (verdict === 'neutral') return;
    if (verdict === 'success') {
      this.#failures = 0;
      if (this.#state !== 'closed') this.#transition('closed');
      return;
    }
    this.#failures++;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#threshold)) {
      this.#openedAt = this.#now();
      this.#transition('open');
    }
  }

  /** A body that breaks after `get` resolved (truncation, timeout) is a backend failure too. */
  #watchBody(body: Readable, signal: AbortSignal | undefined): void {
    if (typeof body?.once !== 'function') return;
    const onError = (err: unknown): void => {
      if (this.#state !== 'closed') return;
      this.#settle(false, classifyBackendError(err, signal?.aborted === true));
    };
    body.once('error', onError);
    body.once('close', () => body.off('error', onError));
  }

  #transition(to: 'closed' | 'open' | 'half-open'): void {
    const from = this.#state;
    this.#state = to;
    if (from !== to) this.#onStateChange?.({ backend: this.name, from, to });
  }
}
