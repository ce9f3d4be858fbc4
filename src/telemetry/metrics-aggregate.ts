/**
 * One exposition for a gateway of several processes (`server.processes`): each process collects
 * its own families ({@link MetricsExporter.processFamilies}); the primary adds them up with
 * prom-client's `AggregatorRegistry.aggregate` — counters and histograms summed, breaker states
 * by their worst, limits as any process knows them — so a scrape that lands on any process sees
 * the whole gateway, as a one-process gateway's does.
 *
 * Backend usage is the exception: each process's total is the stored baseline (the same row, as
 * of that process's last load) plus its own unflushed deltas, so summing totals would count the
 * stored part once per process. It is combined here as the freshest baseline plus every
 * process's deltas.
 */
import type { Registry, RegistryContentType } from 'prom-client';
import { USAGE_FAMILY, UNFLUSHED_USAGE_FAMILY, USAGE_HELP, promClient, registerFamily, type Family, type Value } from './metrics.js';

const labelKey = (v: Value): string => JSON.stringify(Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Backend usage over processes: the largest baseline per series plus the sum of unflushed deltas. */
export function combinedUsage(perProcess: readonly (readonly Family[])[]): Family | undefined {
  const series = new Map<string, { labels: Value['labels']; baseline: number; unflushed: number }>();
  let seen = false;
  for (const families of perProcess) {
    for (const f of families) {
      const unflushed = f.name === UNFLUSHED_USAGE_FAMILY;
      if (!unflushed && f.name !== USAGE_FAMILY) continue;
      seen = true;
      for (const v of f.values) {
        const k = labelKey(v);
        let s = series.get(k);
        if (s === undefined) {
          s = { labels: { ...v.labels }, baseline: 0, unflushed: 0 };
          series.set(k, s);
        }
        if (unflushed) s.unflushed += v.value;
        else s.baseline = Math.max(s.baseline, v.value);
      }
    }
  }
  if (!seen) return undefined;
  return { name: USAGE_FAMILY, help: USAGE_HELP, type: 'gauge', aggregator: 'max', values: [...series.values()].map((s) => ({ labels: s.labels, value: s.baseline + s.unflushed })) };
}

/** The combined registry of several processes' families, plus `own` (the primary's families). */
export async function aggregateFamilies(perProcess: readonly (readonly Family[])[], own: readonly Family[] = []): Promise<Registry<RegistryContentType>> {
  const { AggregatorRegistry } = await promClient.load();
  const rest = perProcess.map((families) => families.filter((f) => f.name !== USAGE_FAMILY && f.name !== UNFLUSHED_USAGE_FAMILY));
  const registry = AggregatorRegistry.aggregate(rest);
  const usage = combinedUsage(perProcess);
  if (usage !== undefined) registerFamily(registry, usage);
  for (const f of own) registerFamily(registry, f);
  return registry;
}

/** Prometheus text of {@link aggregateFamilies}. */
export async function renderAggregated(perProcess: readonly (readonly Family[])[], own: readonly Family[] = []): Promise<string> {
  return (await aggregateFamilies(perProcess, own)).metrics();
}
