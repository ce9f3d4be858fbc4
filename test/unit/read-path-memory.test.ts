import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import type { BatchOutcome } from '../../src/read-path.js';
import { MAX_KEY_BYTES } from '../../src/index.js';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { BackendGetOptions, GetResult } from '../../src/types.js';

async function collect(it: AsyncIterable<BatchOutcome>): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for await (const o of it) out.push(o);
  return out;
}

test('get returns the verified body and the outcome flags; head the metadata', async () => {
  const w = await openMemoryReadPath();
  try {
    w.seed('a/b.txt', 'hello');
    const g = await w.rp.get('a/b.txt');
    assert.equal(new TextDecoder().decode(g.body), 'hello');
    assert.equal(g.key, 'a/b.txt');
    assert.equal(g.backend, 'b1');
    assert.equal(g.verified, true);
    assert.equal(g.failover, false);
    assert.equal(g.degraded, false);
    assert.equal(g.size, 5);
    const h = await w.rp.head('a/b.txt');
    assert.equal(h.size, 5);
    assert.equal(h.backend, 'b1');
    assert.equal('body' in h, false);
    const r = await w.rp.get('a/b.txt', { range: 'bytes=1-2' });
    assert.equal(new TextDecoder().decode(r.body), 'el');
    assert.equal(r.verified, false);
  } finally {
    await w.rp.close();
  }
});

test('a corrupted first copy is never served: the verified second copy is', async () => {
  const w = await openMemoryReadPath();
  try {
    w.seed('k', 'good bytes');
    w.backend('b1').put('k', 'evil bytes');
    const g = await w.rp.get('k');
    assert.equal(g.backend, 'b2');
    assert.equal(g.failover, true);
    assert.equal(new TextDecoder().decode(g.body), 'good bytes');
  } finally {
    await w.rp.close();
  }
});

test('invalid keys are rejected with INVALID_KEY; a 1088-byte key (a 1024-byte S3 key in a 63-byte bucket) is valid, 1089 is not', async () => {
  const w = await openMemoryReadPath();
  try {
    assert.equal(MAX_KEY_BYTES, 1088);
    const longest = `${'b'.repeat(63)}/${'é'.repeat(512)}`;
    assert.equal(Buffer.byteLength(longest), 1088);
    w.seed(longest, 'x');
    assert.equal((await w.rp.get(longest)).size, 1);
    assert.equal((await w.rp.head(longest)).size, 1);
    for (const bad of ['', 'a\0b', `${longest}a`, `${'é'.repeat(544)}a`, 'lone \uD800 surrogate']) {
      await assert.rejects(w.rp.get(bad), { code: 'INVALID_KEY', httpStatus: 400 });
      await assert.rejects(w.rp.head(bad), { code: 'INVALID_KEY' });
    }
  } finally {
    await w.rp.close();
  }
});

test('readMany yields exactly one outcome per key, errors as outcomes, never throwing for one key', async () => {
  const w = await openMemoryReadPath();
  try {
    const keys: string[] = [];
    for (let i = 0; i < 200; i++) {
      w.seed(`k${i}`, `v${i}`);
      keys.push(`k${i}`);
    }
    keys.push('', 'missing', 'a\0b', 'k5');
    const out = await collect(w.rp.readMany(keys, { concurrency: 7 }));
    assert.equal(out.length, keys.length);
    const byKey = new Map<string, BatchOutcome[]>();
    for (const o of out) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
    assert.equal(byKey.get('k5')?.length, 2, 'a duplicated key gets one outcome per occurrence');
    const bad = byKey.get('')?.[0];
    assert.ok(bad && !bad.ok && bad.error.code === 'INVALID_KEY');
    const missing = byKey.get('missing')?.[0];
    assert.ok(missing && !missing.ok && missing.error.code === 'OBJECT_NOT_FOUND' && missing.error.httpStatus === 404);
    const ok = byKey.get('k199')?.[0];
    assert.ok(ok && ok.ok && 'body' in ok && new TextDecoder().decode(ok.body) === 'v199');
    const heads = await collect(w.rp.readMany(['k1', 'k2'], { op: 'head' }));
    assert.ok(heads.every((h) => h.ok && !('body' in h)));
  } finally {
    await w.rp.close();
  }
});

