/**
 * The object data cache (`cache:`): the cache itself (bytes bound, LRU, TTL on a clock the test
 * moves, entries tied to a content hash, copies in and out), and `getStream` and `get` over
 * memory backends with it on — hits cost no backend request; an overwritten object (a new hash in its
 * row) is read afresh; ranges come from the cached bytes; unverifiable, degraded, too large,
 * damaged or abandoned reads are never kept.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { ObjectCache, type ObjectCacheSettings } from '../../src/cache/object-cache.js';
import { loadConfig } from '../../src/config/load.js';
import type { ReadPath, StreamOutcome } from '../../src/read-path.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

const S: ObjectCacheSettings = { enabled: true, maxSize: 100, maxObjectSize: 40, ttlMs: 1000 };
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('ObjectCache', () => {
  it('keeps bodies up to max_object_size, evicts the least recently used to stay within max_size', () => {
    const c = new ObjectCache(S, { now: () => 0 });
    const put = (k: string, n: number): void => c.set(k, { sha256: k, body: Buffer.alloc(n, k), head: {}, backend: 'b1' });
    put('big', 41);
    assert.equal(c.size, 0, 'over max_object_size: not kept');
    put('a', 40);
    put('b', 40);
    assert.ok(c.get('a', 'a') !== undefined, 'a read again: now the most recent');
    put('c', 40);
    assert.equal(c.get('b', 'b'), undefined, 'b was the least recently used: evicted');
    assert.ok(c.get('a', 'a') !== undefined && c.get('c', 'c') !== undefined);
    assert.equal(c.bytes, 80);
  });

  it('an entry is used only for the same content hash and within its TTL', () => {
    let t = 0;
    const c = new ObjectCache(S, { now: () => t });
    c.set('k', { sha256: 'h1', body: Buffer.from('v1'), head: { etag: '"e"' }, backend: 'b1' });
    assert.equal(c.get('k', 'h2'), undefined, 'the row says another object now');
    assert.equal(c.size, 0, 'and the stale entry is gone');
    c.set('k', { sha256: 'h1', body: Buffer.from('v1'), head: {}, backend: 'b1' });
    t = 999;
    assert.ok(c.get('k', 'h1') !== undefined);
    t = 1000;
    assert.equal(c.get('k', 'h1'), undefined, 'expired');
    assert.equal(c.bytes, 0);
  });

  it('close() drops every entry and keeps nothing afterwards', () => {
    const c = new ObjectCache(S, { now: () => 0 });
    c.set('k', { sha256: 'h', body: Buffer.alloc(30), head: {}, backend: 'b1' });
    c.close();
    assert.deepEqual([c.size, c.bytes, c.get('k', 'h')], [0, 0, undefined]);
    c.set('late', { sha256: 'h', body: Buffer.alloc(30), head: {}, backend: 'b1' });
    assert.deepEqual([c.size, c.bytes], [0, 0], 'a read finishing after close keeps nothing');
  });

  it('keeps a copy: the caller changing its buffer afterwards changes nothing cached', () => {
    const c = new ObjectCache(S);
    const body = Buffer.from('original');
    c.set('k', { sha256: 'h', body, head: {}, backend: 'b1' });
    body.fill(0);
    assert.equal(c.get('k', 'h')?.body.toString(), 'original');
  });
});

describe('getStream with cache: enabled', () => {
  const read = async (rp: ReadPath, key: string, range?: string): Promise<{ o: StreamOutcome; bytes: Buffer }> => {
    const o = await rp.getStream(key, range === undefined ? {} : { range });
    const chunks: Buffer[] = [];
    for await (const c of o.body) chunks.push(c as Buffer);
    return { o, bytes: Buffer.concat(chunks) };
  };
  const open = () => openMemoryReadPath(2, { cache: { enabled: true, max_size: '1MiB', max_object_size: 1000, ttl: '5m' } });

  it('the second read of an object is served from memory: no backend request, the same bytes, verified, counted', async () => {
    const m = await open();
    try {
      const v = randomBytes(500);
      m.seed('k', v);
      const first = await read(m.rp, 'k');
      assert.ok(first.bytes.equals(v));
      assert.equal(await first.o.verified, true);
      const gets = m.backend('b1').calls.get + m.backend('b2').calls.get;
      const second = await read(m.rp, 'k');
      assert.ok(second.bytes.equals(v));
      assert.equal(await second.o.verified, true);
      assert.equal(second.o.contentSha256, sha(v));
      assert.equal(second.o.etag, first.o.etag);
      assert.equal(m.backend('b1').calls.get + m.backend('b2').calls.get, gets, 'no backend GET');
      assert.equal(m.rp.recorder.count('object_cache_hits_total'), 1);
      // A range of a cached object comes from the cached bytes too (not verified, as ranges never are).
      const r = await read(m.rp, 'k', 'bytes=10-19');
      assert.ok(r.bytes.equals(v.subarray(10, 20)));
      assert.deepEqual(r.o.range, { start: 10, end: 19, total: 500 });
      assert.equal(await r.o.verified, false);
      assert.equal(m.backend('b1').calls.get + m.backend('b2').calls.get, gets);
      // What one reader does to its bytes does not reach the next one.
      second.bytes.fill(0);
      assert.ok((await read(m.rp, 'k')).bytes.equals(v));
    } finally {
      await m.rp.close();
    }
  });

  it('an object overwritten (a new hash in its row) is read afresh at once, then cached anew', async () => {
    const m = await open();
    try {
      m.seed('k', 'version one');
      await read(m.rp, 'k');
      m.store.remove('k');
      m.seed('k', 'version two!');
      const gets = m.backend('b1').calls.get;
      assert.equal((await read(m.rp, 'k')).bytes.toString(), 'version two!');
      assert.equal(m.backend('b1').calls.get, gets + 1, 'read from the backend');
      assert.equal((await read(m.rp, 'k')).bytes.toString(), 'version two!');
      assert.equal(m.backend('b1').calls.get, gets + 1, 'then from the cache');
    } finally {
      await m.rp.close();
    }
  });

  it('never kept: a row without a hash, an object over max_object_size, a damaged copy, a body abandoned half-read, a range; nor used in degraded mode', async () => {
    const m = await open();
    try {
      const b1Gets = (): number => m.backend('b1').calls.get;
      // No content_hash: nothing to check a cached entry against.
      m.backend('b1').put('nohash', 'x');
      m.store.add({ objectKey: 'nohash', backendName: 'b1', sizeBytes: 1, createdAt: new Date(1), encrypted: false, contentHash: null });
      await read(m.rp, 'nohash');
      let n = b1Gets();
      await read(m.rp, 'nohash');
      assert.equal(b1Gets(), n + 1, 'no hash: read again');
      m.seed('large', randomBytes(1001));
      await read(m.rp, 'large');
      n = b1Gets();
      await read(m.rp, 'large');
      assert.equal(b1Gets(), n + 1, 'over max_object_size: read again');
      // A damaged first copy: the good one serves, and only its verified bytes are kept.
      const good = Buffer.from('good bytes');
      m.seed('damaged', good);
      m.backend('b1').put('damaged', 'BAD  bytes');
      assert.ok((await read(m.rp, 'damaged')).bytes.equals(good));
      assert.ok((await read(m.rp, 'damaged')).bytes.equals(good));
      // Abandoned after the first chunk: nothing kept.
      const big = randomBytes(900);
      m.seed('abandoned', big);
      const o = await m.rp.getStream('abandoned');
      o.body.destroy();
      n = b1Gets();
      assert.ok((await read(m.rp, 'abandoned')).bytes.equals(big));
      assert.equal(b1Gets(), n + 1, 'the abandoned read kept nothing');
      // A range alone fills nothing.
      m.seed('ranged', 'ranged object');
      await read(m.rp, 'ranged', 'bytes=0-3');
      n = b1Gets();
      await read(m.rp, 'ranged');
      assert.equal(b1Gets(), n + 1);
      // Degraded mode: no row to check the entry against, so the backends are asked.
      m.store.setAvailable(false);
      const before = m.backend('b1').calls.get + m.backend('b2').calls.get;
      const d = await read(m.rp, 'ranged');
      assert.equal(d.bytes.toString(), 'ranged object');
      assert.equal(d.o.degraded, true);
      assert.ok(m.backend('b1').calls.get + m.backend('b2').calls.get > before);
    } finally {
      await m.rp.close();
    }
  });

  it('get and head share the cache: a whole get is answered from it (a copy), fills it for getStream, a head uses its entry; ranges go to a backend', async () => {
    const m = await open();
    try {
      const v = randomBytes(300);
      m.seed('g', v);
      const first = await m.rp.get('g');
      assert.equal(first.verified, true);
      const n = m.backend('b1').calls.get + m.backend('b2').calls.get;
      const second = await m.rp.get('g');
      assert.ok(Buffer.from(second.body).equals(v));
      assert.deepEqual([second.verified, second.contentSha256, second.size, second.etag], [true, sha(v), 300, first.etag]);
      second.body.fill(0);
      assert.ok(Buffer.from((await m.rp.get('g')).body).equals(v), 'the caller\'s copy is its own');
      assert.ok((await read(m.rp, 'g')).bytes.equals(v), 'getStream finds what get kept');
      assert.equal(m.backend('b1').calls.get + m.backend('b2').calls.get, n, 'no backend GET for any of them');
      // A HEAD of a cached object is answered by its entry: no backend HEAD, the same fields.
      const heads = m.backend('b1').calls.head + m.backend('b2').calls.head;
      const h = await m.rp.head('g');
      assert.deepEqual([h.size, h.etag, h.contentSha256, h.degraded], [300, first.etag, sha(v), false]);
      assert.equal(m.backend('b1').calls.head + m.backend('b2').calls.head, heads);
      // The counters' help says what they count: get and head use the cache, not only streams.
      const text = await m.rp.metrics();
      assert.match(text, /^# HELP readpath_object_cache_hits_total Reads \(whole gets, getStream, head\) answered/m);
      assert.match(text, /^# HELP readpath_object_cache_misses_total Reads \(whole gets, getStream, head\)/m);
      m.seed('uncached', 'not read yet');
      await m.rp.head('uncached');
      assert.equal(m.backend('b1').calls.head + m.backend('b2').calls.head, heads + 1, 'an object not cached is HEADed');
      assert.ok(Buffer.from((await m.rp.get('g', { range: 'bytes=0-9' })).body).equals(v.subarray(0, 10)));
      assert.equal(m.backend('b1').calls.get + m.backend('b2').calls.get, n + 1, 'a ranged get reads a backend');
      // And the other way round: what getStream kept, get uses.
      m.seed('s', 'streamed first');
      await read(m.rp, 's');
      const k = m.backend('b1').calls.get;
      assert.equal(Buffer.from((await m.rp.get('s')).body).toString(), 'streamed first');
      assert.equal(m.backend('b1').calls.get, k);
    } finally {
      await m.rp.close();
    }
  });

  it('a get or head the cache cannot answer asks the store once: the read uses the rows the cache looked up', async () => {
    const m = await open();
    try {
      m.seed('once', 'looked up once');
      m.seed('missing-hash', 'x');
      let lookups = 0;
      const lookup = m.store.getAllObjectLocations.bind(m.store);
      m.store.getAllObjectLocations = (key, opts) => {
        lookups++;
        return lookup(key, opts);
      };
      assert.equal(Buffer.from((await m.rp.get('once')).body).toString(), 'looked up once');
      assert.equal(lookups, 1, 'get: one lookup for the cache and the read');
      await m.rp.head('missing-hash');
      assert.equal(lookups, 2, 'head: one lookup');
      // A key the store does not know: one lookup too, reported as the failover reports it.
      await assert.rejects(m.rp.get('nowhere'), (err: Error & { code?: string }) => err.code === 'OBJECT_NOT_FOUND' && err.message === 'object not found: nowhere');
      assert.equal(lookups, 3, 'get of a missing key: one lookup');
      await assert.rejects(m.rp.head('nowhere'), (err: Error & { code?: string }) => err.code === 'OBJECT_NOT_FOUND' && err.message === 'object not found: nowhere');
      assert.equal(lookups, 4, 'head of a missing key: one lookup');
    } finally {
      await m.rp.close();
    }
  });

  it('close() releases what the cache holds (the gauges read 0 after it)', async () => {
    const m = await open();
    const v = randomBytes(700);
    m.seed('a', v);
    m.seed('b', 'streamed');
    await m.rp.get('a');
    await read(m.rp, 'b');
    assert.match(await m.rp.metrics(), /^readpath_object_cache_bytes 708$/m);
    assert.match(await m.rp.metrics(), /^readpath_object_cache_objects 2$/m);
    await m.rp.close();
    const text = await m.rp.metrics();
    assert.match(text, /^readpath_object_cache_bytes 0$/m);
    assert.match(text, /^readpath_object_cache_objects 0$/m);
  });

  it('config: upstream\'s keys and defaults; sizes and the TTL are checked', async () => {
    const base = { backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'x', access_key_id: 'k', secret_access_key: 's' }], database: { driver: 'memory' } };
    assert.deepEqual((await loadConfig({ ...base, cache: { enabled: true } } as never, { env: {} })).cache, { enabled: true, maxSize: 256 * 2 ** 20, maxObjectSize: 10 * 2 ** 20, ttlMs: 300_000 });
    await assert.rejects(loadConfig({ ...base, cache: { enabled: true, max_size: 'lots' } } as never, { env: {} }), /cache\.max_size: must be a byte size/);
    // As upstream reads its own section: KB/MB/GB are binary there (readpath's other sizes are decimal).
    assert.deepEqual(
      (await loadConfig({ ...base, cache: { enabled: true, max_size: '1GB', max_object_size: '512KB' } } as never, { env: {} })).cache,
      { enabled: true, maxSize: 2 ** 30, maxObjectSize: 512 * 2 ** 10, ttlMs: 300_000 },
    );
    assert.equal((await loadConfig({ ...base, cache: { enabled: true, max_size: '3MiB', max_object_size: 100 } } as never, { env: {} })).cache.maxSize, 3 * 2 ** 20);
    await assert.rejects(loadConfig({ ...base, cache: { ttl: '-1s' } } as never, { env: {} }), /cache\.ttl/);
  });
});
