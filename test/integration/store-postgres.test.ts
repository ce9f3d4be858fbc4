import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { PostgresMetadataStore, isPostgresUnavailable, postgresListKeysSql, postgresLookupManySql, postgresPoolConfig } from '../../src/stores/postgres-store.js';
import { hasCode } from '../../src/errors.js';
import { freePort, PgCluster, withClient } from '../helpers/pg-cluster.js';
import { metadataStoreSuite } from '../helpers/store-conformance.js';
import { assertUndatedCopies } from '../helpers/undated-copies.js';

let cluster: PgCluster;
before(async () => {
  cluster = await PgCluster.create();
});
after(async () => {
  await cluster?.destroy();
});

metadataStoreSuite('postgres', async () => {
  const store = new PostgresMetadataStore({ url: cluster.url(), max_conns: 4 });
  return { store, add: (l) => store.addLocation(l), close: () => store.close() };
});

/** A database whose default collation is ICU's en-US: text does not sort bytewise there. */
async function createIcuDatabase(name: string): Promise<string> {
  await withClient(cluster.url(), (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`));
  return cluster.url(name);
}

// The same suite where listings must compare under COLLATE "C" (the table created here gets an
// index for it).
let icuUrl: string | undefined;
metadataStoreSuite('postgres, ICU collation', async () => {
  icuUrl ??= await createIcuDatabase('conformance_icu');
  const store = new PostgresMetadataStore({ url: icuUrl, max_conns: 4 });
  return { store, add: (l) => store.addLocation(l), close: () => store.close() };
});

// Upstream's PostgreSQL schema for the two tables readpath reads (00001_init_schema.sql plus
// the encryption and content_hash migrations), foreign keys included.
const UPSTREAM_SCHEMA = `
CREATE TABLE backend_quotas (backend_name TEXT PRIMARY KEY, bytes_used BIGINT NOT NULL DEFAULT 0,
  bytes_limit BIGINT NOT NULL, updated_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE object_locations (object_key TEXT NOT NULL, backend_name TEXT NOT NULL REFERENCES backend_quotas(backend_name),
  size_bytes BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW(), PRIMARY KEY (object_key, backend_name));
ALTER TABLE object_locations ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT FALSE, ADD COLUMN encryption_key BYTEA,
  ADD COLUMN key_id TEXT, ADD COLUMN plaintext_size BIGINT;
ALTER TABLE object_locations ADD COLUMN content_hash TEXT;
CREATE TABLE backend_usage (backend_name TEXT NOT NULL REFERENCES backend_quotas(backend_name), period TEXT NOT NULL,
  api_requests BIGINT NOT NULL DEFAULT 0, egress_bytes BIGINT NOT NULL DEFAULT 0, ingress_bytes BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), PRIMARY KEY (backend_name, period));
INSERT INTO backend_quotas (backend_name, bytes_limit) VALUES ('b1', 0), ('b2', 0);
`;

/**
 * Upstream's index for its listings (00006): with it, a key's rows can come in created_at order
 * straight from the index, equal timestamps in heap order.
 */
const UPSTREAM_KEY_CREATED_INDEX = `CREATE INDEX idx_object_locations_key_created ON object_locations(object_key, created_at)`;

/** Seed `n` keys of two copies each, and let the planner know the table's size. */
async function seedForPlans(c: pg.Client, n: number): Promise<void> {
  await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at)
    SELECT 'k/' || lpad(i::text, 6, '0'), b, i, now() FROM generate_series(1, $1::int) i, (VALUES ('b1'), ('b2')) v(b)`, [n]);
  await c.query('VACUUM ANALYZE object_locations');
}

/** The plan of one listing statement: a page of 1000 keys in a table of many more. */
async function listingPlan(c: pg.Client, collateC: boolean, inclusive: boolean, bounded: boolean): Promise<string> {
  const values = bounded ? ['k/001000', 1000, 'k0'] : ['k/001000', 1000];
  const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${postgresListKeysSql(collateC, inclusive, bounded)}`, values);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

describe('PostgresMetadataStore', () => {
  it('creates upstream-named tables when absent', async () => {
    const url = await cluster.createDatabase('fresh');
    const store = await PostgresMetadataStore.open({ url });
    await store.close();
    const cols = await withClient(url, async (c) => {
      const q = async (t: string): Promise<string[]> =>
        (await c.query<{ column_name: string; data_type: string }>(
          `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [t],
        )).rows.map((r) => `${r.column_name}:${r.data_type}`);
      return { ol: await q('object_locations'), bu: await q('backend_usage') };
    });
    assert.deepEqual(cols.ol, [
      'object_key:text', 'backend_name:text', 'size_bytes:bigint', 'encrypted:boolean', 'encryption_key:bytea', 'key_id:text',
      'plaintext_size:bigint', 'content_hash:text', 'created_at:timestamp with time zone',
    ]);
    assert.deepEqual(cols.bu, [
      'backend_name:text', 'period:text', 'api_requests:bigint', 'egress_bytes:bigint', 'ingress_bytes:bigint', 'updated_at:timestamp with time zone',
    ]);
  });

  it('creates the tables once when several stores start together', async () => {
    const url = await cluster.createDatabase('racing');
    const stores = Array.from({ length: 4 }, () => new PostgresMetadataStore({ url, max_conns: 2 }));
    try {
      const results = await Promise.allSettled(stores.map((s) => s.getAllObjectLocations('k')));
      for (const r of results) assert.ok(r.status === 'rejected' && hasCode(r.reason, 'OBJECT_NOT_FOUND'), String((r as PromiseRejectedResult).reason));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('reads an s3-orchestrator database unchanged, ordered by the full-precision timestamp', async () => {
    const url = await cluster.createDatabase('upstream');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, content_hash, encrypted, encryption_key)
        VALUES ('k', 'b1', 5, '2024-01-01 00:00:00.000900+00', NULL, true, '\\x00ff10'),
               ('k', 'b2', 5, '2024-01-01 00:00:00.000100+00', '${'c'.repeat(64)}', false, NULL)`);
    });
    const store = new PostgresMetadataStore({ url });
    try {
      const rows = await store.getAllObjectLocations('k');
      // Both fall in the same millisecond: the server's microsecond order decides.
      assert.deepEqual(rows.map((r) => r.backendName), ['b2', 'b1']);
      assert.deepEqual([...(rows[1]?.encryptionKey ?? [])], [0, 255, 16]);
      assert.equal(Object.getPrototypeOf(rows[1]?.encryptionKey), Uint8Array.prototype);
      assert.equal(rows[0]?.contentHash, 'c'.repeat(64));
      assert.equal(typeof rows[0]?.sizeBytes, 'number');
      // Usage flushes into upstream's backend_usage (backends exist in backend_quotas).
      await store.flushUsage([{ backendName: 'b1', period: '2024-01', apiRequests: 2, egressBytes: 3, ingressBytes: 4 }]);
      assert.deepEqual((await store.loadUsage('2024-01')).get('b1'), { apiRequests: 2, egressBytes: 3, ingressBytes: 4 });
    } finally {
      await store.close();
    }
  });

  it('reads a NULL created_at: that copy after the dated ones (NULLS LAST), at the newest one\'s time (the epoch when none is dated), in lookups and listings', async () => {
    const url = await cluster.createDatabase('null_dates');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(UPSTREAM_KEY_CREATED_INDEX);
      await c.query(`INSERT INTO backend_quotas (backend_name, bytes_limit) VALUES ('b3', 0)`);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES
        ('mixed', 'b1', 1, NULL), ('mixed', 'b2', 2, '2024-01-01 00:00:07.000250+00'), ('mixed', 'b3', 3, '2024-01-01 00:00:06+00'),
        ('undated', 'b3', 3, NULL), ('undated', 'b2', 2, NULL), ('alone', 'b1', 1, NULL)`);
    });
    const store = new PostgresMetadataStore({ url, max_conns: 2 });
    try {
      await assertUndatedCopies(store);
    } finally {
      await store.close();
    }
  });

  for (const icu of [false, true]) {
    it(`breaks created_at ties by backend name in byte order, in lookups and listings alike${icu ? ' (ICU collation)' : ''}`, async () => {
      const url = icu ? await createIcuDatabase('ties_icu') : await cluster.createDatabase('ties');
      await withClient(url, async (c) => {
        await c.query(UPSTREAM_SCHEMA);
        await c.query(UPSTREAM_KEY_CREATED_INDEX);
        await c.query(`INSERT INTO backend_quotas (backend_name, bytes_limit) VALUES ('B3', 0)`);
        // Heap order b2, b1, B3; the collation's (en-US) b1, b2, B3; byte order B3, b1, b2.
        await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES
          ('tied', 'b2', 2, '2024-01-01 00:00:05.123456+00'), ('tied', 'b1', 1, '2024-01-01 00:00:05.123456+00'),
          ('tied', 'B3', 3, '2024-01-01 00:00:05.123456+00'),
          ('undated', 'b2', 2, NULL), ('undated', 'b1', 1, NULL), ('undated', 'B3', 3, NULL)`);
        await c.query('ANALYZE object_locations');
      });
      const store = new PostgresMetadataStore({ url, max_conns: 2 });
      try {
        const backends = (rows: import('../../src/types.js').ObjectLocation[]): string[] => rows.map((r) => r.backendName);
        assert.deepEqual(backends(await store.getAllObjectLocations('tied')), ['B3', 'b1', 'b2']);
        assert.deepEqual(backends(await store.getAllObjectLocations('undated')), ['B3', 'b1', 'b2']);
        const together = await Promise.all(['tied', 'undated'].map((k) => store.getAllObjectLocations(k)));
        assert.deepEqual(together.map(backends), [['B3', 'b1', 'b2'], ['B3', 'b1', 'b2']]);
        assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => [o.key, o.size]), [['tied', 3], ['undated', 3]]);
      } finally {
        await store.close();
      }
    });
  }

  it('reads upstream\'s storage_key where the table has it (and not where it does not), and skips unmanaged rows', async () => {
    const url = await cluster.createDatabase('upstream_storage_key');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('k', 'b1', 5, '2024-01-01 00:00:01+00'), ('k', 'b2', 5, '2024-01-01 00:00:02+00')`);
    });
    // Before upstream's migration: no column, the bytes are at the object key.
    let store = new PostgresMetadataStore({ url });
    try {
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.storageKey), [undefined, undefined]);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      // Upstream's migration 00032: the column, backfilled with the object key; then a new write of b1.
      await c.query(`ALTER TABLE object_locations ADD COLUMN storage_key TEXT NOT NULL DEFAULT ''`);
      await c.query(`UPDATE object_locations SET storage_key = object_key`);
      await c.query(`UPDATE object_locations SET storage_key = 'k!01JB7Q' WHERE backend_name = 'b1'`);
    });
    store = new PostgresMetadataStore({ url });
    try {
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.storageKey), ['k!01JB7Q', undefined]);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      // Upstream's managed column: unmanaged rows are kept for their quota, never listed or served.
      await c.query(`ALTER TABLE object_locations ADD COLUMN managed BOOLEAN NOT NULL DEFAULT TRUE`);
      await c.query(`UPDATE object_locations SET managed = false WHERE backend_name = 'b1'`);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, storage_key, managed)
        VALUES ('j', 'b1', 3, '2024-01-01 00:00:03+00', 'j', false), ('j', 'b2', 3, '2024-01-01 00:00:04+00', 'j', false),
               ('m', 'b1', 4, '2024-01-01 00:00:05+00', 'm', true)`);
    });
    store = new PostgresMetadataStore({ url });
    try {
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b2']);
      await assert.rejects(store.getAllObjectLocations('j'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
      const listed = await store.listKeys({ prefix: '', limit: 10 });
      assert.deepEqual(listed.map((o) => [o.key, o.lastModified.toISOString()]), [['k', '2024-01-01T00:00:02.000Z'], ['m', '2024-01-01T00:00:05.000Z']]);
      assert.deepEqual((await store.listKeys({ prefix: '', startAfter: 'k', limit: 1 })).map((o) => o.key), ['m'], 'j takes no place in the page');
    } finally {
      await store.close();
    }
  });

  it('reads upstream\'s compression and identity columns where the table has them: logical sizes, ETags and types', async () => {
    const url = await cluster.createDatabase('upstream_compression');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('z', 'b1', 40, '2024-01-01 00:00:01+00'), ('p', 'b1', 7, '2024-01-01 00:00:02+00')`);
    });
    let store = new PostgresMetadataStore({ url });
    try {
      assert.deepEqual((await store.getAllObjectLocations('z')).map((r) => [r.compression, r.logicalSize]), [[undefined, undefined]]);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      // Upstream's migration: four nullable columns; NULL (or '') means stored verbatim.
      await c.query(`ALTER TABLE object_locations ADD COLUMN compression_algorithm TEXT, ADD COLUMN compression_level TEXT,
        ADD COLUMN compression_format_version SMALLINT, ADD COLUMN logical_size BIGINT`);
      await c.query(`UPDATE object_locations SET compression_algorithm = 'zstd', compression_level = 'default', compression_format_version = 1, logical_size = 1000 WHERE object_key = 'z'`);
      await c.query(`UPDATE object_locations SET compression_algorithm = '' WHERE object_key = 'p'`);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, compression_algorithm, logical_size)
        VALUES ('bad', 'b1', 9, '2024-01-01 00:00:03+00', 'zstd', NULL)`);
    });
    store = new PostgresMetadataStore({ url });
    try {
      assert.deepEqual((await store.getAllObjectLocations('z')).map((r) => [r.compression, r.logicalSize, r.compressionVersion, r.sizeBytes]), [['zstd', 1000, 1, 40]]);
      assert.deepEqual((await store.getAllObjectLocations('p')).map((r) => [r.compression, r.sizeBytes]), [[undefined, 7]]);
      // A compressed row without its logical size cannot say how big the object is.
      await assert.rejects(store.getAllObjectLocations('bad'), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /logical_size/.test(String(err)));
      assert.deepEqual((await store.listKeys({ prefix: 'p', limit: 5 })).map((o) => [o.key, o.size]), [['p', 7]]);
      assert.deepEqual((await store.listKeys({ prefix: 'z', limit: 5 })).map((o) => [o.key, o.size]), [['z', 1000]]);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      // Upstream's object-identity migration: nullable etag, content_type, user_metadata (JSONB).
      await c.query(`ALTER TABLE object_locations ADD COLUMN etag TEXT, ADD COLUMN content_type TEXT, ADD COLUMN user_metadata JSONB`);
      await c.query(`UPDATE object_locations SET etag = '"0cc175b9c0f1b6a831c399e269772661"', content_type = 'application/json', user_metadata = '{"owner": "team-a"}' WHERE object_key = 'z'`);
      await c.query(`UPDATE object_locations SET logical_size = 5, user_metadata = '{"n": 1}' WHERE object_key = 'bad'`);
    });
    // Every column so far is one readpath knows: no warning.
    const unknown: string[][] = [];
    store = new PostgresMetadataStore({ url, onUnknownColumns: (c) => unknown.push(c) });
    try {
      await store.getAllObjectLocations('z');
      assert.equal(unknown.length, 0, JSON.stringify(unknown));
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      await c.query(`ALTER TABLE object_locations ADD COLUMN dedup_ref TEXT`);
    });
    store = new PostgresMetadataStore({ url, onUnknownColumns: (c) => unknown.push(c) });
    try {
      assert.deepEqual((await store.getAllObjectLocations('z')).map((r) => [r.etag, r.contentType, r.logicalSize, r.userMetadata]), [['"0cc175b9c0f1b6a831c399e269772661"', 'application/json', 1000, { owner: 'team-a' }]]);
      assert.deepEqual((await store.getAllObjectLocations('p')).map((r) => ['etag' in r, 'contentType' in r, 'userMetadata' in r]), [[false, false, false]]);
      // JSONB that is not an object of strings (no upstream writes one) names its column.
      await assert.rejects(store.getAllObjectLocations('bad'), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /user_metadata/.test(String(err)));
      assert.deepEqual((await store.listKeys({ prefix: 'p', limit: 5 })).map((o) => [o.key, o.size, o.etag]), [['p', 7, undefined]]);
      assert.deepEqual((await store.listKeys({ prefix: 'z', limit: 5 })).map((o) => [o.key, o.size, o.etag]), [['z', 1000, '"0cc175b9c0f1b6a831c399e269772661"']]);
      // A column a newer upstream added: named once, and reads go on.
      assert.deepEqual(unknown, [['dedup_ref']]);
      // No object_tags table yet: every object is untagged.
      assert.deepEqual(await store.getObjectTags('z'), []);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      // Upstream's object tags: the object's set, keyed by object rather than copy.
      await c.query(`CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key))`);
      await c.query(`INSERT INTO object_tags VALUES ('z', 'b', '2'), ('z', 'B', 'upper'), ('z', 'a', ''), ('p', 'only', 'one')`);
    });
    store = new PostgresMetadataStore({ url });
    try {
      // Byte order (S3's) whatever the database's collation: 'B' before 'a'.
      assert.deepEqual(await store.getObjectTags('z'), [{ key: 'B', value: 'upper' }, { key: 'a', value: '' }, { key: 'b', value: '2' }]);
      assert.deepEqual(await store.getObjectTags('p'), [{ key: 'only', value: 'one' }]);
      assert.deepEqual(await store.getObjectTags('nothing-here'), []);
      // The count rides on each lookup (one query): GETs and HEADs send it as x-amz-tagging-count.
      assert.deepEqual((await store.getAllObjectLocations('z')).map((r) => r.tagCount), [3]);
      assert.deepEqual((await store.getAllObjectLocations('p')).map((r) => r.tagCount), [1]);
    } finally {
      await store.close();
    }
  });

  it('reads the columns and tables upstream adds while readpath runs (a migration mid-run)', async () => {
    const url = await cluster.createDatabase('migrated_mid_run');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('k', 'b1', 10, '2026-01-01 00:00:00+00')`);
    });
    // Asked again on every call, and not within the hour.
    const unknown: string[][] = [];
    const store = new PostgresMetadataStore({ url, schemaRecheckMs: 0, onUnknownColumns: (c) => unknown.push(c) });
    const lazy = new PostgresMetadataStore({ url, schemaRecheckMs: 3_600_000 });
    try {
      for (const s of [store, lazy]) {
        const [before] = await s.getAllObjectLocations('k');
        assert.equal(before?.compression ?? null, null);
        assert.equal(before?.etag ?? null, null);
        assert.equal(before?.tagCount, undefined);
      }
      await withClient(url, (c) => c.query(`
        ALTER TABLE object_locations ADD COLUMN managed BOOLEAN NOT NULL DEFAULT TRUE,
          ADD COLUMN compression_algorithm TEXT, ADD COLUMN logical_size BIGINT, ADD COLUMN compression_format_version INTEGER,
          ADD COLUMN etag TEXT, ADD COLUMN content_type TEXT, ADD COLUMN dedup_ref TEXT;
        CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key));
        UPDATE object_locations SET compression_algorithm = 'zstd', logical_size = 25, compression_format_version = 1, etag = '"e1"', content_type = 'text/plain';
        INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, managed) VALUES ('k', 'b2', 10, '2025-01-01 00:00:00+00', false);
        INSERT INTO object_tags VALUES ('k', 'team', 'a'), ('k', 'env', 'b');`));
      assert.deepEqual(unknown, []);
      const after = await store.getAllObjectLocations('k');
      assert.deepEqual(unknown, [['dedup_ref']], 'a column the migration added that readpath does not know is warned of');
      assert.deepEqual(after.map((r) => r.backendName), ['b1'], 'the unmanaged row added with the column is skipped');
      assert.equal(after[0]?.compression, 'zstd');
      assert.equal(after[0]?.logicalSize, 25);
      assert.equal(after[0]?.etag, '"e1"');
      assert.equal(after[0]?.tagCount, 2);
      assert.deepEqual(await store.listKeys({ limit: 10 }), [{ key: 'k', size: 25, lastModified: new Date('2026-01-01T00:00:00Z'), etag: '"e1"' }]);
      const stale = await lazy.getAllObjectLocations('k');
      assert.deepEqual(stale.map((r) => r.backendName), ['b2', 'b1'], 'the lazy store has not looked yet');
      assert.equal(stale[1]?.compression ?? null, null);
    } finally {
      await store.close();
      await lazy.close();
    }
    assert.throws(() => new PostgresMetadataStore({ url, schemaRecheckMs: Number.NaN }), (err: unknown) => hasCode(err, 'INVALID_CONFIG'));
  });

  for (const icu of [false, true]) {
    it(`looks up a turn's keys in one statement, each answered as alone${icu ? ' (ICU collation)' : ''}`, async () => {
      const url = icu ? await createIcuDatabase('lookups_together_icu') : await cluster.createDatabase('lookups_together');
      await withClient(url, async (c) => {
        await c.query(UPSTREAM_SCHEMA);
        await c.query(`ALTER TABLE object_locations ADD COLUMN managed BOOLEAN NOT NULL DEFAULT TRUE, ADD COLUMN etag TEXT, ADD COLUMN content_type TEXT`);
        await c.query(`CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key))`);
        await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, content_hash, managed, etag) VALUES
          ('two', 'b1', 3, '2024-01-01 00:00:02+00', NULL, true, NULL), ('two', 'b2', 3, '2024-01-01 00:00:01+00', NULL, true, '"e"'),
          ('Two', 'b1', 4, '2024-01-01 00:00:00+00', NULL, true, NULL),
          ('hidden', 'b1', 1, '2024-01-01 00:00:00+00', NULL, false, NULL), ('half', 'b1', 1, '2024-01-01 00:00:03+00', NULL, false, NULL),
          ('half', 'b2', 1, '2024-01-01 00:00:04+00', NULL, true, NULL),
          ('bad', 'b1', 1, '2024-01-01 00:00:00+00', 'not-a-hash', true, NULL),
          ('ключ ✓', 'b2', 8, '2024-01-01 00:00:00+00', NULL, true, NULL)`);
        await c.query(`INSERT INTO object_tags VALUES ('two', 'a', '1'), ('two', 'b', '2')`);
      });
      const store = new PostgresMetadataStore({ url, max_conns: 4 });
      const keys = ['two', 'Two', 'missing', 'hidden', 'half', 'bad', 'ключ ✓', 'two', 'nul\0key'];
      type Answer = { backends: string[]; tagCount?: number | undefined; etag?: string | undefined } | { code: string | undefined; message: string };
      const answer = (p: Promise<import('../../src/types.js').ObjectLocation[]>): Promise<Answer> => p.then(
        (rows) => ({ backends: rows.map((r) => r.backendName), tagCount: rows[0]?.tagCount, etag: rows[0]?.etag ?? undefined }),
        (err: unknown) => ({ code: (err as { code?: string }).code, message: (err as Error).message }),
      );
      const locker = new pg.Client({ connectionString: url });
      await locker.connect();
      try {
        // Alone, one turn each: what each key answers.
        const alone: Answer[] = [];
        for (const k of keys) alone.push(await answer(store.getAllObjectLocations(k)));
        assert.deepEqual(alone[0], { backends: ['b2', 'b1'], tagCount: 2, etag: '"e"' });
        assert.deepEqual(alone[1], { backends: ['b1'], tagCount: undefined, etag: undefined });
        assert.equal((alone[2] as { code?: string }).code, 'OBJECT_NOT_FOUND');
        assert.equal((alone[3] as { code?: string }).code, 'OBJECT_NOT_FOUND');
        assert.deepEqual(alone[4], { backends: ['b2'], tagCount: undefined, etag: undefined });
        assert.equal((alone[5] as { code?: string }).code, 'METADATA_ERROR');
        assert.deepEqual(alone[6], { backends: ['b2'], tagCount: undefined, etag: undefined });
        assert.equal((alone[8] as { code?: string }).code, 'METADATA_ERROR', 'PostgreSQL text holds no NUL');
        // Together, in one turn, while the table is locked: the lookups wait as one statement
        // (plus the NUL key's own), and each answers what it answered alone.
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
        const together = keys.map((k) => answer(store.getAllObjectLocations(k)));
        await waitFor(async () => (await lockWaiters(locker)).length === 2);
        await locker.query('ROLLBACK');
        assert.deepEqual(await Promise.all(together), alone);
        // Keys that array literals quote or escape travel in the array exactly.
        const awkward = ['a"b', 'c\\d', '{e,f}', 'NULL', 'x,y', "'", 'tab\there', '""'];
        await withClient(url, (c) => c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) SELECT k, 'b2', length(k), now() FROM unnest($1::text[]) AS k`, [awkward]));
        assert.deepEqual(await Promise.all(awkward.map((k) => store.getAllObjectLocations(k).then((r) => r.map((l) => [l.objectKey, l.sizeBytes])))), awkward.map((k) => [[k, k.length]]));
      } finally {
        await locker.end();
        await store.close();
      }
    });
  }

  it('looks up a turn\'s keys by primary-key probes, even in a table without statistics', async () => {
    const url = await cluster.createDatabase('lookup_plan');
    await withClient(url, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`ALTER TABLE object_locations ADD COLUMN storage_key TEXT, ADD COLUMN managed BOOLEAN NOT NULL DEFAULT TRUE,
        ADD COLUMN compression_algorithm TEXT, ADD COLUMN logical_size BIGINT, ADD COLUMN compression_format_version INTEGER,
        ADD COLUMN etag TEXT, ADD COLUMN content_type TEXT, ADD COLUMN user_metadata JSONB`);
      await c.query(`CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key))`);
      // Freshly loaded, never analysed: the planner guesses the table's size from its pages.
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at)
        SELECT 'k/' || lpad(i::text, 6, '0'), b, i, now() FROM generate_series(1, 20000) i, (VALUES ('b1'), ('b2')) v(b)`);
      for (const upstream of [false, true]) {
        const sql = postgresLookupManySql(upstream);
        // The plan for these keys, and the generic plan a prepared statement may settle on.
        const custom = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${sql}`, [['k/000001', 'k/000002', 'k/000003']])).rows.map((r) => r['QUERY PLAN']).join('\n');
        await c.query(`SET plan_cache_mode = force_generic_plan`);
        await c.query(`PREPARE many(text[]) AS ${sql}`);
        const generic = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) EXECUTE many('{k/000001,k/000002}')`)).rows.map((r) => r['QUERY PLAN']).join('\n');
        await c.query(`DEALLOCATE many`);
        await c.query(`RESET plan_cache_mode`);
        for (const plan of [custom, generic]) {
          assert.doesNotMatch(plan, /Seq Scan on object_locations/, plan);
          assert.match(plan, /Index Cond: \(object_key = q\.key\)/, plan);
        }
      }
    });
  });

  it('lists through the primary key when the collation is C, through a COLLATE "C" index created with the table otherwise', async () => {
    const variants = [[true, true], [true, false], [false, true], [false, false]] as const;
    // The test cluster is initdb --locale=C: no extra index, the primary key serves the range.
    const cUrl = await cluster.createDatabase('list_plan_c');
    const cStore = await PostgresMetadataStore.open({ url: cUrl });
    await cStore.close();
    await withClient(cUrl, async (c) => {
      const { rows } = await c.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'object_locations' ORDER BY 1`);
      assert.deepEqual(rows.map((r) => r.indexname), ['object_locations_pkey']);
      await seedForPlans(c, 20_000);
      for (const [inclusive, bounded] of variants) {
        const plan = await listingPlan(c, false, inclusive, bounded);
        assert.match(plan, /Index (Only )?Scan using object_locations_pkey on object_locations\n\s+Index Cond: \(+object_key >/, plan);
        assert.doesNotMatch(plan, /Seq Scan|Sort Key: object_locations\.object_key/, plan);
      }
    });
    // ICU: the table created here gets the COLLATE "C" index, and the statement uses it.
    const icu = await createIcuDatabase('list_plan_icu');
    const icuStore = await PostgresMetadataStore.open({ url: icu });
    try {
      await icuStore.addLocation({ objectKey: 'a', backendName: 'b1', sizeBytes: 1, createdAt: new Date(0), encrypted: false });
      assert.deepEqual((await icuStore.listKeys({ limit: 5 })).map((o) => o.key), ['a']);
    } finally {
      await icuStore.close();
    }
    await withClient(icu, async (c) => {
      const { rows } = await c.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'object_locations' ORDER BY 1`);
      assert.deepEqual(rows.map((r) => r.indexname), ['object_locations_object_key_c', 'object_locations_pkey']);
      await seedForPlans(c, 20_000);
      for (const [inclusive, bounded] of variants) {
        const plan = await listingPlan(c, true, inclusive, bounded);
        assert.match(plan, /Index (Only )?Scan using object_locations_object_key_c on object_locations\n/, plan);
        assert.match(plan, /Index Scan using object_locations_pkey on object_locations o\n/, plan);
        assert.doesNotMatch(plan, /Seq Scan|Sort Key: object_locations\.object_key/, plan);
      }
    });
  });

  it('lists an upstream table with a non-bytewise collation in byte order, without touching its schema', async () => {
    const url = await cluster.createDatabase('list_upstream_icu');
    await withClient(url, async (c) => {
      // Upstream's table, with object_key in ICU's root collation ('a' < 'B' < 'b' there).
      await c.query(UPSTREAM_SCHEMA.replace('object_key TEXT NOT NULL', 'object_key TEXT COLLATE "und-x-icu" NOT NULL'));
      const keys = ['b', 'B', 'a', 'A', 'a-b', 'ab', 'é', 'e', '\uFFFD', '\u{1F600}', '_x', '%y'];
      for (const [i, k] of keys.entries()) {
        await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ($1, 'b1', $2, '2024-01-01T00:00:00Z')`, [k, i]);
      }
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('a', 'b2', 99, '2023-01-01T00:00:00Z')`);
      const icuOrder = (await c.query<{ object_key: string }>(`SELECT DISTINCT object_key FROM object_locations ORDER BY object_key`)).rows.map((r) => r.object_key);
      assert.notDeepEqual(icuOrder, [...icuOrder].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))), 'the collation really differs');
    });
    const store = new PostgresMetadataStore({ url });
    try {
      const all = await store.listKeys({ limit: 100 });
      assert.deepEqual(all.map((o) => o.key), ['%y', 'A', 'B', '_x', 'a', 'a-b', 'ab', 'b', 'e', 'é', '\uFFFD', '\u{1F600}']);
      assert.deepEqual(all.find((o) => o.key === 'a')?.size, 99);
      const pages: string[] = [];
      let startAfter: string | undefined;
      for (;;) {
        const page = await store.listKeys({ limit: 5, ...(startAfter === undefined ? {} : { startAfter }) });
        pages.push(...page.map((o) => o.key));
        if (page.length < 5) break;
        startAfter = page[page.length - 1]?.key;
      }
      assert.deepEqual(pages, all.map((o) => o.key));
      assert.deepEqual((await store.listKeys({ prefix: 'a', limit: 10 })).map((o) => o.key), ['a', 'a-b', 'ab']);
    } finally {
      await store.close();
    }
    await withClient(url, async (c) => {
      const { rows } = await c.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'object_locations'`);
      assert.deepEqual(rows.map((r) => r.indexname), ['object_locations_pkey'], 'no index added to an existing table');
    });
  });

  it('lists nothing for a prefix with NUL, and reads a start-after with NUL as its part before it', async () => {
    const url = await cluster.createDatabase('list_nul');
    const store = await PostgresMetadataStore.open({ url });
    try {
      for (const k of ['a', 'a0', 'b']) await store.addLocation({ objectKey: k, backendName: 'b1', sizeBytes: 1, createdAt: new Date(0), encrypted: false });
      assert.deepEqual(await store.listKeys({ prefix: 'a\0', limit: 10 }), []);
      assert.deepEqual((await store.listKeys({ startAfter: 'a\0zz', limit: 10 })).map((o) => o.key), ['a0', 'b']);
    } finally {
      await store.close();
    }
  });

  it('answers METADATA_ERROR naming key and column for a malformed hash, and serves other keys', async () => {
    const url = await cluster.createDatabase('malformed');
    const store = await PostgresMetadataStore.open({ url });
    try {
      await withClient(url, (c) =>
        c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, content_hash, created_at)
          VALUES ('bad', 'b1', 1, 'zz', now()), ('good', 'b1', 1, NULL, now()), ('inf', 'b1', 1, NULL, 'infinity')`),
      );
      await assert.rejects(store.getAllObjectLocations('bad'), (err: unknown) => {
        assert.ok(hasCode(err, 'METADATA_ERROR'));
        assert.match((err as Error).message, /key "bad" on backend "b1": column content_hash/);
        return true;
      });
      await assert.rejects(store.getAllObjectLocations('inf'), /column created_at/);
      assert.equal((await store.getAllObjectLocations('good')).length, 1);
      // A malformed content_hash gives its listed entry no derived ETag and fails no page; an
      // 'infinity' created_at fails its page, naming it.
      assert.deepEqual((await store.listKeys({ prefix: 'bad', limit: 10 })).map((o) => [o.key, o.etag]), [['bad', undefined]]);
      await assert.rejects(store.listKeys({ prefix: 'inf', limit: 10 }), (err: unknown) => {
        assert.ok(hasCode(err, 'METADATA_ERROR'), String(err));
        assert.match((err as Error).message, /key "inf" on backend "b1": column created_at/);
        return true;
      });
      assert.deepEqual((await store.listKeys({ prefix: 'good', limit: 10 })).map((o) => o.key), ['good']);
    } finally {
      await store.close();
    }
  });

  it('answers DB_UNAVAILABLE when nothing listens, without waiting for a timeout', async () => {
    const port = await freePort();
    const store = new PostgresMetadataStore({ host: '127.0.0.1', port, database: 'postgres', user: 'postgres', connectTimeoutMs: 10_000 });
    try {
      await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => {
        assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
        assert.equal((err as { httpStatus?: number }).httpStatus, 503);
        return true;
      });
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => {
        assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
        assert.equal((err as { httpStatus?: number }).httpStatus, 503);
        return true;
      });
      await assert.rejects(PostgresMetadataStore.open({ url: `postgres://postgres@127.0.0.1:${port}/postgres` }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    } finally {
      await store.close();
    }
  });

  it('answers DB_UNAVAILABLE when a statement runs past statement_timeout', async () => {
    const url = await cluster.createDatabase('slow');
    const store = await PostgresMetadataStore.open({ url, statementTimeoutMs: 150 });
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      // An open transaction holding an exclusive lock makes the lookup wait.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
      await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => {
        assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
        assert.match((err as Error).message, /57014/);
        return true;
      });
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE') && /57014/.test((err as Error).message));
      await locker.query('ROLLBACK');
      await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
      assert.deepEqual(await store.listKeys({ limit: 10 }), []);
    } finally {
      await locker.end();
      await store.close();
    }
  });

  it('stops waiting when the caller aborts mid-query', async () => {
    const url = await cluster.createDatabase('abortable');
    const store = await PostgresMetadataStore.open({ url, statementTimeoutMs: 5000 });
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
      const ac = new AbortController();
      const pending = store.getAllObjectLocations('k', { signal: ac.signal });
      // Abort once the lookup is waiting on the lock.
      await waitFor(async () => (await lockWaiters(locker)).length === 1);
      ac.abort();
      await assert.rejects(pending, (err: unknown) => hasCode(err, 'ABORTED'));
      // A listing too: it waits on the lock, and its caller stops waiting.
      const ac2 = new AbortController();
      const listing = store.listKeys({ limit: 10, signal: ac2.signal });
      await waitFor(async () => (await lockWaiters(locker)).length === 2);
      ac2.abort();
      await assert.rejects(listing, (err: unknown) => hasCode(err, 'ABORTED'));
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
      await store.close();
    }
  });

  it('one caller giving up does not fail the others waiting for the same first lookup', async () => {
    const url = await cluster.createDatabase('shared_first');
    const store = await PostgresMetadataStore.open({ url });
    try {
      await withClient(url, (c) => c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('k', 'b1', 1, now())`));
      // Both wait for the store's first look at the table's columns; only the first gives up.
      const ac = new AbortController();
      const first = store.getAllObjectLocations('k', { signal: ac.signal });
      const second = store.getAllObjectLocations('k');
      const listing = store.listKeys({ limit: 10 });
      ac.abort();
      await assert.rejects(first, (err: unknown) => hasCode(err, 'ABORTED'));
      assert.deepEqual((await second).map((l) => l.backendName), ['b1']);
      assert.deepEqual((await listing).map((o) => o.key), ['k']);
    } finally {
      await store.close();
    }
  });

  it('sends a turn\'s lookups once more when the session they went on is ended under them', async () => {
    const url = await cluster.createDatabase('ended_session');
    const store = await PostgresMetadataStore.open({ url, max_conns: 4 });
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      for (const k of ['k1', 'k2', 'k3']) await store.addLocation({ objectKey: k, backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false });
      /** The pid of the readpath session waiting on the lock, once there is one other than `not`. */
      const waiter = async (not?: number): Promise<number> => {
        let pid = -1;
        await waitFor(async () => {
          const pids = await lockWaiters(locker);
          pid = pids.find((p) => p !== not) ?? -1;
          return pids.length === 1 && pid !== -1;
        });
        return pid;
      };
      const end = (pid: number): Promise<unknown> => locker.query('SELECT pg_terminate_backend($1)', [pid]);
      const turn = (): Promise<string[]>[] => ['k1', 'k2', 'k3'].map((k) => store.getAllObjectLocations(k).then(
        (rows) => rows.map((r) => r.backendName),
        (err: unknown) => [String((err as { code?: string }).code), (err as Error).message],
      ));
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
      // Ended once: the statement goes again on another connection and serves every lookup.
      const once = turn();
      const first = await waiter();
      await end(first);
      await waiter(first);
      await locker.query('ROLLBACK');
      assert.deepEqual(await Promise.all(once), [['b1'], ['b1'], ['b1']]);
      // Ended twice: an outage after all, each lookup's error naming its key.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
      const twice = turn();
      const a = await waiter();
      await end(a);
      await end(await waiter(a));
      await locker.query('ROLLBACK');
      const failed = await Promise.all(twice);
      assert.deepEqual(failed.map((f) => f[0]), ['DB_UNAVAILABLE', 'DB_UNAVAILABLE', 'DB_UNAVAILABLE']);
      failed.forEach((f, i) => assert.match(f[1] ?? '', new RegExp(`lookup of "k${i + 1}"`)));
      // And the store serves again once the server lets it.
      assert.deepEqual((await store.getAllObjectLocations('k2')).map((r) => r.backendName), ['b1']);
    } finally {
      await locker.end();
      await store.close();
    }
  });

  it('sends a turn\'s lookups once more when the server\'s idle_session_timeout ends their session as they are on their way', async () => {
    const url = await cluster.createDatabase('idle_ended');
    const seeding = await PostgresMetadataStore.open({ url });
    try {
      await seeding.addLocations(['k1', 'k2'].map((k) => ({ objectKey: k, backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false })));
    } finally {
      await seeding.close();
    }
    await withClient(url, (c) => c.query(`ALTER DATABASE idle_ended SET idle_session_timeout = '300ms'`));
    // A TCP relay that can hold back what the client sends on the connections it has: a network
    // slow enough that a statement sent on a pooled connection reaches the server after the
    // server ended it as idle. Connections made afterwards pass.
    const held = new Set<Socket>();
    const clients = new Set<Socket>();
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const server = connect(cluster.port, '127.0.0.1');
      clients.add(client);
      for (const s of [client, server]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      server.pipe(client);
      client.on('data', (d) => {
        if (!held.has(client) && server.writable) server.write(d);
      });
      client.on('end', () => server.end());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const store = new PostgresMetadataStore({ url: `postgres://postgres@127.0.0.1:${(relay.address() as AddressInfo).port}/idle_ended`, max_conns: 1 });
    try {
      assert.deepEqual((await store.getAllObjectLocations('k1')).map((r) => r.backendName), ['b1']);
      for (const c of clients) held.add(c);
      const turn = Promise.allSettled(['k1', 'k2'].map((k) => store.getAllObjectLocations(k)));
      // The server ends the idle session (its FATAL 57P05 reaches the client, whose statement it
      // never got); later statements pass.
      await withClient(url, async (c) => {
        for (let i = 0; ; i++) {
          if ((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'idle_ended' AND application_name = 'readpath'`)).rows[0]?.n === 0) break;
          if (i === 400) assert.fail('the server never ended the idle session');
          await new Promise((r) => setTimeout(r, 25));
        }
      });
      const answers = await turn;
      for (const r of answers) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.deepEqual(answers.map((r) => (r.status === 'fulfilled' ? r.value.map((l) => l.objectKey) : [])), [['k1'], ['k2']]);
    } finally {
      await store.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  it('sends a listing and a usage load once more when the session they went on is ended under them', async () => {
    const url = await cluster.createDatabase('ended_listing');
    const store = await PostgresMetadataStore.open({ url, max_conns: 4 });
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await store.addLocation({ objectKey: 'k1', backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false });
      await store.flushUsage([{ backendName: 'b1', period: '2024-01', apiRequests: 3, egressBytes: 0, ingressBytes: 0 }]);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE object_locations, backend_usage IN ACCESS EXCLUSIVE MODE');
      const settled = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (err: unknown) => `${String((err as { code?: string }).code)}: ${(err as Error).message}`);
      const listing = settled(store.listKeys({ limit: 10 }).then((page) => page.map((o) => o.key)));
      const usage = settled(store.loadUsage('2024-01').then((m) => m.get('b1')?.apiRequests));
      await waitFor(async () => (await lockWaiters(locker)).length === 2);
      // Both sessions ended under their statements (gone before the lock is): each goes again
      // on a new connection.
      const ended = await lockWaiters(locker);
      for (const pid of ended) await locker.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor(async () => {
        await locker.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await locker.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1::int[])', [ended]);
        return rows.length === 0;
      });
      await locker.query('ROLLBACK');
      assert.deepEqual(await listing, ['k1']);
      assert.equal(await usage, 3);
    } finally {
      await locker.end();
      await store.close();
    }
  });

  it('reads on when the table changes under it: a column retyped or dropped, object_tags dropped; a renamed table is a METADATA_ERROR naming it', async () => {
    const url = await cluster.createDatabase('schema_change');
    await withClient(url, (c) => c.query(`${UPSTREAM_SCHEMA}
      ALTER TABLE object_locations ADD COLUMN storage_key TEXT;
      CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key));
      INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, storage_key) VALUES ('k', 'b1', 5, now(), 'k!1'), ('j', 'b2', 7, now(), NULL);
      INSERT INTO object_tags VALUES ('k', 'a', '1')`));
    // One connection (its statements prepared) and no recheck due in the test's time: what the
    // store reads after each change, it reads because it looked again when a statement failed.
    const store = await PostgresMetadataStore.open({ url, max_conns: 1 });
    try {
      const lookup = async (): Promise<unknown> => (await store.getAllObjectLocations('k')).map((l) => [l.backendName, l.sizeBytes, l.storageKey ?? null, l.tagCount ?? null]);
      const lookups = async (): Promise<unknown> => Promise.all(['k', 'j'].map(async (k) => (await store.getAllObjectLocations(k)).map((l) => [l.objectKey, l.sizeBytes])));
      const listing = async (): Promise<unknown> => (await store.listKeys({ limit: 10 })).map((o) => [o.key, o.size]);
      assert.deepEqual(await lookup(), [['b1', 5, 'k!1', 1]]);
      assert.deepEqual(await lookups(), [[['k', 5]], [['j', 7]]]);
      assert.deepEqual(await listing(), [['j', 7], ['k', 5]]);
      await withClient(url, (c) => c.query('ALTER TABLE object_locations ALTER COLUMN size_bytes TYPE numeric'));
      assert.deepEqual(await lookup(), [['b1', 5, 'k!1', 1]]);
      assert.deepEqual(await lookups(), [[['k', 5]], [['j', 7]]]);
      assert.deepEqual(await listing(), [['j', 7], ['k', 5]]);
      await withClient(url, (c) => c.query('ALTER TABLE object_locations DROP COLUMN storage_key'));
      assert.deepEqual(await lookup(), [['b1', 5, null, 1]]);
      await withClient(url, (c) => c.query('DROP TABLE object_tags'));
      assert.deepEqual(await lookup(), [['b1', 5, null, null]]);
      assert.deepEqual(await lookups(), [[['k', 5]], [['j', 7]]]);
      await withClient(url, (c) => c.query('ALTER TABLE object_locations RENAME TO object_locations_old'));
      for (const read of [lookup, listing]) {
        await assert.rejects(read(), (err: unknown) => {
          assert.ok(hasCode(err, 'METADATA_ERROR'), String(err));
          assert.match((err as Error).message, /42P01.*relation "object_locations" does not exist/);
          return true;
        });
      }
      await withClient(url, (c) => c.query('ALTER TABLE object_locations_old RENAME TO object_locations'));
      assert.deepEqual(await lookup(), [['b1', 5, null, null]]);
      assert.deepEqual(await listing(), [['j', 7], ['k', 5]]);
    } finally {
      await store.close();
    }
  });

  it('keeps reading upstream\'s columns when object_locations is renamed away and back', async () => {
    const url = await cluster.createDatabase('renamed_away');
    await withClient(url, (c) => c.query(`${UPSTREAM_SCHEMA}
      ALTER TABLE object_locations ADD COLUMN storage_key TEXT, ADD COLUMN managed BOOLEAN NOT NULL DEFAULT TRUE;
      INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, storage_key) VALUES ('k', 'b1', 5, now(), 'k!1');
      INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at, managed) VALUES ('k', 'b2', 5, now(), false)`));
    const store = await PostgresMetadataStore.open({ url, max_conns: 1 });
    try {
      const lookup = async (): Promise<unknown> => (await store.getAllObjectLocations('k')).map((l) => [l.backendName, l.storageKey ?? null]);
      assert.deepEqual(await lookup(), [['b1', 'k!1']]);
      await withClient(url, (c) => c.query('ALTER TABLE object_locations RENAME TO object_locations_away'));
      await assert.rejects(lookup(), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /42P01/.test((err as Error).message));
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /object_locations/.test((err as Error).message));
      await withClient(url, (c) => c.query('ALTER TABLE object_locations_away RENAME TO object_locations'));
      // Read at its storage key, the unmanaged copy left out: the columns seen while the table
      // was away (none) were not taken for its columns.
      assert.deepEqual(await lookup(), [['b1', 'k!1']]);
      assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['k']);
    } finally {
      await store.close();
    }
  });

  it('a session the server refuses names the setting to check, never the password; a URL pg cannot read is INVALID_CONFIG', async () => {
    const refused = async (opts: ConstructorParameters<typeof PostgresMetadataStore>[0], code: string, hint: RegExp): Promise<void> => {
      await assert.rejects(PostgresMetadataStore.open(opts), (err: unknown) => {
        assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
        assert.match((err as Error).message, new RegExp(`\\(${code}\\)`));
        assert.match((err as Error).message, hint);
        assert.doesNotMatch((err as Error).message, /hunter2/);
        return true;
      });
    };
    await refused({ url: cluster.url('no_such_db') }, '3D000', /database "no_such_db" does not exist \(check the database name in database\.url\)/);
    await refused({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'no_such_db' }, '3D000', /\(check database\.database\)/);
    await refused({ host: '127.0.0.1', port: cluster.port, user: 'ghost', password: 'hunter2', database: 'postgres' }, '28000', /role "ghost" does not exist \(check database\.user and database\.password\)/);
    await refused({ url: `postgres://ghost:hunter2@127.0.0.1:${cluster.port}/postgres` }, '28000', /\(check the user and password in database\.url\)/);
    for (const url of [`postgres://postgres:hunter2@127.0.0.1:99999/postgres`, 'postgres://postgres:hunter2@[::1/postgres']) {
      assert.throws(() => new PostgresMetadataStore({ url }), (err: unknown) => {
        assert.ok(hasCode(err, 'INVALID_CONFIG'), String(err));
        assert.match((err as Error).message, /^database\.url: /);
        assert.doesNotMatch((err as Error).message, /hunter2/);
        return true;
      });
    }
  });

  it('TLS that ssl_mode asks for and the server cannot give is DB_UNAVAILABLE naming database.ssl_mode, as a refused session is', async () => {
    // The test cluster has no TLS; upstream's (and readpath's) default ssl_mode is require.
    for (const [opts, hint] of [
      [{ host: '127.0.0.1', port: cluster.port, user: 'postgres', password: 'hunter2', database: 'postgres', ssl_mode: 'require' }, /\(check database\.ssl_mode\)/],
      [{ url: `postgres://postgres:hunter2@127.0.0.1:${cluster.port}/postgres?sslmode=require` }, /\(check database\.ssl_mode, or sslmode in database\.url\)/],
    ] as const) {
      const store = new PostgresMetadataStore(opts);
      try {
        for (const read of [() => store.getAllObjectLocations('k'), () => store.listKeys({ limit: 1 })]) {
          await assert.rejects(read(), (err: unknown) => {
            assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
            assert.match((err as Error).message, /does not support SSL connections/);
            assert.match((err as Error).message, hint);
            assert.doesNotMatch((err as Error).message, /hunter2/);
            return true;
          });
        }
      } finally {
        await store.close();
      }
    }
  });

  it('answers DB_UNAVAILABLE while PostgreSQL is stopped mid-run, and works again once it is back', async () => {
    const url = await cluster.createDatabase('outage');
    const store = await PostgresMetadataStore.open({ url, max_conns: 3, connectTimeoutMs: 2000 });
    try {
      await store.addLocation({ objectKey: 'k', backendName: 'b1', sizeBytes: 1, createdAt: new Date(), encrypted: false });
      // Warm several pooled connections so the shutdown hits idle clients too.
      await Promise.all([1, 2, 3].map(() => store.getAllObjectLocations('k')));
      assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['k']);
      await cluster.stop();
      for (let i = 0; i < 3; i++) {
        await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => {
          assert.ok(hasCode(err, 'DB_UNAVAILABLE'), `attempt ${i}: ${String(err)}`);
          return true;
        });
      }
      await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      // A store that never listed before the outage: the listing's collation lookup fails the same way.
      const fresh = new PostgresMetadataStore({ url, connectTimeoutMs: 2000 });
      try {
        await assert.rejects(fresh.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      } finally {
        await fresh.close();
      }
      await assert.rejects(store.loadUsage('2024-01'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
      await assert.rejects(
        store.flushUsage([{ backendName: 'b1', period: '2024-01', apiRequests: 1, egressBytes: 0, ingressBytes: 0 }]),
        (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'),
      );
      await cluster.start();
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b1']);
      assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['k']);
    } finally {
      if (!cluster.running) await cluster.start();
      await store.close();
    }
  });

  // A logical-replication subscriber or a reporting copy may carry object_locations alone, and a
  // session there may not create backend_usage: reads must not depend on it.
  for (const refusal of ['read-only database', 'role without CREATE'] as const) {
    it(`reads a database without backend_usage that it may not create (${refusal}); usage loads and flushes are refused`, async () => {
      const name = refusal === 'read-only database' ? 'no_usage_ro' : 'no_usage_role';
      const admin = await cluster.createDatabase(name);
      await withClient(admin, async (c) => {
        await c.query(UPSTREAM_SCHEMA);
        await c.query(`DROP TABLE backend_usage`);
        await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('k', 'b1', 5, '2024-01-01 00:00:01+00'), ('k', 'b2', 5, '2024-01-01 00:00:02+00'), ('j', 'b1', 3, '2024-01-01 00:00:03+00')`);
        if (refusal === 'read-only database') await c.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
        else {
          // PostgreSQL 15 and later grant no CREATE on schema public to other roles.
          await c.query(`CREATE ROLE reader LOGIN`);
          await c.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
          await c.query(`GRANT SELECT ON object_locations TO reader`);
        }
      });
      const url = refusal === 'read-only database' ? admin : admin.replace('postgres@', 'reader@');
      const store = new PostgresMetadataStore({ url, max_conns: 2 });
      try {
        assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b1', 'b2']);
        const together = await Promise.all(['k', 'j'].map((k) => store.getAllObjectLocations(k)));
        assert.deepEqual(together.map((rows) => rows.length), [2, 1]);
        assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => o.key), ['j', 'k']);
        await assert.rejects(store.loadUsage('2024-01'), (err: unknown) => hasCode(err, 'METADATA_ERROR') && /backend_usage/.test((err as Error).message));
        const code = refusal === 'read-only database' ? '25006' : '42501';
        await assert.rejects(
          store.flushUsage([{ backendName: 'b1', period: '2024-01', apiRequests: 1, egressBytes: 0, ingressBytes: 0 }]),
          (err: unknown) => hasCode(err, 'METADATA_ERROR') && (err as Error).message.includes(`(${code})`),
        );
        // Reads go on after the refused flush.
        assert.deepEqual((await store.getAllObjectLocations('j')).map((r) => r.sizeBytes), [3]);
      } finally {
        await store.close();
      }
    });
  }

  it('reads from a hot standby through recovery conflicts: a lookup the standby cancels is sent again, and one cancelled twice goes degraded', async () => {
    const primaryUrl = await cluster.createDatabase('recovery_conflict');
    await withClient(primaryUrl, async (c) => {
      await c.query(UPSTREAM_SCHEMA);
      await c.query(`CREATE TABLE object_tags (object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key))`);
      await c.query(`INSERT INTO object_locations (object_key, backend_name, size_bytes, created_at) VALUES ('k', 'b1', 5, '2024-01-01 00:00:01+00'), ('k', 'b2', 5, '2024-01-01 00:00:02+00'), ('j', 'b1', 3, '2024-01-01 00:00:03+00')`);
    });
    // No delay: a replayed lock that a standby statement holds cancels that statement at once.
    const standby = await PgCluster.createStandby(cluster, { settings: { max_standby_streaming_delay: 0 } });
    const url = standby.url('recovery_conflict');
    const store = new PostgresMetadataStore({ url, max_conns: 2 });
    const watcher = new pg.Client({ connectionString: url });
    const [tagsLocker, rowsLocker] = [new pg.Client({ connectionString: primaryUrl }), new pg.Client({ connectionString: primaryUrl })];
    const locksOnStandby = async (table: string, where: string): Promise<number> =>
      (await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND ${where}`, [table])).rows[0]?.n ?? 0;
    const until = async (what: string, cond: () => Promise<boolean>, tries = 400): Promise<void> => {
      for (let i = 0; i < tries; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.fail(`standby: ${what} never happened`);
    };
    const conflicts = async (): Promise<number> =>
      Number((await watcher.query<{ n: string }>(`SELECT confl_lock AS n FROM pg_stat_database_conflicts WHERE datname = current_database()`)).rows[0]?.n ?? 0);
    // The primary locks object_tags; once the standby replays that, a lookup (which locks
    // object_locations, then object_tags for its tag count) waits there holding object_locations.
    const lockTags = async (): Promise<void> => {
      await tagsLocker.query('BEGIN');
      await tagsLocker.query('LOCK TABLE object_tags IN ACCESS EXCLUSIVE MODE');
      // The standby is sent only flushed WAL, and nothing flushes a lock's record before its
      // transaction ends: a WAL switch does.
      await tagsLocker.query('SELECT pg_switch_wal()');
      await until('the replayed lock on object_tags', async () => (await locksOnStandby('object_tags', `mode = 'AccessExclusiveLock' AND granted`)) > 0);
    };
    // The primary's lock on object_locations, replayed, conflicts with the lookup waiting there.
    const conflict = async (): Promise<void> => {
      await until('the lookup waiting for object_tags', async () => (await locksOnStandby('object_tags', 'NOT granted')) > 0);
      await rowsLocker.query('BEGIN');
      await rowsLocker.query('LOCK TABLE object_locations IN ACCESS EXCLUSIVE MODE');
      await rowsLocker.query('SELECT pg_switch_wal()');
    };
    try {
      await Promise.all([watcher, tagsLocker, rowsLocker].map((c) => c.connect()));
      // Seen by the standby, and the tag count read with each lookup.
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b1', 'b2']);
      for (const keys of [['k'], ['k', 'j']]) {
        await lockTags();
        const before = await conflicts();
        const lookups = Promise.allSettled(keys.map((k) => store.getAllObjectLocations(k)));
        await conflict();
        await rowsLocker.query('COMMIT');
        await tagsLocker.query('COMMIT');
        const results = await lookups;
        for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
        assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value.length : -1)), keys.map((k) => (k === 'k' ? 2 : 1)));
        // The standby did cancel it (a session writes its statistics within seconds of going idle).
        await until('the recovery conflict counted', async () => (await conflicts()) > before, 1200);
      }
      // Cancelled again when sent again: the standby cannot serve it now, and the read goes
      // degraded (DB_UNAVAILABLE) as in an outage, rather than failing as bad metadata.
      await lockTags();
      const lookup = store.getAllObjectLocations('k');
      lookup.catch(() => {});
      await conflict();
      // Sent again, it waits for the replayed lock on object_locations, then for object_tags.
      await until('the lookup sent again', async () => (await locksOnStandby('object_locations', 'NOT granted')) > 0);
      await rowsLocker.query('COMMIT');
      await conflict();
      await rowsLocker.query('COMMIT');
      await tagsLocker.query('COMMIT');
      await assert.rejects(lookup, (err: unknown) => hasCode(err, 'DB_UNAVAILABLE') && /40001/.test((err as Error).message));
      assert.deepEqual((await store.getAllObjectLocations('k')).map((r) => r.backendName), ['b1', 'b2']);
    } finally {
      await Promise.all([watcher, tagsLocker, rowsLocker].map((c) => c.end().catch(() => {})));
      await store.close();
      await standby.destroy();
    }
  });

  it('close is idempotent and later calls answer DB_UNAVAILABLE', async () => {
    const store = new PostgresMetadataStore({ url: cluster.url() });
    await Promise.all([store.close(), store.close()]);
    await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    await assert.rejects(store.listKeys({ limit: 10 }), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
  });
});

describe('postgres configuration', () => {
  it('maps upstream keys and rejects bad values naming the field', () => {
    const cfg = postgresPoolConfig({ host: 'db', port: 6543, database: 'meta', user: 'ro', password: 's3cret', ssl_mode: 'require', max_conns: 7 });
    assert.equal(cfg.host, 'db');
    assert.equal(cfg.port, 6543);
    assert.equal(cfg.max, 7);
    assert.deepEqual(cfg.ssl, { rejectUnauthorized: false });
    assert.equal(postgresPoolConfig({ url: 'postgres://x/y', ssl_mode: 'disable' }).ssl, false);
    assert.equal((postgresPoolConfig({ url: 'postgres://x/y', ssl_mode: 'verify-full' }).ssl as { rejectUnauthorized: boolean }).rejectUnauthorized, true);
    const bad = (o: object, field: RegExp): void => {
      assert.throws(() => postgresPoolConfig(o), (err: unknown) => hasCode(err, 'INVALID_CONFIG') && field.test((err as Error).message));
    };
    bad({ url: 'postgres://x/y', ssl_mode: 'sometimes' }, /database\.ssl_mode/);
    bad({ host: 'x', port: 0 }, /database\.port/);
    bad({ host: 'x', max_conns: 1.5 }, /database\.max_conns/);
    bad({ url: '' }, /database\.url/);
    bad({ host: 'x', statementTimeoutMs: -1 }, /statement_timeout/);
  });

  it('classifies outage errors', () => {
    for (const e of [
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('x'), { code: '08006' }),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      Object.assign(new Error('canceling statement due to conflict with recovery'), { code: '40001' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
      new Error('The server does not support SSL connections'),
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
    ]) {
      assert.ok(isPostgresUnavailable(e), String(e));
    }
    for (const e of [
      Object.assign(new Error('relation does not exist'), { code: '42P01' }),
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      new Error('something else'),
    ]) {
      assert.ok(!isPostgresUnavailable(e), String(e));
    }
  });
});

/**
 * The pids of readpath's sessions waiting on a lock, as `locker` sees them now. (A transaction
 * keeps a snapshot of pg_stat_activity from its first look until told to drop it: the locker
 * holding the lock is in one.)
 */
async function lockWaiters(locker: pg.Client): Promise<number[]> {
  await locker.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await locker.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'readpath' AND state = 'active'`);
  return rows.map((r) => r.pid);
}

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition never became true');
}
