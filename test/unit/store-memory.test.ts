import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { MemoryUsageStore } from '../../src/stores/memory-usage-store.js';
import { hasCode } from '../../src/errors.js';
import { metadataStoreSuite } from '../helpers/store-conformance.js';

metadataStoreSuite('memory', async () => {
  const store = new MemoryMetadataStore();
  return { store, add: (l) => store.add(l), close: () => store.close() };
});

describe('MemoryMetadataStore listKeys', () => {
  it('answers DB_UNAVAILABLE while switched off, and lists again once back', async () => {
    const store = new MemoryMetadataStore();
    store.add({ objectKey: 'a', backendName: 'b1', sizeBytes: 1, createdAt: new Date(0), encrypted: false });
    store.setAvailable(false);
    await assert.rejects(store.listKeys({ limit: 10 }), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'));
    store.setAvailable(true);
    assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['a']);
  });

  it('follows adds and removes', async () => {
    const store = new MemoryMetadataStore();
    const at = new Date(0);
    for (const k of ['c', 'a', 'b']) store.add({ objectKey: k, backendName: 'b1', sizeBytes: 1, createdAt: at, encrypted: false });
    assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['a', 'b', 'c']);
    store.add({ objectKey: 'a', backendName: 'b2', sizeBytes: 1, createdAt: at, encrypted: false });
    store.add({ objectKey: 'ab', backendName: 'b1', sizeBytes: 1, createdAt: at, encrypted: false });
    store.remove('b');
    store.remove('c', 'b1');
    assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['a', 'ab']);
    store.remove('a', 'b1');
    assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['a', 'ab']);
    assert.equal(store.calls, 0, 'listings are not lookups');
  });
});

describe('MemoryUsageStore', () => {
  it('adds deltas per (backend, period) and loads one period', async () => {
    const s = new MemoryUsageStore();
    await s.flushUsage([
      { backendName: 'b1', period: '2024-03', apiRequests: 2, egressBytes: 10, ingressBytes: 1 },
      { backendName: 'b1', period: '2024-04', apiRequests: 5, egressBytes: 0, ingressBytes: 0 },
    ]);
    await s.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 1, egressBytes: 1, ingressBytes: 1 }]);
    assert.deepEqual([...(await s.loadUsage('2024-03'))], [['b1', { apiRequests: 3, egressBytes: 11, ingressBytes: 2 }]]);
    assert.deepEqual(s.get('b1', '2024-04'), { apiRequests: 5, egressBytes: 0, ingressBytes: 0 });
    assert.equal((await s.loadUsage('2024-05')).size, 0);
  });

  it('rejects malformed periods and deltas, and answers DB_UNAVAILABLE when switched off', async () => {
    const s = new MemoryUsageStore();
    await assert.rejects(s.loadUsage('2024-3'), /YYYY-MM/);
    await assert.rejects(
      s.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: -1, egressBytes: 0, ingressBytes: 0 }]),
      /apiRequests must be a non-negative integer/,
    );
    s.setAvailable(false);
    await assert.rejects(s.loadUsage('2024-03'), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'));
    await assert.rejects(
      s.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 1, egressBytes: 0, ingressBytes: 0 }]),
      (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'),
    );
    s.setAvailable(true);
    assert.equal((await s.loadUsage('2024-03')).size, 0);
  });
});