test('readMany pulls lazily: a huge generator is never materialised and memory stays bounded', async () => {
  const w = await openMemoryReadPath();
  try {
    w.seed('same', 'v');
    let pulled = 0;
    function* endless() {
      for (;;) {
        pulled++;
        yield 'same';
      }
    }
    let consumed = 0;
    for await (const o of w.rp.readMany(endless(), { concurrency: 4 })) {
      assert.equal(o.ok, true);
      consumed++;
      assert.ok(pulled <= consumed + 4, `pulled ${pulled} with ${consumed} consumed`);
      if (consumed === 1000) break;
    }
    assert.ok(pulled <= 1004);
  } finally {
    await w.rp.close();
  }
});

test('readMany accepts async iterables and treats non-string keys as INVALID_KEY outcomes', async () => {
  const w = await openMemoryReadPath();
  try {
    w.seed('a', '1');
    async function* gen() {
      yield 'a';
      yield 42 as unknown as string;
      yield 'a';
    }
    const out = await collect(w.rp.readMany(gen()));
    assert.equal(out.length, 3);
    assert.equal(out.filter((o) => o.ok).length, 2);
    const bad = out.find((o) => !o.ok);
    assert.ok(bad && !bad.ok && bad.error.code === 'INVALID_KEY' && bad.key === '42');
  } finally {
    await w.rp.close();
  }
});

test('aborting readMany ends it with ABORTED after the outcomes already yielded, and the reader keeps working', async () => {
  const w = await openMemoryReadPath();
  try {
    for (let i = 0; i < 50; i++) w.seed(`k${i}`, 'v');
    const ac = new AbortController();
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const o of w.rp.readMany(Array.from({ length: 50 }, (_, i) => `k${i}`), { concurrency: 5, signal: ac.signal })) {
        seen.push(o.key);
        if (seen.length === 10) ac.abort();
      }
    }, { code: 'ABORTED' });
    assert.equal(seen.length, 10);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.equal((await w.rp.get('k49')).size, 1);
  } finally {
    await w.rp.close();
  }
});

test('concurrent reads of one key share one backend read (single-flight); one caller leaving does not cancel the other', async () => {
  const w = await openMemoryReadPath();
  try {
    w.seed('hot', 'value');
    const before = w.backend('b1').calls.get;
    const ac = new AbortController();
    const a = w.rp.get('hot', { signal: ac.signal });
    const b = w.rp.get('hot');
    const c = w.rp.get('hot');
    ac.abort();
    await assert.rejects(a, { code: 'ABORTED' });
    const [rb, rc] = await Promise.all([b, c]);
    assert.equal(new TextDecoder().decode(rb.body), 'value');
    assert.equal(rc.backend, 'b1');
    assert.equal(w.backend('b1').calls.get - before, 1);
  } finally {
    await w.rp.close();
  }
});

test('degraded reads through the facade: store down, broadcast, then cache', async () => {
  const w = await openMemoryReadPath(3, { circuit_breaker: { parallel_broadcast: true } });
  try {
    w.seed('k', 'v', ['b2']);
    w.store.setAvailable(false);
    const g = await w.rp.get('k');
    assert.equal(g.degraded, true);
    assert.equal(g.backend, 'b2');
    assert.equal(g.verified, false);
    await w.rp.get('k');
    assert.equal(w.rp.recorder.count('degraded_cache_hits_total'), 1);
    const text = await w.rp.metrics();
    assert.match(text, /readpath_degraded_reads_total\{operation="GetObject"\} 2/);
    assert.match(text, /readpath_operation_duration_seconds_count\{operation="GetObject",backend="b2"\} 2/);
    assert.match(text, /readpath_circuit_breaker_state\{breaker="store",backend=""\} \d/);
  } finally {
    await w.rp.close();
  }
});

