/**
 * Copies s3-orchestrator stored compressed (its zstd seekable layout, `compression_algorithm`
 * on the row, `logical_size` the object's size), read over an s3rver fleet and an
 * upstream-schema SQLite file, with both executors: get, head, getStream (whole and ranged —
 * a range fetches the seek table and only the frames it needs), readMany into a directory,
 * listings at the logical size; copies compressed and then encrypted (upstream's order); a
 * damaged frame, an algorithm readpath does not decode and a lying seek table each fail only
 * their copy, and the read goes on from the next. With the database down, copies are recognised
 * from their bytes and decoded (upstream's degraded reads), a client's `.zst` served as it is.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { sha256Hex } from '../../src/probe/verify.js';
import { clearSeekTables } from '../../src/compression/compressed-read.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { readAll as collect } from '../helpers/streams.js';
import { compressedRow, damagedFrame, logLines, lyingTable, seekableZstd, zstdCliEncode } from '../helpers/seekable-zstd.js';
import { ReadPathError } from '../../src/errors.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { encryptForRow } from '../helpers/senc-encoder.js';

const MASTER = randomBytes(32);
const CHUNK = 64 * 1024;
/** ~1.2 MiB of log lines: 19 frames of 64 KiB. */
const LOG = logLines(1_250_000);
const LOG_Z = seekableZstd(LOG, { chunkSize: CHUNK });
/** The ETag upstream gave its clients: the object's MD5, quoted. */
const LOG_ETAG = `"${createHash('md5').update(LOG).digest('hex')}"`;
const SECRET = logLines(400_000, 7);
const SECRET_Z = seekableZstd(SECRET, { chunkSize: 16 * 1024 });
const PLAIN = Buffer.from('stored verbatim: too small to be worth compressing\n');
/** A client's own .zst upload: zstd frames, no seek table — served as it is, degraded or not. */
const USER_ZST = zstdCliEncode(logLines(100_000, 5));
/** A well-formed per-write copy id (upstream's storage keys: `{key}!{id}`). */
const COPY_ID = '0123456789abcdef0123456789abcdef';

