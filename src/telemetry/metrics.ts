/**
 * Prometheus exposition of a Recorder's metrics, per-backend usage and breaker states,
 * through prom-client's registry and formatter. The recorder keeps the hot-path counters
 * itself (a synchronous inc of well under a microsecond); this bridge turns them into
 * prom-client metric families at scrape time.
 */
import type { Registry, RegistryContentType } from 'prom-client';
import type { Recorder } from './recorder.js';
import type { UsageStat } from '../policies/usage-tracker.js';
import { lazyModule } from '../lazy-module.js';

/**
 * prom-client's text format content type (its `Registry.PROMETHEUS_CONTENT_TYPE`; a test
 * checks they agree). A constant, so asking for it does not load prom-client.
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// prom-client is imported at the first render (~0.7 MiB of heap kept for good; see
// lazy-module.ts): a reader nobody scrapes should not carry it.
export const promClient = lazyModule(() => import('prom-client'));

/** The prefix every exported metric name carries. */
export const METRIC_PREFIX = 'readpath_';

/** One sample of a family. */
export interface Value { labels: Record<string, string | number>; value: number; metricName?: string }
/**
 * How the processes of one gateway (`server.processes`) combine a family's samples: prom-client's
 * aggregator names (`sum` for counts, `max` for the worst state any process sees, `first` for
 * what every process knows alike).
 */
export type Aggregator = 'sum' | 'max' | 'first';
/** One metric family, as prom-client's `getMetricsAsJSON` gives it: plain data, cloneable between processes. */
export interface Family { name: string; help: string; type: 'counter' | 'gauge' | 'histogram'; aggregator: Aggregator; values: Value[] }

/** The family of backend usage: baseline plus unflushed, which processes cannot simply add up. */
export const USAGE_FAMILY = 'readpath_backend_usage';
/** The help text of {@link USAGE_FAMILY}. */
export const USAGE_HELP = 'Usage this month per backend (stored total plus unflushed).';
/** A process's unflushed share of {@link USAGE_FAMILY}, in {@link MetricsExporter.processFamilies} only. */
export const UNFLUSHED_USAGE_FAMILY = 'readpath_backend_usage_unflushed';

const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Breaker states as the exporter reads them. */
export type BreakerSnapshot = () => { store: keyof typeof BREAKER_VALUE; backends: Record<string, keyof typeof BREAKER_VALUE> };

/** Renders a Recorder and runtime state as Prometheus text. */
export class MetricsExporter {
  readonly #recorder: Recorder;
  readonly #breakers: BreakerSnapshot;
  readonly #backends: readonly string[];
  readonly #objectCache: (() => { bytes: number; objects: number }) | undefined;
  #registry: Registry | undefined;

  /** `objectCache`: what the object data cache holds, when `cache:` is enabled. */
  constructor(recorder: Recorder, breakers: BreakerSnapshot, backends: readonly string[], objectCache?: () => { bytes: number; objects: number }) {
    this.#recorder = recorder;
    this.#breakers = breakers;
    this.#backends = backends;
    this.#objectCache = objectCache;
  }

  /** The exposition's content type. */
  get contentType(): string {
    return PROMETHEUS_CONTENT_TYPE;
  }

  /** Every metric family, freshly collected. */
  families(): Family[] {
    return this.#collect(false);
  }

  /**
   * The families one process of several gives the process that combines them: backend usage as
   * the stored baseline ({@link USAGE_FAMILY}, combined by `max`: the freshest load) and this
   * process's unflushed deltas ({@link UNFLUSHED_USAGE_FAMILY}, added up), since each process's
   * total counts the stored part once more (see src/telemetry/metrics-aggregate.ts).
   */
  processFamilies(): Family[] {
    return this.#collect(true);
  }

  #collect(split: boolean): Family[] {
    const out: Family[] = [];
    for (const f of this.#recorder.families()) {
      const name = METRIC_PREFIX + f.name;
      if (f.kind === 'counter') {
        out.push({ name, help: f.help, type: 'counter', aggregator: 'sum', values: f.series.map((s) => ({ labels: { ...s.labels }, value: s.value })) });
        continue;
      }
      const values: Value[] = [];
      for (const s of f.series) {
        let cumulative = 0;
        f.buckets.forEach((le, i) => {
          cumulative += s.buckets[i] ?? 0;
          values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
        values.push({ metricName: `${name}_sum`, labels: { ...s.labels }, value: s.sum });
        values.push({ metricName: `${name}_count`, labels: { ...s.labels }, value: s.count });
      }
      out.push({ name, help: f.help, type: 'histogram', aggregator: 'sum', values });
    }
    const usage = this.#recorder.usage;
    const used: Value[] = [];
    const unflushed: Value[] = [];
    const limits: Value[] = [];
    const kinds = (backend: string, to: Value[], u: UsageStat): void => {
      to.push({ labels: { backend, kind: 'api_requests' }, value: u.apiRequests });
      to.push({ labels: { backend, kind: 'egress_bytes' }, value: u.egressBytes });
      to.push({ labels: { backend, kind: 'ingress_bytes' }, value: u.ingressBytes });
    };
    for (const backend of this.#backends) {
      if (split) {
        const parts = usage.usageParts(backend);
        kinds(backend, used, parts.baseline);
        kinds(backend, unflushed, parts.unflushed);
      } else {
        kinds(backend, used, usage.usage(backend));
      }
      kinds(backend, limits, usage.limitsOf(backend));
    }
    out.push({ name: USAGE_FAMILY, help: USAGE_HELP, type: 'gauge', aggregator: 'max', values: used });
    if (split) out.push({ name: UNFLUSHED_USAGE_FAMILY, help: 'Usage recorded by this process and not yet flushed.', type: 'gauge', aggregator: 'sum', values: unflushed });
    out.push({ name: `${METRIC_PREFIX}backend_usage_limit`, help: 'Monthly usage limit per backend (0 = unlimited).', type: 'gauge', aggregator: 'first', values: limits });
    const b = this.#breakers();
    out.push({
      name: `${METRIC_PREFIX}circuit_breaker_state`, help: 'Breaker state: 0 closed, 1 half-open, 2 open.', type: 'gauge', aggregator: 'max',
      values: [
        { labels: { breaker: 'store', backend: '' }, value: BREAKER_VALUE[b.store] },
        ...Object.entries(b.backends).map(([backend, s]) => ({ labels: { breaker: 'backend', backend }, value: BREAKER_VALUE[s] })),
      ],
    });
    if (this.#objectCache !== undefined) {
      const c = this.#objectCache();
      out.push({ name: `${METRIC_PREFIX}object_cache_bytes`, help: 'Bytes of verified bodies the object data cache (cache:) holds.', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: c.bytes }] });
      out.push({ name: `${METRIC_PREFIX}object_cache_objects`, help: 'Objects the object data cache (cache:) holds.', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: c.objects }] });
    }
    return out;
  }

  /** Prometheus text exposition. */
  async render(): Promise<string> {
    const { Registry } = await promClient.load();
    const registry = (this.#registry ??= new Registry());
    registry.clear();
    for (const f of this.families()) registerFamily(registry, f);
    return registry.metrics();
  }
}

/** Add a collected family to a prom-client registry (its values fixed as collected). */
export function registerFamily(registry: Registry<RegistryContentType>, f: Family): void {
  registry.registerMetric({ name: f.name, help: f.help, type: f.type, aggregator: f.aggregator, get: async () => f } as unknown as Parameters<Registry['registerMetric']>[0]);
}
