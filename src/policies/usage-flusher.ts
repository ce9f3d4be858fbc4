/**
 * Persists usage: moves the tracker's unflushed deltas into `backend_usage` periodically and
 * on close, and reloads the stored monthly totals so processes sharing one database count
 * each other's usage against one limit.
 *
 * Nothing is lost on a failed flush: the store writes a flush all or nothing, and the deltas
 * go back into the tracker for the next attempt. A flush that fails is tried again backend by
 * backend, so a backend the database refuses holds back only its own usage. (A flush whose commit reached the database
 * but whose acknowledgement was lost is retried and counted twice: over-counting is the safe
 * side of a usage limit.)
 */
import { ReadPathError } from '../errors.js';
import type { UsageDelta, UsageTracker } from './usage-tracker.js';
import type { UsageStore } from '../stores/usage-store.js';

/** Options for {@link UsageFlusher}. */
export interface UsageFlusherOptions {
  tracker: UsageTracker;
  store: UsageStore;
  /** Time between flushes, in ms. Default 30000. */
  intervalMs?: number;
  /** Reload the stored totals after each periodic flush. Default true. */
  reloadBaseline?: boolean;
  /** Failures of background flushes and loads (the store is down...). Default: ignored. */
  onError?: (err: unknown, phase: 'flush' | 'load') => void;
}

/** Moves usage deltas from a {@link UsageTracker} to a {@link UsageStore}. */
export class UsageFlusher {
  readonly #tracker: UsageTracker;
  readonly #store: UsageStore;
  readonly #intervalMs: number;
  readonly #reload: boolean;
  readonly #onError: (err: unknown, phase: 'flush' | 'load') => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Flushes and loads run one at a time, in call order. */
  #chain: Promise<void> = Promise.resolve();
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: UsageFlusherOptions) {
    const interval = opts.intervalMs ?? 30_000;
    if (!Number.isFinite(interval) || interval <= 0) {
      throw new ReadPathError('INVALID_CONFIG', `usage flush interval: must be a positive number of ms, got ${String(opts.intervalMs)}`);
    }
    this.#tracker = opts.tracker;
    this.#store = opts.store;
    this.#intervalMs = interval;
    this.#reload = opts.reloadBaseline ?? true;
    this.#onError = opts.onError ?? (() => {});
  }

  /**
   * Load the stored totals and start the periodic flush. Resolves when the first load is done
   * (or failed: a store that is down must not stop reads, and the next tick retries).
   */
  start(): Promise<void> {
    if (this.#started || this.#closed) return this.#chain;
    this.#started = true;
    const first = this.#run(async () => {
      await this.#load();
    });
    this.#schedule();
    return first.catch(() => {});
  }

  /**
   * Flush now (after any flush in progress), then reload the stored totals when `reload` is
   * set. Rejects when the store rejects the deltas, which stay in the tracker.
   */
  flush(opts?: { reload?: boolean }): Promise<void> {
    return this.#run(() => this.#flushOnce(opts?.reload === true));
  }

  /** Resolves once the flushes and loads already started have finished. */
  idle(): Promise<void> {
    return this.#chain;
  }

  /** Stop the timer and flush what is left. Idempotent; never rejects (failures go to `onError`). */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#closing = this.#run(() => this.#flushOnce(false, true)).catch(() => {});
    }
    return this.#closing;
  }

  #run(step: () => Promise<void>): Promise<void> {
    const p = this.#chain.then(step);
    this.#chain = p.catch(() => {});
    return p;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Re-armed inside the step, so whoever awaits idle() sees the next tick already armed.
      this.#run(async () => {
        try {
          await this.#flushOnce(this.#reload);
        } finally {
          this.#schedule();
        }
      }).catch(() => {});
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #load(): Promise<boolean> {
    const period = this.#tracker.period();
    try {
      const stored = await this.#store.loadUsage(period);
      for (const [name, stat] of stored) this.#tracker.setBaseline(name, stat, period);
      return true;
    } catch (err) {
      this.#onError(err, 'load');
      return false;
    }
  }

  async #flushOnce(reload: boolean, final = false): Promise<void> {
    const deltas = this.#tracker.takeDeltas();
    let flushError: unknown;
    let flushFailed = false;
    let written: readonly UsageDelta[] = [];
    if (deltas.length > 0) {
      try {
        await this.#store.flushUsage(deltas, { final });
        written = deltas;
      } catch (err) {
        // One backend the database refuses (upstream's backend_usage has a foreign key to its
        // backend_quotas: a backend upstream no longer knows) must not keep the others' usage
        // from being shared: each backend's deltas are tried on their own, and only what
        // still fails is kept for the next attempt.
        const failed = await this.#flushEach(deltas, err, final);
        written = deltas.filter((d) => !failed.includes(d));
        if (failed.length > 0) {
          this.#tracker.restoreDeltas(failed);
          flushFailed = true;
          flushError = err;
        }
      }
    }
    // A load after the flush already holds the flushed deltas; without one they are folded
    // into the baseline by hand so limits keep counting them.
    const loaded = reload ? await this.#load() : false;
    if (written.length > 0) {
      if (loaded) this.#tracker.flushed(written);
      else this.#tracker.restoreDeltas(written, true);
    }
    if (flushFailed) throw flushError;
  }

  /**
   * After a flush of `deltas` failed with `first`: write each backend's deltas alone. Returns the
   * deltas still not written; every failure goes to onError (the whole flush's, when all failed
   * alike).
   */
  async #flushEach(deltas: readonly UsageDelta[], first: unknown, final: boolean): Promise<UsageDelta[]> {
    const byBackend = new Map<string, UsageDelta[]>();
    for (const d of deltas) {
      const list = byBackend.get(d.backendName);
      if (list === undefined) byBackend.set(d.backendName, [d]);
      else list.push(d);
    }
    if (byBackend.size === 1) {
      this.#onError(first, 'flush');
      return [...deltas];
    }
    const failed: UsageDelta[] = [];
    for (const group of byBackend.values()) {
      try {
        await this.#store.flushUsage(group, { final });
      } catch (err) {
        failed.push(...group);
        this.#onError(err, 'flush');
      }
    }
    return failed;
  }
}
