/**
 * A bounded LRU location cache with per-entry TTL. mnemonist has no TTL, so each value carries
 * its own expiry; the TTL is jittered ±20% so entries written together during an outage do
 * not all expire in the same instant and stampede the broadcast.
 */
import { LRUMapWithDelete } from 'mnemonist';
import type { LocationCache } from '../types.js';

/** Options for {@link MemoryLocationCache}. */
export interface MemoryLocationCacheOptions {
  /** Time to live of an entry, in ms (before jitter). Default 60000. */
  ttlMs?: number;
  /** Upper bound on entries; the least recently used is evicted. Default 100000. */
  maxEntries?: number;
  /** Jitter fraction applied to the TTL (default 0.2 = ±20%). */
  jitter?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Random source in [0, 1), for tests. */
  random?: () => number;
}

interface Entry { backend: string; expiresAt: number }

/** The in-memory degraded-mode location cache. */
export class MemoryLocationCache implements LocationCache {
  readonly #lru: LRUMapWithDelete<string, Entry>;
  readonly #ttlMs: number;
  readonly #jitter: number;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: MemoryLocationCacheOptions = {}) {
    const maxEntries = opts.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#jitter = opts.jitter ?? 0.2;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#lru = new LRUMapWithDelete<string, Entry>(maxEntries);
  }

  /** The cached backend for a key (refreshing its recency), or undefined when absent or expired. */
  get(key: string): string | undefined {
    const e = this.#lru.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#lru.delete(key);
      return undefined;
    }
    return e.backend;
  }

  /** Remember the backend that served a key; replaces any existing value and TTL. */
  set(key: string, backendName: string): void {
    const spread = this.#ttlMs * this.#jitter;
    const ttl = this.#ttlMs - spread + this.#random() * 2 * spread;
    this.#lru.set(key, { backend: backendName, expiresAt: this.#now() + ttl });
  }

  /** Forget one key. */
  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  /** Forget everything (the store breaker calls this when the database comes back). */
  clear(): void {
    this.#lru.clear();
  }

  /** Entries currently held (expired ones included until touched). */
  get size(): number {
    return this.#lru.size;
  }
}
