/**
 * A sliding window of recent successful probe latencies and one percentile over it, for the
 * `auto` hedge delay. Memory is bounded (a fixed ring of samples), and the percentile is
 * recomputed only every few samples: `delayMs()` is asked on every hedged read, and sorting a
 * thousand samples each time would cost more than the read's own scheduling.
 */

/** Options of {@link LatencyWindow}. */
export interface LatencyWindowOptions {
  /** The percentile reported, in (0, 100]. */
  percentile: number;
  /** Samples kept (the most recent ones). Default 1000. */
  capacity?: number;
  /** Samples needed before a percentile is reported. Default 20. */
  minSamples?: number;
  /** Recompute the percentile after this many new samples. Default 16. */
  refreshEvery?: number;
}

/** The most recent latencies of one operation and their percentile. */
export class LatencyWindow {
  readonly percentile: number;
  readonly capacity: number;
  readonly minSamples: number;
  readonly #refreshEvery: number;
  readonly #ring: Float64Array;
  readonly #scratch: Float64Array;
  #size = 0;
  #pos = 0;
  #sinceRefresh = 0;
  #value: number | undefined;

  constructor(opts: LatencyWindowOptions) {
    this.percentile = opts.percentile;
    this.capacity = Math.max(1, Math.floor(opts.capacity ?? 1000));
    this.minSamples = Math.min(this.capacity, Math.max(1, Math.floor(opts.minSamples ?? 20)));
    this.#refreshEvery = Math.max(1, Math.floor(opts.refreshEvery ?? 16));
    this.#ring = new Float64Array(this.capacity);
    this.#scratch = new Float64Array(this.capacity);
  }

  /** Record one latency (ms). Non-finite or negative values are ignored. */
  add(ms: number): void {
    if (!(ms >= 0) || ms === Infinity) return;
    this.#ring[this.#pos] = ms;
    this.#pos = this.#pos + 1 === this.capacity ? 0 : this.#pos + 1;
    if (this.#size < this.capacity) this.#size++;
    // The first percentile is computed as soon as there are enough samples, then every few.
    if (++this.#sinceRefresh >= this.#refreshEvery || (this.#value === undefined && this.#size >= this.minSamples)) {
      this.#refresh();
    }
  }

  /** Samples currently held. */
  get size(): number {
    return this.#size;
  }

  /** The percentile of the held samples (nearest rank), or undefined before `minSamples`. */
  value(): number | undefined {
    return this.#value;
  }

  #refresh(): void {
    this.#sinceRefresh = 0;
    const n = this.#size;
    if (n < this.minSamples) return;
    const s = n === this.capacity ? this.#scratch : this.#scratch.subarray(0, n);
    s.set(n === this.capacity ? this.#ring : this.#ring.subarray(0, n));
    s.sort();
    const rank = Math.min(n, Math.max(1, Math.ceil((this.percentile / 100) * n)));
    this.#value = s[rank - 1];
  }
}
