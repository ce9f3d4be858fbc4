/**
 * An in-memory failover walk-through: three backends, a store, a location cache, and the
 * protocol's main paths, each printed as it happens. Runs anywhere, needs nothing.
 */
import { createHash } from 'node:crypto';
import { Recorder } from '../telemetry/recorder.js';
import { MemoryBackend } from '../backends/memory-backend.js';
import { MemoryLocationCache } from '../cache/memory-location-cache.js';
import { MemoryMetadataStore } from '../stores/memory-store.js';
import { Failover } from '../engine/failover.js';
import { getProbe } from '../probe/probes.js';
import { messageOf } from '../errors.js';
import type { Core, ObjectBackend } from '../types.js';

/** Run the walk-through, writing lines to `out`. */
export async function runWalkthrough(out: (line: string) => void = console.log): Promise<void> {
  const names = ['b1', 'b2', 'b3'];
  const mem = names.map((n) => new MemoryBackend(n));
  const backends = new Map<string, ObjectBackend>(mem.map((b) => [b.name, b]));
  const recorder = new Recorder({ limits: { b3: { apiRequests: 1 } } });
  const core: Core = { backends: () => backends, backendOrder: () => names, acct: () => recorder };
  const store = new MemoryMetadataStore();
  const cache = new MemoryLocationCache({ ttlMs: 60_000, maxEntries: 1000 });
  const failover = new Failover({ core, stores: store, cache, parallelBroadcast: true });

  const body = new TextEncoder().encode('hello, replicated world');
  const hash = createHash('sha256').update(body).digest('hex');
  for (const [i, b] of [mem[0], mem[1]].entries()) {
    b?.put('greeting.txt', body);
    store.add({ objectKey: 'greeting.txt', backendName: b?.name ?? '', sizeBytes: body.length, createdAt: new Date(1000 + i), encrypted: false, contentHash: hash });
  }
  const show = async (title: string): Promise<void> => {
    try {
      const r = await failover.read('GetObject', 'greeting.txt', getProbe(recorder, 'greeting.txt'));
      out(`${title}: served by ${r.backend} (failover=${r.failover}, degraded=${r.degraded}, cacheHit=${r.cacheHit}, verified=${r.value.verified}) "${new TextDecoder().decode(r.value.body)}"`);
    } catch (err) {
      out(`${title}: ${(err as { code?: string }).code ?? 'ERROR'} — ${messageOf(err)}`);
    }
  };
  await show('1. healthy');
  mem[0]?.delete('greeting.txt');
  await show('2. first copy missing');
  mem[0]?.put('greeting.txt', 'bit rot!');
  await show('3. first copy corrupted');
  mem[0]?.put('greeting.txt', body);
  store.setAvailable(false);
  await show('4. database down (broadcast; nothing to verify against)');
  await show('5. database down again (location cache)');
  mem[0]?.delete('greeting.txt');
  await show('6. database down, cached copy gone (broadcast again)');
  mem[1]?.delete('greeting.txt');
  await show('7. database down, no copy anywhere');
  out(`metrics: degraded_reads=${recorder.count('degraded_reads_total')} cache_hits=${recorder.count('degraded_cache_hits_total')} winning_reads=${recorder.count('operation_duration_seconds')}`);
}
