/**
 * The SQLite store under the faults a file shared with s3-orchestrator meets: another process
 * holding its lock, the file replaced (a backup restored by rename), deleted, emptied, damaged,
 * a schema changed under the reader.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { hasCode } from '../../src/errors.js';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { BatchOutcome } from '../../src/read-path.js';
import { watchLoopStalls } from '../helpers/loop-stalls.js';

const dir = mkdtempSync(join(tmpdir(), 'readpath-sqlite-faults-'));
/** The repository, where better-sqlite3 is installed (for a child that locks a database). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
after(() => rmSync(dir, { recursive: true, force: true }));

const SCHEMA = `
CREATE TABLE object_locations (
    object_key TEXT NOT NULL, backend_name TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 0, encryption_key BLOB, key_id TEXT, plaintext_size INTEGER,
    content_hash TEXT, managed INTEGER NOT NULL DEFAULT 1,
    created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (object_key, backend_name));
CREATE TABLE backend_usage (
    backend_name TEXT NOT NULL, period TEXT NOT NULL, api_requests INTEGER NOT NULL DEFAULT 0,
    egress_bytes INTEGER NOT NULL DEFAULT 0, ingress_bytes INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (backend_name, period));`;

/** An upstream-shaped database at `path` in `journal` mode, `keys` each held by `backend`. */
function seed(path: string, keys: readonly string[], backend: string, journal: 'WAL' | 'DELETE' = 'WAL'): void {
  const db = new Database(path);
  try {
    db.pragma(`journal_mode = ${journal}`);
    db.exec(SCHEMA);
    const insert = db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, 1, '2026-01-01T00:00:00Z')`);
    db.transaction(() => {
      for (const k of keys) insert.run(k, backend);
    })();
  } finally {
    db.close();
  }
}

/** `n` keys, k00000 on. */
const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `k${String(i).padStart(5, '0')}`);

/**
 * Another process (s3-orchestrator, as far as the store can tell) runs `sql` on `path` and holds
 * what it took until `release()`.
 */
async function holdLock(path: string, sql: string): Promise<{ release: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(path)});
    db.exec(${JSON.stringify(sql)});
    process.stdout.write('locked\\n');
    process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });
  `], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve(); });
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${String(code)}) before locking`)));
  });
  return {
    release: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end('go\n');
    }),
  };
}

/** Each key's backends, or its error code. */
async function lookups(store: SqliteMetadataStore, ks: readonly string[]): Promise<string[]> {
  return Promise.all(ks.map((k) => store.getAllObjectLocations(k).then(
    (locs) => locs.map((l) => l.backendName).join(','),
    (err: unknown) => String((err as { code?: unknown }).code),
  )));
}

describe('SqliteMetadataStore under faults', () => {
  it('a turn\'s lookups meet a lock held past the busy timeout once: the first waits, the rest fail with it', async () => {
    // A rollback-journal file read read-only (the store does not switch it to WAL): a writer's
    // EXCLUSIVE lock keeps readers out, and better-sqlite3 waits for it on this thread.
    const path = join(dir, 'rollback-locked.db');
    const ks = keys(20);
    seed(path, ks, 'b1', 'DELETE');
    const store = await SqliteMetadataStore.open({ path, readonly: true, busyTimeoutMs: 100, schemaRecheckMs: 3_600_000 });
    try {
      assert.deepEqual(await lookups(store, ks.slice(0, 2)), ['b1', 'b1']);
      const lock = await holdLock(path, 'BEGIN EXCLUSIVE');
      const errors = await Promise.all(ks.map((k) => store.getAllObjectLocations(k).then(() => assert.fail(`${k} was read under the lock`), (err: unknown) => err)));
      for (const err of errors) assert.ok(hasCode(err, 'DB_UNAVAILABLE') && /SQLITE_BUSY/.test((err as Error).message), String(err));
      // One wait for the whole turn: every key has the first one's error (without this, each
      // key waited the busy timeout again, and failed with its own).
      assert.equal(new Set(errors).size, 1, 'one busy wait for the turn');
      await lock.release();
      assert.deepEqual(await lookups(store, ks), ks.map(() => 'b1'));
    } finally {
      await store.close();
    }
  });

  it('a lock held for 10 s on a rollback-journal file never stops the event loop for long: reads go degraded, the breaker probes, reads are located again once it is let go', async () => {
    // Each lookup (and each half-open probe of the store breaker) waits for the lock on this
    // thread: at most the default busy timeout, not the 5 s it was.
    const path = join(dir, 'rollback-loop.db');
    const ks = keys(8);
    seed(path, ks, 'b1', 'DELETE');
    const backends = [new MemoryBackend('b1'), new MemoryBackend('b2')];
    for (const k of ks) backends[0]?.put(k, new Uint8Array([0x78]));
    const rp = await ReadPath.open({
      backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
      database: { driver: 'memory' },
      // A short open period: the breaker probes the locked file several times while it is held.
      circuit_breaker: { open_timeout: '500ms', cache_ttl: '1ms' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
    }, { backends, store: new SqliteMetadataStore({ path, readonly: true, schemaRecheckMs: 3_600_000 }) });
    const readAll = async (): Promise<BatchOutcome[]> => {
      const out: BatchOutcome[] = [];
      for await (const o of rp.readMany(ks, { op: 'head' })) out.push(o);
      return out;
    };
    try {
      assert.deepEqual((await readAll()).filter((o) => !o.ok || o.degraded), [], 'located before the lock');
      const lock = await holdLock(path, 'BEGIN EXCLUSIVE');
      const heldUntil = performance.now() + 10_000;
      const during: BatchOutcome[] = [];
      const loop = watchLoopStalls();
      let stalledMs: number;
      try {
        while (performance.now() < heldUntil) {
          during.push(...await readAll());
          await sleep(20);
        }
      } finally {
        stalledMs = loop.stop();
        await lock.release();
      }
      assert.deepEqual(during.filter((o) => !o.ok), [], 'every read served while the lock is held');
      assert.ok(during.some((o) => o.ok && o.degraded), 'reads went degraded');
      assert.ok(stalledMs < 1000, `the event loop stopped for ${Math.round(stalledMs)} ms while the lock was held`);
      // Located again once the breaker's next probe finds the file readable.
      let located = false;
      for (let i = 0; i < 200 && !located; i++) {
        located = (await readAll()).every((o) => o.ok && !o.degraded && o.backend === 'b1');
        if (!located) await sleep(50);
      }
      assert.ok(located, 'reads located again after the lock was let go');
    } finally {
      await rp.close();
    }
  });

  /**
   * s3-orchestrator writing while the store reads: its pages wait in the -wal (the store's
   * connection keeps s3-orchestrator's close from checkpointing them), as they do in production.
   */
  const writeUpstream = (path: string, sql: string): void => {
    const db = new Database(path);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    assert.ok(statSync(`${path}-wal`).size > 0, 'the write is in the -wal');
  };

  it('reads a backup renamed into place (not the replaced file for ever), and never through the replaced file\'s -wal', async () => {
    const path = join(dir, 'restored.db');
    const ks = keys(3000);
    seed(path, ks, 'old');
    const store = await SqliteMetadataStore.open({ path, schemaRecheckMs: 0 });
    try {
      assert.deepEqual(await lookups(store, ks.slice(0, 3)), ['old', 'old', 'old']);
      writeUpstream(path, `UPDATE object_locations SET backend_name = 'old2'; INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('only-old', 'old2', 1, '2026-01-01T00:00:00Z')`);
      assert.deepEqual(await lookups(store, ['k00000', 'only-old']), ['old2', 'old2']);
      seed(`${path}.restore`, ks, 'new');
      renameSync(`${path}.restore`, path);
      // A turn of thousands of lookups, then a listing: the restored file, not a mix.
      const all = await lookups(store, [...ks, 'only-old']);
      assert.deepEqual(all, [...ks.map(() => 'new'), 'OBJECT_NOT_FOUND']);
      assert.deepEqual((await store.listKeys({ startAfter: 'k02998', limit: 5 })).map((o) => o.key), ['k02999']);
    } finally {
      await store.close();
    }
    // s3-orchestrator, starting on the restored file once readpath closed, reads it too.
    const check = new Database(path, { readonly: true });
    try {
      assert.equal(check.prepare(`SELECT count(*) FROM object_locations WHERE backend_name = 'new'`).pluck().get(), ks.length);
    } finally {
      check.close();
    }
  });

  it('read-only, it reads a backup renamed into place once the replaced file\'s -wal is gone, and is DB_UNAVAILABLE until then', async () => {
    const path = join(dir, 'restored-ro.db');
    const ks = keys(50);
    seed(path, ks, 'old');
    const store = await SqliteMetadataStore.open({ path, readonly: true, schemaRecheckMs: 0 });
    try {
      assert.deepEqual(await lookups(store, ks.slice(0, 1)), ['old']);
      writeUpstream(path, `UPDATE object_locations SET backend_name = 'old2'`);
      seed(`${path}.restore`, ks, 'new');
      renameSync(`${path}.restore`, path);
      // A read-only connection cannot empty that log: reading the new file through it would
      // answer old2, the replaced file's rows.
      for (let i = 0; i < 2; i++) {
        await assert.rejects(store.getAllObjectLocations('k00000'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE') && /restored-ro\.db-wal beside it is the replaced file's/.test((err as Error).message));
        await assert.rejects(store.listKeys({ limit: 5 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      }
      rmSync(`${path}-wal`);
      rmSync(`${path}-shm`);
      assert.deepEqual(await lookups(store, ks), ks.map(() => 'new'));
    } finally {
      await store.close();
    }
  });

  for (const readonly of [false, true]) {
    it(`${readonly ? 'read-only' : 'writable'}: a deleted or emptied file is DB_UNAVAILABLE, never created again as an empty database; reads come back with the file`, async () => {
      const path = join(dir, `deleted-${String(readonly)}.db`);
      const ks = keys(100);
      seed(path, ks, 'b1');
      const store = await SqliteMetadataStore.open({ path, readonly, schemaRecheckMs: 0 });
      const down = async (): Promise<void> => {
        for (const r of await lookups(store, ks)) assert.equal(r, 'DB_UNAVAILABLE');
        await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      };
      try {
        assert.deepEqual(await lookups(store, ks.slice(0, 1)), ['b1']);
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
        await down();
        await down();
        assert.equal(existsSync(path), false, 'no database created in its place');
        seed(`${path}.back`, ks, 'b2');
        renameSync(`${path}.back`, path);
        assert.deepEqual(await lookups(store, ks), ks.map(() => 'b2'));
        // Emptied in place (same file, no pages): down too, not a database of no keys.
        truncateSync(path, 0);
        await down();
        await down();
        assert.equal(statSync(path).size, 0, 'nothing written into it');
        rmSync(path);
        seed(`${path}.back`, ks, 'b3');
        renameSync(`${path}.back`, path);
        assert.deepEqual(await lookups(store, ks), ks.map(() => 'b3'));
      } finally {
        await store.close();
      }
    });
  }

  it('readMany and listings through ReadPath: a replaced file is read at once, a deleted one reads degraded', async () => {
    const path = join(dir, 'read-path.db');
    const ks = keys(2000);
    seed(path, ks, 'b1');
    // b1 has none of the keys, b2 all of them: the restored file says so.
    const backends = [new MemoryBackend('b1'), new MemoryBackend('b2')];
    for (const k of ks) backends[1]?.put(k, new Uint8Array([0x78])); // the rows' size_bytes: 1
    const rp = await ReadPath.open({
      backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
    }, { backends, store: new SqliteMetadataStore({ path, schemaRecheckMs: 0 }) });
    const readAll = async (): Promise<BatchOutcome[]> => {
      const out: BatchOutcome[] = [];
      for await (const o of rp.readMany(ks, { op: 'head' })) out.push(o);
      return out;
    };
    try {
      assert.ok((await readAll()).every((o) => !o.ok), 'located on b1, which has none');
      seed(`${path}.restore`, ks, 'b2');
      renameSync(`${path}.restore`, path);
      const restored = await readAll();
      assert.deepEqual(restored.filter((o) => !o.ok || o.degraded || o.backend !== 'b2'), [], 'every key located on b2');
      assert.deepEqual((await rp.listKeys({ prefix: 'k0199', limit: 3 })).map((o) => o.key), ['k01990', 'k01991', 'k01992']);
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
      const degraded = await readAll();
      assert.deepEqual(degraded.filter((o) => !o.ok || !o.degraded || o.backend !== 'b2'), [], 'every key read degraded from b2');
      await assert.rejects(rp.listKeys({ limit: 3 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      assert.equal(existsSync(path), false);
    } finally {
      await rp.close();
    }
  });

  it('a column dropped, a table renamed away and back, backend_usage gone: the next read looks at the schema at once, and lookups never need backend_usage', async () => {
    const path = join(dir, 'schema-changes.db');
    seed(path, ['k'], 'b1');
    const w = new Database(path);
    w.exec(`ALTER TABLE object_locations ADD COLUMN storage_key TEXT; UPDATE object_locations SET storage_key = 'k!1';
      INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, managed) VALUES ('k', 'b2', 1, '2026-01-01T00:00:00Z', 0)`);
    // No periodic recheck within the test: only what a failed statement asks for.
    const store = await SqliteMetadataStore.open({ path, schemaRecheckMs: 3_600_000 });
    const lookup = async (): Promise<unknown> => (await store.getAllObjectLocations('k')).map((l) => [l.backendName, l.storageKey ?? null]);
    try {
      assert.deepEqual(await lookup(), [['b1', 'k!1']]);
      w.exec('ALTER TABLE object_locations DROP COLUMN storage_key');
      await assert.rejects(lookup(), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /no such column: storage_key/.test((err as Error).message));
      assert.deepEqual(await lookup(), [['b1', null]], 'read with the columns the table has now');
      w.exec(`ALTER TABLE object_locations ADD COLUMN storage_key TEXT; UPDATE object_locations SET storage_key = 'k!2'`);
      w.exec('ALTER TABLE object_locations RENAME TO object_locations_away');
      await assert.rejects(lookup(), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /no such table: object_locations/.test((err as Error).message));
      await assert.rejects(store.listKeys({ limit: 5 }), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /object_locations/.test((err as Error).message));
      w.exec('ALTER TABLE object_locations_away RENAME TO object_locations');
      // Its storage key read, its unmanaged copy still left out.
      assert.deepEqual(await lookup(), [['b1', 'k!2']]);
      assert.deepEqual((await store.listKeys({ limit: 5 })).map((o) => o.key), ['k']);
      // backend_usage is the usage load's, not the lookups': they go on without it.
      w.exec('DROP TABLE backend_usage');
      w.exec(`UPDATE object_locations SET storage_key = 'k!3'`);
      await assert.rejects(store.loadUsage('2026-01'), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /backend_usage/.test((err as Error).message));
      assert.deepEqual(await lookup(), [['b1', 'k!3']]);
      assert.deepEqual(await lookup(), [['b1', 'k!3']]);
      assert.deepEqual((await store.listKeys({ limit: 5 })).map((o) => o.key), ['k']);
    } finally {
      w.close();
      await store.close();
    }
    // Nor does a read-only store's opening of a file without it.
    const ro = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      assert.deepEqual((await ro.getAllObjectLocations('k')).map((l) => l.backendName), ['b1']);
    } finally {
      await ro.close();
    }
  });
});
