/**
 * The shared metadata store: s3-orchestrator's PostgreSQL database, read through a pg pool.
 *
 * Several readpath processes (and s3-orchestrator itself) may share the database; usage
 * deltas are added with upserts so concurrent flushers converge without losing counts.
 * Anything that says "the database cannot be reached or used right now" — refused or reset
 * connections, admin shutdown, connect or statement timeouts — is DB_UNAVAILABLE, which the
 * store breaker counts and which sends reads to the degraded broadcast.
 */
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { ReadPathError, abortedError, messageOf } from '../errors.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation, ObjectTag } from '../types.js';
import type { UsageDelta, UsageStat } from '../policies/usage-tracker.js';
import {
  checkLocationForWrite, listedKey, rowTimestamp, toListedObject, toObjectLocation, toObjectTags, undatedTimestamp, unknownLocationColumns, type ParsedTimestamp, type RawListedRow,
  type RawLocationRow,
} from './row-mapping.js';
import { checkListKeysOptions, keyRange } from './key-listing.js';
import { checkDeltas, checkPeriod, usageRowsToMap, type UsageStore } from './usage-store.js';
import { lazyModule } from '../lazy-module.js';
import { checkRecheckMs } from './schema-recheck.js';
import { TurnBatch, type Pending } from './turn-batch.js';
import { connectionHint, isBrokenConnection, isPostgresUnavailable, isRecoveryConflict, isSchemaChange, postgresPoolConfig, type PostgresMetadataStoreOptions } from './postgres-connection.js';

export { isPostgresUnavailable, postgresPoolConfig } from './postgres-connection.js';
export type { PostgresConnectionOptions, PostgresMetadataStoreOptions, PostgresSslMode } from './postgres-connection.js';

// pg is imported on first need (~1.6 MiB of heap kept for good; see lazy-module.ts): readers on
// SQLite or in memory, and programs that only import readpath, should not carry it.
type PgModule = typeof import('pg').default;
const pg = lazyModule<PgModule>(() => import('pg').then((m) => m.default));

const CREATE_OBJECT_LOCATIONS = `
CREATE TABLE IF NOT EXISTS object_locations (
    object_key     TEXT NOT NULL,
    backend_name   TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    encrypted      BOOLEAN NOT NULL DEFAULT FALSE,
    encryption_key BYTEA,
    key_id         TEXT,
    plaintext_size BIGINT,
    content_hash   TEXT,
    created_at     TIMESTAMPTZ DEFAULT NOW(),
    PRIMARY KEY (object_key, backend_name)
)`;

const CREATE_BACKEND_USAGE = `
CREATE TABLE IF NOT EXISTS backend_usage (
    backend_name  TEXT NOT NULL,
    period        TEXT NOT NULL,
    api_requests  BIGINT NOT NULL DEFAULT 0,
    egress_bytes  BIGINT NOT NULL DEFAULT 0,
    ingress_bytes BIGINT NOT NULL DEFAULT 0,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (backend_name, period)
)`;

/**
 * A key's copies in the order lookups try them and listings describe the first of (row-mapping's
 * compareCopies): created_at ascending to the microsecond, NULL after every date (as upstream's
 * `ORDER BY created_at ASC` puts it), ties by backend_name in byte order whatever the database's
 * collation. Without the tie-break equal timestamps come in plan order: with upstream's index on
 * (object_key, created_at), the heap's.
 */
function copyOrder(t: string): string {
  return `${t}.created_at ASC NULLS LAST, ${t}.backend_name COLLATE "C"`;
}

/** The columns a lookup reads from object_locations `l`, the tag count counted for `key`. */
function locationColumns(c: UpstreamColumns, key: string): string {
  return `l.object_key, l.backend_name, l.size_bytes, l.encrypted, l.encryption_key,
       l.key_id, l.plaintext_size, l.content_hash, l.created_at${c.storageKey ? ', l.storage_key' : ''}${c.compressed ? ', l.compression_algorithm, l.logical_size, l.compression_format_version' : ''}${c.identity ? ', l.etag, l.content_type' : ''}${c.userMetadata ? ', l.user_metadata' : ''}${c.tags ? `,
       (SELECT count(*) FROM object_tags t WHERE t.object_key = ${key}) AS tag_count` : ''}`;
}

/**
 * The lookup of one key's rows. `storage_key` (s3-orchestrator's column for where each copy's
 * bytes are) and the compression columns (how they are encoded) are read when the table has
 * them: databases from before upstream added them do not. Rows upstream marks unmanaged (`managed = false`: kept for their quota, never served) are left
 * out where the column exists; a NULL there (upstream declares it NOT NULL) counts as managed.
 */
