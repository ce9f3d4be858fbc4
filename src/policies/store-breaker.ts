/**
 * A circuit breaker in front of a metadata store: the one {@link CircuitBreaker} with a
 * store's classifier, rejection and error messages.
 *
 * While the database is down, every read would otherwise wait for a connect timeout before
 * going degraded. After `failureThreshold` consecutive outage failures the breaker opens and
 * answers DB_UNAVAILABLE at once, without touching the store; after `openTimeoutMs` (plus
 * jitter, so processes sharing one database do not probe in lockstep) one call goes through
 * as a probe, and its success closes the breaker again.
 */
import { ReadPathError, hasCode } from '../errors.js';
import { isUnreachable } from '../net-errors.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation, ObjectTag } from '../types.js';
import { CircuitBreaker, type BreakerState, type FailureEffect, type Verdict } from './circuit-breaker.js';

/** The breaker's state, as metrics report it. */
export type StoreBreakerState = BreakerState;

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

/**
 * True when an error says the store is down (as opposed to "no such object" or bad data):
 * DB_UNAVAILABLE, a TIMEOUT, or a raw connection error (from a store that does not map its own
 * failures).
 */
export function isStoreOutage(err: unknown): boolean {
  return hasCode(err, 'DB_UNAVAILABLE') || hasCode(err, 'TIMEOUT') || isUnreachable(err);
}

/**
 * A caller that gave up says nothing about the store; any answer that is not an outage
 * (OBJECT_NOT_FOUND, a bad row...) proves the store up, so it counts as a success.
 */
function classifyStoreError(err: unknown, callerAborted: boolean): Verdict {
  if (callerAborted || hasCode(err, 'ABORTED')) return 'neutral';
  return isStoreOutage(err) ? 'failure' : 'success';
}

function wrapOutage(err: unknown): unknown {
  return hasCode(err, 'DB_UNAVAILABLE') ? err : new ReadPathError('DB_UNAVAILABLE', 'metadata store unavailable', { cause: err });
}

/** A {@link MetadataStore} that stops calling its inner store while that store is down. */
export class CircuitBreakerStore implements MetadataStore {
  readonly #inner: MetadataStore;
  readonly #breaker: CircuitBreaker;
  /** The outage that opened (or kept open) the breaker: the `cause` of its rejections. */
  #lastError: unknown;

  /**
   * A page of the inner store's key listing, through the same breaker as lookups (one
   * database): an outage while listing counts toward opening it, and an open breaker answers
   * DB_UNAVAILABLE without listing. Present exactly when the inner store lists keys.
   */
  declare readonly listKeys?: (opts: ListKeysOptions) => Promise<ListedObject[]>;
  /** An object's tag set, through the same breaker. Present exactly when the inner store has it. */
  declare readonly getObjectTags?: (key: string, opts?: { signal?: AbortSignal }) => Promise<ObjectTag[]>;

  constructor(inner: MetadataStore, opts: CircuitBreakerStoreOptions) {
    if (inner === null || typeof inner?.getAllObjectLocations !== 'function') {
      throw new ReadPathError('INVALID_CONFIG', 'store breaker: inner metadata store is required');
    }
    this.#inner = inner;
    if (typeof inner.listKeys === 'function') {
      const lister = inner as MetadataStore & Required<Pick<MetadataStore, 'listKeys'>>;
      this.listKeys = (o) => this.#breaker.execute(() => lister.listKeys(o), o?.signal);
    }
    if (typeof inner.getObjectTags === 'function') {
      const tagger = inner as MetadataStore & Required<Pick<MetadataStore, 'getObjectTags'>>;
      this.getObjectTags = (key, o) => this.#breaker.execute(() => tagger.getObjectTags(key, o), o?.signal);
    }
    const { onClose, onStateChange } = opts;
    this.#breaker = new CircuitBreaker({
      failureThreshold: opts.failureThreshold,
      openTimeoutMs: opts.openTimeoutMs,
      jitterRatio: opts.jitterRatio ?? 0.2,
      configPath: 'circuit_breaker',
      // 'while-probing': half-open means a probe is running (the rejection says so), and an
      // aborted probe puts the breaker back to 'open' with its period over.
      halfOpen: 'while-probing',
      classify: classifyStoreError,
      rejection: (state) => this.#unavailable(state === 'open' ? 'circuit breaker open' : 'circuit breaker half-open, probe in flight'),
      failureError: (err, effect, failures) => this.#failureError(err, effect, failures),
      onStateChange: (state, previous) => {
        if (state === 'closed') this.#lastError = undefined;
        try {
          onStateChange?.(state, previous);
        } catch {
          // An observer must not change the outcome of a read.
        }
        if (state === 'closed') {
          try {
            onClose?.();
          } catch {
            // Same: clearing a cache is best effort.
          }
        }
      },
      ...(opts.now === undefined ? {} : { now: opts.now }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
    });
  }

  /** The current state: 'open' until a probe is let through, 'half-open' while it runs. */
  state(): StoreBreakerState {
    return this.#breaker.state();
  }

  /** Consecutive outage failures counted while closed (0 while open or half-open). */
  consecutiveFailures(): number {
    const s = this.#breaker.stats();
    return s.state === 'closed' ? s.consecutiveFailures : 0;
  }

  /** The store this breaker guards. */
  get inner(): MetadataStore {
    return this.#inner;
  }

  getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    return this.#breaker.execute(() => this.#inner.getAllObjectLocations(key, opts), opts?.signal);
  }

  /** Close the inner store. */
  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  #failureError(err: unknown, effect: FailureEffect, failures: number): unknown {
    if (effect === 'stale') return wrapOutage(err);
    this.#lastError = err;
    if (effect === 'reopened') return this.#unavailable('probe failed, circuit breaker open again');
    if (effect === 'opened') return this.#unavailable(`circuit breaker opened after ${failures} consecutive failures`);
    return wrapOutage(err);
  }

  #unavailable(why: string): ReadPathError {
    return new ReadPathError('DB_UNAVAILABLE', `metadata store unavailable: ${why}`, this.#lastError === undefined ? undefined : { cause: this.#lastError });
  }
}
