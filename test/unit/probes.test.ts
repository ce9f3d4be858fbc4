import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Recorder } from '../../src/telemetry/recorder.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { getProbe, headProbe, sha256Hex } from '../../src/probe/probes.js';
import { ReadPathError } from '../../src/errors.js';
import type { GetResult, ObjectBackend, ObjectLocation, ProbeRequest } from '../../src/types.js';
import { loc } from '../helpers/core-world.js';
import { headFromRow } from '../../src/probe/answer.js';

function req(backend: ObjectBackend, location: ObjectLocation | null = null, signal = new AbortController().signal): ProbeRequest {
  return { signal, backendName: backend.name, location, backend };
}

test('headProbe records one API request; declines before the call when over the request limit', async () => {
  const acct = new Recorder({ limits: { b1: { apiRequests: 1 } } });
  const b = new MemoryBackend('b1');
  b.put('k', 'abc');
  const r = await headProbe(acct, 'k')(req(b, loc('k', 'b1', 3, { sizeBytes: 3 })));
  assert.equal(r.size, 3);
  assert.equal(acct.usage.usage('b1').apiRequests, 1);
  await assert.rejects(headProbe(acct, 'k')(req(b, loc('k', 'b1', 3, { sizeBytes: 3 }))), { code: 'USAGE_LIMIT_SKIP' });
  assert.equal(b.calls.head, 1, 'the over-limit probe never called the backend');
});

test('a degraded HEAD (no row) lists the key\'s copies first, then reads the first bytes (their Content-Range gives the size): two API requests', async () => {
  const acct = new Recorder();
  const b = new MemoryBackend('b1');
  b.put('k', 'abc', { lastModified: new Date(1000) });
  b.put('k!0123456789abcdef0123456789abcdef', 'newer', { lastModified: new Date(2000) });
  const r = await headProbe(acct, 'k')(req(b, null));
  assert.equal(r.size, 5, 'the newer copy');
  assert.deepEqual([b.calls.list, b.calls.head, b.calls.get], [1, 0, 1]);
  assert.equal(acct.usage.usage('b1').apiRequests, 2);
});

test('getProbe reads and verifies the body, records API request and egress', async () => {
  const acct = new Recorder();
  const b = new MemoryBackend('b1');
  b.put('k', 'payload');
  const good = loc('k', 'b1', 1, { sizeBytes: 7, contentHash: sha256Hex(new TextEncoder().encode('payload')) });
  const r = await getProbe(acct, 'k')(req(b, good));
  assert.equal(new TextDecoder().decode(r.value.body), 'payload');
  assert.equal(r.value.verified, true);
  assert.deepEqual(acct.usage.usage('b1'), { apiRequests: 1, egressBytes: 7, ingressBytes: 0 });
  const noHash = await getProbe(acct, 'k')(req(b, loc('k', 'b1', 1, { sizeBytes: 7 })));
  assert.equal(noHash.value.verified, false, 'nothing to check');
  const degraded = await getProbe(acct, 'k')(req(b, null));
  assert.equal(degraded.value.verified, false);
});

test('getProbe never returns a body that fails its hash', async () => {
  const b = new MemoryBackend('b1');
  // As long as what was written: only its hash tells them apart.
  b.put('k', 'damaged!');
  const bad = loc('k', 'b1', 1, { sizeBytes: 8, contentHash: sha256Hex(new TextEncoder().encode('original')) });
  await assert.rejects(getProbe(new Recorder(), 'k')(req(b, bad)), { code: 'INTEGRITY_MISMATCH' });
  const unchecked = await getProbe(new Recorder(), 'k', { verify: false })(req(b, bad));
  assert.equal(unchecked.value.verified, false);
});

