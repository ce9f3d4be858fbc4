/**
 * Batch statistics: counts by outcome and a latency histogram of bounded size, so a batch of
 * millions of keys keeps constant memory, and the closing one-line summary built from them.
 */

/** What the statistics need from one outcome (a BatchOutcome, or a CLI-made rejection). */
export interface OutcomeLike {
  ok: boolean;
  failover?: boolean;
  degraded?: boolean;
  verified?: boolean;
  error?: { code: string };
}

// Log-spaced buckets, 1% apart, from 1 µs to ~1 h: any latency is reported within 1%.
const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(3_600_000 / MIN_MS) / LOG_GROWTH) + 1;

/** Latency percentiles within 1%, in constant memory (about 9 KiB). */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #n = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Record one latency in milliseconds (negative and NaN values are ignored). */
  record(ms: number): void {
    if (!(ms >= 0)) return;
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#n++;
    if (ms < this.#min) this.#min = ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** Samples recorded. */
  get count(): number {
    return this.#n;
  }

  /**
   * The nearest-rank percentile `p` (0 < p <= 100) in ms, or undefined with no samples. Exact
   * at the extremes (the true minimum and maximum bound the answer).
   */
  percentile(p: number): number | undefined {
    if (this.#n === 0) return undefined;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) {
        const upper = MIN_MS * GROWTH ** i;
        return Math.min(this.#max, Math.max(this.#min, upper));
      }
    }
    return this.#max;
  }
}

/** Totals of a batch (or a demo phase). */
export interface BatchTotals {
  reads: number;
  ok: number;
  failed: number;
  /** Failures per error code, most frequent first. */
  failedByCode: Record<string, number>;
  failovers: number;
  degraded: number;
  verified: number;
  p50Ms: number | null;
  p99Ms: number | null;
  durationMs: number;
  readsPerSec: number;
}

/** Accumulates outcomes of one batch. */
export class BatchStats {
  readonly latency = new LatencyHistogram();
  readonly #byCode = new Map<string, number>();
  readonly #now: () => number;
  readonly #started: number;
  #ended: number | undefined;
  reads = 0;
  ok = 0;
  failed = 0;
  failovers = 0;
  degraded = 0;
  verified = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#started = now();
  }

  /** Count one outcome and, when known, its latency in ms. */
  add(outcome: OutcomeLike, latencyMs?: number): void {
    this.reads++;
    if (outcome.ok) {
      this.ok++;
      if (outcome.failover === true) this.failovers++;
      if (outcome.degraded === true) this.degraded++;
      if (outcome.verified === true) this.verified++;
    } else {
      this.failed++;
      const code = outcome.error?.code ?? 'UNKNOWN';
      this.#byCode.set(code, (this.#byCode.get(code) ?? 0) + 1);
    }
    if (latencyMs !== undefined) this.latency.record(latencyMs);
  }

  /** Stop the clock (the duration and rate are then fixed). */
  finish(): void {
    this.#ended ??= this.#now();
  }

  /** Milliseconds since the batch started (until {@link finish}). */
  get elapsedMs(): number {
    return (this.#ended ?? this.#now()) - this.#started;
  }

  /** The totals as plain data. */
  totals(): BatchTotals {
    const durationMs = this.elapsedMs;
    const byCode = [...this.#byCode.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return {
      reads: this.reads,
      ok: this.ok,
      failed: this.failed,
      failedByCode: Object.fromEntries(byCode),
      failovers: this.failovers,
      degraded: this.degraded,
      verified: this.verified,
      p50Ms: round(this.latency.percentile(50)),
      p99Ms: round(this.latency.percentile(99)),
      durationMs: Math.round(durationMs),
      readsPerSec: durationMs > 0 ? Math.round((this.reads / durationMs) * 1000) : 0,
    };
  }
}

function round(ms: number | undefined): number | null {
  if (ms === undefined) return null;
  return ms >= 100 ? Math.round(ms) : Math.round(ms * 100) / 100;
}

/** A latency for people: `3.1 ms`, `120 ms`, `-` when unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** `OBJECT_NOT_FOUND 7, INVALID_KEY 3`. */
export function formatByCode(byCode: Record<string, number>): string {
  return Object.entries(byCode).map(([code, n]) => `${code} ${n}`).join(', ');
}

/** What `batch --shard I/N` adds to the summary. */
export interface ShardSummary {
  /** `I/N`. */
  shard: string;
  /** Key lines of this shard (each read or answered). */
  keys: number;
  /** Key lines of the other shards, skipped without a read. */
  skipped: number;
}

/**
 * The closing line: `3000 reads, 2990 ok, 10 failed (OBJECT_NOT_FOUND 7, INVALID_KEY 3),
 * 12 failovers, 0 degraded, p50 3.10 ms, p99 12.0 ms, 812 reads/s in 3.7 s`. Cache hits are
 * shown when given (they come from the reader's metrics, not from outcomes), then with
 * --skip-existing `N already in DIR (not read)`; with a shard,
 * `; shard 1/4: 2503 keys in this shard, 7497 skipped` ends the line.
 */
export function summaryLine(t: BatchTotals, extra: { cacheHits?: number; existing?: number; shard?: ShardSummary } = {}): string {
  const failed = t.failed === 0 ? '0 failed' : `${t.failed} failed (${formatByCode(t.failedByCode)})`;
  const parts = [
    `${t.reads} reads`,
    `${t.ok} ok`,
    failed,
    `${t.failovers} failover${t.failovers === 1 ? '' : 's'}`,
    `${t.degraded} degraded`,
  ];
  if (extra.cacheHits !== undefined) parts.push(`${extra.cacheHits} cache hit${extra.cacheHits === 1 ? '' : 's'}`);
  if (extra.existing !== undefined) parts.push(`${extra.existing} already in DIR (not read)`);
  parts.push(`p50 ${formatMs(t.p50Ms)}`, `p99 ${formatMs(t.p99Ms)}`, `${t.readsPerSec} reads/s in ${(t.durationMs / 1000).toFixed(1)} s`);
  const s = extra.shard;
  return s === undefined ? parts.join(', ') : `${parts.join(', ')}; shard ${s.shard}: ${s.keys} key${s.keys === 1 ? '' : 's'} in this shard, ${s.skipped} skipped`;
}
