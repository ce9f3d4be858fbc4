/**
 * Egress reserved before a request is sent: the ranged reads a probe or a stream decides on as
 * it goes (a compressed copy's seek table and frames, an encrypted copy's header and chunks)
 * reserve the bytes they can take with their API call, so reads in flight together never ask a
 * backend for more than its egress limit has room for; one without room is not sent and the
 * next copy is read. Memory backends, gated where reads must overlap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { sha256Hex } from '../../src/probe/verify.js';
import { clearSeekTables } from '../../src/compression/compressed-read.js';
import { Recorder } from '../../src/telemetry/recorder.js';
import { withinReservation } from '../../src/probe/request-budget.js';
import { egressBound } from '../../src/probe/billing.js';
import type { ProbeTask } from '../../src/probe/task.js';
import type { BackendGetOptions, GetResult, ObjectBackend } from '../../src/types.js';
import { deferred, flush } from '../helpers/gate.js';
import { seekableZstd } from '../helpers/seekable-zstd.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

/** The bytes a `bytes=a-b` range asks for. */
function asked(range: string | undefined, size: number): number {
  const m = range === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(range);
  if (m === null) return size;
  const [, a = '', b = ''] = m;
  if (a === '') return Math.min(Number(b), size);
  return Math.min(b === '' ? size - 1 : Number(b), size - 1) - Number(a) + 1;
}

/** `mem` behind a gate: GETs wait for `open()`, and each one that reached it is logged with the bytes it asked for. */
function gated(mem: MemoryBackend, size: () => number) {
  const gate = deferred();
  const gets: number[] = [];
  const backend: ObjectBackend = {
    name: mem.name,
    head: (k, o) => mem.head(k, o),
    get: async (k: string, o?: BackendGetOptions): Promise<GetResult> => {
      gets.push(asked(o?.range, size()));
      await gate.promise;
      return mem.get(k, o);
    },
  };
  return { backend, gets, open: () => gate.resolve() };
}

const config = (limits: Record<string, number>) => ({
  backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', egress_byte_limit: limits[name] ?? 0 })),
  database: { driver: 'memory' as const },
  runtime: { mode: 'inline' as const },
  logging: { level: 'silent' as const },
});

