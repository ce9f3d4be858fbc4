/**
 * The failover core's own overhead on in-memory parts: a located read won by the first copy,
 * and a 3-backend parallel broadcast with immediate probes. Targets: <= 3 µs and <= 15 µs.
 * The broadcast rows launch all three probes together (`staggerLaunches: false`), so they
 * measure a real 3-probe race; with the default staggered launch an immediate first answer
 * wins before the other two are launched, which the last row shows.
 *
 *   node --import tsx bench/core.bench.ts [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { Recorder } from '../src/telemetry/recorder.js';
import { MemoryBackend } from '../src/backends/memory-backend.js';
import { MemoryLocationCache } from '../src/cache/memory-location-cache.js';
import { MemoryMetadataStore } from '../src/stores/memory-store.js';
import { Failover } from '../src/engine/failover.js';
import type { Core, ObjectBackend, Probe } from '../src/types.js';
import { readFlags } from './flags.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);
const flags = readFlags('bench:core', { json: 'text' });

function world(parallel: boolean) {
  const names = ['b1', 'b2', 'b3'];
  const map = new Map<string, ObjectBackend>(names.map((n) => [n, new MemoryBackend(n)]));
  const recorder = new Recorder();
  const core: Core = { backends: () => map, backendOrder: () => names, acct: () => recorder };
  const store = new MemoryMetadataStore();
  for (const [i, n] of names.entries()) {
    store.add({ objectKey: 'k', backendName: n, sizeBytes: 1, createdAt: new Date(i), encrypted: false });
  }
  const cache = new MemoryLocationCache({ maxEntries: 10 });
  return { failover: new Failover({ core, stores: store, cache, parallelBroadcast: parallel }), store, cache };
}

const value = { size: 1, value: 1 };
const immediate: Probe<number> = () => Promise.resolve(value);

const located = world(false);
const degraded = world(true);
degraded.store.setAvailable(false);
// A cache that never remembers, so every degraded read broadcasts.
const noCache = { get: () => undefined, set: () => {} };
const broadcastCore: Core = { backends: () => new Map<string, ObjectBackend>([['b1', new MemoryBackend('b1')], ['b2', new MemoryBackend('b2')], ['b3', new MemoryBackend('b3')]]), backendOrder: () => ['b1', 'b2', 'b3'], acct: () => new Recorder() };
const broadcast = new Failover({ core: broadcastCore, stores: degraded.store, cache: noCache, parallelBroadcast: true, staggerLaunches: false });
const staggered = new Failover({ core: broadcastCore, stores: degraded.store, cache: noCache, parallelBroadcast: true });
const withSignal = new AbortController();

const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 });
bench
  .add('located read, first copy wins', async () => { await located.failover.read('GetObject', 'k', immediate); })
  .add('located read, caller signal', async () => { await located.failover.read('GetObject', 'k', immediate, { signal: withSignal.signal }); })
  .add('3-backend parallel broadcast', async () => { await broadcast.read('GetObject', 'k', immediate); })
  .add('3-backend broadcast, caller signal', async () => { await broadcast.read('GetObject', 'k', immediate, { signal: withSignal.signal }); })
  .add('broadcast, staggered (default): first answer wins alone', async () => { await staggered.read('GetObject', 'k', immediate); });

await bench.run();
const rows = bench.tasks.map((t) => {
  const r = t.result as unknown as { latency?: { mean: number; p99: number }; throughput?: { mean: number } };
  return { task: t.name, meanUs: +((r.latency?.mean ?? NaN) * 1000).toFixed(2), p99Us: +((r.latency?.p99 ?? NaN) * 1000).toFixed(2), opsPerSec: Math.round(r.throughput?.mean ?? NaN) };
});
console.table(rows);
const json = flags.text('json');
if (json !== undefined) writeFileSync(json, JSON.stringify({ results: rows }, null, 2));
