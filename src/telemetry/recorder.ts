/**
 * The Recorder: usage tracking plus the core's metrics, readable synchronously with
 * {@link Recorder.count} (tests read these) and exported to Prometheus by the telemetry layer
 * with the prefix `readpath_`. A hand-written store rather than prom-client here because the
 * failover hot path needs a sub-microsecond `inc`, and prom-client's reads are async.
 */
import type { UsageLimitKind } from '../errors.js';
import { UsageTracker, type UsageTrackerOptions } from '../policies/usage-tracker.js';
import { UsageLedger } from '../policies/usage-ledger.js';

/** Label values of one series; callers pass label names in a fixed order per metric. */
export type Labels = Readonly<Record<string, string>>;

/** Metric names the core records (without the `readpath_` prefix). */
export const METRIC = Object.freeze({
  degradedReads: 'degraded_reads_total',
  degradedCacheHits: 'degraded_cache_hits_total',
  usageLimitRejections: 'usage_limit_rejections_total',
  mixedOutcomes: 'degraded_broadcast_mixed_outcomes_total',
  drainTimeouts: 'degraded_broadcast_drain_timeout_total',
  broadcastDuration: 'degraded_broadcast_duration_seconds',
  operationDuration: 'operation_duration_seconds',
  hedgesSent: 'hedges_sent_total',
  hedgesWon: 'hedges_won_total',
  hedgeBudgetExhausted: 'hedge_budget_exhausted_total',
  streamResumes: 'stream_resumes_total',
  streamBytes: 'stream_bytes_total',
  stripeParts: 'striped_parts_total',
  stripeHedges: 'striped_part_hedges_total',
  decrypts: 'decrypt_operations_total',
  decryptFailures: 'decrypt_failures_total',
  decompressions: 'decompress_operations_total',
  decompressFailures: 'decompress_failures_total',
  gatewayRateLimited: 'gateway_rate_limited_total',
  objectCacheHits: 'object_cache_hits_total',
  objectCacheMisses: 'object_cache_misses_total',
  headsFromMetadata: 'head_from_metadata_total',
  gatewayAdmissionRejected: 'gateway_admission_rejections_total',
} as const);

/** Default histogram buckets, in seconds: fine at the low end, where in-memory reads live. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

interface CounterSeries { labels: Labels; value: number }
interface HistogramSeries { labels: Labels; count: number; sum: number; buckets: number[] }

/** One metric family, as the exporter sees it. */
export type MetricFamily =
  | { kind: 'counter'; name: string; help: string; series: readonly CounterSeries[] }
  | { kind: 'histogram'; name: string; help: string; buckets: readonly number[]; series: readonly HistogramSeries[] };

const HELP: Record<string, string> = {
  [METRIC.degradedReads]: 'Reads served through the degraded (metadata store down) path.',
  [METRIC.degradedCacheHits]: 'Degraded reads served by the location cache.',
  [METRIC.usageLimitRejections]: 'Reads rejected because every copy was over its usage limit.',
  [METRIC.mixedOutcomes]: 'Degraded broadcasts that failed with a mix of 404s and other errors.',
  [METRIC.drainTimeouts]: 'Broadcasts whose losers did not settle within the drain timeout.',
  [METRIC.broadcastDuration]: 'Duration of degraded broadcasts by outcome.',
  [METRIC.operationDuration]: 'Duration of winning reads by operation and backend.',
  [METRIC.hedgesSent]: 'Hedged probes launched because the current probe was slower than the hedge delay.',
  [METRIC.hedgesWon]: 'Reads won by a hedged probe.',
  [METRIC.hedgeBudgetExhausted]: 'Hedges not sent because the extra-load budget was spent.',
  [METRIC.streamResumes]: 'Streams that lost their copy mid-body and continued from another copy by Range, by the backend that failed.',
  [METRIC.streamBytes]: 'Body bytes streamed to consumers, by the backend that served them.',
  [METRIC.stripeParts]: 'Parts of striped reads served, by backend.',
  [METRIC.decrypts]: 'Encrypted copies decrypted, by backend and read kind (get: probes, buffered or to a file; stream: stream segments and striped parts).',
  [METRIC.decryptFailures]: 'Encrypted copies that could not be decrypted, by backend and kind (header, key_data, unknown_key, unwrap, key_service, nonce, tag, length).',
  [METRIC.decompressions]: 'Compressed copies (s3-orchestrator compression) decoded, by backend and read kind (get: probes, buffered or to a file; stream: stream segments and striped parts).',
  [METRIC.decompressFailures]: 'Compressed copies that could not be decoded (DECOMPRESSION_FAILED: a damaged frame, a seek table that does not describe the copy, an algorithm or layout version not read), by backend.',
  [METRIC.gatewayAdmissionRejected]: 'Requests the S3 gateway refused with 503 SlowDown at its concurrency limit, by reason (full: no slot within admission_wait; load_shed: shed at random above load_shed_threshold).',
  [METRIC.objectCacheHits]: 'Reads (whole gets, getStream, head) answered from the object data cache (cache:), with no backend request.',
  [METRIC.objectCacheMisses]: 'Reads (whole gets, getStream, head) of an object with a content hash that the object data cache did not hold (or held for another content hash, or past its TTL).',
  [METRIC.headsFromMetadata]: 'HEADs answered from the metadata alone (head.from_metadata: the row carries the object\'s ETag), with no backend request.',
  [METRIC.gatewayRateLimited]: 'Requests the S3 gateway refused with 429 SlowDown because their client was over rate_limit.',
  [METRIC.stripeHedges]: 'Parts of striped reads fetched again from another copy because the first fetch was slow, by the backend hedged to.',
};