test('getStream reads are sampled in operation_duration_seconds once each, by the copy that answered, located or degraded', async () => {
  const w = await openMemoryReadPath(3);
  try {
    w.seed('a', 'first copy answers', ['b1', 'b2']);
    w.seed('b', 'second copy answers', ['b1', 'b2']);
    w.backend('b1').delete('b');
    const drain = async (key: string): Promise<void> => {
      for await (const _ of (await w.rp.getStream(key)).body) { /* consume */ }
    };
    await drain('a');
    await drain('b');
    const r = w.rp.recorder;
    assert.deepEqual([r.count('operation_duration_seconds', { operation: 'GetObject', backend: 'b1' }), r.count('operation_duration_seconds', { operation: 'GetObject', backend: 'b2' })], [1, 1]);
    w.store.setAvailable(false);
    await drain('a');
    assert.equal(r.count('operation_duration_seconds', { operation: 'GetObject' }), 3, 'a degraded stream: one sample too');
    assert.equal(r.count('operation_duration_seconds'), 3, 'and none under another operation');
  } finally {
    await w.rp.close();
  }
});

test('a read in an outage asks the store once (head from the row, the object cache, a stream): one failure toward the breaker', async () => {
  const w = await openMemoryReadPath(2, { cache: { enabled: true }, circuit_breaker: { failure_threshold: 4 } });
  try {
    w.seed('k', 'v', ['b1']);
    let lookups = 0;
    const lookup = w.store.getAllObjectLocations.bind(w.store);
    w.store.getAllObjectLocations = (key, opts) => {
      lookups++;
      return lookup(key, opts);
    };
    w.store.setAvailable(false);
    assert.equal((await w.rp.head('k')).degraded, true);
    assert.equal(lookups, 1, 'head');
    assert.equal((await w.rp.get('k')).degraded, true);
    assert.equal(lookups, 2, 'get');
    const o = await w.rp.getStream('k');
    for await (const _ of o.body) { /* consume */ }
    assert.equal(o.degraded, true);
    assert.equal(lookups, 3, 'getStream');
    assert.equal(w.rp.breakerStates().store, 'closed', 'three reads, three failures: under failure_threshold 4');
    await w.rp.head('k');
    assert.equal(w.rp.breakerStates().store, 'open', 'the fourth opens it');
  } finally {
    await w.rp.close();
  }
});

test('close is idempotent and later calls reject', async () => {
  const w = await openMemoryReadPath();
  await w.rp.close();
  await w.rp.close();
  await assert.rejects(w.rp.get('k'), { code: 'SERVICE_UNAVAILABLE' });
});

test('hedging from configuration: a hung first copy is hedged to the second after the delay', async () => {
  const w = await openMemoryReadPath(2, { hedging: { enabled: true, delay: '5ms', located_reads: true, max_extra_load: 1 } });
  try {
    w.seed('slow', 'value', ['b1', 'b2']);
    const b1 = w.backend('b1');
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const realGet = b1.get.bind(b1);
    b1.get = async (key, opts) => { await gate; return realGet(key, opts); };
    const g = await w.rp.get('slow');
    assert.equal(g.backend, 'b2');
    assert.equal(w.rp.recorder.count('hedges_sent_total', { operation: 'GetObject' }), 1);
    assert.equal(w.rp.recorder.count('hedges_won_total', { operation: 'GetObject' }), 1);
    release();
  } finally {
    await w.rp.close();
  }
});