function selectLocationsSql(c: UpstreamColumns): string {
  return `
SELECT ${locationColumns(c, '$1')}
FROM object_locations l
WHERE l.object_key = $1${c.managed ? ' AND l.managed IS NOT FALSE' : ''}
ORDER BY ${copyOrder('l')}`;
}

/**
 * The lookup of several keys' rows in one statement ($1: the keys, distinct): each row comes
 * with the key it was looked up by (`lookup_key`, compared as the one-key lookup compares), in
 * copy order overall, so each key's rows are in its order. The per-key subquery is kept
 * apart from the join (OFFSET 0) so that each key is a primary-key probe whatever the planner
 * estimates: joined flat, a table without statistics (freshly loaded) got a sequential scan and
 * hash join per statement.
 */
function selectManyLocationsSql(c: UpstreamColumns): string {
  return `
SELECT q.key AS lookup_key, l.*
FROM unnest($1::text[]) AS q(key)
CROSS JOIN LATERAL (
  SELECT ${locationColumns(c, 'q.key')}
  FROM object_locations l
  WHERE l.object_key = q.key${c.managed ? ' AND l.managed IS NOT FALSE' : ''}
  OFFSET 0
) l
ORDER BY ${copyOrder('l')}`;
}

/**
 * The statement looking up several keys at once ($1: text[]), for a table with none of
 * upstream's later columns, or with `managed` and the tag count: for plan checks.
 */
export function postgresLookupManySql(upstream = false): string {
  return selectManyLocationsSql({ storageKey: upstream, managed: upstream, compressed: upstream, identity: upstream, userMetadata: upstream, tags: upstream });
}

/** The statement name of a lookup for these columns (prepared once per connection, then only bound and executed). */
function lookupStatementName(base: string, c: UpstreamColumns): string {
  return `${base}${c.storageKey ? '_sk' : ''}${c.managed ? '_m' : ''}${c.compressed ? '_z' : ''}${c.identity ? '_i' : ''}${c.userMetadata ? '_u' : ''}${c.tags ? '_t' : ''}`;
}

/** The most keys one lookup statement carries; a turn with more sends several. */
const MAX_KEYS_PER_LOOKUP = 500;

/** A lookup waiting for the end of the turn. */
type PendingLookup = Pending<RawLocationRow[]>;

/** An object's tags, as upstream reads them, in byte order whatever the database's collation. */
const SELECT_TAGS = `SELECT tag_key, tag_value FROM object_tags WHERE object_key = $1 ORDER BY tag_key COLLATE "C"`;

/** Which of upstream's later columns object_locations has. */
interface UpstreamColumns { storageKey: boolean; managed: boolean; compressed: boolean; identity: boolean; userMetadata: boolean; tags: boolean }

const UPSTREAM_COLUMNS = `
SELECT attname FROM pg_attribute
WHERE attrelid = to_regclass('object_locations') AND attnum > 0 AND NOT attisdropped
ORDER BY attnum`;

/** Whether upstream's object_tags table is there (its tag count then rides on each lookup). */
const HAS_TAGS = `SELECT to_regclass('object_tags') IS NOT NULL AS tags`;

const UPSERT_LOCATION = `
INSERT INTO object_locations (object_key, backend_name, size_bytes, encrypted, encryption_key,
                              key_id, plaintext_size, content_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (object_key, backend_name) DO UPDATE SET
    size_bytes = EXCLUDED.size_bytes, encrypted = EXCLUDED.encrypted,
    encryption_key = EXCLUDED.encryption_key, key_id = EXCLUDED.key_id,
    plaintext_size = EXCLUDED.plaintext_size, content_hash = EXCLUDED.content_hash,
    created_at = EXCLUDED.created_at`;

/**
 * One page of a key listing, in one statement: the page's distinct keys from a range scan that
 * stops after LIMIT keys, then each key's first copy (the one its lookup tries first) from a
 * primary-key lookup. Keys compare bytewise: in the column's own collation when that is
 * bytewise (C/POSIX: the primary-key index serves the range), else under COLLATE "C", which
 * the primary key's index cannot serve (see {@link PostgresMetadataStore.listKeys}). Four
 * variants: `>=` prefix or `>` start-after, with or without the prefix's upper bound.
 * Parameters: $1 the lower bound, $2 the limit, $3 the upper bound when `bounded`. `compressed`:
 * the table has upstream's compression columns (a compressed copy is listed at its logical size);
 * `identity`: it has upstream's `etag` (listed with its ETag; content_hash gives one without it). With
 * `managed` (upstream's column exists) unmanaged rows are skipped, in choosing the page's keys
 * too, so a key with none but those is not listed and takes no place in the page. Exported for
 * the query-plan tests.
 */
