/**
 * A small map bounded by entries and age: least recently used first out, entries past their
 * TTL treated as absent. Written here rather than taken from a package because the two caches
 * that use it (data keys, chunk sizes) need only these few lines.
 */
export class BoundedCache<K, V> {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #map = new Map<K, { value: V; expires: number }>();

  constructor(maxEntries: number, ttlMs: number, now: () => number = Date.now) {
    this.#max = Math.max(1, Math.floor(maxEntries));
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    this.#map.delete(key);
    if (e.expires <= this.#now()) return undefined;
    // Re-inserted: Map order is the recency order.
    this.#map.set(key, e);
    return e.value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, expires: this.#ttlMs > 0 ? this.#now() + this.#ttlMs : Number.POSITIVE_INFINITY });
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done === true) break;
      this.#map.delete(oldest.value);
    }
  }

  clear(): void {
    this.#map.clear();
  }
}
