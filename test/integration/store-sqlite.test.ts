import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteMetadataStore, sqliteListKeysSql } from '../../src/stores/sqlite-store.js';
import { hasCode } from '../../src/errors.js';
import { metadataStoreSuite } from '../helpers/store-conformance.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { ReadPath } from '../../src/read-path.js';
import { UsageFlusher } from '../../src/policies/usage-flusher.js';
import { UsageTracker } from '../../src/policies/usage-tracker.js';
import { assertUndatedCopies } from '../helpers/undated-copies.js';
import { watchLoopStalls } from '../helpers/loop-stalls.js';

const dir = mkdtempSync(join(tmpdir(), 'readpath-sqlite-'));
/** The repository, where better-sqlite3 is installed (for a child that locks a database). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
after(() => rmSync(dir, { recursive: true, force: true }));

const confPath = join(dir, 'conformance.db');
metadataStoreSuite('sqlite', async () => {
  const store = await SqliteMetadataStore.open({ path: confPath });
  return { store, add: (l) => store.addLocation(l), close: () => store.close() };
});

// Upstream's SQLite schema (internal/store/sqlite/schema.sql), trimmed to the two tables
// readpath reads, with its extra columns and foreign keys kept.
const UPSTREAM_SCHEMA = `
CREATE TABLE backend_quotas (
    backend_name TEXT PRIMARY KEY, bytes_used INTEGER NOT NULL DEFAULT 0, bytes_limit INTEGER NOT NULL,
    orphan_bytes INTEGER NOT NULL DEFAULT 0, updated_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE TABLE object_locations (
    object_key TEXT NOT NULL, backend_name TEXT NOT NULL REFERENCES backend_quotas(backend_name),
    size_bytes INTEGER NOT NULL, encrypted INTEGER NOT NULL DEFAULT 0, encryption_key BLOB, key_id TEXT,
    plaintext_size INTEGER, content_hash TEXT, managed INTEGER NOT NULL DEFAULT 1, last_scrubbed_at TEXT,
    created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (object_key, backend_name));
CREATE TABLE backend_usage (
    backend_name TEXT NOT NULL REFERENCES backend_quotas(backend_name), period TEXT NOT NULL,
    api_requests INTEGER NOT NULL DEFAULT 0, egress_bytes INTEGER NOT NULL DEFAULT 0, ingress_bytes INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (backend_name, period));
INSERT INTO backend_quotas (backend_name, bytes_limit) VALUES ('b1', 0), ('b2', 0), ('b3', 0), ('b4', 0);
`;

/**
 * Upstream's indexes on object_locations: with them, SQLite reads a key's rows through the one on
 * object_key alone, in rowid (insertion) order.
 */
const UPSTREAM_INDEXES = `
CREATE INDEX idx_object_locations_backend ON object_locations(backend_name);
CREATE INDEX idx_object_locations_key_pattern ON object_locations(object_key);
CREATE INDEX idx_object_locations_created ON object_locations(created_at);
CREATE INDEX idx_object_locations_key_created ON object_locations(object_key, created_at);
`;

function upstreamDb(name: string): { path: string; db: Database.Database } {
  const path = join(dir, name);
  const db = new Database(path);
  db.exec(UPSTREAM_SCHEMA);
  return { path, db };
}

