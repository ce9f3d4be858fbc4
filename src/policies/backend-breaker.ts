/**
 * A per-backend circuit breaker (`backend_circuit_breaker`) around any ObjectBackend: the one
 * {@link CircuitBreaker} with a backend's classifier and rejection.
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
import { ReadPathError, backendStatusOf, hasCode } from '../errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import { CircuitBreaker, type BreakerState, type Verdict } from './circuit-breaker.js';

export type { BreakerState, Verdict } from './circuit-breaker.js';

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

// Module-level, not per breaker: a breaker wrapping another must recognise the inner one's
// rejections, across any number of instances.
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
  // Not the backend's doing: bad input, a copy readpath declines to serve (encrypted), where the
  // probe runs (executor closed or full, worker lost), a transform's failure on good bytes, or a
  // copy that would not decrypt (keys, key service, or damage the backend delivered faithfully).
  if (hasCode(err, 'INVALID_KEY') || hasCode(err, 'SERVICE_UNAVAILABLE') || hasCode(err, 'DECRYPTION_FAILED') || hasCode(err, 'DECOMPRESSION_FAILED')) return 'neutral';
  if (hasCode(err, 'EXECUTOR_CLOSED') || hasCode(err, 'EXECUTOR_SATURATED') || hasCode(err, 'WORKER_LOST') || hasCode(err, 'TRANSFORM_FAILED')) return 'neutral';
  // The backend answered: a missing copy, an unsatisfiable range, or bytes damaged at rest
  // (which say nothing about whether the backend can be reached).
  if (hasCode(err, 'INTEGRITY_MISMATCH') || hasCode(err, 'OBJECT_TOO_LARGE') || hasCode(err, 'RANGE_NOT_SATISFIABLE')) return 'success';
  // A 4xx is the backend answering about this request (a missing copy, a range, a precondition
  // the copy does not meet — striping's If-Match — a request it refuses), except what says the
  // backend will not serve us at all: 401/403 (credentials) and 429 (throttling). As upstream's
  // breaker counts them; 5xx and network errors are failures.
  const status = backendStatusOf(err);
  if (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429) return 'success';
  return 'failure';
}

/** An ObjectBackend behind a circuit breaker. */
/**
 * The breaker of one backend, as `backend_circuit_breaker` configures it: the one state machine
 * (circuit-breaker.ts) with the backend classifier and BACKEND_UNAVAILABLE rejections. Executors
 * apply it at dispatch; {@link CircuitBreakerBackend} wraps a backend object with it.
 */
export function backendBreaker(name: string, options: Omit<BackendBreakerOptions, 'enabled'> = {}): CircuitBreaker {
  const onStateChange = options.onStateChange;
  return new CircuitBreaker({
    failureThreshold: options.failureThreshold ?? 10,
    openTimeoutMs: options.openTimeoutMs ?? 300_000,
    configPath: 'backend_circuit_breaker',
    // Metrics list backends by state: 'once-due' shows a backend as half-open as soon as it
    // would take a probe, and a cancelled probe (a broadcast loser) leaves it so.
    halfOpen: 'once-due',
    classify: classifyBackendError,
    rejection: (state) => {
      const err = new ReadPathError('BACKEND_UNAVAILABLE', `${name}: circuit breaker ${state === 'open' ? 'open' : 'half-open, probe in flight'}`);
      rejections.add(err);
      return err;
    },
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(onStateChange === undefined ? {} : { onStateChange: (to: BreakerState, from: BreakerState) => onStateChange({ backend: name, from, to }) }),
  });
}

export class CircuitBreakerBackend implements ObjectBackend {
  readonly name: string;
  readonly inner: ObjectBackend;
  readonly #enabled: boolean;
  readonly #breaker: CircuitBreaker;

  constructor(inner: ObjectBackend, options: BackendBreakerOptions = {}) {
    this.inner = inner;
    this.name = inner.name;
    this.#enabled = options.enabled ?? true;
    this.#breaker = backendBreaker(inner.name, options);
  }

  /** The current state; an open breaker whose timeout has elapsed reports `half-open`. */
  state(): BreakerState {
    return this.#breaker.state();
  }

  /** Counters for metrics and tests. */
  stats(): { state: BreakerState; consecutiveFailures: number; probeInFlight: boolean } {
    const s = this.#breaker.stats();
    return { state: s.state, consecutiveFailures: s.consecutiveFailures, probeInFlight: s.probeInFlight };
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    if (!this.#enabled) return this.inner.head(key, opts);
    return this.#breaker.execute(() => this.inner.head(key, opts), opts?.signal);
  }

  get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    if (!this.#enabled) return this.inner.get(key, opts);
    return this.#breaker.execute((signal, generation) => this.inner.get(key, opts).then((r) => {
      this.#watchBody(r.body, signal, generation);
      return r;
    }), opts?.signal);
  }

  /**
   * Run any call to this backend through the breaker: rejected with BACKEND_UNAVAILABLE while
   * open, counted by {@link classifyBackendError} when it fails. For probes that reach the
   * backend elsewhere (a worker thread's own client) while the breaker lives here.
   */
  guard<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    if (!this.#enabled) return call();
    return this.#breaker.execute(call, signal);
  }

  /** Close the wrapped backend when it can be closed. */
  async close(): Promise<void> {
    const c = (this.inner as { close?: () => Promise<void> | void }).close;
    if (typeof c === 'function') await c.call(this.inner);
  }

  /**
   * A body that breaks after `get` resolved (truncation, timeout) is a backend failure too, if
   * the breaker has not moved on since the GET was admitted.
   */
  #watchBody(body: Readable, signal: AbortSignal | undefined, generation: number): void {
    if (typeof body?.once !== 'function') return;
    const onError = (err: unknown): void => {
      this.#breaker.report(classifyBackendError(err, signal?.aborted === true), generation);
    };
    body.once('error', onError);
    body.once('close', () => body.off('error', onError));
  }
}
