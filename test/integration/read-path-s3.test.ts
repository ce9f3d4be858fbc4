/**
 * The product over real HTTP: ReadPath reading from s3rver backends behind fault proxies, with
 * location rows in a real SQLite file. Each fault of issue 4's list moves the read to the
 * next copy; nothing corrupt is ever served; no socket outlives close().
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { hasCode } from '../../src/errors.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { settleTcpHandles } from '../helpers/handles.js';

let fleet: S3Fleet;
let dir: string;
let rp: ReadPath;
let db: SqliteMetadataStore;
let t = Date.parse('2026-01-01T00:00:00Z');

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name) })),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    server: { backend_timeout: '300ms' },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
    ...extra,
  };
}

async function seed(key: string, body: string, on: string[]): Promise<void> {
  const bytes = new TextEncoder().encode(body);
  for (const name of on) await fleet.seed(key, bytes, [name]);
  await db.addLocations(on.map((name) => ({
    objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes),
  })));
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-rp-'));
  rp = await ReadPath.open(config());
  db = rp.store as SqliteMetadataStore;
});

after(async () => {
  await rp.close();
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

test('healthy: the first copy serves a verified body', async () => {
  await seed('docs/a b.txt', 'alpha', ['b1', 'b2']);
  const g = await rp.get('docs/a b.txt');
  assert.equal(new TextDecoder().decode(g.body), 'alpha');
  assert.equal(g.backend, 'b1');
  assert.equal(g.verified, true);
  const h = await rp.head('docs/a b.txt');
  assert.equal(h.size, 5);
});

test('copy missing on the first backend → served by the second', async () => {
  await seed('missing-first', 'beta', ['b1', 'b2']);
  await fleet.remove('missing-first', ['b1']);
  const g = await rp.get('missing-first');
  assert.equal(g.backend, 'b2');
  assert.equal(g.failover, true);
});

test('first backend answering 503 SlowDown → next copy', async () => {
  await seed('slowdown', 'gamma', ['b1', 'b2']);
  fleet.backend('b1').proxy.failNext(1, { kind: 'slowdown' }, { key: 'slowdown' });
  const g = await rp.get('slowdown');
  assert.equal(g.backend, 'b2');
});

test('first backend hanging → TIMEOUT after backend_timeout, then the next copy', async () => {
  await seed('hang', 'delta', ['b1', 'b3']);
  fleet.backend('b1').proxy.failNext(1, { kind: 'hang' }, { key: 'hang' });
  const g = await rp.get('hang');
  assert.equal(g.backend, 'b3');
  assert.equal(g.failover, true);
});

test('a hang on the only copy is TIMEOUT (504)', async () => {
  await seed('hang-only', 'x', ['b2']);
  fleet.backend('b2').proxy.failNext(1, { kind: 'hang' }, { key: 'hang-only' });
  await assert.rejects(rp.get('hang-only'), { code: 'TIMEOUT', httpStatus: 504 });
});

test('a corrupted copy is never served: the next verified copy is', async () => {
  await seed('corrupt', 'the real bytes', ['b1', 'b2']);
  fleet.backend('b1').proxy.failNext(1, { kind: 'corrupt' }, { key: 'corrupt' });
  const g = await rp.get('corrupt');
  assert.equal(g.backend, 'b2');
  assert.equal(new TextDecoder().decode(g.body), 'the real bytes');
  fleet.backend('b1').proxy.failNext(1, { kind: 'corrupt' }, { key: 'corrupt' });
  fleet.backend('b2').proxy.failNext(1, { kind: 'corrupt' }, { key: 'corrupt' });
  await assert.rejects(rp.get('corrupt'), { code: 'INTEGRITY_MISMATCH' });
});

test('a truncated body and a reset connection → next copy', async () => {
  await seed('trunc', 'x'.repeat(10_000), ['b1', 'b2']);
  fleet.backend('b1').proxy.failNext(1, { kind: 'truncate' }, { key: 'trunc' });
  assert.equal((await rp.get('trunc')).backend, 'b2');
  fleet.backend('b1').proxy.failNext(1, { kind: 'reset' }, { key: 'trunc' });
  assert.equal((await rp.get('trunc')).backend, 'b2');
});

test('a copy answering other bytes than the range asked (a 200 with the whole object, a 206 for another range) → the range from the next copy', async () => {
  const body = '0123456789abcdefghij';
  await seed('ranged', body, ['b1', 'b2']);
  const b1 = fleet.backend('b1').proxy;
  b1.failNext(1, { kind: 'answer', status: 200, body }, { key: 'ranged' });
  let g = await rp.get('ranged', { range: 'bytes=5-9' });
  assert.equal(new TextDecoder().decode(g.body), '56789');
  assert.equal(g.backend, 'b2');
  b1.failNext(1, { kind: 'answer', status: 206, headers: { 'content-range': 'bytes 0-4/20' }, body: '01234' }, { key: 'ranged' });
  g = await rp.get('ranged', { range: 'bytes=5-9' });
  assert.equal(new TextDecoder().decode(g.body), '56789');
  assert.equal(g.backend, 'b2');
  b1.failNext(1, { kind: 'answer', status: 206, headers: { 'content-range': 'bytes 0-4/20' }, body: '01234' }, { key: 'ranged' });
  const s = await rp.getStream('ranged', { range: 'bytes=5-9' });
  const chunks: Buffer[] = [];
  for await (const c of s.body) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), '56789');
  assert.equal(s.backend, 'b2');
});

test('get(key, { range }) reads RFC 9110\'s other forms of one range (Bytes=, empty list elements, whitespace) as bytes=FIRST-LAST, and s3rver is sent that', async () => {
  await seed('forms', '0123456789abcdefghij', ['b1', 'b2']);
  const proxy = fleet.backend('b1').proxy;
  for (const [range, want, sent] of [['Bytes=2-4', '234', 'bytes=2-4'], ['bytes=2-4,', '234', 'bytes=2-4'], ['bytes=, 2-4 , ', '234', 'bytes=2-4'], ['BYTES=17- ,', 'hij', 'bytes=17-']] as const) {
    const seen = proxy.requestHeaders().length;
    const g = await rp.get('forms', { range });
    assert.equal(new TextDecoder().decode(g.body), want, range);
    assert.equal(g.backend, 'b1', range);
    assert.deepEqual(proxy.requestHeaders().slice(seen).map((h) => h.range), [sent], range);
    const s = await rp.getStream('forms', { range });
    const chunks: Buffer[] = [];
    for await (const c of s.body) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), want, `getStream ${range}`);
  }
  // Two real ranges are still no range a GET can take (S3 answers them with the whole object).
  await assert.rejects(rp.get('forms', { range: 'Bytes=0-1,3-4' }), (e: unknown) => hasCode(e, 'INVALID_CONFIG'));
});

test('a suffix of an empty object, answered as S3 answers it (a 200 with the empty object): get and getStream both read the empty object', async () => {
  await seed('empty', '', ['b1', 'b2']);
  // s3rver knows no suffix ranges (it resets a ranged GET of an empty object): the proxies answer
  // as AWS does.
  for (const name of ['b1', 'b2']) fleet.backend(name).proxy.inject({ kind: 'answer', status: 200, body: '' }, { match: { key: 'empty', range: 'bytes=-5' } });
  try {
    const g = await rp.get('empty', { range: 'bytes=-5' });
    assert.equal(g.body.byteLength, 0);
    assert.equal(g.backend, 'b1');
    const s = await rp.getStream('empty', { range: 'bytes=-5' });
    const chunks: Buffer[] = [];
    for await (const c of s.body) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).byteLength, 0);
    assert.equal(s.size, 0);
  } finally {
    for (const name of ['b1', 'b2']) fleet.backend(name).proxy.clear();
  }
});

test('first backend refusing connections → next copy', async () => {
  await seed('refused', 'eps', ['b3', 'b2']);
  await fleet.stop('b3');
  try {
    const g = await rp.get('refused');
    assert.equal(g.backend, 'b2');
  } finally {
    await fleet.start('b3');
  }
});

test('every copy over its usage limit → USAGE_LIMIT_EXCEEDED (429) without calling any backend', async () => {
  const limited = await ReadPath.open(config({
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name), api_request_limit: 1 })),
  }));
  try {
    await seed('limited', 'zeta', ['b1', 'b2']);
    assert.equal((await limited.get('limited')).backend, 'b1');
    assert.equal((await limited.get('limited')).backend, 'b2', 'b1 spent its one request');
    const seen = fleet.backends.map((b) => b.proxy.requestCount);
    await assert.rejects(limited.get('limited'), { code: 'USAGE_LIMIT_EXCEEDED', httpStatus: 429 });
    assert.deepEqual(fleet.backends.map((b) => b.proxy.requestCount), seen);
  } finally {
    await limited.close();
  }
});

test('a batch over real backends yields one outcome per key and leaves no socket behind after close', async () => {
  const keys: string[] = [];
  for (let i = 0; i < 40; i++) {
    await seed(`batch/${i}`, `body ${i}`, i % 2 === 0 ? ['b1', 'b2'] : ['b2', 'b3']);
    keys.push(`batch/${i}`);
  }
  keys.push('batch/none');
  const other = await ReadPath.open(config());
  const outcomes = [];
  for await (const o of other.readMany(keys, { concurrency: 8 })) outcomes.push(o);
  assert.equal(outcomes.length, keys.length);
  assert.equal(outcomes.filter((o) => o.ok).length, 40);
  const none = outcomes.find((o) => o.key === 'batch/none');
  assert.ok(none && !none.ok && none.error.code === 'OBJECT_NOT_FOUND');
  await other.close();
  await other.close();
  // The fleet's own listeners and the shared reader stay; what the closed reader opened is gone.
  await rp.close();
  await fleet.close();
  assert.deepEqual(await settleTcpHandles(0), []);
});
