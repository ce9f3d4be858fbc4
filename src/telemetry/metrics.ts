/**
 * Prometheus exposition of a Recorder's metrics, per-backend usage and breaker states,
 * through prom-client's registry and formatter. The recorder keeps the hot-path counters
 * itself (a synchronous inc of well under a microsecond); this bridge turns them into
 * prom-client metric families at scrape time.
 */
import type { Registry } from 'prom-client';
import type { Recorder } from './recorder.js';
import { lazyModule } from '../lazy-module.js';

/**
 * prom-client's text format content type (its `Registry.PROMETHEUS_CONTENT_TYPE`; a test
 * checks they agree). A constant, so asking for it does not load prom-client.
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// prom-client is imported at the first render (~0.7 MiB of heap kept for good; see
// lazy-module.ts): a reader nobody scrapes should not carry it.
const promClient = lazyModule(() => import('prom-client'));

/** The prefix every exported metric name carries. */
export const METRIC_PREFIX = 'readpath_';

interface Value { labels: Record<string, string | number>; value: number; metricName?: string }
interface Family { name: string; help: string; type: 'counter' | 'gauge' | 'histogram'; values: Value[] }

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
    const out: Family[] = [];
    for (const f of this.#recorder.families()) {
      const name = METRIC_PREFIX + f.name;
      if (f.kind === 'counter') {
        out.push({ name, help: f.help, type: 'counter', values: f.series.map((s) => ({ labels: { ...s.labels }, value: s.value })) });
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
      out.push({ name, help: f.help, type: 'histogram', values });
    }
    const usage = this.#recorder.usage;
    const used: Value[] = [];
    const limits: Value[] = [];
    for (const backend of this.#backends) {
      const u = usage.usage(backend);
      const l = usage.limitsOf(backend);
      used.push({ labels: { backend, kind: 'api_requests' }, value: u.apiRequests });
      used.push({ labels: { backend, kind: 'egress_bytes' }, value: u.egressBytes });
      used.push({ labels: { backend, kind: 'ingress_bytes' }, value: u.ingressBytes });
      limits.push({ labels: { backend, kind: 'api_requests' }, value: l.apiRequests });
      limits.push({ labels: { backend, kind: 'egress_bytes' }, value: l.egressBytes });
      limits.push({ labels: { backend, kind: 'ingress_bytes' }, value: l.ingressBytes });
    }
    out.push({ name: `${METRIC_PREFIX}backend_usage`, help: 'Usage this month per backend (stored total plus unflushed).', type: 'gauge', values: used });
    out.push({ name: `${METRIC_PREFIX}backend_usage_limit`, help: 'Monthly usage limit per backend (0 = unlimited).', type: 'gauge', values: limits });
    const b = this.#breakers();
    out.push({
      name: `${METRIC_PREFIX}circuit_breaker_state`, help: 'Breaker state: 0 closed, 1 half-open, 2 open.', type: 'gauge',
      values: [
        { labels: { breaker: 'store', backend: '' }, value: BREAKER_VALUE[b.store] },
        ...Object.entries(b.backends).map(([backend, s]) => ({ labels: { breaker: 'backend', backend }, value: BREAKER_VALUE[s] })),
      ],
    });
    if (this.#objectCache !== undefined) {
      const c = this.#objectCache();
      out.push({ name: `${METRIC_PREFIX}object_cache_bytes`, help: 'Bytes of verified bodies the object data cache (cache:) holds.', type: 'gauge', values: [{ labels: {}, value: c.bytes }] });
      out.push({ name: `${METRIC_PREFIX}object_cache_objects`, help: 'Objects the object data cache (cache:) holds.', type: 'gauge', values: [{ labels: {}, value: c.objects }] });
    }
    return out;
  }

  /** Prometheus text exposition. */
  async render(): Promise<string> {
    const { Registry } = await promClient.load();
    const registry = (this.#registry ??= new Registry());
    registry.clear();
    for (const f of this.families()) {
      const snapshot = { ...f, aggregator: 'sum' as const };
      registry.registerMetric({ name: f.name, help: f.help, type: f.type, aggregator: 'sum', get: async () => snapshot } as unknown as Parameters<Registry['registerMetric']>[0]);
    }
    return registry.metrics();
  }
}