test('getProbe declines for egress after the GET and destroys the body', async () => {
  const acct = new Recorder({ limits: { b1: { egressBytes: 4 } } });
  let destroyed = false;
  const backend: ObjectBackend = {
    name: 'b1',
    head: async () => ({ size: 10 }),
    get: async (): Promise<GetResult> => {
      const body = Readable.from([Buffer.from('0123456789')]);
      body.on('close', () => { destroyed = true; });
      return { size: 10, body };
    },
  };
  await assert.rejects(getProbe(acct, 'k')(req(backend)), (e: unknown) => {
    assert.equal((e as { code: string }).code, 'USAGE_LIMIT_SKIP');
    assert.equal((e as { limit?: string }).limit, 'egress_bytes');
    return true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(destroyed, true);
  assert.equal(acct.usage.usage('b1').apiRequests, 1, 'the request itself was billed');
  assert.equal(acct.usage.usage('b1').egressBytes, 0);
});

test("getProbe: a whole GET of a plain copy is held to its row's size_bytes, announced or not; a row without a byte count is not", async () => {
  const acct = new Recorder();
  const b = new MemoryBackend('b1');
  b.put('k', 'payload');
  // No content_hash: nothing but its size says this is not the object the row describes.
  await assert.rejects(getProbe(acct, 'k')(req(b, loc('k', 'b1', 1, { sizeBytes: 5 }))), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'BACKEND_ERROR');
    assert.match((e as Error).message, /b1: k: answered 7 stored bytes where the row says 5 \(the copy differs from its row\)/);
    return true;
  });
  assert.deepEqual(acct.usage.usage('b1'), { apiRequests: 1, egressBytes: 0, ingressBytes: 0 }, 'refused on its headers: the body was not read');
  // An empty object's row says 0 (upstream records what it stored): a body there is another object.
  await assert.rejects(getProbe(new Recorder(), 'k')(req(b, loc('k', 'b1', 1, { sizeBytes: 0 }))), { code: 'BACKEND_ERROR' });
  // A backend that announces no length: the body itself is counted against the row.
  const unsized = (text: string): ObjectBackend => ({
    name: 'b1', head: async () => ({ size: -1 }),
    get: async () => ({ size: -1, body: Readable.from([Buffer.from(text)]) }),
  });
  const row = loc('k', 'b1', 1, { sizeBytes: 7 });
  await assert.rejects(getProbe(new Recorder(), 'k')(req(unsized('payload, and more'), row)), { code: 'BACKEND_ERROR' });
  await assert.rejects(getProbe(new Recorder(), 'k')(req(unsized('pay'), row)), { code: 'BACKEND_ERROR' });
  assert.equal(new TextDecoder().decode((await getProbe(new Recorder(), 'k')(req(unsized('payload'), row))).value.body), 'payload');
  // A row from a store of one's own that gives no byte count: nothing to hold the copy to.
  const unknown = { ...loc('k', 'b1', 1), sizeBytes: undefined as unknown as number };
  assert.equal(new TextDecoder().decode((await getProbe(new Recorder(), 'k')(req(b, unknown))).value.body), 'payload');
  assert.equal((await headProbe(new Recorder(), 'k')(req(b, unknown))).size, 7);
});

test('getProbe passes the range through and does not claim verification for a part', async () => {
  const b = new MemoryBackend('b1');
  b.put('k', 'abcdef');
  const good = loc('k', 'b1', 1, { sizeBytes: 6, contentHash: sha256Hex(new TextEncoder().encode('abcdef')) });
  const r = await getProbe(new Recorder(), 'k', { range: 'bytes=2-3' })(req(b, good));
  assert.equal(new TextDecoder().decode(r.value.body), 'cd');
  assert.equal(r.value.verified, false);
  // A copy whose Content-Range total is not its row's size is another object: its range is refused.
  const other = loc('k', 'b1', 1, { sizeBytes: 7, contentHash: sha256Hex(new TextEncoder().encode('abcdefg')) });
  await assert.rejects(getProbe(new Recorder(), 'k', { range: 'bytes=2-3' })(req(b, other)), (e: unknown) => (e as { code?: string }).code === 'BACKEND_ERROR' && /holds 6 stored bytes where the row says 7/.test((e as Error).message));
});

test('getProbe: a truncated body is a BACKEND_ERROR; an abort while reading is ABORTED', async () => {
  const short: ObjectBackend = {
    name: 'b1', head: async () => ({ size: 10 }),
    get: async () => ({ size: 10, body: Readable.from([Buffer.from('01234')]) }),
  };
  await assert.rejects(getProbe(new Recorder(), 'k')(req(short)), { code: 'BACKEND_ERROR' });
  const ac = new AbortController();
  const endless: ObjectBackend = {
    name: 'b1', head: async () => ({ size: 10 }),
    get: async () => ({ size: 10, body: new Readable({ read() {} }) }),
  };
  const p = getProbe(new Recorder(), 'k')(req(endless, null, ac.signal));
  setImmediate(() => ac.abort());
  await assert.rejects(p, { code: 'ABORTED' });
});

test('encrypted copies: GET is SERVICE_UNAVAILABLE without a backend call; HEAD reports the plaintext size', async () => {
  const b = new MemoryBackend('b1');
  b.put('k', 'ciphertext-bytes');
  const enc = loc('k', 'b1', 1, { encrypted: true, plaintextSize: 5, sizeBytes: 16 });
  await assert.rejects(getProbe(new Recorder(), 'k')(req(b, enc)), { code: 'SERVICE_UNAVAILABLE', httpStatus: 503 });
  assert.equal(b.calls.get, 0);
  const h = await headProbe(new Recorder(), 'k')(req(b, enc));
  assert.equal(h.size, 5);
  assert.equal(h.value.size, 5);
});