describe('egress reserved before a request is sent', () => {
  it('concurrent ranged reads of a compressed copy: the seek-table and frame GETs in flight never ask b1 for more than its egress limit; the read without room is served by b2', async () => {
    clearSeekTables();
    // 40 incompressible frames of 1000 bytes: a range of one frame reads the copy's last 8 KiB
    // (its seek table) and then that frame — about 9.2 KB, of which the limit holds one read's.
    const data = randomBytes(40_000);
    const z = seekableZstd(data, { chunkSize: 1000 });
    const m1 = new MemoryBackend('b1');
    const m2 = new MemoryBackend('b2');
    m1.put('z', z.body);
    m2.put('z', z.body);
    const b1 = gated(m1, () => z.body.byteLength);
    const store = new MemoryMetadataStore();
    for (const [i, name] of ['b1', 'b2'].entries()) {
      store.add({
        objectKey: 'z', backendName: name, sizeBytes: z.body.byteLength, createdAt: new Date(i + 1), encrypted: false,
        contentHash: sha256Hex(data), compression: 'zstd', logicalSize: data.byteLength, compressionVersion: 1,
      });
    }
    const limit = 12_000;
    const rp = await ReadPath.open(config({ b1: limit }), { backends: [b1.backend, m2], store });
    try {
      const reads = Promise.all([rp.get('z', { range: 'bytes=0-999' }), rp.get('z', { range: 'bytes=5000-5999' })]);
      await flush(20);
      b1.open();
      const [r0, r1] = await reads;
      assert.deepEqual(Buffer.from(r0.body), data.subarray(0, 1000));
      assert.deepEqual(Buffer.from(r1.body), data.subarray(5000, 6000));
      assert.deepEqual([r0.backend, r1.backend].sort(), ['b1', 'b2'], 'one read had room on b1, the other was declined there and read from b2');
      const sum = b1.gets.reduce((a, b) => a + b, 0);
      assert.ok(sum <= limit, `b1 was asked for ${sum} bytes (${b1.gets.join(' + ')}) against a limit of ${limit}`);
      assert.ok(rp.recorder.usage.usage('b1').egressBytes <= limit);
      assert.equal(rp.recorder.usage.usage('b1').egressBytes, sum, 'billed what was sent');
      assert.deepEqual(rp.recorder.reservations.pending('b1'), { api: 0, egress: 0 }, 'nothing held');
    } finally {
      await rp.close();
    }
  });

  it('a striped read: each part in flight holds its own span, not its copy\'s whole size, so copies whose limits hold the object serve it', async () => {
    const data = randomBytes(1 << 20);
    const store = new MemoryMetadataStore();
    const copies = ['b1', 'b2'].map((name, i) => {
      const m = new MemoryBackend(name);
      m.put('k', data);
      store.add({ objectKey: 'k', backendName: name, sizeBytes: data.byteLength, createdAt: new Date(i + 1), encrypted: false, contentHash: sha256Hex(data) });
      return gated(m, () => data.byteLength);
    });
    // 1.5 MiB each: the object fits in either, but two 1 MiB rows held at once by two parts do not.
    const rp = await ReadPath.open({
      ...config({ b1: 1.5 * 2 ** 20, b2: 1.5 * 2 ** 20 }),
      striping: { enabled: true, min_size: 65_536, part_size: 131_072, parts_in_flight: 8 },
    }, { backends: copies.map((c) => c.backend), store });
    try {
      const body = (async () => {
        const s = await rp.getStream('k');
        const chunks: Buffer[] = [];
        for await (const c of s.body) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      })();
      await flush(20);
      for (const c of copies) c.open();
      assert.ok((await body).equals(data));
      const sent = copies.map((c) => c.gets.reduce((a, b) => a + b, 0));
      assert.equal(sent[0]! + sent[1]!, data.byteLength, `parts asked of b1 and b2: ${sent.join(', ')}`);
      assert.ok(copies.every((c) => c.gets.length > 0), 'both copies served parts');
      for (const name of ['b1', 'b2']) assert.deepEqual(rp.recorder.reservations.pending(name), { api: 0, egress: 0 });
    } finally {
      await rp.close();
    }
  });

  it('a degraded HEAD\'s ranged GET of the copy\'s first bytes is reserved too: without room it is not sent, and the next backend answers', async () => {
    const { rp, seed, store, backend } = await openMemoryReadPath(2, {
      backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', ...(name === 'b1' ? { egress_byte_limit: 4 } : {}) })),
    });
    try {
      seed('k', 'payload');
      store.setAvailable(false);
      const h = await rp.head('k');
      assert.deepEqual([h.backend, h.size], ['b2', 7]);
      assert.equal(backend('b1').calls.get, 0, 'b1 has 4 bytes left: its first 5 were not asked for');
      assert.equal(rp.recorder.usage.usage('b1').egressBytes, 0);
      assert.deepEqual(rp.recorder.reservations.pending('b1'), { api: 0, egress: 0 });
    } finally {
      await rp.close();
    }
  });

  it('a degraded get of a range ending past 2^53 (the AWS SDK for Java v1\'s "from N on") reserves no more than the answer announces: a small object is served, not declined', async () => {
    const body = randomBytes(100);
    const m1 = new MemoryBackend('b1');
    const m2 = new MemoryBackend('b2');
    m1.put('k', body);
    m2.put('k', body);
    const store = new MemoryMetadataStore();
    store.setAvailable(false);
    const rp = await ReadPath.open(config({ b1: 1_000_000, b2: 1_000_000 }), { backends: [m1, m2], store });
    try {
      for (const [range, want] of [['bytes=0-9223372036854775806', body], ['bytes=10-99999999999999999999', body.subarray(10)], ['bytes=-99999999999999999999', body]] as const) {
        const o = await rp.get('k', { range });
        assert.equal(o.degraded, true);
        assert.deepEqual(Buffer.from(o.body), want, range);
      }
      // Billed for what came (the bytes served, and a degraded range's look at the copy's first
      // bytes), nothing left held.
      const u = rp.recorder.usage;
      assert.ok(u.usage('b1').egressBytes + u.usage('b2').egressBytes >= 290);
      for (const b of ['b1', 'b2']) assert.deepEqual(rp.recorder.reservations.pending(b), { api: 0, egress: 0 }, b);
    } finally {
      await rp.close();
    }
  });
});

describe('a stream\'s admission', () => {
  it('holds the range a plain copy is asked for, not its whole size: a copy with room for the range serves it', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, {
      backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', ...(name === 'b1' ? { egress_byte_limit: 500 } : {}) })),
    });
    try {
      const data = randomBytes(1000);
      seed('k', data);
      const s = await rp.getStream('k', { range: 'bytes=0-99' });
      const chunks: Buffer[] = [];
      for await (const c of s.body) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data.subarray(0, 100)));
      assert.equal(s.backend, 'b1', 'b1 has room for 100 bytes, though not for the whole 1000');
      assert.equal(backend('b2').calls.get, 0);
      assert.equal(rp.recorder.usage.usage('b1').egressBytes, 100);
      assert.deepEqual(rp.recorder.reservations.pending('b1'), { api: 0, egress: 0 });
    } finally {
      await rp.close();
    }
  });
});

