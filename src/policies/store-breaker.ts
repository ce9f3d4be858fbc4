/**
 * A circuit breaker in front of a metadata store.
 *
 * While the database is down, every read would otherwise wait for a connect timeout before
 * going degraded. After `failureThreshold` consecutive outage failures the breaker opens and
 * answers DB_UNAVAILABLE at once, without touching the store; after `openTimeoutMs` (plus
 * jitter, so processes sharing one database do not probe in lockstep) one call goes through
 * as a probe, and its success closes the breaker again.
 */
import { ReadPathError, abortedError, hasCode } from '../errors.js';
import type { MetadataStore, ObjectLocation } from '../types.js';

/** The breaker's state, as metrics report it. */
export type StoreBreakerState = 'closed' | 'open' | 'half-open';

/** Options for {@link CircuitBreakerStore}. */
export interface CircuitBreakerStoreOptions {
  /** Consecutive outage failures that open the breaker (`circuit_breaker.failure_threshold`). */
  failureThreshold: number;
  /** How long the breaker stays open before a probe, in ms (`circuit_breaker.open_timeout`). */
  openTimeoutMs: number;
  /** Up to this fraction of `openTimeoutMs` is added at random to each open period. Default 0.2. */
  jitterRatio?: number;
  /** Called when the breaker closes after an outage: the place to clear the location cache. */
  onClose?: () => void;
  /** Called on every state change, for metrics and logs. */
  onStateChange?: (state: StoreBreakerState, previous: StoreBreakerState) => void;
  /** Clock in ms, for tests. */
  now?: () => number;
  /** Random source in [0, 1), for tests. */
  random?: () => number;
}

// Raw connection errors from a store that does not map its own failures.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * True when an error says the store is down (as opposed to "no such object" or bad data):
 * DB_UNAVAILABLE, a TIMEOUT, or a raw connection error.
 */
export function isStoreOutage(err: unknown): boolean {
  if (hasCode(err, 'DB_UNAVAILABLE') || hasCode(err, 'TIMEOUT')) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_CODES.has(code);
}

/** A {@link MetadataStore} that stops calling its inner store while that store is down. */
export class CircuitBreakerStore implements MetadataStore {
  readonly #inner: MetadataStore;
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #jitter: number;
  readonly #onClose: (() => void) | undefined;
  readonly #onStateChange: CircuitBreakerStoreOptions['onStateChange'];
  readonly #now: () => number;
  readonly #random: () => number;

  #state: StoreBreakerState = 'closed';
  #failures = 0;
  #retryAt = 0;
  /** Bumped on every state change: outcomes of calls started in an older state are ignored. */
  #generation = 0;
  #lastError: unknown;

  constructor(inner: MetadataStore, opts: CircuitBreakerStoreOptions) {
    if (inner === null || typeof inner?.getAllObjectLocations !== 'function') {
      throw new ReadPathError('INVALID_CONFIG', 'store breaker: inner metadata store is required');
    }
    if (!Number.isInteger(opts.failureThreshold) || opts.failureThreshold < 1) {
      throw new ReadPathError('INVALID_CONFIG', `circuit_breaker.failure_threshold: must be a positive integer, got ${String(opts.failureThreshold)}`);
    }
    if (!Number.isFinite(opts.openTimeoutMs) || opts.openTimeoutMs < 0) {
      throw new ReadPathError('INVALID_CONFIG', `circuit_breaker.open_timeout: must be a non-negative duration, got ${String(opts.openTimeoutMs)}`);
    }
    const jitter = opts.jitterRatio ?? 0.2;
    if (!Number.isFinite(jitter) || jitter < 0) {
      throw new ReadPathError('INVALID_CONFIG', `circuit_breaker jitter ratio: must be >= 0, got ${String(jitter)}`);
    }
    this.#inner = inner;
    this.#threshold = opts.failureThreshold;
    this.#openMs = opts.openTimeoutMs;
    this.#jitter = jitter;
    this.#onClose = opts.onClose;
    this.#onStateChange = opts.onStateChange;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** The current state: 'open' until a probe is let through, 'half-open' while it runs. */
  state(): StoreBreakerState {
    return this.#state;
  }

  /** Consecutive outage failures counted while closed. */
  consecutiveFailures(): number {
    return this.#failures;
  }

  /** The store this breaker guards. */
  get inner(): MetadataStore {
    return this.#inner;
  }

  #set(state: StoreBreakerState): void {
    const previous = this.#state;
    this.#state = state;
    this.#generation++;
    if (previous === state) return;
    try {
      this.#onStateChange?.(state, previous);
    } catch {
      // An observer must not change the outcome of a read.
    }
    if (state === 'closed' && previous !== 'closed') {
      try {
        this.#onClose?.();
      } catch {
        // Same: clearing a cache is best effort.
      }
    }
  }

  #open(): void {
    this.#failures = 0;
    this.#retryAt = this.#now() + this.#openMs * (1 + this.#jitter * this.#random());
    this.#set('open');
  }

  #unavailable(why: string): ReadPathError {
    return new ReadPathError('DB_UNAVAILABLE', `metadata store unavailable: ${why}`, this.#lastError === undefined ? undefined : { cause: this.#lastError });
  }

  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    const signal = opts?.signal;
    if (signal?.aborted) throw abortedError(signal);
    if (this.#state === 'half-open') throw this.#unavailable('circuit breaker half-open, probe in flight');
    let probing = false;
    if (this.#state === 'open') {
      if (this.#now() < this.#retryAt) throw this.#unavailable('circuit breaker open');
      this.#set('half-open');
      probing = true;
    }
    const generation = this.#generation;
    let rows: ObjectLocation[];
    try {
      rows = await this.#inner.getAllObjectLocations(key, opts);
    } catch (err) {
      throw this.#failed(err, generation, probing, signal);
    }
    this.#succeeded(generation);
    return rows;
  }

  #succeeded(generation: number): void {
    if (generation !== this.#generation) return;
    this.#failures = 0;
    if (this.#state === 'half-open') {
      this.#lastError = undefined;
      this.#set('closed');
    }
  }

  #failed(err: unknown, generation: number, probing: boolean, signal: AbortSignal | undefined): unknown {
    const current = generation === this.#generation;
    // A caller that gave up says nothing about the store: neither a failure nor a success.
    if (hasCode(err, 'ABORTED') || signal?.aborted === true) {
      // A probe cut short by its caller: the next call probes instead.
      if (probing && current) this.#set('open');
      return err;
    }
    if (!isStoreOutage(err)) {
      // The store answered (OBJECT_NOT_FOUND, a bad row...): it is up.
      this.#succeeded(generation);
      return err;
    }
    if (!current) return hasCode(err, 'DB_UNAVAILABLE') ? err : this.#wrapOutage(err);
    this.#lastError = err;
    if (probing) {
      this.#open();
      return this.#unavailable('probe failed, circuit breaker open again');
    }
    this.#failures++;
    if (this.#failures >= this.#threshold) {
      const n = this.#failures;
      this.#open();
      return this.#unavailable(`circuit breaker opened after ${n} consecutive failures`);
    }
    return hasCode(err, 'DB_UNAVAILABLE') ? err : this.#wrapOutage(err);
  }

  #wrapOutage(err: unknown): ReadPathError {
    return new ReadPathError('DB_UNAVAILABLE', 'metadata store unavailable', { cause: err });
  }

  /** Close the inner store. */
  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}