export function postgresListKeysSql(collateC: boolean, inclusive: boolean, bounded: boolean, managed = false, compressed = false, identity = false): string {
  const k = collateC ? 'object_key COLLATE "C"' : 'object_key';
  return `
SELECT k.object_key, f.backend_name, f.size_bytes, f.encrypted, f.plaintext_size, f.created_at, f.content_hash${compressed ? ', f.compression_algorithm, f.logical_size' : ''}${identity ? ', f.etag' : ''}
FROM (SELECT DISTINCT ON (${k}) object_key
      FROM object_locations
      WHERE ${k} ${inclusive ? '>=' : '>'} $1${bounded ? ` AND ${k} < $3` : ''}${managed ? ' AND managed IS NOT FALSE' : ''}
      ORDER BY ${k}
      LIMIT $2) k
CROSS JOIN LATERAL (
    SELECT o.backend_name, o.size_bytes, o.encrypted, o.plaintext_size, o.created_at, o.content_hash${compressed ? ', o.compression_algorithm, o.logical_size' : ''}${identity ? ', o.etag' : ''}
    FROM object_locations o
    WHERE o.object_key = k.object_key${managed ? ' AND o.managed IS NOT FALSE' : ''}
    ORDER BY ${copyOrder('o')}
    LIMIT 1) f
ORDER BY k.${k}`;
}

/**
 * The collation object_key compares in: its own, or the database's when it is 'default'
 * (provider 'd'). Version-proof: to_jsonb reads columns that only newer servers have
 * (datlocprovider: 15, datlocale/colllocale: 17) as NULL.
 */
const SELECT_KEY_COLLATION = `
SELECT c.collprovider, c.collcollate, to_jsonb(c) ->> 'colllocale' AS colllocale,
       d.datcollate, to_jsonb(d) ->> 'datlocprovider' AS datlocprovider, to_jsonb(d) ->> 'datlocale' AS datlocale
FROM pg_attribute a
JOIN pg_collation c ON c.oid = a.attcollation
JOIN pg_database d ON d.datname = current_database()
WHERE a.attrelid = to_regclass('object_locations') AND a.attname = 'object_key'`;

/** The database's default collation, for a table created here (see ensureSchema). */
const SELECT_DEFAULT_COLLATION = `
SELECT 'd' AS collprovider, NULL AS collcollate, NULL AS colllocale,
       d.datcollate, to_jsonb(d) ->> 'datlocprovider' AS datlocprovider, to_jsonb(d) ->> 'datlocale' AS datlocale
FROM pg_database d WHERE d.datname = current_database()`;

interface CollationRow {
  collprovider: string | null;
  collcollate: string | null;
  colllocale: string | null;
  datcollate: string | null;
  datlocprovider: string | null;
  datlocale: string | null;
}

/** True when a collation orders text as memcmp of its UTF-8 bytes, as S3 lists keys. */
function isBytewise(r: CollationRow): boolean {
  let provider = r.collprovider;
  let locale = provider === 'b' ? r.colllocale : r.collcollate;
  if (provider === 'd') {
    // The database default: libc (c) before PostgreSQL 15, or whatever datlocprovider says.
    provider = r.datlocprovider ?? 'c';
    locale = provider === 'c' ? r.datcollate : r.datlocale;
  }
  // libc's C and POSIX are strcmp; the builtin provider's C and C.UTF-8 (17) are code point order.
  if (provider === 'c') return locale === 'C' || locale === 'POSIX';
  if (provider === 'b') return locale === 'C' || locale === 'C.UTF-8';
  return false;
}

// Created with a table created here, when the database's collation is not bytewise: it serves
// listings as the primary key's index would under C. Never created on an existing table.
const CREATE_LIST_INDEX = `CREATE INDEX IF NOT EXISTS object_locations_object_key_c ON object_locations (object_key COLLATE "C")`;

const SELECT_USAGE = `
SELECT backend_name, api_requests, egress_bytes, ingress_bytes
FROM backend_usage
WHERE period = $1`;

// Upstream's FlushUsageDeltas: column-level adds so concurrent flushers never lose a delta.
const UPSERT_USAGE = `
INSERT INTO backend_usage (backend_name, period, api_requests, egress_bytes, ingress_bytes, updated_at)
VALUES ($1, $2, $3, $4, $5, NOW())
ON CONFLICT (backend_name, period) DO UPDATE SET
    api_requests  = backend_usage.api_requests  + EXCLUDED.api_requests,
    egress_bytes  = backend_usage.egress_bytes  + EXCLUDED.egress_bytes,
    ingress_bytes = backend_usage.ingress_bytes + EXCLUDED.ingress_bytes,
    updated_at    = NOW()`;