describe('withinReservation on a backend with an egress limit', () => {
  const hung: ObjectBackend = {
    name: 'b1',
    head: () => new Promise(() => {}),
    get: () => new Promise(() => {}),
  };
  const task = (): ProbeTask => ({
    op: 'get', backend: 'b1', key: 'k', range: 'bytes=0-99',
    location: { contentHash: null, sizeBytes: 10_000, encrypted: true, plaintextSize: 9000, encryptionKey: null },
  });

  it('reserves each GET\'s range before it is sent, keeps it for the next request, and an answer\'s size replaces it rather than adding to it', async () => {
    const acct = new Recorder({ limits: { b1: { egressBytes: 250 } } });
    const ledger = acct.reservations;
    const calls: string[] = [];
    const logging: ObjectBackend = { ...hung, get: (_k, o) => { calls.push(o?.range ?? 'whole'); return new Promise(() => {}); } };
    const t1 = task();
    ledger.admit(t1);
    assert.equal(ledger.pending('b1').egress, 0, 'a range of an encrypted copy plans its requests first');
    const w1 = withinReservation(logging, t1, ledger);
    void w1.get('k', { range: 'bytes=0-99' });
    await flush();
    assert.deepEqual([calls, ledger.pending('b1').egress], [['bytes=0-99'], 100], 'reserved before it was sent');
    // Its answer announces its size: the same request, not another 100 bytes.
    assert.equal(ledger.reserveEgress(t1, 100), null);
    assert.equal(ledger.pending('b1').egress, 100);
    // A second probe: its 200 bytes would pass the limit with the first's 100 — not sent.
    const t2 = task();
    ledger.admit(t2);
    const w2 = withinReservation(logging, t2, ledger);
    await assert.rejects(w2.get('k', { range: 'bytes=0-199' }), (e: { code?: string; limit?: string }) => e.code === 'USAGE_LIMIT_SKIP' && e.limit === 'egress_bytes');
    assert.deepEqual(calls, ['bytes=0-99'], 'the request without room was not sent');
    ledger.settle(t2, { api: 0, egress: 0 });
    // The first probe's next request keeps the first's bytes held: 100 + 100 fit, 100 + 200 do not.
    void w1.get('k', { range: 'bytes=100-199' });
    await flush();
    assert.equal(ledger.pending('b1').egress, 200);
    await assert.rejects(w1.get('k', { range: 'bytes=200-399' }), (e: { limit?: string }) => e.limit === 'egress_bytes');
    assert.deepEqual(calls, ['bytes=0-99', 'bytes=100-199']);
    // Settled with what it really read: the reservations are gone and the bytes recorded.
    ledger.settle(t1, { api: 2, egress: 150 });
    assert.deepEqual(ledger.pending('b1'), { api: 0, egress: 0 });
    assert.deepEqual(acct.usage.usage('b1'), { apiRequests: 2, egressBytes: 150, ingressBytes: 0 });
  });

  it('a probe its executor already settled holds no reservation to read a body under', () => {
    const acct = new Recorder({ limits: { b1: { egressBytes: 1000 } } });
    const t = task();
    acct.reservations.admit(t);
    const late = { ...t };
    acct.reservations.settle(t, { api: 1, egress: 0 });
    assert.equal(acct.reservations.reserveEgress(late, 10), 'egress_bytes');
    assert.deepEqual(acct.reservations.pending('b1'), { api: 0, egress: 0 });
  });

  it('egressBound: a range cut to the stored size, a suffix, an open end, a whole copy, degraded', () => {
    const t = task();
    assert.equal(egressBound(t, 'bytes=0-99'), 100);
    assert.equal(egressBound(t, 'bytes=9950-10100'), 50);
    assert.equal(egressBound(t, 'bytes=-8192'), 8192);
    assert.equal(egressBound(t, 'bytes=-20000'), 10_000);
    assert.equal(egressBound(t, 'bytes=9000-'), 1000);
    assert.equal(egressBound(t, undefined), 10_000);
    const degraded: ProbeTask = { ...t, location: null };
    assert.equal(egressBound(degraded, undefined), undefined);
    assert.equal(egressBound(degraded, 'bytes=0-15'), 16);
    assert.equal(egressBound(degraded, 'bytes=5-'), undefined);
    // Ends and suffixes past what a number holds are open ("from N on"): they bound nothing unsized.
    assert.equal(egressBound(degraded, 'bytes=0-9223372036854775806'), undefined);
    assert.equal(egressBound(degraded, 'bytes=-99999999999999999999'), undefined);
    assert.equal(egressBound(degraded, 'bytes=-8192'), 8192);
    assert.equal(egressBound(t, 'bytes=10-9223372036854775806'), 9990);
    assert.equal(egressBound(t, 'bytes=-99999999999999999999'), 10_000);
    assert.equal(egressBound(t, 'bytes=99999999999999999999-'), 0);
    // Read as byte-range.ts reads a Range: leading zeros and surrounding spaces are the same range.
    assert.equal(egressBound(t, ' bytes=0010-0019 '), 10);
  });
});
