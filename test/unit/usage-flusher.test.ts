import { afterEach, after, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageFlusher } from '../../src/policies/usage-flusher.js';
import { UsageTracker, type UsageDelta, type UsageStat } from '../../src/policies/usage-tracker.js';
import { MemoryUsageStore } from '../../src/stores/memory-usage-store.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import type { UsageStore } from '../../src/stores/usage-store.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import { sharedStoreScenario } from '../helpers/usage-scenarios.js';

const MARCH = new Date('2024-03-15T12:00:00Z');
const zero: UsageStat = { apiRequests: 0, egressBytes: 0, ingressBytes: 0 };

/** A store that logs every call, so tests can tell what reached it and in which order. */
class LoggingStore implements UsageStore {
  readonly inner = new MemoryUsageStore();
  readonly log: string[] = [];
  async loadUsage(period: string): Promise<Map<string, UsageStat>> {
    this.log.push(`load ${period}`);
    return this.inner.loadUsage(period);
  }
  async flushUsage(deltas: readonly UsageDelta[]): Promise<void> {
    this.log.push(`flush ${deltas.map((d) => `${d.backendName}@${d.period}:${d.apiRequests}`).join(',')}`);
    return this.inner.flushUsage(deltas);
  }
}

describe('UsageFlusher', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('loads the stored totals on start, then flushes deltas every interval', async () => {
    const store = new LoggingStore();
    await store.inner.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 10, egressBytes: 100, ingressBytes: 0 }]);
    const tracker = new UsageTracker({ now: () => MARCH });
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 1000 });
    await flusher.start();
    assert.deepEqual(tracker.usage('b1'), { apiRequests: 10, egressBytes: 100, ingressBytes: 0 });

    tracker.record('b1', 2, 50, 0);
    mock.timers.tick(999);
    await flusher.idle();
    assert.deepEqual(store.log, ['load 2024-03'], 'nothing before the interval');
    mock.timers.tick(1);
    await flusher.idle();
    assert.deepEqual(store.log, ['load 2024-03', 'flush b1@2024-03:2', 'load 2024-03']);
    assert.deepEqual(store.inner.get('b1', '2024-03'), { apiRequests: 12, egressBytes: 150, ingressBytes: 0 });
    assert.deepEqual(tracker.usage('b1'), { apiRequests: 12, egressBytes: 150, ingressBytes: 0 }, 'flushed usage still counts');
    assert.equal(tracker.takeDeltas().length, 0);

    // Next interval with nothing recorded: only the reload.
    mock.timers.tick(1000);
    await flusher.idle();
    assert.deepEqual(store.log.slice(3), ['load 2024-03']);
    await flusher.close();
  });

  it('keeps the deltas of a failed flush and writes them on the next one: nothing lost, nothing doubled', async () => {
    const store = new MemoryUsageStore();
    const tracker = new UsageTracker({ now: () => MARCH, limits: { b1: { apiRequests: 10 } } });
    const errors: string[] = [];
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 1000, onError: (e, phase) => errors.push(`${phase}:${(e as { code?: string }).code}`) });
    await flusher.start();
    tracker.record('b1', 4, 0, 0);
    store.setAvailable(false);
    mock.timers.tick(1000);
    await flusher.idle();
    assert.deepEqual(errors, ['flush:DB_UNAVAILABLE', 'load:DB_UNAVAILABLE']);
    assert.deepEqual(store.get('b1', '2024-03'), zero);
    assert.equal(tracker.usage('b1').apiRequests, 4, 'the unflushed deltas still count against limits');

    tracker.record('b1', 3, 0, 0);
    await assert.rejects(flusher.flush(), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'));
    assert.equal(tracker.usage('b1').apiRequests, 7);

    store.setAvailable(true);
    mock.timers.tick(1000);
    await flusher.idle();
    assert.equal(store.get('b1', '2024-03').apiRequests, 7);
    assert.equal(tracker.usage('b1').apiRequests, 7);
    assert.equal(tracker.withinLimits('b1', 4, 0, 0), false);
    await flusher.close();
    assert.equal(store.get('b1', '2024-03').apiRequests, 7, 'close has nothing more to write');
  });

  it('folds flushed deltas into the baseline when the reload fails', async () => {
    const store = new MemoryUsageStore();
    const failingLoad: UsageStore = { loadUsage: () => Promise.reject(new Error('load down')), flushUsage: (d) => store.flushUsage(d) };
    const tracker = new UsageTracker({ now: () => MARCH });
    const flusher = new UsageFlusher({ tracker, store: failingLoad, intervalMs: 1000 });
    await flusher.start();
    tracker.record('b1', 5, 0, 0);
    mock.timers.tick(1000);
    await flusher.idle();
    assert.equal(store.get('b1', '2024-03').apiRequests, 5);
    assert.equal(tracker.usage('b1').apiRequests, 5);
    assert.equal(tracker.takeDeltas().length, 0);
    await flusher.close();
  });

  it('flushes what is left on close, stops its timer, and is idempotent', async () => {
    const store = new LoggingStore();
    const tracker = new UsageTracker({ now: () => MARCH });
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 1000 });
    await flusher.start();
    tracker.record('b2', 1, 2, 3);
    await Promise.all([flusher.close(), flusher.close()]);
    assert.deepEqual(store.log, ['load 2024-03', 'flush b2@2024-03:1']);
    assert.deepEqual(store.inner.get('b2', '2024-03'), { apiRequests: 1, egressBytes: 2, ingressBytes: 3 });
    mock.timers.tick(10_000);
    await flusher.idle();
    assert.equal(store.log.length, 2, 'no flush after close');
  });

  it('close does not reject when the final flush fails, and the deltas stay in the tracker', async () => {
    const store = new MemoryUsageStore();
    const tracker = new UsageTracker({ now: () => MARCH });
    const seen: unknown[] = [];
    const flusher = new UsageFlusher({ tracker, store, onError: (e) => seen.push(e) });
    tracker.record('b1', 1, 0, 0);
    store.setAvailable(false);
    await flusher.close();
    assert.equal(seen.length, 1);
    assert.deepEqual(tracker.takeDeltas(), [{ backendName: 'b1', period: '2024-03', apiRequests: 1, egressBytes: 0, ingressBytes: 0 }]);
  });

  it('serialises a manual flush behind one in progress', async () => {
    const log: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let entered: () => void = () => {};
    const firstEntered = new Promise<void>((r) => (entered = r));
    const inner = new MemoryUsageStore();
    const store: UsageStore = {
      loadUsage: (p) => inner.loadUsage(p),
      flushUsage: async (d) => {
        log.push(`start ${d[0]?.apiRequests}`);
        if (log.length === 1) {
          entered();
          await gate;
        }
        await inner.flushUsage(d);
        log.push(`end ${d[0]?.apiRequests}`);
      },
    };
    const tracker = new UsageTracker({ now: () => MARCH });
    const flusher = new UsageFlusher({ tracker, store, reloadBaseline: false });
    tracker.record('b1', 1, 0, 0);
    const first = flusher.flush();
    await firstEntered;
    tracker.record('b1', 2, 0, 0);
    const second = flusher.flush();
    release();
    await Promise.all([first, second]);
    assert.deepEqual(log, ['start 1', 'end 1', 'start 2', 'end 2']);
    assert.equal(inner.get('b1', '2024-03').apiRequests, 3);
    await flusher.close();
  });

  it('usage being flushed still counts against limits until the flush ends, whether it succeeds (with or without a reload) or fails', async () => {
    for (const outcome of ['written, reloaded', 'written, folded', 'failed'] as const) {
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => (release = r));
      let entered: () => void = () => {};
      const inFlight = new Promise<void>((r) => (entered = r));
      const inner = new MemoryUsageStore();
      const store: UsageStore = {
        loadUsage: (p) => inner.loadUsage(p),
        flushUsage: async (d) => {
          entered();
          await gate;
          if (outcome === 'failed') throw new ReadPathError('DB_UNAVAILABLE', 'down');
          await inner.flushUsage(d);
        },
      };
      const tracker = new UsageTracker({ now: () => MARCH, limits: { b1: { apiRequests: 5 } } });
      const flusher = new UsageFlusher({ tracker, store, reloadBaseline: outcome === 'written, reloaded', onError: () => {} });
      tracker.record('b1', 5, 0, 0);
      assert.equal(tracker.withinLimits('b1', 1, 0, 0), false);
      const flushing = flusher.flush().catch(() => {});
      await inFlight;
      assert.equal(tracker.usage('b1').apiRequests, 5, `${outcome}: in flight, still counted`);
      assert.equal(tracker.withinLimits('b1', 1, 0, 0), false, `${outcome}: the limit still holds`);
      release();
      await flushing;
      assert.equal(tracker.usage('b1').apiRequests, 5, `${outcome}: counted once after the flush`);
      assert.equal(tracker.usageParts('b1').baseline.apiRequests + tracker.usageParts('b1').unflushed.apiRequests, 5);
      await flusher.close().catch(() => {});
    }
  });

  it('lands each delta in its own month across a rollover', async () => {
    let now = new Date('2024-03-31T23:59:59Z');
    const store = new MemoryUsageStore();
    await store.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 100, egressBytes: 0, ingressBytes: 0 }]);
    const tracker = new UsageTracker({ now: () => now });
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 1000 });
    await flusher.start();
    assert.equal(tracker.usage('b1').apiRequests, 100);
    tracker.record('b1', 1, 0, 0);
    now = new Date('2024-04-01T00:00:01Z');
    tracker.record('b1', 2, 0, 0);
    assert.equal(tracker.usage('b1').apiRequests, 2, 'March no longer counts');
    mock.timers.tick(1000);
    await flusher.idle();
    assert.equal(store.get('b1', '2024-03').apiRequests, 101);
    assert.equal(store.get('b1', '2024-04').apiRequests, 2);
    assert.equal(tracker.usage('b1').apiRequests, 2);
    await flusher.close();
  });

  it('a backend the database refuses holds back only its own usage: the others are written, its deltas kept and the failure told', async () => {
    const inner = new MemoryUsageStore();
    const calls: string[] = [];
    // As upstream's backend_usage refuses a backend missing from backend_quotas (a foreign key).
    const store: UsageStore = {
      loadUsage: (period) => inner.loadUsage(period),
      flushUsage: async (deltas, opts) => {
        calls.push(`${deltas.map((d) => d.backendName).join('+')}${opts?.final === true ? ' (final)' : ''}`);
        if (deltas.some((d) => d.backendName === 'gone')) throw new ReadPathError('METADATA_ERROR', 'FOREIGN KEY constraint failed');
        return inner.flushUsage(deltas);
      },
    };
    const tracker = new UsageTracker({ now: () => MARCH });
    const errors: string[] = [];
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 1000, reloadBaseline: false, onError: (e, phase) => errors.push(`${phase}:${(e as Error).message}`) });
    await flusher.start();
    tracker.record('b1', 4, 10, 0);
    tracker.record('gone', 2, 0, 0);
    tracker.record('b2', 1, 0, 0);
    mock.timers.tick(1000);
    await flusher.idle();
    assert.deepEqual(calls, ['b1+gone+b2', 'b1', 'gone', 'b2']);
    assert.deepEqual(errors, ['flush:FOREIGN KEY constraint failed']);
    assert.equal(inner.get('b1', '2024-03').apiRequests, 4);
    assert.equal(inner.get('b2', '2024-03').apiRequests, 1);
    assert.equal(inner.get('gone', '2024-03').apiRequests, 0);
    assert.deepEqual([tracker.usage('b1').apiRequests, tracker.usage('gone').apiRequests], [4, 2], 'everything still counts here, nothing twice');
    await flusher.close();
    assert.deepEqual(calls.slice(4), ['gone (final)'], 'only what failed is tried again, the last time as final');
    assert.equal(inner.get('b1', '2024-03').apiRequests, 4, 'b1 was not written twice');
  });

  it('rejects a bad interval', () => {
    assert.throws(() => new UsageFlusher({ tracker: new UsageTracker(), store: new MemoryUsageStore(), intervalMs: 0 }), (e: unknown) => hasCode(e, 'INVALID_CONFIG'));
  });
});

describe('UsageFlusher: processes sharing one store', () => {
  it('memory store: two trackers add up exactly and see each other after a reload', async () => {
    const store = new MemoryUsageStore();
    await sharedStoreScenario(() => ({ store, close: async () => {} }), MARCH);
  });

  const dir = mkdtempSync(join(tmpdir(), 'readpath-usage-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('SQLite file: two stores on one file add up exactly', async () => {
    const path = join(dir, 'shared.db');
    await sharedStoreScenario(() => {
      const store = new SqliteMetadataStore({ path });
      return { store, close: () => store.close() };
    }, MARCH);
  });
});