describe('compressed copies (s3-orchestrator compression: zstd seekable) over s3rver and SQLite', () => {
  let fleet: S3Fleet;
  let dir: string;
  let dbPath: string;

  before(async () => {
    fleet = await startS3Fleet({ count: 2 });
    dir = mkdtempSync(join(tmpdir(), 'readpath-compression-'));
    dbPath = join(dir, 'upstream.db');
    const db = upstreamSqlite(dbPath);
    let t = Date.parse('2026-03-01T00:00:00Z');
    const at = (): Date => new Date(t += 1000);
    const put = async (l: ObjectLocation, body: Uint8Array): Promise<void> => {
      await fleet.seed(l.storageKey ?? l.objectKey, body, [l.backendName]);
      db.insert(l);
    };
    // Two copies, each under a storage key of its own, with the identity upstream's clients got.
    const identity = { etag: LOG_ETAG, contentType: 'application/x-ndjson' };
    await put(compressedRow('logs/app.log', 'b1', LOG, LOG_Z.body, at(), { storageKey: 'logs/app.log!01A', ...identity }), LOG_Z.body);
    await put(compressedRow('logs/app.log', 'b2', LOG, LOG_Z.body, at(), { storageKey: 'logs/app.log!01B', ...identity }), LOG_Z.body);
    // The first copy damaged in frame 5: whole reads and ranges over it fail over to b2.
    await put(compressedRow('logs/damaged.log', 'b1', LOG, LOG_Z.body, at()), damagedFrame(LOG_Z, 5));
    await put(compressedRow('logs/damaged.log', 'b2', LOG, LOG_Z.body, at()), LOG_Z.body);
    // A first copy in an algorithm readpath does not decode, one whose seek table lies about
    // the object's size, then a good one.
    await put(compressedRow('logs/odd.log', 'b1', LOG, LOG_Z.body, at(), { compression: 'lz4' }), LOG_Z.body);
    await put(compressedRow('logs/odd.log', 'b2', LOG, LOG_Z.body, at()), LOG_Z.body);
    await put(compressedRow('logs/short.log', 'b1', LOG, LOG_Z.body, at(), { logicalSize: LOG.length + 1 }), LOG_Z.body);
    await put(compressedRow('logs/short.log', 'b2', LOG, LOG_Z.body, at()), LOG_Z.body);
    // Compressed, then encrypted (upstream's order): plaintext_size is the compressed size,
    // logical_size the object's, content_hash the object's. Each copy its own data key.
    for (const [i, name] of ['b1', 'b2'].entries()) {
      const enc = encryptForRow(SECRET_Z.body, { masterKey: MASTER, chunkSize: i === 0 ? 4096 : 65536 });
      await put({
        ...compressedRow('vault/secret.log', name, SECRET, enc.body, at()),
        encrypted: true, encryptionKey: enc.encryptionKey, keyId: enc.keyId, plaintextSize: enc.plaintextSize,
      }, enc.body);
    }
    await put({ objectKey: 'plain.txt', backendName: 'b1', sizeBytes: PLAIN.length, createdAt: at(), encrypted: false, contentHash: sha256Hex(PLAIN) }, PLAIN);
    // Written by an upstream from before storage keys: the compressed bytes at the object key.
    await put(compressedRow('old/compressed.log', 'b1', LOG, LOG_Z.body, at()), LOG_Z.body);
    await put(compressedRow('old/compressed.log', 'b2', LOG, LOG_Z.body, at()), LOG_Z.body);
    await put({ objectKey: 'user/data.zst', backendName: 'b1', sizeBytes: USER_ZST.length, createdAt: at(), encrypted: false, contentHash: sha256Hex(USER_ZST) }, USER_ZST);
    // Only on the backends, for degraded mode: a copy under upstream's storage key on both; one
    // whose seek table claims one frame less on b1, and a good one on b2.
    await fleet.seed(`new/compressed.log!${COPY_ID}`, SECRET_Z.body, ['b1', 'b2']);
    await fleet.seed('lying/compressed.log', lyingTable(LOG_Z), ['b1']);
    await fleet.seed('lying/compressed.log', LOG_Z.body, ['b2']);
    db.close();
  });

  after(async () => {
    await fleet?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (mode: 'inline' | 'pool'): ReadPathConfig => ({
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: dbPath },
    runtime: mode === 'pool' ? { mode, threads: 1 } : { mode },
    striping: { enabled: false },
    encryption: { enabled: true, master_key: MASTER.toString('base64') },
    logging: { level: 'silent' },
  });

  for (const mode of ['inline', 'pool'] as const) {
    it(`${mode}: get, head, getStream, ranges and readMany give the object, verified`, async () => {
      const rp = await ReadPath.open(config(mode));
      try {
        const rows = await rp.store.getAllObjectLocations('logs/app.log');
        assert.deepEqual(rows.map((r) => [r.compression, r.logicalSize, r.compressionVersion, r.sizeBytes]), [
          ['zstd', LOG.length, 1, LOG_Z.body.length], ['zstd', LOG.length, 1, LOG_Z.body.length],
        ]);
        const g = await rp.get('logs/app.log');
        assert.ok(Buffer.from(g.body).equals(LOG));
        assert.deepEqual([g.verified, g.backend, g.failover, g.size], [true, 'b1', false, LOG.length]);
        // The row's identity, not the stored bytes' ETag and type.
        const h = await rp.head('logs/app.log');
        assert.deepEqual([h.size, h.etag, h.contentType], [LOG.length, LOG_ETAG, 'application/x-ndjson']);
        assert.deepEqual([g.etag, g.contentType], [LOG_ETAG, 'application/x-ndjson']);
        // Last-Modified: the serving row's created_at (not when s3rver stored the bytes); here the
        // first copy's, as listed.
        const listedApp = (await rp.listKeys({ prefix: 'logs/app.log', limit: 1 }))[0];
        assert.equal(h.lastModified?.toISOString(), '2026-03-01T00:00:01.000Z');
        assert.deepEqual([g.lastModified?.toISOString(), listedApp?.lastModified.toISOString()], ['2026-03-01T00:00:01.000Z', '2026-03-01T00:00:01.000Z']);
        // Without a row ETag: one derived from the object's hash, never the stored bytes' MD5.
        const hd = await rp.head('logs/damaged.log');
        assert.equal(hd.etag, `"${sha256Hex(LOG).slice(0, 32)}-1"`);
        // A range across frames 2-4.
        const r = await rp.get('logs/app.log', { range: `bytes=${2 * CHUNK + 100}-${4 * CHUNK + 5}` });
        assert.ok(Buffer.from(r.body).equals(LOG.subarray(2 * CHUNK + 100, 4 * CHUNK + 6)));
        const tail = await rp.get('logs/app.log', { range: 'bytes=-10' });
        assert.ok(Buffer.from(tail.body).equals(LOG.subarray(LOG.length - 10)));
        const s = await rp.getStream('logs/app.log');
        assert.ok((await collect(s.body)).equals(LOG));
        assert.equal(await s.verified, true);
        assert.deepEqual([s.size, s.etag, s.contentType, s.lastModified?.toISOString()], [LOG.length, LOG_ETAG, 'application/x-ndjson', '2026-03-01T00:00:01.000Z']);
        const sr = await rp.getStream('logs/app.log', { range: `bytes=${CHUNK - 1}-${CHUNK}` });
        assert.ok((await collect(sr.body)).equals(LOG.subarray(CHUNK - 1, CHUNK + 1)));
        // Compressed and encrypted: whole and a range.
        const sec = await rp.get('vault/secret.log');
        assert.ok(Buffer.from(sec.body).equals(SECRET));
        assert.equal(sec.verified, true);
        const secRange = await rp.get('vault/secret.log', { range: 'bytes=100000-150000' });
        assert.ok(Buffer.from(secRange.body).equals(SECRET.subarray(100_000, 150_001)));
        const secStream = await rp.getStream('vault/secret.log', { range: 'bytes=390000-' });
        assert.ok((await collect(secStream.body)).equals(SECRET.subarray(390_000)));
        assert.equal((await rp.head('vault/secret.log')).size, SECRET.length);
        const out = join(dir, `out-${mode}`);
        const outcomes = [];
        for await (const o of rp.readMany(['logs/app.log', 'vault/secret.log', 'plain.txt'], { out })) outcomes.push(o);
        assert.deepEqual(outcomes.map((o) => o.ok), [true, true, true], JSON.stringify(outcomes));
        assert.ok(readFileSync(join(out, 'logs', 'app.log')).equals(LOG));
        assert.ok(readFileSync(join(out, 'vault', 'secret.log')).equals(SECRET));
        assert.ok(readFileSync(join(out, 'plain.txt')).equals(PLAIN));
        // Counted where they were decoded: probes (get) and stream segments.
        assert.ok(rp.recorder.count('decompress_operations_total', { backend: 'b1', kind: 'get' }) >= 6);
        assert.ok(rp.recorder.count('decompress_operations_total', { backend: 'b1', kind: 'stream' }) >= 3);
        assert.equal(rp.recorder.count('decompress_failures_total', { backend: 'b1' }), 0);
        const listed = await rp.listKeys({ prefix: '', limit: 100 });
        // Each listed with the ETag its reads report: the row's, else derived from its content_hash.
        for (const o of listed) assert.equal(o.etag, (await rp.head(o.key)).etag, o.key);
        assert.equal(listed[0]?.etag, LOG_ETAG);
        assert.deepEqual(listed.map((o) => [o.key, o.size]), [
          ['logs/app.log', LOG.length], ['logs/damaged.log', LOG.length], ['logs/odd.log', LOG.length],
          ['logs/short.log', LOG.length + 1], ['old/compressed.log', LOG.length], ['plain.txt', PLAIN.length],
          ['user/data.zst', USER_ZST.length], ['vault/secret.log', SECRET.length],
        ]);
      } finally {
        await rp.close();
      }
    });

    it(`${mode}: a damaged frame, an unknown algorithm, a lying table: that copy fails, the next serves`, async () => {
      clearSeekTables();
      const rp = await ReadPath.open(config(mode));
      try {
        const d = await rp.get('logs/damaged.log');
        assert.ok(Buffer.from(d.body).equals(LOG));
        assert.deepEqual([d.backend, d.failover, d.verified], ['b2', true, true]);
        // A range inside the damaged frame, and one that does not touch it (b1 serves that).
        const inside = await rp.get('logs/damaged.log', { range: `bytes=${5 * CHUNK + 10}-${5 * CHUNK + 20}` });
        assert.ok(Buffer.from(inside.body).equals(LOG.subarray(5 * CHUNK + 10, 5 * CHUNK + 21)));
        assert.equal(inside.backend, 'b2');
        const outside = await rp.get('logs/damaged.log', { range: `bytes=${7 * CHUNK}-${7 * CHUNK + 99}` });
        assert.ok(Buffer.from(outside.body).equals(LOG.subarray(7 * CHUNK, 7 * CHUNK + 100)));
        assert.equal(outside.backend, 'b1');
        const s = await rp.getStream('logs/damaged.log');
        assert.ok((await collect(s.body)).equals(LOG));
        assert.equal(await s.verified, true);
        const odd = await rp.get('logs/odd.log');
        assert.deepEqual([odd.backend, odd.failover], ['b2', true]);
        assert.ok(Buffer.from(odd.body).equals(LOG));
        // The table says LOG.length; the row one more: a range needs the table, which is refused.
        const short = await rp.get('logs/short.log', { range: 'bytes=0-9' });
        assert.equal(short.backend, 'b2');
        // The damaged copy (get, range, stream), the lz4 row, the lying table: each counted on b1.
        assert.ok(rp.recorder.count('decompress_failures_total', { backend: 'b1' }) >= 5, String(rp.recorder.count('decompress_failures_total', { backend: 'b1' })));
        assert.equal(rp.recorder.count('decompress_failures_total', { backend: 'b2' }), 0);
        const outcomes = [];
        for await (const o of rp.readMany(['logs/damaged.log', 'logs/odd.log'])) outcomes.push(o);
        assert.deepEqual(outcomes.map((o) => o.ok), [true, true]);
      } finally {
        await rp.close();
      }
    });
  }

  it('a range fetches the seek table once, then only the frames that hold it', async () => {
    clearSeekTables();
    const rp = await ReadPath.open(config('inline'));
    const proxy = fleet.backend('b1').proxy;
    try {
      const before = proxy.requestHeaders().length;
      const a = 10 * CHUNK + 1;
      const r = await rp.get('logs/app.log', { range: `bytes=${a}-${a + 1000}` });
      assert.ok(Buffer.from(r.body).equals(LOG.subarray(a, a + 1001)));
      await rp.get('logs/app.log', { range: `bytes=${a}-${a + 1000}` });
      const ranges = proxy.requestHeaders().slice(before).map((h) => h.range);
      const f = LOG_Z.frames[10]!;
      const total = LOG_Z.body.length;
      assert.deepEqual(ranges, [
        `bytes=${total - 8192}-${total - 1}`,
        `bytes=${f.storedOffset}-${f.storedOffset + f.storedSize - 1}`,
        // The second read: the table is remembered.
        `bytes=${f.storedOffset}-${f.storedOffset + f.storedSize - 1}`,
      ]);
    } finally {
      await rp.close();
    }
  });

  describe('degraded mode (metadata store down): copies are recognised from their bytes and decoded, as upstream does', () => {
    const down = {
      getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'metadata store down (test)')),
    };
    const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
    /** What a decoded copy is reported with: the stored bytes' MD5 in multipart form, never an MD5 of other bytes. */
    const DECODED_ETAG = `"${md5(LOG_Z.body)}-1"`;
    const storedAs = (storageKey: string, body: Uint8Array): unknown => ({ compression: 'zstd', storedSize: body.length, storageKey, etag: `"${md5(body)}"` });
    const across = `bytes=${CHUNK - 10}-${CHUNK + 10}`;

    for (const mode of ['inline', 'pool'] as const) {
      it(`${mode}: get, head, ranges, getStream and readMany decode it; a client's .zst and plain objects are served as they are`, async () => {
        clearSeekTables();
        const rp = await ReadPath.open({ ...config(mode), database: { driver: 'memory' } }, { store: down });
        try {
          const g = await rp.get('old/compressed.log');
          assert.ok(Buffer.from(g.body).equals(LOG), 'the object, not its stored frames');
          assert.deepEqual([g.degraded, g.verified, g.size, g.etag, g.storedAs], [true, false, LOG.length, DECODED_ETAG, storedAs('old/compressed.log', LOG_Z.body)]);
          const h = await rp.head('old/compressed.log');
          assert.deepEqual([h.size, h.etag, h.storedAs], [LOG.length, DECODED_ETAG, storedAs('old/compressed.log', LOG_Z.body)], 'the logical size');
          for (const [range, want] of [
            ['bytes=0-99', LOG.subarray(0, 100)], ['bytes=100-199', LOG.subarray(100, 200)],
            // Shorter than a zstd frame's magic: the copy is still recognised first.
            ['bytes=0-0', LOG.subarray(0, 1)], ['bytes=0-2', LOG.subarray(0, 3)],
            [across, LOG.subarray(CHUNK - 10, CHUNK + 11)], ['bytes=-10', LOG.subarray(LOG.length - 10)],
          ] as const) {
            const r = await rp.get('old/compressed.log', { range });
            assert.ok(Buffer.from(r.body).equals(want), `get ${range}`);
            const st = await rp.getStream('old/compressed.log', { range });
            assert.ok((await collect(st.body)).equals(want), `getStream ${range}`);
          }
          const st = await rp.getStream('old/compressed.log');
          assert.equal(st.etag, DECODED_ETAG);
          assert.ok((await collect(st.body)).equals(LOG));
          assert.equal(await st.verified, false, 'no content hash to verify against');
          // Upstream's storage keys: the copy under key!<id>, decoded likewise.
          const n = await rp.get('new/compressed.log');
          assert.ok(Buffer.from(n.body).equals(SECRET));
          assert.deepEqual(n.storedAs, storedAs(`new/compressed.log!${COPY_ID}`, SECRET_Z.body));
          assert.ok(Buffer.from((await rp.get('new/compressed.log', { range: 'bytes=20000-20099' })).body).equals(SECRET.subarray(20000, 20100)));

          const out = join(dir, `degraded-${mode}`);
          const outcomes = new Map<string, { ok: boolean }>();
          for await (const o of rp.readMany(['old/compressed.log', 'new/compressed.log', 'user/data.zst', 'plain.txt'], { out })) outcomes.set(o.key, o);
          assert.deepEqual([...outcomes].map(([k, o]) => [k, o.ok]).sort(), [['new/compressed.log', true], ['old/compressed.log', true], ['plain.txt', true], ['user/data.zst', true]]);
          assert.ok(readFileSync(join(out, 'old', 'compressed.log')).equals(LOG), 'decoded into the file');
          assert.ok(readFileSync(join(out, 'new', 'compressed.log')).equals(SECRET));
          assert.ok(readFileSync(join(out, 'user', 'data.zst')).equals(USER_ZST), 'a client\'s .zst is its bytes');
          assert.ok(readFileSync(join(out, 'plain.txt')).equals(PLAIN));

          const z = await rp.head('user/data.zst');
          assert.deepEqual([z.size, z.etag, z.storedAs], [USER_ZST.length, `"${md5(USER_ZST)}"`, { storageKey: 'user/data.zst', storedSize: USER_ZST.length, etag: `"${md5(USER_ZST)}"` }]);
          assert.ok(Buffer.from((await rp.get('user/data.zst')).body).equals(USER_ZST));
          assert.ok(Buffer.from((await rp.get('user/data.zst', { range: 'bytes=0-99' })).body).equals(USER_ZST.subarray(0, 100)));
          assert.ok(Buffer.from((await rp.get('user/data.zst', { range: 'bytes=100-199' })).body).equals(USER_ZST.subarray(100, 200)));
          assert.ok((await collect((await rp.getStream('user/data.zst')).body)).equals(USER_ZST));
          assert.ok(rp.recorder.count('decompress_operations_total', { backend: 'b1', kind: 'get' }) >= 6);
          assert.ok(rp.recorder.count('decompress_operations_total', { backend: 'b1', kind: 'stream' }) >= 5);
        } finally {
          await rp.close();
        }
      });
    }

    it('a degraded range of a copy read before asks for its first bytes and its frames only: the seek table is remembered by the stored ETag', async () => {
      clearSeekTables();
      const rp = await ReadPath.open({ ...config('inline'), database: { driver: 'memory' } }, { store: down });
      const proxy = fleet.backend('b1').proxy;
      const f = LOG_Z.frames[10]!;
      const frames = `bytes=${f.storedOffset}-${f.storedOffset + f.storedSize - 1}`;
      const total = LOG_Z.body.length;
      const a = 10 * CHUNK + 1;
      const rangesOf = async (read: () => Promise<unknown>): Promise<(string | undefined)[]> => {
        const before = proxy.requests().length;
        const heads = proxy.requestHeaders().length;
        await read();
        // Only this key's GETs (a listing has no key): which bytes each asked for.
        const seen = proxy.requests().slice(before);
        return proxy.requestHeaders().slice(heads).filter((_, i) => seen[i]?.key === 'old/compressed.log' && seen[i]?.method === 'GET').map((h) => h.range);
      };
      const range = async (): Promise<void> => {
        const r = await rp.get('old/compressed.log', { range: `bytes=${a}-${a + 1000}` });
        assert.ok(Buffer.from(r.body).equals(LOG.subarray(a, a + 1001)));
      };
      try {
        assert.deepEqual(await rangesOf(range), ['bytes=0-4', `bytes=${total - 8192}-${total - 1}`, frames], 'the first read finds the table at the end');
        assert.deepEqual(await rangesOf(range), ['bytes=0-4', frames], 'the second remembers it');
        // A whole read decodes the body it holds, and remembers that copy's table for the next range.
        clearSeekTables();
        assert.ok(Buffer.from((await rp.get('old/compressed.log')).body).equals(LOG));
        assert.deepEqual(await rangesOf(range), ['bytes=0-4', frames], 'a whole read\'s table is remembered as well');
      } finally {
        await rp.close();
      }
    });

    it('a stream cut mid-body goes on from the other backend\'s copy, found by its own listing and proved by If-Match', async () => {
      const rp = await ReadPath.open({ ...config('inline'), database: { driver: 'memory' } }, { store: down });
      const p1 = fleet.backend('b1').proxy;
      const p2 = fleet.backend('b2').proxy;
      try {
        const stored = `new/compressed.log!${COPY_ID}`;
        p1.failNext(1, { kind: 'truncate', keepBytes: Math.floor(SECRET_Z.body.length / 2) }, { method: 'GET', key: stored, range: null });
        const before = p2.requestHeaders().length;
        const st = await rp.getStream('new/compressed.log');
        assert.ok((await collect(st.body)).equals(SECRET));
        assert.deepEqual(st.backends, ['b1', 'b2']);
        // b2 was asked for its listing, its seek table and the frames from where b1 stopped.
        const b2 = p2.requests().slice(before);
        assert.ok(b2.some((r) => r.key === undefined || r.url.includes('list-type=2')), JSON.stringify(b2));
        const resumed = p2.requestHeaders().slice(before).filter((h) => h['if-match'] !== undefined);
        assert.ok(resumed.length >= 1 && resumed.every((h) => h['if-match'] === `"${md5(SECRET_Z.body)}"`), JSON.stringify(resumed));
      } finally {
        p1.clear();
        await rp.close();
      }
    });

    it('a copy whose seek table does not describe it fails that copy only (DECOMPRESSION_FAILED); the other is read', async () => {
      const rp = await ReadPath.open({ ...config('inline'), database: { driver: 'memory' } }, { store: down });
      try {
        const g = await rp.get('lying/compressed.log');
        assert.ok(Buffer.from(g.body).equals(LOG));
        assert.equal(g.backend, 'b2');
        const h = await rp.head('lying/compressed.log');
        assert.deepEqual([h.backend, h.size], ['b2', LOG.length]);
      } finally {
        await rp.close();
      }
    });
  });
});
