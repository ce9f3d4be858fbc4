import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import { UsageFlusher } from '../../src/policies/usage-flusher.js';
import { UsageTracker } from '../../src/policies/usage-tracker.js';
import { hasCode } from '../../src/errors.js';
import { PgCluster } from '../helpers/pg-cluster.js';
import { sharedStoreScenario } from '../helpers/usage-scenarios.js';

const MARCH = new Date('2024-03-15T12:00:00Z');

let cluster: PgCluster;
before(async () => {
  cluster = await PgCluster.create();
});
after(async () => {
  await cluster?.destroy();
});

describe('usage persistence on PostgreSQL', () => {
  it('two processes sharing one database add up exactly', async () => {
    const url = await cluster.createDatabase('shared_usage');
    await sharedStoreScenario(() => {
      const store = new PostgresMetadataStore({ url, max_conns: 2 });
      return { store, close: () => store.close() };
    }, MARCH);
  });

  it('concurrent flushes of the same row never lose a delta', async () => {
    const url = await cluster.createDatabase('concurrent_usage');
    const stores = Array.from({ length: 4 }, () => new PostgresMetadataStore({ url, max_conns: 3 }));
    try {
      await stores[0]?.loadUsage('2024-03'); // tables created once, up front
      await Promise.all(
        stores.flatMap((s, i) =>
          Array.from({ length: 10 }, () => s.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: i + 1, egressBytes: 1, ingressBytes: 0 }])),
        ),
      );
      assert.deepEqual((await stores[0]?.loadUsage('2024-03'))?.get('b1'), { apiRequests: 10 * (1 + 2 + 3 + 4), egressBytes: 40, ingressBytes: 0 });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('processes whose flushes hold the same rows in opposite orders never deadlock: every flush is written whole', async () => {
    const url = await cluster.createDatabase('crossed_usage');
    const stores = [new PostgresMetadataStore({ url, max_conns: 2 }), new PostgresMetadataStore({ url, max_conns: 2 })] as const;
    const delta = (backendName: string) => ({ backendName, period: '2024-03', apiRequests: 1, egressBytes: 0, ingressBytes: 0 });
    try {
      await stores[0].loadUsage('2024-03'); // tables created once, up front
      await stores[0].flushUsage([delta('b1'), delta('b2')]);
      // Each process's tracker lists backends in the order it first used them: here, opposite ones.
      const rounds = 15;
      const outcomes = await Promise.allSettled(Array.from({ length: rounds }, () => [
        stores[0].flushUsage([delta('b1'), delta('b2')]),
        stores[1].flushUsage([delta('b2'), delta('b1')]),
      ]).flat());
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => String((o.reason as Error).message));
      assert.deepEqual(failed, [], 'no flush refused');
      const stored = await stores[0].loadUsage('2024-03');
      assert.deepEqual([stored.get('b1')?.apiRequests, stored.get('b2')?.apiRequests], [1 + 2 * rounds, 1 + 2 * rounds]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('keeps the deltas while PostgreSQL is down and writes them once it is back', async () => {
    const url = await cluster.createDatabase('outage_usage');
    const store = await PostgresMetadataStore.open({ url, connectTimeoutMs: 2000 });
    const tracker = new UsageTracker({ now: () => MARCH });
    const errors: string[] = [];
    const flusher = new UsageFlusher({ tracker, store, intervalMs: 3_600_000, onError: (e, phase) => errors.push(`${phase}:${(e as { code?: string }).code}`) });
    try {
      await flusher.start();
      tracker.record('b1', 3, 30, 0);
      await flusher.flush();
      await cluster.stop();
      tracker.record('b1', 4, 40, 0);
      await assert.rejects(flusher.flush({ reload: true }), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'));
      assert.deepEqual(errors, ['flush:DB_UNAVAILABLE', 'load:DB_UNAVAILABLE']);
      assert.equal(tracker.usage('b1').apiRequests, 7);
      await cluster.start();
      await flusher.close();
      assert.deepEqual((await store.loadUsage('2024-03')).get('b1'), { apiRequests: 7, egressBytes: 70, ingressBytes: 0 });
    } finally {
      if (!cluster.running) await cluster.start();
      await flusher.close();
      await store.close();
    }
  });
});
