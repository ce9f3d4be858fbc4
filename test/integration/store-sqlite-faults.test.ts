/**
 * The SQLite store under the faults a file shared with s3-orchestrator meets: another process
 * holding its lock, the file replaced (a backup restored by rename), deleted, emptied, damaged,
 * a schema changed under the reader.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { hasCode } from '../../src/errors.js';

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
});
