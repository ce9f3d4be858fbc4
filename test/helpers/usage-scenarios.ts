/**
 * Usage persistence scenarios shared by the memory, SQLite and PostgreSQL tests.
 */
import assert from 'node:assert/strict';
import { UsageFlusher } from '../../src/policies/usage-flusher.js';
import { UsageTracker, usagePeriod } from '../../src/policies/usage-tracker.js';
import type { UsageStore } from '../../src/stores/usage-store.js';

/** Opens one process's handle on the shared store. */
export type OpenUsageStore = () => { store: UsageStore; close(): Promise<void> };

/**
 * Two "processes" (tracker + flusher + store handle each) record usage against one shared
 * store, flushing in an interleaved and concurrent order. The stored totals must be the exact
 * sums, and after a reload each process counts the other's usage against its limits.
 */
export async function sharedStoreScenario(open: OpenUsageStore, now: Date): Promise<void> {
  const period = usagePeriod(now);
  const procs = [open(), open()].map((h) => {
    const tracker = new UsageTracker({ now: () => now });
    // An hour: the periodic timer never fires here; flushes are driven by the test.
    const flusher = new UsageFlusher({ tracker, store: h.store, intervalMs: 3_600_000 });
    return { h, tracker, flusher };
  });
  const [a, b] = procs as [(typeof procs)[number], (typeof procs)[number]];
  const before = await a.h.store.loadUsage(period);
  const base = before.get('b1') ?? { apiRequests: 0, egressBytes: 0, ingressBytes: 0 };
  const baseB2 = before.get('b2')?.apiRequests ?? 0;
  // One shared limit, 5 requests above what both processes will have used.
  const limit = base.apiRequests + 1395 + 5;
  for (const p of procs) p.tracker.setLimits('b1', { apiRequests: limit });
  try {
    await Promise.all([a.flusher.start(), b.flusher.start()]);
    const want = { b1: { apiRequests: 0, egressBytes: 0, ingressBytes: 0 }, b2: 0 };
    for (let i = 1; i <= 30; i++) {
      a.tracker.record('b1', i, i * 10, 0);
      b.tracker.record('b1', 2 * i, 0, i);
      a.tracker.record('b2', 1, 0, 0);
      want.b1.apiRequests += 3 * i;
      want.b1.egressBytes += i * 10;
      want.b1.ingressBytes += i;
      want.b2 += 1;
      if (i % 3 === 0) await Promise.all([a.flusher.flush(), b.flusher.flush({ reload: true })]);
      else if (i % 2 === 0) await a.flusher.flush({ reload: i % 4 === 0 });
    }
    await Promise.all([a.flusher.close(), b.flusher.close()]);

    const stored = await a.h.store.loadUsage(period);
    assert.deepEqual(stored.get('b1'), {
      apiRequests: base.apiRequests + want.b1.apiRequests,
      egressBytes: base.egressBytes + want.b1.egressBytes,
      ingressBytes: base.ingressBytes + want.b1.ingressBytes,
    });
    assert.equal(stored.get('b2')?.apiRequests, baseB2 + want.b2);

    // After a reload each process counts both processes' usage against the shared limit.
    for (const p of procs) {
      const f = new UsageFlusher({ tracker: p.tracker, store: p.h.store, intervalMs: 3_600_000 });
      await f.flush({ reload: true });
      await f.close();
      assert.equal(p.tracker.usage('b1').apiRequests, base.apiRequests + want.b1.apiRequests);
    }
    assert.equal(want.b1.apiRequests, 1395);
    for (const p of procs) {
      assert.equal(p.tracker.withinLimits('b1', 5, 0, 0), true);
      assert.equal(p.tracker.withinLimits('b1', 6, 0, 0), false, "the other process's usage counts");
    }
  } finally {
    await Promise.all(procs.map((p) => p.h.close()));
  }
}