/**
 * Reads s3-orchestrator's `object_locations` from PostgreSQL, and keeps `backend_usage`.
 *
 * The constructor only builds the pool: nothing connects until the first call, so a database
 * that is down at start-up does not stop degraded reads. Tables are created (when absent) by
 * the first call that reaches the server. {@link PostgresMetadataStore.open} connects eagerly.
 */
export class PostgresMetadataStore implements MetadataStore, UsageStore {
  readonly #cfg: PoolConfig;
  #pool: Pool | undefined;
  #poolLoading: Promise<Pool> | undefined;
  readonly #createTables: boolean;
  /** Connected by `url` rather than by host, database, user and password: what a refusal's hint names. */
  readonly #byUrl: boolean;
  #schema: Promise<void> | undefined;
  #schemaReady = false;
  /** A table creation was refused (read-only session, no CREATE privilege): reads go on without it. */
  #schemaRefused = false;
  #columns: Promise<UpstreamColumns> | undefined;
  /** When #columns was asked (performance.now()). */
  #columnsAt = 0;
  readonly #schemaRecheckMs: number;
  readonly #onUnknownColumns: ((columns: string[]) => void) | undefined;
  #warnedUnknown = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Lookups of this turn, sent together at its end (see getAllObjectLocations). */
  readonly #lookups = new TurnBatch<RawLocationRow[]>((lookups) => this.#runLookups(lookups));
  /** Whether listings need COLLATE "C" (object_key's collation is not bytewise); asked once. */
  #listCollateC: Promise<boolean> | undefined;

  constructor(opts: PostgresMetadataStoreOptions) {
    this.#cfg = postgresPoolConfig(opts);
    this.#byUrl = this.#cfg.connectionString !== undefined;
    this.#createTables = opts.createTables ?? true;
    this.#onUnknownColumns = opts.onUnknownColumns;
    this.#schemaRecheckMs = checkRecheckMs(opts.schemaRecheckMs, 30_000);
    const mod = pg.loaded();
    if (mod !== undefined) this.#buildPool(mod);
  }

  /** Load pg now, so that stores built afterwards have their pool from the start. */
  static async preload(): Promise<void> {
    await pg.load();
  }

  #buildPool(mod: PgModule): Pool {
    const pool = new mod.Pool(this.#cfg);
    // An idle connection the server drops emits 'error' on the pool; unhandled, it would
    // crash the process. The next query reports the outage.
    pool.on('error', () => {});
    this.#pool = pool;
    return pool;
  }