const insertRaw = (db: Database.Database, key: string, backend: string, createdAt: unknown, extra: { hash?: unknown; size?: unknown } = {}): void => {
  db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, content_hash, created_at) VALUES (?, ?, ?, ?, ?)`).run(
    key, backend, extra.size ?? 1, extra.hash ?? null, createdAt,
  );
};

describe('SqliteMetadataStore', () => {
  it('creates upstream-named tables in WAL mode in a fresh file', async () => {
    const path = join(dir, 'fresh.db');
    const store = await SqliteMetadataStore.open({ path });
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const cols = (t: string): string[] => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name);
      assert.deepEqual(cols('object_locations'), [
        'object_key', 'backend_name', 'size_bytes', 'encrypted', 'encryption_key', 'key_id', 'plaintext_size', 'content_hash', 'created_at',
      ]);
      assert.deepEqual(cols('backend_usage'), ['backend_name', 'period', 'api_requests', 'egress_bytes', 'ingress_bytes', 'updated_at']);
      const pk = (db.prepare(`PRAGMA table_info(object_locations)`).all() as { name: string; pk: number }[]).filter((c) => c.pk > 0).map((c) => c.name);
      assert.deepEqual(pk, ['object_key', 'backend_name']);
    } finally {
      db.close();
    }
  });

  it('warns when the configured file did not exist and was created empty (a mistyped database.path), and only then', async () => {
    const missing = join(dir, 'no-such-upstream.db');
    const open = async (): Promise<string[]> => {
      const warnings: string[] = [];
      const rp = await ReadPath.open({
        backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
        database: { driver: 'sqlite', path: missing }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
      }, { warn: (m) => warnings.push(m) });
      await rp.close();
      return warnings;
    };
    const first = await open();
    assert.equal(first.length, 1, first.join('\n'));
    assert.match(first[0] ?? '', /^database\.path: ".*no-such-upstream\.db" did not exist and was created empty; every key reads as not found/);
    assert.deepEqual(await open(), [], 'the file exists now: no warning');
  });

  it('reads an s3-orchestrator database unchanged, ordering RFC3339Nano timestamps by time, not text', async () => {
    const { path, db } = upstreamDb('upstream.db');
    const key = 'photos/2024/cat.jpg';
    // Text order would be b3 (" " < "T"), b1 (".5Z" < "Z"), b2, b4; time order is b4, b2, b1, b3.
    insertRaw(db, key, 'b1', '2024-01-01T00:00:05.5Z');
    insertRaw(db, key, 'b2', '2024-01-01T00:00:05Z');
    insertRaw(db, key, 'b3', '2024-01-01 00:00:06'); // SQLite's CURRENT_TIMESTAMP layout, UTC
    insertRaw(db, key, 'b4', '2024-01-01T02:00:04.999999999+02:00'); // 00:00:04.999999999Z
    db.close();
    const store = await SqliteMetadataStore.open({ path });
    try {
      const rows = await store.getAllObjectLocations(key);
      assert.deepEqual(rows.map((r) => r.backendName), ['b4', 'b2', 'b1', 'b3']);
      assert.equal(rows[0]?.createdAt.toISOString(), '2024-01-01T00:00:04.999Z');
      assert.equal(rows[2]?.createdAt.toISOString(), '2024-01-01T00:00:05.500Z');
    } finally {
      await store.close();
    }
    // The upstream tables were left alone (extra columns still there).
    const check = new Database(path, { readonly: true });
    try {
      const cols = (check.prepare(`PRAGMA table_info(object_locations)`).all() as { name: string }[]).map((c) => c.name);
      assert.ok(cols.includes('managed') && cols.includes('last_scrubbed_at'));
    } finally {
      check.close();
    }
  });

  it('orders sub-millisecond timestamps by their nanoseconds', async () => {
    const { path, db } = upstreamDb('nanos.db');
    insertRaw(db, 'k', 'b1', '2024-01-01T00:00:00.000000900Z');
    insertRaw(db, 'k', 'b2', '2024-01-01T00:00:00.0000001Z');
    db.close();
    const store = await SqliteMetadataStore.open({ path });
    try {
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b2', 'b1']);
    } finally {
      await store.close();
    }
  });

  it('reads a NULL created_at: that copy after the dated ones, at the newest one\'s time (the epoch when none is dated), in lookups and listings', async () => {
    const { path, db } = upstreamDb('null-dates.db');
    db.exec(UPSTREAM_INDEXES);
    insertRaw(db, 'mixed', 'b1', null, { size: 1 });
    insertRaw(db, 'mixed', 'b2', '2024-01-01T00:00:07Z', { size: 2 });
    insertRaw(db, 'mixed', 'b3', '2024-01-01T00:00:06Z', { size: 3 });
    insertRaw(db, 'undated', 'b3', null, { size: 3 });
    insertRaw(db, 'undated', 'b2', null, { size: 2 });
    insertRaw(db, 'alone', 'b1', null, { size: 1 });
    db.close();
    const store = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      await assertUndatedCopies(store);
    } finally {
      await store.close();
    }
  });

  it('breaks created_at ties by backend name in lookups and listings alike, whatever order upstream\'s indexes return them in', async () => {
    const { path, db } = upstreamDb('ties.db');
    db.exec(UPSTREAM_INDEXES);
    // Inserted out of name order (rowid order b3, b1, b2), at one instant written two ways, plus
    // an undated pair: with upstream's index on object_key alone, equal rows come in rowid order.
    insertRaw(db, 'tied', 'b3', '2024-01-01T00:00:05Z', { size: 3 });
    insertRaw(db, 'tied', 'b1', '2024-01-01T00:00:05.000Z', { size: 1 });
    insertRaw(db, 'tied', 'b2', '2024-01-01T00:00:05Z', { size: 2 });
    insertRaw(db, 'tied', 'b4', '2024-01-01T00:00:06Z', { size: 4 });
    insertRaw(db, 'undated', 'b4', null, { size: 4 });
    insertRaw(db, 'undated', 'b2', null, { size: 2 });
    db.close();
    const store = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      assert.deepEqual((await store.getAllObjectLocations('tied')).map((r) => r.backendName), ['b1', 'b2', 'b3', 'b4']);
      assert.deepEqual((await store.getAllObjectLocations('undated')).map((r) => r.backendName), ['b2', 'b4']);
      const [tied, undated] = await Promise.all([store.getAllObjectLocations('tied'), store.getAllObjectLocations('undated')]);
      assert.deepEqual([tied?.[0]?.backendName, undated?.[0]?.backendName], ['b1', 'b2']);
      assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => [o.key, o.size]), [['tied', 1], ['undated', 2]]);
    } finally {
      await store.close();
    }
  });

  it('answers METADATA_ERROR naming key, backend and column for a malformed row, and keeps serving other keys', async () => {
    const { path, db } = upstreamDb('malformed.db');
    insertRaw(db, 'bad-date', 'b1', 'yesterday-ish');
    insertRaw(db, 'bad-date', 'b2', '2024-01-01T00:00:00Z');
    insertRaw(db, 'bad-feb', 'b1', '2023-02-29T00:00:00Z');
    insertRaw(db, 'bad-hash', 'b1', '2024-01-01T00:00:00Z', { hash: 'not-hex' });
    insertRaw(db, 'bad-size', 'b1', '2024-01-01T00:00:00Z', { size: 'big' });
    insertRaw(db, 'good', 'b1', '2024-01-01T00:00:00Z', { hash: 'AB'.repeat(32) });
    db.close();
    const store = await SqliteMetadataStore.open({ path });
    try {
      const expectBad = async (key: string, column: string): Promise<void> => {
        await assert.rejects(store.getAllObjectLocations(key), (err: unknown) => {
          assert.ok(hasCode(err, 'METADATA_ERROR'), String(err));
          const msg = (err as Error).message;
          assert.ok(msg.includes(JSON.stringify(key)), msg);
          assert.ok(msg.includes(`column ${column}`), msg);
          assert.ok(msg.includes('"b1"'), msg);
          return true;
        });
      };
      await expectBad('bad-date', 'created_at');
      await expectBad('bad-feb', 'created_at');
      await expectBad('bad-hash', 'content_hash');
      await expectBad('bad-size', 'size_bytes');
      const [good] = await store.getAllObjectLocations('good');
      assert.equal(good?.contentHash, 'ab'.repeat(32)); // normalised to lower case
      // Listing: a page holding a bad row fails naming key and column; others list.
      const expectBadPage = async (prefix: string, key: string, column: string): Promise<void> => {
        await assert.rejects(store.listKeys({ prefix, limit: 10 }), (err: unknown) => {
          assert.ok(hasCode(err, 'METADATA_ERROR'), String(err));
          const msg = (err as Error).message;
          assert.ok(msg.includes(JSON.stringify(key)) && msg.includes(`column ${column}`), msg);
          return true;
        });
      };
      await expectBadPage('bad-d', 'bad-date', 'created_at');
      await expectBadPage('bad-s', 'bad-size', 'size_bytes');
      // A malformed content hash gives its entry no derived ETag, and fails no page (its reads answer the error).
      const badHash = await store.listKeys({ prefix: 'bad-h', limit: 10 });
      assert.deepEqual(badHash.map((o) => [o.key, o.etag]), [['bad-hash', undefined]]);
      assert.deepEqual((await store.listKeys({ prefix: 'good', limit: 10 })).map((o) => [o.key, o.lastModified.toISOString()]), [
        ['good', '2024-01-01T00:00:00.000Z'],
      ]);
    } finally {
      await store.close();
    }
  });

  it('answers DB_UNAVAILABLE when the file cannot be opened, and recovers once it can', async () => {
    const missingDir = join(dir, 'not-yet');
    const path = join(missingDir, 'later.db');
    await assert.rejects(SqliteMetadataStore.open({ path }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    const lazy = new SqliteMetadataStore({ path });
    try {
      await assert.rejects(lazy.getAllObjectLocations('k'), (err: unknown) => {
        assert.ok(hasCode(err, 'DB_UNAVAILABLE'));
        assert.equal((err as { httpStatus?: number }).httpStatus, 503);
        return true;
      });
      await assert.rejects(lazy.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      (await import('node:fs')).mkdirSync(missingDir);
      await assert.rejects(lazy.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
      assert.deepEqual(await lazy.listKeys({ limit: 10 }), []);
    } finally {
      await lazy.close();
    }
  });

  it('answers DB_UNAVAILABLE for a file that is not a database', async () => {
    const path = join(dir, 'garbage.db');
    writeFileSync(path, Buffer.alloc(4096, 0x42));
    await assert.rejects(SqliteMetadataStore.open({ path }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
  });

  it('answers DB_UNAVAILABLE after close; close is idempotent', async () => {
    const store = await SqliteMetadataStore.open({ path: join(dir, 'closed.db') });
    await store.close();
    await store.close();
    await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
  });

  it('answers DB_UNAVAILABLE to a listing when the file turns out not to be a database', async () => {
    const path = join(dir, 'garbage-lazy.db');
    writeFileSync(path, Buffer.alloc(4096, 0x42));
    const store = new SqliteMetadataStore({ path, readonly: true });
    try {
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    } finally {
      await store.close();
    }
  });

  it('lists an s3-orchestrator database: first copy by parsed instant (not text), bytewise order, through the primary key', async () => {
    const { path, db } = upstreamDb('upstream-list.db');
    // Text order of created_at would pick b1 (".5Z" < "Z"); time order picks b4.
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('k', 'b1', 1, '2024-01-01T00:00:05.5Z');
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('k', 'b2', 2, '2024-01-01T00:00:05Z');
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('k', 'b3', 3, '2024-01-01 00:00:06');
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('k', 'b4', 4, '2024-01-01T02:00:04.999999999+02:00');
    // Same millisecond: the nanoseconds decide.
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('n', 'b1', 1, '2024-01-01T00:00:00.000000900Z');
    db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, ?, ?, ?)`).run('n', 'b2', 2, '2024-01-01T00:00:00.0000001Z');
    for (const key of ['\u{1F600}', '\uFFFD', 'Z', 'a']) {
      db.prepare(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES (?, 'b1', 1, '2024-01-01T00:00:00Z')`).run(key);
    }
    // Every variant reads a range of the primary key's index (no scan, no sort).
    for (const [inclusive, bounded] of [[true, true], [true, false], [false, true], [false, false]] as const) {
      const args = bounded ? ['a', 'b', 5] : ['a', 5];
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sqliteListKeysSql(inclusive, bounded)}`).all(...args) as { detail: string }[]).map((r) => r.detail);
      // (SQLite prints `>=` as `>` here.)
      const range = `object_key>?${bounded ? ' AND object_key<?' : ''}`;
      assert.ok(plan.includes(`SEARCH object_locations USING COVERING INDEX sqlite_autoindex_object_locations_1 (${range})`), plan.join('\n'));
      assert.ok(plan.includes('SEARCH object_locations USING INDEX sqlite_autoindex_object_locations_1 (object_key=?)'), plan.join('\n'));
      assert.ok(!plan.some((d) => /^SCAN|TEMP B-TREE/.test(d)), plan.join('\n'));
    }
    db.close();
    const store = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      const listed = await store.listKeys({ limit: 10 });
      assert.deepEqual(listed.map((o) => [o.key, o.size]), [['Z', 1], ['a', 1], ['k', 4], ['n', 2], ['\uFFFD', 1], ['\u{1F600}', 1]]);
      assert.equal(listed[2]?.lastModified.toISOString(), '2024-01-01T00:00:04.999Z');
    } finally {
      await store.close();
    }
  });

  it('a key that is not valid UTF-8 (upstream keeps the bytes its clients sent) stops a listing with METADATA_ERROR, never the same page again and again', async () => {
    const { path, db } = upstreamDb('upstream-bad-utf8.db');
    db.exec(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES
      ('a/z', 'b1', 1, '2024-01-01T00:00:00Z'),
      (CAST(x'612FFE' AS TEXT), 'b1', 1, '2024-01-01T00:00:00Z'),
      (CAST(x'612FFF' AS TEXT), 'b1', 1, '2024-01-01T00:00:00Z')`);
    db.close();
    const store = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      const seen: string[] = [];
      const walk = async (): Promise<void> => {
        let after: string | undefined;
        for (let page = 0; page < 10; page++) {
          const got = await store.listKeys({ prefix: 'a/', limit: 1, ...(after === undefined ? {} : { startAfter: after }) });
          if (got.length === 0) return;
          seen.push(...got.map((o) => o.key));
          after = got[got.length - 1]?.key;
        }
        assert.fail(`a listing that never ends: ${JSON.stringify(seen)}`);
      };
      await assert.rejects(walk(), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /not valid UTF-8/.test((err as Error).message));
      assert.deepEqual(seen, ['a/z', 'a/\uFFFD']);
    } finally {
      await store.close();
    }
  });

  it('refuses to list a UTF-16 database (its BINARY order is not S3 order)', async () => {
    const path = join(dir, 'utf16.db');
    const db = new Database(path);
    db.pragma('encoding = "UTF-16le"');
    db.exec(`CREATE TABLE object_locations (object_key TEXT NOT NULL, backend_name TEXT NOT NULL, size_bytes INTEGER NOT NULL,
      encrypted INTEGER NOT NULL DEFAULT 0, encryption_key BLOB, key_id TEXT, plaintext_size INTEGER, content_hash TEXT, created_at TEXT,
      PRIMARY KEY (object_key, backend_name))`);
    db.close();
    const store = await SqliteMetadataStore.open({ path });
    try {
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /UTF-8/.test((err as Error).message));
    } finally {
      await store.close();
    }
  });

  it('opens read-only without writing, and refuses writes there', async () => {
    const { path, db } = upstreamDb('ro.db');
    insertRaw(db, 'k', 'b1', '2024-01-01T00:00:00Z');
    db.close();
    const store = await SqliteMetadataStore.open({ path, readonly: true });
    try {
      assert.equal((await store.getAllObjectLocations('k')).length, 1);
      await assert.rejects(
        store.addLocation({ objectKey: 'k2', backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false }),
        (err: unknown) => hasCode(err, 'METADATA_ERROR'),
      );
    } finally {
      await store.close();
    }
  });

  it('warns once of object_locations columns it does not know; none for a current upstream schema', async () => {
    const known = join(dir, 'upstream-known.db');
    upstreamSqlite(known).close();
    const future = join(dir, 'upstream-future.db');
    const db = upstreamSqlite(future);
    db.insert({ objectKey: 'k', backendName: 'b1', sizeBytes: 1, createdAt: new Date(1), encrypted: false });
    db.close();
    const raw = new Database(future);
    raw.exec(`ALTER TABLE object_locations ADD COLUMN dedup_ref TEXT; ALTER TABLE object_locations ADD COLUMN chunk_codec TEXT`);
    raw.close();
    const seen: string[][] = [];
    for (const [path, want] of [[known, []], [future, [['dedup_ref', 'chunk_codec']]]] as const) {
      seen.length = 0;
      const store = await SqliteMetadataStore.open({ path, onUnknownColumns: (c) => seen.push(c) });
      try {
        if (path === future) assert.equal((await store.getAllObjectLocations('k')).length, 1, 'reads go on');
        await store.getAllObjectLocations('k').catch(() => undefined);
        assert.deepEqual(seen, want, path);
      } finally {
        await store.close();
      }
    }
    // Through ReadPath.open: the configured database's unknown columns are one warning.
    const warnings: string[] = [];
    const rp = await ReadPath.open({
      backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
      database: { driver: 'sqlite', path: future }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
    }, { warn: (m) => warnings.push(m) });
    await rp.close();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /object_locations has columns this readpath does not know: dedup_ref, chunk_codec\. A newer s3-orchestrator/);
  });

  it('reads the columns and tables upstream adds while the file is open (a migration mid-run)', async () => {
    const { path, db } = upstreamDb('migrated-mid-run.db');
    insertRaw(db, 'k', 'b1', '2026-01-01T00:00:00Z', { size: 10 });
    const migrate = (): void => void db.exec(`
      ALTER TABLE object_locations ADD COLUMN compression_algorithm TEXT;
      ALTER TABLE object_locations ADD COLUMN logical_size INTEGER;
      ALTER TABLE object_locations ADD COLUMN compression_format_version INTEGER;
      ALTER TABLE object_locations ADD COLUMN etag TEXT;
      ALTER TABLE object_locations ADD COLUMN content_type TEXT;
      ALTER TABLE object_locations ADD COLUMN dedup_ref TEXT;
      CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key));
      UPDATE object_locations SET compression_algorithm = 'zstd', logical_size = 25, compression_format_version = 1, etag = '"e1"', content_type = 'text/plain';
      INSERT INTO object_tags VALUES ('k', 'team', 'a'), ('k', 'env', 'b');`);
    // Checked on every call: the statements follow the schema as soon as it changes.
    const unknown: string[][] = [];
    const store = await SqliteMetadataStore.open({ path, schemaRecheckMs: 0, onUnknownColumns: (c) => unknown.push(c) });
    // Not checked again within the hour: what the statements were prepared with stays.
    const lazy = await SqliteMetadataStore.open({ path, schemaRecheckMs: 3_600_000 });
    try {
      for (const s of [store, lazy]) {
        const [before] = await s.getAllObjectLocations('k');
        assert.equal(before?.etag ?? null, null);
        assert.equal(before?.compression ?? null, null);
        assert.equal(before?.tagCount, undefined);
      }
      assert.deepEqual(await store.getObjectTags('k'), []);
      assert.deepEqual(unknown, []);
      migrate();
      const [after] = await store.getAllObjectLocations('k');
      assert.deepEqual(unknown, [['dedup_ref']], 'a column the migration added that readpath does not know is warned of');
      assert.equal(after?.compression, 'zstd');
      assert.equal(after?.logicalSize, 25);
      assert.equal(after?.etag, '"e1"');
      assert.equal(after?.contentType, 'text/plain');
      assert.equal(after?.tagCount, 2);
      assert.deepEqual(await store.getObjectTags('k'), [{ key: 'env', value: 'b' }, { key: 'team', value: 'a' }]);
      assert.deepEqual(await store.listKeys({ limit: 10 }), [{ key: 'k', size: 25, lastModified: new Date('2026-01-01T00:00:00Z'), etag: '"e1"' }]);
      // Several lookups in one turn go through the batched statement: prepared anew too.
      const many = await Promise.all([lazy, store, store].map((s) => s.getAllObjectLocations('k')));
      assert.equal(many[0]?.[0]?.compression ?? null, null, 'the lazy store has not looked yet');
      assert.equal(many[1]?.[0]?.compression, 'zstd');
      assert.equal(many[2]?.[0]?.tagCount, 2);
    } finally {
      db.close();
      await store.close();
      await lazy.close();
    }
    assert.throws(() => new SqliteMetadataStore({ path, schemaRecheckMs: -1 }), (err: unknown) => hasCode(err, 'INVALID_CONFIG') && /schemaRecheckMs/.test((err as Error).message));
  });

  it('rejects invalid locations before writing any of a batch', async () => {
    const store = await SqliteMetadataStore.open({ path: join(dir, 'batch.db') });
    try {
      const good = { objectKey: 'ok', backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false };
      await assert.rejects(store.addLocations([good, { ...good, objectKey: 'bad', createdAt: new Date('nope') }]), /createdAt must be a valid Date/);
      await assert.rejects(store.addLocations([good, { ...good, objectKey: 'bad2', contentHash: 'xyz' }]), /contentHash/);
      await assert.rejects(store.getAllObjectLocations('ok'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
    } finally {
      await store.close();
    }
  });
});

describe('SqliteMetadataStore usage', () => {
  let path: string;
  before(() => {
    path = join(dir, 'usage.db');
  });

  it('adds deltas to backend_usage and loads one period', async () => {
    const store = await SqliteMetadataStore.open({ path });
    try {
      assert.equal((await store.loadUsage('2024-03')).size, 0);
      await store.flushUsage([
        { backendName: 'b1', period: '2024-03', apiRequests: 2, egressBytes: 100, ingressBytes: 0 },
        { backendName: 'b2', period: '2024-03', apiRequests: 1, egressBytes: 0, ingressBytes: 7 },
        { backendName: 'b1', period: '2024-02', apiRequests: 9, egressBytes: 9, ingressBytes: 9 },
      ]);
      await store.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 3, egressBytes: 2 ** 40, ingressBytes: 1 }]);
      const m = await store.loadUsage('2024-03');
      assert.deepEqual(m.get('b1'), { apiRequests: 5, egressBytes: 100 + 2 ** 40, ingressBytes: 1 });
      assert.deepEqual(m.get('b2'), { apiRequests: 1, egressBytes: 0, ingressBytes: 7 });
      assert.equal(m.size, 2);
    } finally {
      await store.close();
    }
  });

  it('writes a flush all or nothing', async () => {
    const store = await SqliteMetadataStore.open({ path: join(dir, 'usage-atomic.db') });
    try {
      await assert.rejects(
        store.flushUsage([
          { backendName: 'b1', period: '2024-03', apiRequests: 1, egressBytes: 0, ingressBytes: 0 },
          { backendName: 'b1', period: 'March', apiRequests: 1, egressBytes: 0, ingressBytes: 0 },
        ]),
        /YYYY-MM/,
      );
      assert.equal((await store.loadUsage('2024-03')).size, 0);
    } finally {
      await store.close();
    }
  });

  it('a periodic usage flush waits only briefly for the write lock upstream holds (the thread would stop for the whole wait); the final flush waits for it off the thread', async () => {
    const { path: up, db } = upstreamDb('upstream-busy.db');
    db.pragma('journal_mode = WAL');
    db.close();
    const store = await SqliteMetadataStore.open({ path: up });
    // Upstream, in another process, holds the write lock for 3 s once it says so.
    const holder = spawn(process.execPath, ['-e', `
      const Database = require('better-sqlite3');
      const db = new Database(${JSON.stringify(up)});
      db.exec('BEGIN IMMEDIATE');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 3000);
    `], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve(); });
        holder.once('exit', (code) => reject(new Error(`the lock holder exited (${String(code)}) before locking`)));
      });
      const delta = { backendName: 'b1', period: '2024-03', apiRequests: 2, egressBytes: 0, ingressBytes: 0 };
      await assert.rejects(store.flushUsage([delta]), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE') && /SQLITE_BUSY/.test((err as Error).message), 'gave up while the lock is held');
      // The final flush (and a location upsert, which may wait too) waits out the rest of the 3 s,
      // and the event loop keeps turning meanwhile (waited on the thread, it stopped for all of it).
      const loop = watchLoopStalls();
      let stalledMs: number;
      try {
        await Promise.all([
          store.flushUsage([delta], { final: true }),
          store.addLocation({ objectKey: 'after-lock', backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false }),
        ]);
      } finally {
        stalledMs = loop.stop();
      }
      assert.ok(stalledMs < 1000, `the event loop stopped for ${Math.round(stalledMs)} ms`);
      assert.equal((await store.loadUsage('2024-03')).get('b1')?.apiRequests, 2, 'written once the lock was released');
      assert.deepEqual((await store.getAllObjectLocations('after-lock')).map((l) => l.backendName), ['b1']);
    } finally {
      holder.kill();
      await store.close();
    }
  });

  it('flushes into an upstream database whose backend_usage has foreign keys', async () => {
    const { path: up, db } = upstreamDb('upstream-usage.db');
    db.close();
    const store = await SqliteMetadataStore.open({ path: up });
    try {
      await store.flushUsage([{ backendName: 'b1', period: '2024-03', apiRequests: 4, egressBytes: 0, ingressBytes: 0 }]);
      assert.equal((await store.loadUsage('2024-03')).get('b1')?.apiRequests, 4);
      // A backend upstream's backend_quotas does not hold is refused by the foreign key; through
      // the flusher it holds back only its own usage.
      const tracker = new UsageTracker({ now: () => new Date('2024-03-15T00:00:00Z') });
      const told: string[] = [];
      const flusher = new UsageFlusher({ tracker, store, onError: (e) => told.push((e as Error).message) });
      tracker.record('b2', 3, 0, 0);
      tracker.record('b9', 5, 0, 0);
      await assert.rejects(flusher.flush(), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /FOREIGN KEY/.test((err as Error).message));
      assert.equal((await store.loadUsage('2024-03')).get('b2')?.apiRequests, 3, 'b2 written');
      assert.equal((await store.loadUsage('2024-03')).get('b9'), undefined);
      assert.equal(told.length, 1);
      assert.equal(tracker.usage('b9').apiRequests, 5, 'b9 still counted here');
      await flusher.close();
    } finally {
      await store.close();
    }
  });
});