test('head from the row (head.from_metadata): no backend call when the row carries the ETag; the object cache still answers first', async () => {
  const w = await openMemoryReadPath(2, { cache: { enabled: true } });
  try {
    w.seed('plain', 'hello');
    const rows = await w.store.getAllObjectLocations('plain');
    const etag = '"5d41402abc4b2a76b9719d911017c592"';
    for (const r of rows) w.store.add({ ...r, etag, contentType: 'text/plain', userMetadata: { a: '1' } });
    // An encrypted row describes its plaintext: that is the size a HEAD from it reports.
    w.store.add({ objectKey: 'sealed', backendName: 'b2', sizeBytes: 4096, createdAt: new Date(7), encrypted: true, encryptionKey: new Uint8Array(8), plaintextSize: 1000, etag: '"e-1"' });
    const h = await w.rp.head('plain');
    assert.deepEqual([h.fromMetadata, h.backend, h.size, h.etag, h.contentType, h.metadata, h.lastModified?.getTime()], [true, 'b1', 5, etag, 'text/plain', { a: '1' }, rows[0]?.createdAt.getTime()]);
    const s = await w.rp.head('sealed');
    assert.deepEqual([s.fromMetadata, s.backend, s.size, s.etag], [true, 'b2', 1000, '"e-1"']);
    assert.deepEqual(w.backends.map((b) => b.calls.head), [0, 0]);
    // Once a whole read put it in the object cache, the entry answers (and counts its hit).
    await w.rp.get('plain');
    const c = await w.rp.head('plain');
    assert.equal(c.fromMetadata, undefined);
    assert.equal(w.rp.recorder.count('object_cache_hits_total'), 1);
    assert.equal(w.rp.recorder.count('head_from_metadata_total'), 2);
    assert.deepEqual(w.backends.map((b) => b.calls.head), [0, 0]);
  } finally {
    await w.rp.close();
  }
});

test('tags: the store\'s tag set, by key; [] untagged; OBJECT_NOT_FOUND without a row; DB_UNAVAILABLE through the store breaker', async () => {
  const w = await openMemoryReadPath(2, { circuit_breaker: { failure_threshold: 1 } });
  try {
    w.seed('tagged', 'x');
    w.seed('plain', 'y');
    w.store.setTags('tagged', { z: '1', a: 'é', m: '' });
    w.store.setTags('ghost', { left: 'over' });
    assert.deepEqual(await w.rp.tags('tagged'), [{ key: 'a', value: 'é' }, { key: 'm', value: '' }, { key: 'z', value: '1' }]);
    assert.deepEqual(await w.rp.tags('plain'), []);
    await assert.rejects(w.rp.tags('ghost'), { code: 'OBJECT_NOT_FOUND' });
    await assert.rejects(w.rp.tags('a\0b'), { code: 'INVALID_KEY' });
    assert.deepEqual(w.backends.map((b) => b.calls.head + b.calls.get), [0, 0], 'no backend asked');
    w.store.setAvailable(false);
    await assert.rejects(w.rp.tags('tagged'), { code: 'DB_UNAVAILABLE' });
    w.store.setAvailable(true);
    // The breaker opened on the outage: it answers DB_UNAVAILABLE without asking the store.
    await assert.rejects(w.rp.tags('tagged'), { code: 'DB_UNAVAILABLE' });
  } finally {
    await w.rp.close();
  }
});

test('a range written in another RFC 9110 form (Bytes=, empty list elements, whitespace) reaches a backend as bytes=FIRST-LAST', async () => {
  // A backend of the caller's own (ObjectBackend) need not read more than the form S3's examples use.
  const asked: (string | undefined)[] = [];
  class Recording extends MemoryBackend {
    override get(key: string, opts?: BackendGetOptions): Promise<GetResult> {
      asked.push(opts?.range);
      return super.get(key, opts);
    }
  }
  const b1 = new Recording('b1');
  const store = new MemoryMetadataStore();
  const rp = await ReadPath.open({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
    database: { driver: 'memory' }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
  }, { backends: [b1], store });
  try {
    const bytes = new TextEncoder().encode('hello');
    b1.put('k', bytes);
    store.add({ objectKey: 'k', backendName: 'b1', sizeBytes: 5, createdAt: new Date(1), encrypted: false, contentHash: sha256Hex(bytes) });
    for (const range of ['Bytes=1-2', 'bytes=1-2,', 'BYTES=, 1-2 ,']) {
      asked.length = 0;
      assert.equal(new TextDecoder().decode((await rp.get('k', { range })).body), 'el', range);
      assert.deepEqual(asked, ['bytes=1-2'], range);
    }
    asked.length = 0;
    const [o] = await collect(rp.readMany(['k'], { range: 'Bytes=-2,' }));
    assert.equal(o?.ok === true && 'body' in o ? new TextDecoder().decode(o.body) : o, 'lo');
    assert.deepEqual(asked, ['bytes=-2']);
  } finally {
    await rp.close();
  }
});