test('without a content_hash, a plain-MD5 ETag must match the body; multipart ETags and verifyEtag:false skip the check', async () => {
  const damaged: ObjectBackend = {
    name: 'b1', head: async () => ({ size: 4 }),
    // The ETag of what was written ("good"), the bytes of what is there now ("evil").
    get: async () => ({ size: 4, etag: '"755f85c2723bb39381c7379a604160d8"', body: Readable.from([Buffer.from('evil')]) }),
  };
  await assert.rejects(getProbe(new Recorder(), 'k')(req(damaged, null)), { code: 'INTEGRITY_MISMATCH' });
  const off = await getProbe(new Recorder(), 'k', { verifyEtag: false })(req(damaged, null));
  assert.equal(new TextDecoder().decode(off.value.body), 'evil');
  const multipart: ObjectBackend = { ...damaged, get: async () => ({ size: 4, etag: '"755f85c2723bb39381c7379a604160d8-3"', body: Readable.from([Buffer.from('evil')]) }) };
  assert.equal((await getProbe(new Recorder(), 'k')(req(multipart, null))).value.verified, false);
  const honest: ObjectBackend = { ...damaged, get: async () => ({ size: 4, etag: '"755f85c2723bb39381c7379a604160d8"', body: Readable.from([Buffer.from('good')]) }) };
  const ok = await getProbe(new Recorder(), 'k')(req(honest, null));
  assert.equal(ok.value.verified, false, 'verified speaks of content_hash only');
});

test('a sent request is billed however it ends; calls that never left readpath are not', async () => {
  const failing = (err: unknown): ObjectBackend => ({ name: 'b1', head: async () => { throw err; }, get: async () => { throw err; } });
  const cases: [unknown, number][] = [
    [new ReadPathError('ABORTED', 'cancelled loser'), 1],
    [new ReadPathError('TIMEOUT', 'timed out'), 1],
    [new ReadPathError('BACKEND_ERROR', 'reset'), 1],
    [new ReadPathError('BACKEND_ERROR', '404', { backendStatus: 404 }), 1],
    [new ReadPathError('BACKEND_UNAVAILABLE', 'breaker open'), 0],
  ];
  for (const [err, billed] of cases) {
    const acct = new Recorder();
    await assert.rejects(getProbe(acct, 'k')(req(failing(err))));
    await assert.rejects(headProbe(acct, 'k')(req(failing(err))));
    assert.equal(acct.usage.usage('b1').apiRequests, 2 * billed, (err as Error).message);
  }
  const acct = new Recorder();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(getProbe(acct, 'k')(req(failing(new Error('never called')), null, ac.signal)), { code: 'ABORTED' });
  assert.equal(acct.usage.usage('b1').apiRequests, 0, 'aborted before the call: nothing sent');
});

test('a refused connection never reached the provider: not billed', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  const err = new ReadPathError('BACKEND_ERROR', 'b1: connection refused', { cause: refused });
  const backend: ObjectBackend = { name: 'b1', head: async () => { throw err; }, get: async () => { throw err; } };
  const acct = new Recorder();
  await assert.rejects(getProbe(acct, 'k')(req(backend)));
  await assert.rejects(headProbe(acct, 'k')(req(backend)));
  assert.equal(acct.usage.usage('b1').apiRequests, 0);
});

test('headFromRow: the object a row describes when it carries the ETag; nothing without one', () => {
  const at = new Date(Date.UTC(2026, 0, 2));
  const base: ObjectLocation = { objectKey: 'k', backendName: 'b1', sizeBytes: 90, createdAt: at, encrypted: false };
  assert.equal(headFromRow(base), undefined);
  assert.equal(headFromRow({ ...base, etag: '', contentType: 'text/plain' }), undefined);
  assert.deepEqual(headFromRow({ ...base, etag: '"a"' }), { size: 90, etag: '"a"', lastModified: at });
  const meta = { k: 'v' };
  const h = headFromRow({ ...base, etag: '"a"', contentType: '', userMetadata: meta, compression: 'zstd', logicalSize: 400 });
  assert.deepEqual(h, { size: 400, etag: '"a"', lastModified: at, metadata: { k: 'v' } }, 'the logical size; an empty type is none');
  assert.notEqual(h?.metadata, meta, 'a copy: a caller cannot change the row');
  assert.equal(headFromRow({ ...base, etag: '"a"', encrypted: true, plaintextSize: 64 })?.size, 64);
});
