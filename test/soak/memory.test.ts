/**
 * The small soak variant (the full one is bench/soak.ts, 10,000 vs 1,000,000 keys): two batches
 * of 10,000 and 40,000 keys, each in a fresh child process, over synthetic parts whose data
 * costs no memory, with failovers and a store outage (degraded reads write the location cache,
 * bounded here at 1,000 entries so both batches fill it).
 *
 * What is asserted is what stays robust on a loaded 2-core box: the heap left after the batch
 * and a full GC does not grow with the key count (a leak of ~70 bytes per key would show), and
 * peak RSS stays within a generous 1.5x at Node's default heap limit. With the heap limit capped
 * at 512 MiB (README, Memory: what a 2 GiB container gets by itself), V8 keeps little headroom
 * and the 20% bound holds with margin, so the second test asserts it: 10,000 vs
 * 100,000 keys here (measured 0.99-1.06x under tsx), READPATH_SOAK_KEYS=1000000 for the full
 * size (bench/soak.ts has the figures at both limits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soakInChild } from '../../bench/soak.js';

test('memory does not grow with the key count: retained heap flat, peak RSS bounded (10k vs 40k keys, fresh processes)', async () => {
  const opts = ['--cache-max', '1000'];
  const small = await soakInChild(10_000, opts, ['--import', 'tsx']);
  const large = await soakInChild(40_000, opts, ['--import', 'tsx']);
  for (const r of [small, large]) {
    assert.equal(r.ok, r.keys, 'every key read');
    assert.ok(r.degraded > 0, 'the outage sent reads down the degraded path');
  }
  const heapGrowth = large.endHeapMiB - small.endHeapMiB;
  const rssRatio = large.peakRssMiB / small.peakRssMiB;
  console.log(`10k keys: peak RSS ${small.peakRssMiB.toFixed(1)} MiB, heap after GC ${small.endHeapMiB.toFixed(1)} MiB; ` +
    `40k keys: peak RSS ${large.peakRssMiB.toFixed(1)} MiB, heap after GC ${large.endHeapMiB.toFixed(1)} MiB; ratio ${rssRatio.toFixed(2)}`);
  assert.ok(heapGrowth < 2, `heap after GC grew ${heapGrowth.toFixed(2)} MiB for 30,000 more keys`);
  assert.ok(rssRatio < 1.5, `peak RSS ratio ${rssRatio.toFixed(2)}`);
});

test('with a 512 MiB heap limit, peak RSS of a long batch stays within 20% of a 10,000-key one (fresh processes)', async () => {
  const keys = Number(process.env['READPATH_SOAK_KEYS'] ?? 100_000);
  const execArgv = ['--import', 'tsx', '--max-old-space-size=512'];
  const small = await soakInChild(10_000, [], execArgv);
  const large = await soakInChild(keys, [], execArgv);
  for (const r of [small, large]) {
    assert.equal(r.ok, r.keys, 'every key read');
    assert.ok(r.degraded > 0, 'the outage sent reads down the degraded path');
  }
  const rssRatio = large.peakRssMiB / small.peakRssMiB;
  console.log(`heap limit 512 MiB: 10k keys peak RSS ${small.peakRssMiB.toFixed(1)} MiB; ${keys} keys ${large.peakRssMiB.toFixed(1)} MiB; ratio ${rssRatio.toFixed(3)}`);
  assert.ok(rssRatio <= 1.2, `peak RSS ratio ${rssRatio.toFixed(3)} over 1.2`);
  assert.ok(large.endHeapMiB - small.endHeapMiB < 2, 'heap after GC flat');
});
