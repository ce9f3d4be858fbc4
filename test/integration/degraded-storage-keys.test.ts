/**
 * Degraded mode over s3-orchestrator's storage keys: with the database down, each backend is
 * asked for a listing under the key and the newest of the key itself and its `{key}!{id}`
 * copies is read, as upstream reads degraded — never a stale write left at the key, nor another
 * object that shares the name as a prefix. Two S3 stubs (strict SigV4, ListObjectsV2, controlled
 * Last-Modified), both transports, both executors: get, head, getStream (whole and ranged),
 * readMany into a directory; `broadcast.storage_keys: false` reads the key itself; a backend
 * that cannot list is passed over like one that cannot serve.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Stub, type S3Stub } from '../helpers/s3-stub.js';
import { S3RVER_ACCESS_KEY, S3RVER_SECRET_KEY } from '../helpers/s3-fleet.js';
import { readAll as collect } from '../helpers/streams.js';

const ID1 = '6f1d2c3b4a5968778695a4b3c2d1e0f1';
const ID2 = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const NEW = Buffer.from('the latest write, at a path of its own\n'.repeat(40));
const STALE = Buffer.from('an earlier write left at the object key\n');
const DECOY = Buffer.from('another object whose name starts the same\n');
const LEGACY = Buffer.from('written before upstream had storage keys\n');
const t = (minutes: number): Date => new Date(Date.UTC(2026, 10, 1, 12, minutes));

const down = { getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'metadata store down (test)')) };

describe('degraded reads find the latest write among the key\'s storage-key copies', () => {
  let b1: S3Stub;
  let b2: S3Stub;
  let dir: string;
  const creds = [{ accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY }];

  before(async () => {
    b1 = await startS3Stub({ bucket: 'data', credentials: creds });
    b2 = await startS3Stub({ bucket: 'data', credentials: creds });
    dir = mkdtempSync(join(tmpdir(), 'readpath-degraded-sk-'));
    // b1: a stale write at the key, the latest at its copy, and newer namesakes.
    b1.put('docs/report v2.txt', STALE, { lastModified: t(0) });
    b1.put(`docs/report v2.txt!${ID1}`, NEW, { lastModified: t(5) });
    b1.put('docs/report v2.txt!backup', DECOY, { lastModified: t(9) });
    b1.put('docs/report v2.txt.bak', DECOY, { lastModified: t(9) });
    b1.put('docs/report v2.txt/child', DECOY, { lastModified: t(9) });
    // b2: only its own copy of the latest write.
    b2.put(`docs/report v2.txt!${ID2}`, NEW, { lastModified: t(5) });
    // Written before storage keys: at the key on both.
    for (const b of [b1, b2]) b.put('legacy.txt', LEGACY, { lastModified: t(1) });
    // Only namesakes: not found anywhere.
    b1.put('ghost.txt!backup', DECOY, { lastModified: t(1) });
  });

  after(async () => {
    await b1.close();
    await b2.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (mode: 'inline' | 'pool', client: 'lean' | 'sdk', storageKeys = true): ReadPathConfig => ({
    backends: [b1, b2].map((b, i) => ({
      name: `b${i + 1}`, endpoint: b.endpoint, region: 'us-east-1', bucket: 'data', force_path_style: true, client,
      access_key_id: S3RVER_ACCESS_KEY, secret_access_key: S3RVER_SECRET_KEY,
    })),
    database: { driver: 'memory' },
    runtime: { mode, threads: 1 },
    broadcast: { storage_keys: storageKeys },
    logging: { level: 'silent' },
  });

  for (const mode of ['inline', 'pool'] as const) {
    for (const client of ['lean', 'sdk'] as const) {
      it(`${mode}, ${client}: get, head, streams and readMany serve the latest write, not the stale key or a namesake`, async () => {
        const rp = await ReadPath.open(config(mode, client), { store: down });
        try {
          const g = await rp.get('docs/report v2.txt');
          assert.equal(g.degraded, true);
          assert.equal(g.backend, 'b1');
          assert.ok(Buffer.from(g.body).equals(NEW), 'the copy at docs/report v2.txt!<id>');
          assert.equal((await rp.head('docs/report v2.txt')).size, NEW.length);
          assert.ok((await collect((await rp.getStream('docs/report v2.txt')).body)).equals(NEW));
          assert.ok((await collect((await rp.getStream('docs/report v2.txt', { range: 'bytes=10-49' })).body)).equals(NEW.subarray(10, 50)));
          assert.ok(Buffer.from((await rp.get('legacy.txt')).body).equals(LEGACY), 'data from before storage keys: at the key');
          await assert.rejects(rp.get('ghost.txt'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
          const out = join(dir, `${mode}-${client}`);
          const outcomes = new Map<string, boolean>();
          for await (const o of rp.readMany(['docs/report v2.txt', 'legacy.txt', 'ghost.txt'], { out })) outcomes.set(o.key, o.ok);
          assert.deepEqual([...outcomes].sort(), [['docs/report v2.txt', true], ['ghost.txt', false], ['legacy.txt', true]]);
          assert.ok(readFileSync(join(out, 'docs', 'report v2.txt')).equals(NEW), 'the file is named by the object key');
        } finally {
          await rp.close();
        }
        // What b1 was asked: a listing under the key, then the copy — never the stale key's bytes.
        const asked = b1.requests().filter((r) => r.status === 200 || r.status === 206).map((r) => (r.key === '' ? `LIST ${new URL(r.url, 'http://x').searchParams.get('prefix') ?? ''}` : `${r.method} ${r.key ?? ''}`));
        assert.ok(asked.includes(`GET docs/report v2.txt!${ID1}`), asked.join('\n'));
        assert.ok(asked.includes('LIST docs/report v2.txt'), asked.join('\n'));
        assert.ok(!asked.includes('GET docs/report v2.txt'), 'the stale write at the key is never read');
        assert.ok(!asked.some((a) => /backup|\.bak|child/.test(a) && a.startsWith('GET')), 'nor a namesake');
      });
    }
  }

  it('a degraded stream lists each backend once: the HEAD that found the copy says where it is', async () => {
    const rp = await ReadPath.open(config('inline', 'lean'), { store: down });
    const lists = (): number => b1.requests().filter((r) => r.key === '').length;
    const heads = (): number => b1.requests().filter((r) => r.method === 'HEAD').length;
    try {
      const before = heads();
      const h = await rp.head('docs/report v2.txt');
      assert.deepEqual(h.storedAs, { storageKey: `docs/report v2.txt!${ID1}`, storedSize: NEW.length, etag: h.etag });
      assert.deepEqual([h.size, h.lastModified instanceof Date], [NEW.length, true]);
      assert.equal(heads(), before, 'the size from the first bytes\' Content-Range: no HEAD request');
      const listed = lists();
      const st = await rp.getStream('docs/report v2.txt');
      assert.ok((await collect(st.body)).equals(NEW));
      assert.equal(lists() - listed, 1, 'one listing: the HEAD\'s, not the segment\'s too');
    } finally {
      await rp.close();
    }
  });

  it('broadcast.storage_keys: false reads the key itself at once (data written before storage keys)', async () => {
    const rp = await ReadPath.open(config('inline', 'lean', false), { store: down });
    const lists = (): number => b1.requests().filter((r) => r.key === '').length;
    const before = lists();
    try {
      assert.ok(Buffer.from((await rp.get('docs/report v2.txt')).body).equals(STALE), 'the key itself, stale or not');
      assert.ok(Buffer.from((await rp.get('legacy.txt')).body).equals(LEGACY));
      assert.equal(lists(), before, 'no listing');
    } finally {
      await rp.close();
    }
  });

  it('a backend that refuses the listing (and the read) is passed over like one that cannot serve', async () => {
    // b1 now refuses every signature: its listing fails (403), and b2's copy is read.
    b1.setCredentials([{ accessKeyId: 'someone-else', secretAccessKey: 'x' }]);
    const rp = await ReadPath.open(config('inline', 'lean'), { store: down });
    try {
      const g = await rp.get('docs/report v2.txt');
      assert.equal(g.backend, 'b2');
      assert.ok(Buffer.from(g.body).equals(NEW));
      const refused = b1.requests().filter((r) => r.key === '' && r.status === 403);
      assert.ok(refused.length >= 1, 'b1 was asked for the listing and refused it');
    } finally {
      b1.setCredentials(creds);
      await rp.close();
    }
  });
});
