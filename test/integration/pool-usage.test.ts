/**
 * Usage accounting with probes in several threads: the main thread records every verdict's
 * usage exactly, and reservations keep concurrent probes within the limits.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/failover/probes.js';
import type { UsageLimitSkipError } from '../../src/errors.js';
import type { PoolExecutor } from '../../src/runtime/pool-executor.js';
import type { ObjectLocation, ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const w = executorWorld('pool', [
  { name: 'api', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'egress', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'free', objects: { k: 'payload', bad: 'payload' }, keys: { bad: { kind: 'corrupt' } } },
]);
const pool = w.executor as PoolExecutor;
after(() => w.close());

function req(backendName: string, location: ObjectLocation | null = null): ProbeRequest {
  return { backendName, signal: new AbortController().signal, location, backend: w.backends.get(backendName)! };
}

type Settled = { ok: true } | { ok: false; e: UsageLimitSkipError };
const settle = (p: Promise<unknown>): Promise<Settled> => p.then(() => ({ ok: true }), (e: UsageLimitSkipError) => ({ ok: false, e }));

test('40 concurrent HEADs against 10 remaining API requests make exactly 10 calls; the rest are skipped before dispatch', async () => {
  w.recorder.usage.setLimits('api', { apiRequests: 10 });
  const results = Array.from({ length: 40 }, () => settle(w.executor.head('k')(req('api'))));
  assert.deepEqual(pool.pendingUsage('api'), { api: 10, egress: 0 });
  await until(() => w.fleet.calls('api') === 10, 'the admitted probes to reach the backend');
  w.fleet.open('api');
  const all = await Promise.all(results);
  const skipped = all.filter((r): r is Extract<Settled, { ok: false }> => !r.ok);
  assert.equal(all.length - skipped.length, 10);
  for (const r of skipped) {
    assert.equal(r.e.code, 'USAGE_LIMIT_SKIP');
    assert.equal(r.e.limit, 'api_requests');
  }
  assert.equal(w.fleet.calls('api'), 10);
  assert.equal(w.recorder.usage.usage('api').apiRequests, 10);
  assert.deepEqual(pool.pendingUsage('api'), { api: 0, egress: 0 });
});

test('egress is reserved from the announced size before a body is read: concurrent GETs never exceed the limit', async () => {
  w.recorder.usage.setLimits('egress', { egressBytes: 20 });
  const results = Array.from({ length: 5 }, () => settle(w.executor.get('k')(req('egress'))));
  await until(() => w.fleet.calls('egress') === 5, 'every GET to be made');
  w.fleet.open('egress');
  const all = await Promise.all(results);
  const served = all.filter((r) => r.ok).length;
  assert.equal(served, 2, '2 × 7 bytes fit in 20, a third would not');
  for (const r of all) if (!r.ok) assert.equal(r.e.limit, 'egress_bytes');
  assert.deepEqual(w.recorder.usage.usage('egress'), { apiRequests: 5, egressBytes: 14, ingressBytes: 0 });
  assert.deepEqual(pool.pendingUsage('egress'), { api: 0, egress: 0 });
});

test('a failed probe releases its reservations and records what it used (integrity mismatch: the GET and its bytes)', async () => {
  w.recorder.usage.setLimits('free', { egressBytes: 1_000_000 });
  const loc: ObjectLocation = { objectKey: 'bad', backendName: 'free', sizeBytes: 7, createdAt: new Date(0), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode('payload')) };
  const before = w.recorder.usage.usage('free');
  await assert.rejects(w.executor.get('bad')(req('free', loc)), { code: 'INTEGRITY_MISMATCH' });
  assert.deepEqual(w.recorder.usage.usage('free'), { ...before, apiRequests: before.apiRequests + 1, egressBytes: before.egressBytes + 7 });
  assert.deepEqual(pool.pendingUsage('free'), { api: 0, egress: 0 });
  w.recorder.usage.setLimits('free', {});
});

test('usage recorded from 400 probes spread over two threads is exact', async () => {
  const before = w.recorder.usage.usage('free');
  const rs = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? w.executor.head('k') : w.executor.get('k'))(req('free'))));
  assert.equal(rs.length, 400);
  assert.deepEqual(w.recorder.usage.usage('free'), { apiRequests: before.apiRequests + 400, egressBytes: before.egressBytes + 300 * 7, ingressBytes: 0 });
});