  /** The pool, built once pg has loaded (at once when it already has). */
  #lazyPool(): Promise<Pool> {
    this.#poolLoading ??= pg.load().then((mod) => this.#pool ?? this.#buildPool(mod));
    return this.#poolLoading;
  }

  /** Connect now and create the tables when absent; rejects DB_UNAVAILABLE when the server cannot be reached. */
  static async open(opts: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
    const store = new PostgresMetadataStore(opts);
    try {
      await store.#ensureSchema();
      if (!store.#createTables) await store.#query('SELECT 1', []);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  #wrap(err: unknown, what: string): ReadPathError {
    if (err instanceof ReadPathError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const hint = connectionHint(err, this.#byUrl);
    const detail = `PostgreSQL ${what} failed${typeof code === 'string' ? ` (${code})` : ''}: ${messageOf(err)}${hint === undefined ? '' : ` (check ${hint})`}`;
    return new ReadPathError(isPostgresUnavailable(err) ? 'DB_UNAVAILABLE' : 'METADATA_ERROR', detail, { cause: err });
  }

  #ensureSchema(): Promise<void> {
    if (this.#schemaReady || !this.#createTables) return Promise.resolve();
    this.#schema ??= this.#transaction('table creation', async (c) => {
      // Serialise with other processes: concurrent CREATE TABLE IF NOT EXISTS can still
      // collide in pg_type.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('readpath:schema'))`);
      // Creating only what is missing, so a role without CREATE on an existing
      // s3-orchestrator database still works.
      const { rows } = await c.query<{ ol: string | null; bu: string | null }>(
        `SELECT to_regclass('object_locations')::text AS ol, to_regclass('backend_usage')::text AS bu`,
      );
      const r = rows[0];
      if (r?.ol == null) {
        await c.query(CREATE_OBJECT_LOCATIONS);
        const { rows: coll } = await c.query<CollationRow>(SELECT_DEFAULT_COLLATION);
        if (coll[0] !== undefined && !isBytewise(coll[0])) await c.query(CREATE_LIST_INDEX);
      }
      if (r?.bu == null) await c.query(CREATE_BACKEND_USAGE);
    }).then(
      () => {
        this.#schemaReady = true;
      },
      (err: unknown) => {
        this.#schema = undefined;
        throw err;
      },
    );
    return this.#schema;
  }

  /**
   * The tables created, as far as this session may: a read-only database (a hot standby, a
   * database with `default_transaction_read_only`) or a role without CREATE cannot make a table
   * it lacks, and reads must not fail for that — lookups and listings need only
   * object_locations, and backend_usage is read only by usage loads and flushes. Once refused,
   * reads stop asking (a refused creation costs a transaction); writes still ask every time, so a
   * replica promoted meanwhile gets its tables at the next flush.
   */
  async #ensureSchemaForRead(): Promise<void> {
    if (this.#schemaRefused) return;
    try {
      await this.#ensureSchema();
    } catch (err) {
      if (!isWriteRefused(err)) throw err;
      this.#schemaRefused = true;
    }
  }

  async #query<R extends object>(text: string, values: unknown[], signal?: AbortSignal, name?: string): Promise<R[]> {
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
    if (signal?.aborted) throw abortedError(signal);
    await this.#ensureSchemaForRead();
    const pool = this.#pool ?? (await this.#lazyPool());
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
    const pending = pool.query<R>(name === undefined ? { text, values } : { name, text, values });
    return (await untilAborted(pending, signal)).rows;
  }

  async #transaction(what: string, fn: (client: PoolClient) => Promise<void>): Promise<void> {
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
    let client: PoolClient;
    try {
      const pool = this.#pool ?? (await this.#lazyPool());
      if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
      client = await pool.connect();
    } catch (err) {
      throw this.#wrap(err, what);
    }
    // A checked-out client has no pool listener: a server that goes away between two
    // statements would otherwise raise an unhandled 'error'.
    const onError = (): void => {};
    client.on('error', onError);
    let failure: unknown;
    try {
      await client.query('BEGIN');
      await fn(client);
      await client.query('COMMIT');
    } catch (err) {
      failure = err;
      try {
        await client.query('ROLLBACK');
      } catch {
        // The connection is broken; releasing it with the error discards it.
      }
      throw this.#wrap(err, what);
    } finally {
      client.removeListener('error', onError);
      client.release(failure !== undefined && isPostgresUnavailable(failure) ? (failure as Error) : undefined);
    }
  }

  /**
   * Which of upstream's later columns object_locations has, and whether object_tags exists:
   * asked again every `schemaRecheckMs` (upstream migrates a database readpath is reading when
   * it is upgraded: a new column must not go unread until readpath restarts). A first answer
   * that failed is asked again at the next call; a later one that fails keeps the last answer
   * (a catalog query's hiccup must not fail the lookups waiting for it; a table renamed away is
   * not a table without upstream's columns) until the next recheck.
   * `force`: ask again now (a statement found the table changed).
   */
  #upstreamColumns(signal: AbortSignal | undefined, force = false): Promise<UpstreamColumns> {
    const now = performance.now();
    if (this.#columns === undefined) {
      this.#columnsAt = now;
      this.#columns = this.#askColumns().catch((err: unknown) => {
        this.#columns = undefined;
        throw err;
      });
    } else if (force || now - this.#columnsAt >= this.#schemaRecheckMs) {
      this.#columnsAt = now;
      const last = this.#columns;
      this.#columns = this.#askColumns().catch(() => last);
    }
    // Asked without any caller's signal: the answer is shared, and one caller giving up must
    // not fail the others waiting for it. Each caller stops waiting on its own signal.
    return untilAborted(this.#columns, signal);
  }

  async #askColumns(): Promise<UpstreamColumns> {
    const [rows, tagRows] = await Promise.all([
      this.#readQuery<{ attname: string }>(UPSTREAM_COLUMNS, []),
      this.#readQuery<{ tags: boolean }>(HAS_TAGS, []),
    ]);
    // No table, no columns to take for its columns: a table renamed away and back must not be
    // read without upstream's columns (its unmanaged rows served) until the next recheck.
    if (rows.length === 0) throw new ReadPathError('METADATA_ERROR', 'PostgreSQL metadata: table object_locations not found');
    const has = (name: string): boolean => rows.some((r) => r.attname === name);
    const unknown = unknownLocationColumns(rows.map((r) => r.attname));
    if (unknown.length > 0 && !this.#warnedUnknown) {
      this.#warnedUnknown = true;
      this.#onUnknownColumns?.(unknown);
    }
    return {
      storageKey: has('storage_key'), managed: has('managed'),
      compressed: has('compression_algorithm') && has('logical_size') && has('compression_format_version'),
      identity: has('etag') && has('content_type'),
      userMetadata: has('user_metadata'),
      tags: tagRows[0]?.tags === true,
    };
  }

  /**
   * An object's tag set (see {@link MetadataStore.getObjectTags}) from upstream's `object_tags`,
   * ordered by tag key in byte order (S3's); `[]` while the database has no such table.
   */
  async getObjectTags(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectTag[]> {
    let rows: { tag_key: unknown; tag_value: unknown }[];
    try {
      rows = await this.#readQuery<{ tag_key: unknown; tag_value: unknown }>(SELECT_TAGS, [key], opts?.signal, 'readpath_get_object_tags');
    } catch (err) {
      // 42P01 undefined_table: a database from before upstream's tags has none.
      if ((err as { code?: unknown } | null)?.code === '42P01') return [];
      throw this.#wrap(err, `tags of ${JSON.stringify(key)}`);
    }
    return toObjectTags(key, rows.map((r) => [r.tag_key, r.tag_value]));
  }

  /**
   * Lookups issued in one turn of the event loop go to the server together at its end
   * (turn-batch.ts), as one statement for all their keys: a query's client CPU in pg (~40-70 us)
   * and the server's per-statement work are paid once per turn, not once per key — measured
   * with 64 lookups in flight, 6-7 us of client CPU per key instead of 40-70. A turn with one
   * lookup sends the one-key statement. Each caller stops waiting on its own signal; the
   * statement, which pg cannot cancel, finishes for the others.
   */
  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    const raw = await untilAborted(this.#lookups.add(key), opts?.signal);
    if (raw.length === 0) throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
    // The server ordered by the full-precision timestamptz (Dates only keep milliseconds), NULLs
    // last: each undated copy gets the newest dated copy's time (see undatedTimestamp).
    let newest: ParsedTimestamp | undefined;
    return raw.map((r) => {
      const t = rowTimestamp(key, r.backend_name, r.created_at);
      if (t !== null) newest = t;
      return toObjectLocation(key, r, t ?? undatedTimestamp(newest));
    });
  }

  #runLookups(lookups: readonly PendingLookup[]): void {
    // PostgreSQL text holds no NUL: such a key goes alone, so that its error is its own.
    const alone = lookups.filter((l) => l.key.includes('\0'));
    const together = alone.length === 0 ? lookups : lookups.filter((l) => !l.key.includes('\0'));
    for (const l of alone) void this.#lookUpOne(l);
    if (together.length === 1) void this.#lookUpOne(together[0] as PendingLookup);
    else for (let i = 0; i < together.length; i += MAX_KEYS_PER_LOOKUP) void this.#lookUpMany(together.slice(i, i + MAX_KEYS_PER_LOOKUP));
  }

  /**
   * A lookup statement, sent once more when the connection it went on broke under it (a server
   * restart, a session ended by an administrator or a pooler): a turn's lookups share one
   * statement, and all of them failing at once would open the store breaker — three outage
   * failures in a row — on what a fresh connection serves. Timeouts and unreachable servers are
   * not retried: those are the outages the breaker is for.
   */
  #lookupQuery<R extends object>(sql: (c: UpstreamColumns) => string, values: unknown[], name: string): Promise<R[]> {
    return this.#columnsQuery<R>((c) => ({ text: sql(c), name: lookupStatementName(name, c) }), values, undefined);
  }

  /**
   * A read-only statement, sent once more when the connection it went on broke under it (see
   * isBrokenConnection) or a hot standby cancelled it in conflict with its replay (see
   * isRecoveryConflict): reading again is harmless, and a fresh connection, or the replay done,
   * usually serves it. A turn's lookups share one statement: without this one conflict would fail
   * them all.
   */
  async #readQuery<R extends object>(text: string, values: unknown[], signal?: AbortSignal, name?: string): Promise<R[]> {
    try {
      return await this.#query<R>(text, values, signal, name);
    } catch (err) {
      if (!(isBrokenConnection(err) || isRecoveryConflict(err)) || this.#closed || signal?.aborted === true) throw err;
      return this.#query<R>(text, values, signal, name);
    }
  }

  /**
   * A read of object_locations whose statement depends on the columns the table has. When the
   * table changed under it — a column dropped or retyped, object_tags dropped — the columns are
   * asked again at once (not at the next recheck, up to schemaRecheckMs later) and the statement
   * sent once more, unprepared: a prepared statement whose result type changed fails on its
   * connection ("cached plan must not change result type") until that connection is gone. What
   * still fails (object_locations itself gone) is the METADATA_ERROR naming it.
   */
  async #columnsQuery<R extends object>(build: (c: UpstreamColumns) => { text: string; name: string }, values: unknown[], signal: AbortSignal | undefined): Promise<R[]> {
    const first = build(await this.#upstreamColumns(signal));
    const askedAt = this.#columnsAt;
    try {
      return await this.#readQuery<R>(first.text, values, signal, first.name);
    } catch (err) {
      if (!isSchemaChange(err) || this.#closed || signal?.aborted === true) throw err;
      // Concurrent statements that failed alike share one new look at the columns.
      const columns = await this.#upstreamColumns(signal, this.#columnsAt === askedAt);
      return this.#readQuery<R>(build(columns).text, values, signal);
    }
  }

  async #lookUpOne(l: PendingLookup): Promise<void> {
    try {
      l.resolve(await this.#lookupQuery<RawLocationRow>(selectLocationsSql, [l.key], 'readpath_get_all_object_locations'));
    } catch (err) {
      l.reject(this.#wrap(err, `lookup of ${JSON.stringify(l.key)}`));
    }
  }

  async #lookUpMany(lookups: readonly PendingLookup[]): Promise<void> {
    const keys = [...new Set(lookups.map((l) => l.key))];
    let raw: (RawLocationRow & { lookup_key: string })[];
    try {
      raw = await this.#lookupQuery<RawLocationRow & { lookup_key: string }>(selectManyLocationsSql, [keys], 'readpath_get_many_object_locations');
    } catch (err) {
      // Each lookup's error names its own key, as a lookup alone would.
      for (const l of lookups) l.reject(this.#wrap(err, `lookup of ${JSON.stringify(l.key)}`));
      return;
    }
    const byKey = new Map<string, RawLocationRow[]>();
    for (const r of raw) {
      const rows = byKey.get(r.lookup_key);
      if (rows === undefined) byKey.set(r.lookup_key, [r]);
      else rows.push(r);
    }
    for (const l of lookups) l.resolve(byKey.get(l.key) ?? []);
  }

  /**
   * One page of the key listing (see {@link MetadataStore.listKeys}), in one statement.
   *
   * Order is bytewise whatever the database's collation. When object_key's collation is C or
   * POSIX (as with `initdb --locale=C`), the primary key's index serves the range and each
   * page costs about `limit` index entries. Under any other collation (en_US.UTF-8, ICU...)
   * the statement compares under COLLATE "C", which that index cannot serve: without an index
   * on `object_key COLLATE "C"` every page scans and sorts the matching rows. A table created
   * here gets that index; on an existing table it is left to its owner:
   * `CREATE INDEX CONCURRENTLY object_locations_object_key_c ON object_locations (object_key COLLATE "C")`.
   */
  async listKeys(opts: ListKeysOptions): Promise<ListedObject[]> {
    const checked = checkListKeysOptions(opts);
    if (opts.signal?.aborted) throw abortedError(opts.signal);
    // PostgreSQL text holds no NUL, so no key does: a prefix with one matches nothing, and
    // "after a\0…" is "after a".
    if (checked.prefix.includes('\0')) checked.limit = 0;
    const nul = checked.startAfter?.indexOf('\0') ?? -1;
    if (nul >= 0) checked.startAfter = checked.startAfter?.slice(0, nul);
    const { from, inclusive, to } = keyRange(checked);
    let raw: RawListedRow[];
    try {
      const collateC = await this.#keyCollation();
      if (checked.limit === 0) return [];
      const values: unknown[] = [from, checked.limit];
      if (to !== undefined) values.push(to);
      raw = await this.#columnsQuery<RawListedRow>(({ managed, compressed, identity }) => ({
        text: postgresListKeysSql(collateC, inclusive, to !== undefined, managed, compressed, identity),
        name: `readpath_list_keys_${collateC ? 'c' : 'n'}${inclusive ? 'ge' : 'gt'}${to === undefined ? '' : 'lt'}${managed ? '_m' : ''}${compressed ? '_z' : ''}${identity ? '_i' : ''}`,
      }), values, opts.signal);
    } catch (err) {
      throw this.#wrap(err, `key listing after ${JSON.stringify(from)}`);
    }
    return raw.map((r) => {
      const key = listedKey(r);
      // An undated first copy: every copy is undated (NULLs sort last).
      return toListedObject(key, r, rowTimestamp(key, r.backend_name, r.created_at) ?? undatedTimestamp(undefined));
    });
  }

  /**
   * Whether object_key needs COLLATE "C" to compare bytewise: asked once (a catalog read that
   * takes no lock on the table), again after a failure. Shared by concurrent listings, so no
   * caller's signal aborts it; the listing's own statement watches the signal.
   */
  #keyCollation(): Promise<boolean> {
    this.#listCollateC ??= this.#readQuery<CollationRow>(SELECT_KEY_COLLATION, []).then(
      (rows) => {
        const r = rows[0];
        if (r === undefined) throw new ReadPathError('METADATA_ERROR', 'PostgreSQL key listing: table object_locations (column object_key) not found');
        return !isBytewise(r);
      },
    );
    const pending = this.#listCollateC;
    pending.catch(() => {
      if (this.#listCollateC === pending) this.#listCollateC = undefined;
    });
    return pending;
  }

  /** Insert or replace one location row (seeding, tests, the demo). */
  async addLocation(location: ObjectLocation): Promise<void> {
    await this.addLocations([location]);
  }

  /**
   * Insert or replace location rows in one transaction. On a database created by
   * s3-orchestrator, the backend must exist in its `backend_quotas` (upstream's foreign key).
   */
  async addLocations(locations: Iterable<ObjectLocation>): Promise<void> {
    const locs = [...locations];
    locs.forEach(checkLocationForWrite);
    await this.#ensureSchema();
    await this.#transaction('location upsert', async (c) => {
      for (const l of locs) {
        const k = l.encryptionKey ?? null;
        await c.query(UPSERT_LOCATION, [
          l.objectKey,
          l.backendName,
          l.sizeBytes,
          l.encrypted,
          k === null ? null : Buffer.from(k.buffer, k.byteOffset, k.byteLength),
          l.keyId ?? null,
          l.plaintextSize ?? null,
          l.contentHash ?? null,
          l.createdAt.toISOString(),
        ]);
      }
    });
  }

  async loadUsage(period: string): Promise<Map<string, UsageStat>> {
    checkPeriod(period);
    let rows: Record<string, unknown>[];
    try {
      rows = await this.#readQuery<Record<string, unknown>>(SELECT_USAGE, [period]);
    } catch (err) {
      throw this.#wrap(err, `usage load for ${period}`);
    }
    return usageRowsToMap(rows);
  }

  async flushUsage(deltas: readonly UsageDelta[]): Promise<void> {
    checkDeltas(deltas);
    if (deltas.length === 0) return;
    await this.#ensureSchema();
    // Rows are locked in one order whatever order a tracker lists them in: two processes
    // flushing the same backends in opposite orders would otherwise deadlock, and PostgreSQL
    // would refuse one flush.
    const ordered = [...deltas].sort((a, b) => byText(a.backendName, b.backendName) || byText(a.period, b.period));
    await this.#transaction('usage flush', async (c) => {
      for (const d of ordered) await c.query(UPSERT_USAGE, [d.backendName, d.period, d.apiRequests, d.egressBytes, d.ingressBytes]);
    });
  }

  /** End the pool (waiting for checked-out connections). Idempotent; later calls answer DB_UNAVAILABLE. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      // A pool still being built (pg loading) is ended once it exists; none built, none to end.
      const pool = this.#pool !== undefined ? Promise.resolve(this.#pool) : this.#poolLoading;
      this.#closing = pool === undefined ? Promise.resolve() : pool.then((p) => p.end()).catch(() => {});
    }
    return this.#closing;
  }
}

/**
 * True when the server refused a write because this session may not write: a read-only
 * transaction (25006: a hot standby, `default_transaction_read_only`) or a missing privilege
 * (42501: no CREATE on the schema).
 */
function isWriteRefused(err: unknown): boolean {
  const code = (err instanceof ReadPathError ? err.cause : err) as { code?: unknown } | null | undefined;
  return code?.code === '25006' || code?.code === '42501';
}

/** Code-unit order: the same in every process, whatever its locale. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `pending`'s answer, or ABORTED as soon as `signal` aborts. pg cannot cancel a running query:
 * the caller stops waiting and the query finishes (or times out) on its own, returning its
 * connection to the pool.
 */
async function untilAborted<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return pending;
  if (signal.aborted) {
    pending.catch(() => {});
    throw abortedError(signal);
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([pending, aborted]);
  } catch (err) {
    pending.catch(() => {});
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort as () => void);
  }
}

