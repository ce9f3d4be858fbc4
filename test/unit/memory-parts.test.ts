import { test } from 'node:test';
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { MemoryBackend, parseByteRange } from '../../src/backends/memory-backend.js';
import { MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { ReadPathError } from '../../src/errors.js';
import { loc } from '../helpers/core-world.js';
import { assemble } from '../../src/assemble.js';
import { loadConfig } from '../../src/config/load.js';

test('MemoryBackend: put/get/head/delete, range, 404 as BACKEND_ERROR with backendStatus', async () => {
  const b = new MemoryBackend('m');
  b.put('a/b c', 'hello world', { contentType: 'text/plain', metadata: { x: '1' } });
  const h = await b.head('a/b c');
  assert.equal(h.size, 11);
  assert.equal(h.contentType, 'text/plain');
  assert.deepEqual(h.metadata, { x: '1' });
  assert.equal(await text((await b.get('a/b c')).body), 'hello world');
  const r = await b.get('a/b c', { range: 'bytes=6-' });
  assert.equal(r.size, 5);
  assert.equal(await text(r.body), 'world');
  assert.equal(await text((await b.get('a/b c', { range: 'bytes=-3' })).body), 'rld');
  await assert.rejects(b.get('a/b c', { range: 'bytes=99-' }), { code: 'BACKEND_ERROR', backendStatus: 416 });
  assert.equal(b.delete('a/b c'), true);
  await assert.rejects(b.head('a/b c'), (e: unknown) => {
    assert.equal((e as ReadPathError).code, 'BACKEND_ERROR');
    assert.equal((e as ReadPathError).backendStatus, 404);
    return true;
  });
  const ac = new AbortController();
  ac.abort();
  b.put('k', 'v');
  await assert.rejects(b.get('k', { signal: ac.signal }), { code: 'ABORTED' });
});

test('parseByteRange', () => {
  assert.deepEqual(parseByteRange('bytes=0-0', 10), { start: 0, end: 0 });
  assert.deepEqual(parseByteRange('bytes=5-100', 10), { start: 5, end: 9 });
  assert.equal(parseByteRange('bytes=-0', 10), undefined);
  assert.equal(parseByteRange('items=1-2', 10), undefined);
  assert.equal(parseByteRange('bytes=7-3', 10), undefined);
  // An empty object: its suffix is the empty range (S3 answers the empty object), any other range is past its end.
  assert.deepEqual(parseByteRange('bytes=-5', 0), { start: 0, end: -1 });
  assert.equal(parseByteRange('bytes=0-', 0), undefined);
});

test('MemoryBackend: a suffix of an empty object reads empty, as S3 answers it; another range of it is 416', async () => {
  const b = new MemoryBackend('b1');
  b.put('empty', new Uint8Array(0));
  const r = await b.get('empty', { range: 'bytes=-5' });
  assert.equal(r.size, 0);
  assert.equal(r.totalSize, 0);
  let n = 0;
  for await (const c of r.body) n += (c as Buffer).byteLength;
  assert.equal(n, 0);
  await assert.rejects(b.get('empty', { range: 'bytes=0-0' }), (err: unknown) => (err as { backendStatus?: number }).backendStatus === 416);
});

test('MemoryMetadataStore: add replaces (objectKey, backendName); outage switch; not found', async () => {
  const s = new MemoryMetadataStore();
  s.add(loc('k', 'b1', 1, { sizeBytes: 1 }));
  s.add(loc('k', 'b1', 1, { sizeBytes: 99 }));
  const rows = await s.getAllObjectLocations('k');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.sizeBytes, 99);
  rows.pop();
  assert.equal((await s.getAllObjectLocations('k')).length, 1, 'callers get a copy');
  s.setAvailable(false);
  await assert.rejects(s.getAllObjectLocations('k'), { code: 'DB_UNAVAILABLE', httpStatus: 503 });
  s.setAvailable(true);
  await assert.rejects(s.getAllObjectLocations('nope'), { code: 'OBJECT_NOT_FOUND' });
  assert.equal(s.remove('k', 'b1'), true);
  await assert.rejects(s.getAllObjectLocations('k'), { code: 'OBJECT_NOT_FOUND' });
});

test('MemoryLocationCache: bounded by maxEntries, LRU with get refreshing recency', () => {
  const c = new MemoryLocationCache({ maxEntries: 2, ttlMs: 1000 });
  c.set('a', 'b1');
  c.set('b', 'b2');
  assert.equal(c.get('a'), 'b1'); // a is now most recent
  c.set('c', 'b3'); // evicts b
  assert.equal(c.get('b'), undefined);
  assert.equal(c.get('a'), 'b1');
  assert.equal(c.get('c'), 'b3');
  assert.equal(c.size, 2);
  c.clear();
  assert.equal(c.get('a'), undefined);
  assert.equal(c.size, 0);
});

test('MemoryLocationCache: TTL with ±20% jitter; set replaces value and TTL', () => {
  let now = 0;
  const lo = new MemoryLocationCache({ ttlMs: 1000, now: () => now, random: () => 0 });
  lo.set('k', 'b1');
  now = 799;
  assert.equal(lo.get('k'), 'b1');
  now = 800;
  assert.equal(lo.get('k'), undefined, 'lowest jitter: expires at 80% of the TTL');
  now = 0;
  const hi = new MemoryLocationCache({ ttlMs: 1000, now: () => now, random: () => 0.999999 });
  hi.set('k', 'b1');
  now = 1199;
  assert.equal(hi.get('k'), 'b1', 'highest jitter: lives to 120% of the TTL');
  hi.set('k', 'b2');
  now = 1199 + 1100;
  assert.equal(hi.get('k'), 'b2', 'set replaced the TTL too');
  assert.throws(() => new MemoryLocationCache({ maxEntries: 0 }), RangeError);
});

test('assemble: close() empties the location cache (a closed reader keeps no outage\'s worth of entries)', async () => {
  const config = await loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'x', access_key_id: 'k', secret_access_key: 's' }],
    database: { driver: 'memory' },
    runtime: { mode: 'inline' },
  }, { env: {} });
  const parts = await assemble(config, { backends: [new MemoryBackend('b1')], store: new MemoryMetadataStore() });
  for (let i = 0; i < 2000; i++) parts.cache.set(`key-${i}`, 'b1');
  assert.equal(parts.cache.size, 2000);
  await parts.close();
  assert.equal(parts.cache.size, 0);
  assert.equal(parts.cache.get('key-1'), undefined);
});