function seriesKey(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  let k = '';
  for (const name in labels) k += name + '\u0001' + labels[name] + '\u0002';
  return k;
}

function matches(series: Labels, want: Labels | undefined): boolean {
  if (want === undefined) return true;
  for (const name in want) if (series[name] !== want[name]) return false;
  return true;
}

/** Usage tracker and metrics of one readpath instance. */
export class Recorder {
  /** The monthly usage tracker (`withinLimits`, `record`). */
  readonly usage: UsageTracker;
  /** Usage reserved by probes in flight, checked against the limits with what was recorded. */
  readonly reservations: UsageLedger;
  readonly #counters = new Map<string, Map<string, CounterSeries>>();
  readonly #histograms = new Map<string, Map<string, HistogramSeries>>();
  readonly #buckets: readonly number[];

  constructor(opts: UsageTrackerOptions & { buckets?: readonly number[] } = {}) {
    this.usage = new UsageTracker(opts);
    this.reservations = new UsageLedger(this);
    this.#buckets = opts.buckets ?? DEFAULT_BUCKETS;
  }

  /** True when a call of this size stays within the backend's monthly limits. */
  withinLimits(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): boolean {
    return this.usage.withinLimits(backendName, apiCalls, egressBytes, ingressBytes);
  }

  /** The limit a call of this size would exceed, or undefined. */
  exceededLimit(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): UsageLimitKind | undefined {
    return this.usage.exceededLimit(backendName, apiCalls, egressBytes, ingressBytes);
  }

  /** Record usage for a backend. */
  record(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): void {
    this.usage.record(backendName, apiCalls, egressBytes, ingressBytes);
  }

  /** Add to a counter. */
  inc(name: string, labels?: Labels, by = 1): void {
    let fam = this.#counters.get(name);
    if (fam === undefined) {
      fam = new Map();
      this.#counters.set(name, fam);
    }
    const key = seriesKey(labels);
    const s = fam.get(key);
    if (s === undefined) fam.set(key, { labels: { ...labels }, value: by });
    else s.value += by;
  }

  /** Observe a histogram sample (seconds). */
  observe(name: string, labels: Labels | undefined, seconds: number): void {
    let fam = this.#histograms.get(name);
    if (fam === undefined) {
      fam = new Map();
      this.#histograms.set(name, fam);
    }
    const key = seriesKey(labels);
    let s = fam.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, count: 0, sum: 0, buckets: new Array<number>(this.#buckets.length).fill(0) };
      fam.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    const b = this.#buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= (b[i] as number)) {
        s.buckets[i] = (s.buckets[i] as number) + 1;
        break;
      }
    }
  }

  /**
   * A counter's current value (a histogram's sample count), summed over the label values not
   * given.
   */
  count(name: string, labels?: Labels): number {
    let total = 0;
    const c = this.#counters.get(name);
    if (c !== undefined) for (const s of c.values()) if (matches(s.labels, labels)) total += s.value;
    const h = this.#histograms.get(name);
    if (h !== undefined) for (const s of h.values()) if (matches(s.labels, labels)) total += s.count;
    return total;
  }

  /** Every metric family recorded so far, for exporters. Bucket counts are per bucket, not cumulative. */
  families(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const [name, fam] of this.#counters) {
      out.push({ kind: 'counter', name, help: HELP[name] ?? name, series: [...fam.values()] });
    }
    for (const [name, fam] of this.#histograms) {
      out.push({ kind: 'histogram', name, help: HELP[name] ?? name, buckets: this.#buckets, series: [...fam.values()] });
    }
    return out;
  }
}
