/**
 * Usage accounting and limits on both executors. Each reserves a probe's API request before the
 * call and the announced body size before reading it, so probes in flight together never
 * overshoot a limit by their number; the pool also records every worker's usage exactly on the
 * main thread.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/probe/probes.js';
import type { UsageLimitSkipError } from '../../src/errors.js';
import type { ObjectLocation, ProbeRequest } from '../../src/types.js';
import type { ScriptedBackendSpec } from '../helpers/scripted-backends.js';
import { executorWorld, until, type ExecutorWorld } from '../helpers/executor-world.js';

const specs: ScriptedBackendSpec[] = [
  { name: 'api', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'egress', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'free', objects: { k: 'payload', bad: 'payload' }, keys: { bad: { kind: 'corrupt' } } },
  { name: 'flaky', objects: { k: 'payload' }, default: { kind: 'fail', status: 503 } },
];
const worlds = { inline: executorWorld('inline', specs), pool: executorWorld('pool', specs) };
after(() => Promise.all([worlds.inline.close(), worlds.pool.close()]));

function req(w: ExecutorWorld, backendName: string, location: ObjectLocation | null = null): ProbeRequest {
  return { backendName, signal: new AbortController().signal, location, backend: w.backends.get(backendName)! };
}

/**
 * The row of `k` ('payload') on `backendName`: a located probe makes exactly one request, where a
 * degraded one reserves a listing of storage keys too (which these list-less backends never make).
 */
function row(backendName: string): ObjectLocation {
  return { objectKey: 'k', backendName, sizeBytes: 7, createdAt: new Date(0), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode('payload')) };
}

/** Reservations still held on a backend (both executors reserve on the recorder's ledger). */
function assertNothingReserved(w: ExecutorWorld, backend: string): void {
  assert.deepEqual(w.recorder.reservations.pending(backend), { api: 0, egress: 0 });
}

type Settled = { ok: true } | { ok: false; e: UsageLimitSkipError };
const settle = (p: Promise<unknown>): Promise<Settled> => p.then(() => ({ ok: true }), (e: UsageLimitSkipError) => ({ ok: false, e }));

for (const [kind, w] of Object.entries(worlds)) {
  test(`${kind}: 40 concurrent HEADs against 10 remaining API requests make exactly 10 calls; the rest are skipped before the call`, async () => {
    w.recorder.usage.setLimits('api', { apiRequests: 10 });
    const results = Array.from({ length: 40 }, () => settle(w.executor.head('k')(req(w, 'api', row('api')))));
    assert.deepEqual(w.recorder.reservations.pending('api'), { api: 10, egress: 0 });
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
    assertNothingReserved(w, 'api');
    // The reservations are gone: raising the limit by 2 admits exactly 2 more.
    w.recorder.usage.setLimits('api', { apiRequests: 12 });
    const more = Array.from({ length: 4 }, () => settle(w.executor.head('k')(req(w, 'api', row('api')))));
    try {
      await until(() => w.fleet.calls('api') >= 12, 'the two admitted probes to reach the backend');
    } finally {
      w.fleet.open('api');
    }
    assert.equal((await Promise.all(more)).filter((r) => r.ok).length, 2);
  });

  test(`${kind}: egress is reserved from the announced size before a body is read: concurrent GETs never exceed the limit`, async () => {
    w.recorder.usage.setLimits('egress', { egressBytes: 20 });
    const results = Array.from({ length: 5 }, () => settle(w.executor.get('k')(req(w, 'egress'))));
    try {
      await until(() => w.fleet.calls('egress') === 5, 'every GET to be made');
    } finally {
      w.fleet.open('egress');
    }
    const all = await Promise.all(results);
    assert.equal(all.filter((r) => r.ok).length, 2, '2 × 7 bytes fit in 20, a third would not');
    for (const r of all) if (!r.ok) assert.equal(r.e.limit, 'egress_bytes');
    assert.deepEqual(w.recorder.usage.usage('egress'), { apiRequests: 5, egressBytes: 14, ingressBytes: 0 });
    assertNothingReserved(w, 'egress');
  });

  test(`${kind}: a failed probe releases its reservations and records what it used (integrity mismatch: the GET and its bytes)`, async () => {
    w.recorder.usage.setLimits('free', { egressBytes: 1_000_000 });
    const loc: ObjectLocation = { objectKey: 'bad', backendName: 'free', sizeBytes: 7, createdAt: new Date(0), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode('payload')) };
    const before = w.recorder.usage.usage('free');
    await assert.rejects(w.executor.get('bad')(req(w, 'free', loc)), { code: 'INTEGRITY_MISMATCH' });
    assert.deepEqual(w.recorder.usage.usage('free'), { ...before, apiRequests: before.apiRequests + 1, egressBytes: before.egressBytes + 7 });
    assertNothingReserved(w, 'free');
    w.recorder.usage.setLimits('free', {});
  });

  test(`${kind}: a failed call releases its reservation and is billed once (a 503 was a request)`, async () => {
    w.recorder.usage.setLimits('flaky', { apiRequests: 3 });
    for (let i = 0; i < 3; i++) await assert.rejects(w.executor.get('k')(req(w, 'flaky', row('flaky'))), { code: 'BACKEND_ERROR' });
    assert.equal(w.recorder.usage.usage('flaky').apiRequests, 3);
    await assert.rejects(w.executor.get('k')(req(w, 'flaky', row('flaky'))), { code: 'USAGE_LIMIT_SKIP' });
    assert.equal(w.fleet.calls('flaky'), 3, 'the fourth was skipped before the call');
  });
}

test('pool: usage recorded from 400 probes spread over two threads is exact', async () => {
  const w = worlds.pool;
  const before = w.recorder.usage.usage('free');
  const rs = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? w.executor.head('k') : w.executor.get('k'))(req(w, 'free'))));
  assert.equal(rs.length, 400);
  // A degraded HEAD is one ranged GET of the first 5 bytes (its Content-Range gives the size).
  assert.deepEqual(w.recorder.usage.usage('free'), { apiRequests: before.apiRequests + 400, egressBytes: before.egressBytes + 300 * 7 + 100 * 5, ingressBytes: 0 });
});
