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
import { seekableZstd } from '../helpers/seekable-zstd.js';
import { randomBytes } from 'node:crypto';

const specs: ScriptedBackendSpec[] = [
  { name: 'api', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'egress', objects: { k: 'payload' }, default: { kind: 'gate' } },
  { name: 'free', objects: { k: 'payload', bad: 'payload' }, keys: { bad: { kind: 'corrupt' } } },
  { name: 'flaky', objects: { k: 'payload' }, default: { kind: 'fail', status: 503 } },
];
const worlds = { inline: executorWorld('inline', specs), pool: executorWorld('pool', specs) };
after(() => Promise.all([worlds.inline.close(), worlds.pool.close()]));

/** The object a degraded copy holds in s3-orchestrator's compressed layout: three frames. */
const text = new TextEncoder().encode('0123456789'.repeat(30));
const zst = seekableZstd(text, { chunkSize: 100 }).body;
/** 40 incompressible frames of 1000 bytes: a range of one reads the last 8 KiB (its seek table), then the frame. */
const bigText = randomBytes(40_000);
const big = seekableZstd(bigText, { chunkSize: 1000 });
/**
 * Backends whose degraded probes need requests admission does not reserve (storage keys off, so a
 * degraded probe reserves one request): `nosize` answers a range without the object's size (a HEAD
 * then asks for it), `zst` holds copies in the compressed layout (a range reads their seek table).
 */
const extraSpecs: ScriptedBackendSpec[] = [
  { name: 'nosize', objects: { k: 'payload' }, noTotal: true, default: { kind: 'gate' } },
  { name: 'zst', objects: { inline: new Uint8Array(zst), pool: new Uint8Array(zst) } },
  { name: 'zstg', objects: { inline: new Uint8Array(big.body), pool: new Uint8Array(big.body) }, default: { kind: 'gate' } },
];
const extraWorlds = { inline: executorWorld('inline', extraSpecs, { storageKeys: false }), pool: executorWorld('pool', extraSpecs, { storageKeys: false }) };
after(() => Promise.all([extraWorlds.inline.close(), extraWorlds.pool.close()]));

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

for (const [kind, w] of Object.entries(extraWorlds)) {
  test(`${kind}: concurrent probes that each decide on a HEAD after a ranged answer with no size make no more requests than the limit`, async () => {
    w.recorder.usage.setLimits('nosize', { apiRequests: 5 });
    const results = Array.from({ length: 8 }, () => settle(w.executor.head('k')(req(w, 'nosize'))));
    try {
      // Five admitted (their first bytes reserved), three skipped at admission.
      await until(() => w.fleet.calls('nosize') === 5, 'the admitted probes to send their ranged GETs');
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      // The gate stays open from here on.
      w.fleet.open('nosize');
    }
    const all = await Promise.all(results);
    for (const r of all) assert.ok(!r.ok && r.e.limit === 'api_requests', JSON.stringify(r));
    // The limit's every request went to a probe's first bytes: no HEAD had room, none was sent.
    assert.equal(w.fleet.calls('nosize'), 5, 'no request beyond the limit');
    assert.equal(w.recorder.usage.usage('nosize').apiRequests, 5);
    assertNothingReserved(w, 'nosize');
  });

  test(`${kind}: a HEAD after a ranged answer with no size is reserved before it is sent, or not sent`, async () => {
    w.recorder.usage.setLimits('nosize', { apiRequests: 5 + 3 });
    // Its first bytes (reserved at admission), then a HEAD for the size: 2 of the 3.
    const h = await w.executor.head('k')(req(w, 'nosize'));
    assert.equal(h.size, 7);
    assert.equal(w.fleet.calls('nosize'), 5 + 2);
    // Admitted on the last request left; its HEAD finds none, and is not sent.
    await assert.rejects(w.executor.head('k')(req(w, 'nosize')), (e: UsageLimitSkipError) => e.code === 'USAGE_LIMIT_SKIP' && e.limit === 'api_requests');
    assert.equal(w.fleet.calls('nosize'), 5 + 3, 'no request beyond the limit');
    assert.equal(w.recorder.usage.usage('nosize').apiRequests, 5 + 3);
    assertNothingReserved(w, 'nosize');
  });

  test(`${kind}: a degraded copy found compressed reserves its seek-table read and its frames' GET as it decides on them`, async () => {
    // The key is the executor's own: a seek table read once is remembered per thread.
    const key = kind;
    const used = (): number => w.recorder.usage.usage('zst').apiRequests;
    w.recorder.usage.setLimits('zst', { apiRequests: 2 });
    // Its first bytes (reserved at admission) begin like zstd; the seek table takes the second
    // request; the frames' GET would be a third.
    await assert.rejects(w.executor.get(key, { range: 'bytes=150-159' })(req(w, 'zst')), (e: UsageLimitSkipError) => e.code === 'USAGE_LIMIT_SKIP' && e.limit === 'api_requests');
    assert.equal(w.fleet.calls('zst'), 2, 'no request beyond the limit');
    assert.equal(used(), 2);
    assertNothingReserved(w, 'zst');
    w.recorder.usage.setLimits('zst', { apiRequests: 2 + 3 });
    const r = await w.executor.get(key, { range: 'bytes=150-159' })(req(w, 'zst'));
    assert.equal(new TextDecoder().decode(r.value.body), '0123456789');
    assert.ok(w.fleet.calls('zst') <= 5, `${w.fleet.calls('zst')} requests`);
    assert.equal(used(), w.fleet.calls('zst'));
    assertNothingReserved(w, 'zst');
  });

  test(`${kind}: the seek-table and frame GETs of located compressed copies reserve their bytes before they are sent: concurrent ranges never ask past the egress limit`, async () => {
    // The key is the executor's own: a seek table read once is remembered per thread.
    const key = kind;
    const loc: ObjectLocation = {
      objectKey: key, backendName: 'zstg', sizeBytes: big.body.byteLength, createdAt: new Date(0), encrypted: false,
      contentHash: sha256Hex(bigText), compression: 'zstd', logicalSize: bigText.byteLength, compressionVersion: 1,
    };
    // One read's seek table (8 KiB) and frame (~1 KB) fit; a second seek table does not.
    w.recorder.usage.setLimits('zstg', { egressBytes: 12_000 });
    const results = [0, 5000].map((at) => settle(w.executor.get(key, { range: `bytes=${at}-${at + 999}` })(req(w, 'zstg', loc))));
    try {
      await until(() => w.fleet.calls('zstg') >= 1, 'the first seek-table read to reach the backend');
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      w.fleet.open('zstg');
    }
    const all = await Promise.all(results);
    assert.equal(all.filter((r) => r.ok).length, 1);
    for (const r of all) if (!r.ok) assert.equal(r.e.limit, 'egress_bytes');
    assert.equal(w.fleet.calls('zstg'), 2, 'the seek table and the frame of one read; the other read sent nothing');
    const used = w.recorder.usage.usage('zstg');
    assert.equal(used.apiRequests, 2);
    assert.ok(used.egressBytes <= 12_000, `${used.egressBytes} bytes`);
    assertNothingReserved(w, 'zstg');
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
