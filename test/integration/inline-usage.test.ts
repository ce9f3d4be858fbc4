/**
 * Usage limits with inline probes under concurrency: like the pool, an inline probe reserves its
 * API request before the call and the announced body size before reading it, so reads in flight
 * together cannot overshoot a limit by their number.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { UsageLimitSkipError } from '../../src/errors.js';
import type { ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const w = executorWorld('inline', [
  { name: 'api', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'egress', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'flaky', objects: { k: 'payload' }, default: { kind: 'fail', status: 503 } },
]);
after(() => w.close());

function req(backendName: string): ProbeRequest {
  return { backendName, signal: new AbortController().signal, location: null, backend: w.backends.get(backendName)! };
}

type Settled = { ok: true } | { ok: false; e: UsageLimitSkipError };
const settle = (p: Promise<unknown>): Promise<Settled> => p.then(() => ({ ok: true }), (e: UsageLimitSkipError) => ({ ok: false, e }));

test('40 concurrent inline HEADs against 10 remaining API requests make exactly 10 calls; the rest are skipped before the call', async () => {
  w.recorder.usage.setLimits('api', { apiRequests: 10 });
  const results = Array.from({ length: 40 }, () => settle(w.executor.head('k')(req('api'))));
  try {
    await until(() => w.fleet.calls('api') >= 10, 'the admitted probes to reach the backend');
    await new Promise<void>((resolve) => setImmediate(resolve));
  } finally {
    // Open the gate even when the check fails, so the test ends instead of hanging.
    w.fleet.open('api');
  }
  const all = await Promise.all(results);
  const skipped = all.filter((r): r is Extract<Settled, { ok: false }> => !r.ok);
  assert.equal(all.length - skipped.length, 10);
  for (const r of skipped) {
    assert.equal(r.e.code, 'USAGE_LIMIT_SKIP');
    assert.equal(r.e.limit, 'api_requests');
  }
  assert.equal(w.fleet.calls('api'), 10, 'no call beyond the limit');
  assert.equal(w.recorder.usage.usage('api').apiRequests, 10);
  // The reservations are gone: raising the limit by 2 admits exactly 2 more.
  w.recorder.usage.setLimits('api', { apiRequests: 12 });
  const more = await Promise.all(Array.from({ length: 4 }, () => settle(w.executor.head('k')(req('api')))));
  assert.equal(more.filter((r) => r.ok).length, 2);
});

test('inline GETs reserve the announced size before reading: concurrent GETs never exceed the egress limit', async () => {
  w.recorder.usage.setLimits('egress', { egressBytes: 20 });
  const results = Array.from({ length: 5 }, () => settle(w.executor.get('k')(req('egress'))));
  try {
    await until(() => w.fleet.calls('egress') === 5, 'every GET to be made');
  } finally {
    w.fleet.open('egress');
  }
  const all = await Promise.all(results);
  assert.equal(all.filter((r) => r.ok).length, 2, '2 × 7 bytes fit in 20, a third would not');
  for (const r of all) if (!r.ok) assert.equal(r.e.limit, 'egress_bytes');
  assert.deepEqual(w.recorder.usage.usage('egress'), { apiRequests: 5, egressBytes: 14, ingressBytes: 0 });
});

test('a failed call releases its reservation and is billed once (a 503 was a request)', async () => {
  w.recorder.usage.setLimits('flaky', { apiRequests: 3 });
  for (let i = 0; i < 3; i++) await assert.rejects(w.executor.get('k')(req('flaky')), { code: 'BACKEND_ERROR' });
  assert.equal(w.recorder.usage.usage('flaky').apiRequests, 3);
  await assert.rejects(w.executor.get('k')(req('flaky')), { code: 'USAGE_LIMIT_SKIP' });
  assert.equal(w.fleet.calls('flaky'), 3, 'the fourth was skipped before the call');
});
