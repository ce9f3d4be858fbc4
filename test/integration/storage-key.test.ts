/**
 * s3-orchestrator's `storage_key`: since that column, upstream stores each write's bytes under a
 * path of its own (`{object_key}!{id}`) and records it on the row. readpath reads each copy
 * where its row says, over s3rver and an upstream-schema SQLite file, with both executors: get,
 * head, getStream (whole and ranged), readMany into a directory (the file named by the object
 * key), and the gateway path's HEAD. Stale bytes left at the object key itself would fail
 * verification if they were read. Rows without the column, or with it empty, read the object
 * key as before.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { sha256Hex } from '../../src/probe/verify.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { readAll as collect } from '../helpers/streams.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';


const NEW = Buffer.from('the latest write, stored under a path of its own\n'.repeat(50));
const STALE = Buffer.from('an earlier write left at the object key\n');
const LEGACY = Buffer.from('written before upstream had storage keys\n');

describe('storage_key: each copy read where its row says', () => {
  let fleet: S3Fleet;
  let dir: string;
  let dbPath: string;

  before(async () => {
    fleet = await startS3Fleet({ count: 2 });
    dir = mkdtempSync(join(tmpdir(), 'readpath-storage-key-'));
    dbPath = join(dir, 'upstream.db');
    const db = upstreamSqlite(dbPath);
    let second = 0;
    /** A row for `body` on `backend`, a second after the previous one; `at` is its storage_key. */
    const row = (key: string, backend: string, body: Buffer, at: string, managed = true): void => {
      db.insert({
        objectKey: key, backendName: backend, sizeBytes: body.length, contentHash: sha256Hex(body), encrypted: false,
        createdAt: new Date(`2026-01-01T00:00:0${++second}Z`), storageKey: at,
      }, { managed });
    };
    // Each copy of the new write under its own path; the object key holds other bytes.
    await fleet.seed('photos/cat v2.txt', STALE, ['b1', 'b2']);
    await fleet.seed('photos/cat v2.txt!01JB7Q', NEW, ['b1']);
    await fleet.seed('photos/cat v2.txt!01JB7R', NEW, ['b2']);
    row('photos/cat v2.txt', 'b1', NEW, 'photos/cat v2.txt!01JB7Q');
    row('photos/cat v2.txt', 'b2', NEW, 'photos/cat v2.txt!01JB7R');
    // A row the migration backfilled with its own key, and one it had not reached yet ('').
    await fleet.seed('legacy.txt', LEGACY, ['b1', 'b2']);
    row('legacy.txt', 'b1', LEGACY, 'legacy.txt');
    row('legacy.txt', 'b2', LEGACY, '');
    // Rows upstream marks unmanaged (kept for their quota, never listed or served): one copy of
    // photos/half.txt (its bytes would fail verification), every copy of unmanaged-only.txt.
    await fleet.seed('photos/half.txt', STALE, ['b1']);
    await fleet.seed('photos/half.txt', LEGACY, ['b2']);
    row('photos/half.txt', 'b1', LEGACY, 'photos/half.txt', false);
    row('photos/half.txt', 'b2', LEGACY, 'photos/half.txt');
    await fleet.seed('unmanaged-only.txt', LEGACY, ['b1', 'b2']);
    row('unmanaged-only.txt', 'b1', LEGACY, 'unmanaged-only.txt', false);
    row('unmanaged-only.txt', 'b2', LEGACY, 'unmanaged-only.txt', false);
    await fleet.seed('zzz.txt', LEGACY, ['b1']);
    row('zzz.txt', 'b1', LEGACY, 'zzz.txt');
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
    logging: { level: 'silent' },
  });

  for (const mode of ['inline', 'pool'] as const) {
    it(`${mode}: get, head, getStream and readMany read the storage key, and name the object key`, async () => {
      const rp = await ReadPath.open(config(mode));
      try {
        const rows = await rp.store.getAllObjectLocations('photos/cat v2.txt');
        assert.deepEqual(rows.map((r) => r.storageKey), ['photos/cat v2.txt!01JB7Q', 'photos/cat v2.txt!01JB7R']);
        const g = await rp.get('photos/cat v2.txt');
        assert.ok(Buffer.from(g.body).equals(NEW));
        assert.equal(g.verified, true);
        assert.equal(g.backend, 'b1');
        assert.equal(g.failover, false, 'the first copy served: its storage key was read');
        assert.equal((await rp.head('photos/cat v2.txt')).size, NEW.length);
        const s = await rp.getStream('photos/cat v2.txt');
        assert.ok((await collect(s.body)).equals(NEW));
        assert.equal(await s.verified, true);
        const r = await rp.getStream('photos/cat v2.txt', { range: 'bytes=10-19' });
        assert.ok((await collect(r.body)).equals(NEW.subarray(10, 20)));
        // The legacy rows: at the object key, whether backfilled or not yet.
        assert.ok(Buffer.from((await rp.get('legacy.txt')).body).equals(LEGACY));
        assert.deepEqual((await rp.store.getAllObjectLocations('legacy.txt')).map((l) => l.storageKey), [undefined, undefined]);
        const out = join(dir, `out-${mode}`);
        const outcomes = [];
        for await (const o of rp.readMany(['photos/cat v2.txt', 'legacy.txt'], { out })) outcomes.push(o);
        assert.deepEqual(outcomes.map((o) => o.ok).sort(), [true, true], JSON.stringify(outcomes));
        assert.ok(readFileSync(join(out, 'photos', 'cat v2.txt')).equals(NEW));
        assert.ok(readFileSync(join(out, 'legacy.txt')).equals(LEGACY));
      } finally {
        await rp.close();
      }
    });
  }

  it('unmanaged rows are neither served nor listed, and take no place in a page', async () => {
    const rp = await ReadPath.open(config('inline'));
    try {
      const half = await rp.get('photos/half.txt');
      assert.ok(Buffer.from(half.body).equals(LEGACY));
      assert.deepEqual([half.backend, half.failover], ['b2', false], 'the unmanaged copy was not even tried');
      await assert.rejects(rp.get('unmanaged-only.txt'), (err: Error & { code?: string }) => err.code === 'OBJECT_NOT_FOUND');
      const all = await rp.listKeys({ prefix: '', limit: 100 });
      assert.deepEqual(all.map((o) => o.key), ['legacy.txt', 'photos/cat v2.txt', 'photos/half.txt', 'zzz.txt']);
      // Its time is the managed copy's (the unmanaged one was written first).
      assert.equal(all.find((o) => o.key === 'photos/half.txt')?.lastModified.toISOString(), '2026-01-01T00:00:06.000Z');
      assert.deepEqual((await rp.listKeys({ prefix: '', startAfter: 'photos/half.txt', limit: 1 })).map((o) => o.key), ['zzz.txt']);
    } finally {
      await rp.close();
    }
  });

  it('a copy missing at its storage key fails over to the next copy\'s', async () => {
    await fleet.remove('photos/cat v2.txt!01JB7Q', ['b1']);
    const rp = await ReadPath.open(config('inline'));
    try {
      const g = await rp.get('photos/cat v2.txt');
      assert.ok(Buffer.from(g.body).equals(NEW));
      assert.equal(g.backend, 'b2');
      assert.equal(g.failover, true);
    } finally {
      await rp.close();
    }
  });
});
