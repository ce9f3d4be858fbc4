/**
 * The embedded metadata store: s3-orchestrator's SQLite database, read with better-sqlite3.
 *
 * better-sqlite3 is synchronous, so every statement is prepared once and kept; a lookup is one
 * indexed read (the primary key `(object_key, backend_name)` covers `object_key = ?`). The
 * database runs in WAL mode, so readers in this and other processes never wait for a writer.
 *
 * Over 300 lines on purpose: one class per database, its prepared statements and their row
 * decoding side by side; row validation itself is shared with PostgreSQL in row-mapping.ts.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ReadPathError, abortedError, hasCode, messageOf } from '../errors.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation, ObjectTag } from '../types.js';
import type { UsageDelta, UsageStat } from '../policies/usage-tracker.js';
import {
  checkLocationForWrite, compareCopies, listedKey, rowTimestamp, sortCopies, toListedObject, toObjectLocation, toObjectTags, undatedTimestamp, unknownLocationColumns,
  type ParsedTimestamp, type RawListedRow, type RawLocationRow,
} from './row-mapping.js';
import { checkListKeysOptions, compareKeys, keyRange } from './key-listing.js';
import { checkRecheckMs } from './schema-recheck.js';
import { TurnBatch, type Pending } from './turn-batch.js';
import { checkDeltas, checkPeriod, usageRowsToMap, type UsageStore } from './usage-store.js';

/** Options for {@link SqliteMetadataStore}. */
export interface SqliteMetadataStoreOptions {
  /** Database file (created when absent unless `readonly`); `:memory:` for a private in-memory database. */
  path: string;
  /** Open read-only: tables are neither created nor written. Default false. */
  readonly?: boolean;
  /**
   * How long one statement may wait for a lock another process holds (s3-orchestrator committing
   * to a rollback-journal file, a checkpoint), in ms (`database.busy_timeout`). better-sqlite3
   * waits on the calling thread, so this is how long the event loop can stop per wait; a read
   * still locked out after it fails DB_UNAVAILABLE (reads go degraded). Default 50.
   */
  busyTimeoutMs?: number;
  /**
   * How long a write that may wait (the last usage flush, on close; addLocations) keeps trying
   * for the write lock, in ms: each attempt waits at most `busyTimeoutMs`, and the time between
   * attempts is spent off the thread. A periodic usage flush makes one attempt and is retried at
   * the next interval. Default 5000.
   */
  writeWaitMs?: number;
  /** Called once when `object_locations` has columns readpath does not know (see unknownLocationColumns). */
  onUnknownColumns?: (columns: string[]) => void;
  /**
   * How often, at most, lookups, listings and tag reads check whether the file's schema changed
   * (SQLite's schema cookie: upstream adds columns and tables when it migrates, which may be
   * while readpath reads the file) and whether the path still names the file that is open (a
   * backup restored by renaming it into place, the file deleted), in ms. Default 1000.
   */
  schemaRecheckMs?: number;
}

// Column types follow upstream's SQLite schema (TEXT timestamps in RFC 3339, INTEGER booleans,
// BLOB keys), minus its foreign keys to backend_quotas, a table readpath does not own.
const CREATE_OBJECT_LOCATIONS = `
CREATE TABLE IF NOT EXISTS object_locations (
    object_key     TEXT NOT NULL,
    backend_name   TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    encrypted      INTEGER NOT NULL DEFAULT 0,
    encryption_key BLOB,
    key_id         TEXT,
    plaintext_size INTEGER,
    content_hash   TEXT,
    created_at     TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (object_key, backend_name)
)`;

const CREATE_BACKEND_USAGE = `
CREATE TABLE IF NOT EXISTS backend_usage (
    backend_name  TEXT NOT NULL,
    period        TEXT NOT NULL,
    api_requests  INTEGER NOT NULL DEFAULT 0,
    egress_bytes  INTEGER NOT NULL DEFAULT 0,
    ingress_bytes INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (backend_name, period)
)`;

/**
 * Columns upstream added to `object_locations` over time that a read needs: each is selected
 * where the table has it, else as NULL, so a row has the same shape from every schema.
 */
export const OPTIONAL_LOCATION_COLUMNS = ['storage_key', 'compression_algorithm', 'logical_size', 'compression_format_version', 'etag', 'content_type', 'user_metadata'] as const;

/** `column`, or NULL in its place when the table does not have it. */
function optionalColumn(columns: ReadonlySet<string>, column: string): string {
  return columns.has(column) ? column : `NULL AS ${column}`;
}

/**
 * The lookup of one key's rows: the base columns, then {@link OPTIONAL_LOCATION_COLUMNS}
 * (storage_key: where each copy's bytes are; the compression columns: how they are encoded;
 * etag, content_type and user_metadata: the object's identity as upstream's clients were given it).
 * Rows upstream marks unmanaged (`managed = 0`: kept for their quota, never served) are left
 * out where the column exists; a NULL there (upstream declares it NOT NULL) counts as managed.
 * With upstream's `object_tags` (when the statements were prepared), each row also carries the object's
 * tag count.
 */
function selectLocationsSql(columns: ReadonlySet<string>, tags: boolean): string {
  return `
SELECT object_key, backend_name, size_bytes, encrypted, encryption_key,
       key_id, plaintext_size, content_hash, created_at,
       ${OPTIONAL_LOCATION_COLUMNS.map((c) => optionalColumn(columns, c)).join(', ')},
       ${tags ? '(SELECT count(*) FROM object_tags t WHERE t.object_key = object_locations.object_key)' : 'NULL'} AS tag_count
FROM object_locations
WHERE object_key = ?${columns.has('managed') ? ' AND coalesce(managed, 1) <> 0' : ''}`;
}

/** Whether the file has the table `name`. */
function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/** Whether the file has upstream's `object_tags` table. */
function hasObjectTags(db: Database.Database): boolean {
  return hasTable(db, 'object_tags');
}

/** An object's tags, as upstream reads them: by tag key (BINARY: byte order, S3's). */
const SELECT_TAGS = `SELECT tag_key, tag_value FROM object_tags WHERE object_key = ? ORDER BY tag_key`;

const UPSERT_LOCATION = `
INSERT INTO object_locations (object_key, backend_name, size_bytes, encrypted, encryption_key,
                              key_id, plaintext_size, content_hash, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (object_key, backend_name) DO UPDATE SET
    size_bytes = excluded.size_bytes, encrypted = excluded.encrypted,
    encryption_key = excluded.encryption_key, key_id = excluded.key_id,
    plaintext_size = excluded.plaintext_size, content_hash = excluded.content_hash,
    created_at = excluded.created_at`;

const SELECT_USAGE = `
SELECT backend_name, api_requests, egress_bytes, ingress_bytes
FROM backend_usage
WHERE period = ?`;

const UPSERT_USAGE = `
INSERT INTO backend_usage (backend_name, period, api_requests, egress_bytes, ingress_bytes, updated_at)
VALUES (?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (backend_name, period) DO UPDATE SET
    api_requests  = backend_usage.api_requests  + excluded.api_requests,
    egress_bytes  = backend_usage.egress_bytes  + excluded.egress_bytes,
    ingress_bytes = backend_usage.ingress_bytes + excluded.ingress_bytes,
    updated_at    = excluded.updated_at`;

// No ORDER BY: a key's rows are ordered in JS anyway (see getAllObjectLocations), and without
// it SQLite reads them from an index on object_key with no sort step.

/**
 * One page of a key listing: the page's distinct keys from a range scan of the primary-key
 * index that stops after LIMIT keys, then every row of those keys (an index lookup each), in
 * key then backend order. The first copy of each key is chosen in JS, as lookups order copies
 * (compareCopies): created_at is TEXT in several layouts and zones (see getAllObjectLocations),
 * so neither MIN(created_at) nor ORDER BY created_at is time order. BINARY collation is memcmp of UTF-8: S3's order. Four
 * variants: `>=` prefix or `>` start-after, with or without the prefix's upper bound.
 * Parameters: the lower bound, the upper bound when `bounded`, the limit. `compressed`: the
 * table has upstream's compression columns (a compressed copy is listed at its logical size);
 * `identity`: it has upstream's `etag` (listed with its ETag; content_hash gives one without it). With `managed`
 * (upstream's column exists) unmanaged rows are skipped, in choosing the page's keys too, so a
 * key with none but those is not listed and takes no place in the page. Exported for the
 * query-plan tests.
 */
export function sqliteListKeysSql(inclusive: boolean, bounded: boolean, managed = false, compressed = false, identity = false): string {
  const k = 'object_key COLLATE BINARY';
  const m = managed ? ' AND coalesce(managed, 1) <> 0' : '';
  return `
SELECT object_key, backend_name, size_bytes, encrypted, plaintext_size, created_at,
       ${compressed ? 'compression_algorithm, logical_size' : 'NULL, NULL'}, ${identity ? 'etag' : 'NULL'}, content_hash
FROM object_locations
WHERE object_key IN (
    SELECT DISTINCT ${k} FROM object_locations
    WHERE ${k} ${inclusive ? '>=' : '>'} ?${bounded ? ` AND ${k} < ?` : ''}${m}
    ORDER BY ${k}
    LIMIT ?)${m}
ORDER BY ${k}, backend_name`;
}

// SQLite result codes that mean "the database cannot be used right now" rather than "this
// query or row is wrong": the breaker counts them and reads go degraded.
const UNAVAILABLE_CODES = /^SQLITE_(CANTOPEN|BUSY|LOCKED|IOERR|NOTADB|CORRUPT|FULL|PROTOCOL|NOLFS|AUTH)/;
// After these the handle may be bound to a replaced or broken file: reopen on the next call.
const REOPEN_CODES = /^SQLITE_(CANTOPEN|IOERR|NOTADB|CORRUPT)/;

/** A lookup waiting for the next batch (see SqliteMetadataStore.getAllObjectLocations). */
type Lookup = Pending<unknown[][]>;

interface Connection {
  db: Database.Database;
  /** Raw mode: rows as arrays in selectLocationsSql's column order, ~40% cheaper than objects. */
  select: Database.Statement<[string], unknown[]>;
  /**
   * The usage load, prepared on first use: lookups and listings must not depend on
   * backend_usage (a read-only file without it, a migration recreating it).
   */
  selectUsage: () => Database.Statement<[string], Record<string, unknown>>;
  /** Listing statements by variant (see sqliteListKeysSql), prepared on first use. */
  list: Map<string, Database.Statement<unknown[], unknown[]>>;
  /** True when the database's text encoding is UTF-8: BINARY order is then byte order. */
  utf8: boolean;
  /** The table has upstream's `managed` column: unmanaged rows are skipped. */
  managed: boolean;
  /** The table has upstream's compression columns. */
  compressed: boolean;
  /** The table has upstream's `etag` column. */
  identity: boolean;
  /** The tag set lookup, once upstream's `object_tags` was found. */
  selectTags?: Database.Statement<[string], unknown[]>;
  /** SQLite's schema cookie when the statements were prepared, and the statement reading it. */
  schemaVersion: number;
  readSchemaVersion: Database.Statement<[], number>;
  /** When the cookie was last compared (performance.now()). */
  checkedAt: number;
  upsertLocations: (locs: readonly ObjectLocation[]) => void;
  /** Several lookups in one read transaction: SQLite takes its read lock once, not per key. */
  selectMany: (lookups: readonly Lookup[]) => void;
  flushUsage: (deltas: readonly UsageDelta[]) => void;
}

/** Default `busyTimeoutMs`: a few of SQLite's busy-handler retries, never a frozen event loop. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 50;

/** The pause between two attempts of a write that waits for the lock (see #write), in ms. */
const WRITE_RETRY_MS = 25;

/** SQLite codes after which a write is worth trying again: another connection holds the lock. */
const LOCKED_CODES = /^SQLITE_(BUSY|LOCKED)/;

/**
 * Reads s3-orchestrator's `object_locations` from a SQLite file, and keeps `backend_usage`.
 *
 * The constructor does not touch the file: the first call opens it (creating the tables when
 * absent), and a call that cannot open it answers DB_UNAVAILABLE and the next one tries again.
 * {@link SqliteMetadataStore.open} opens eagerly instead.
 */

export class SqliteMetadataStore implements MetadataStore, UsageStore {
  readonly #opts: Required<Omit<SqliteMetadataStoreOptions, 'onUnknownColumns'>> & Pick<SqliteMetadataStoreOptions, 'onUnknownColumns'>;
  #warnedUnknown = false;
  readonly #lookups = new TurnBatch<unknown[][]>((lookups) => this.#runLookups(lookups));
  #conn: Connection | undefined;
  /**
   * The file the connection reads (device and inode, from before it was opened), to notice the
   * path naming another file; undefined when the path names none (`:memory:`).
   */
  #file: FileId | undefined;
  /** The connection's write-ahead log (`-wal`), when it has one. */
  #wal: FileId | undefined;
  /**
   * The write-ahead log of a file the path no longer names, while it may still lie beside the
   * file that does (see #leaveReplaced).
   */
  #staleWal: FileId | undefined;
  /** The database was opened once: it is never created again (see #connection). */
  #opened = false;
  #createdFile = false;
  #closed = false;

  constructor(opts: SqliteMetadataStoreOptions) {
    if (opts === null || typeof opts !== 'object' || typeof opts.path !== 'string' || opts.path === '') {
      throw new ReadPathError('INVALID_CONFIG', 'database.path: a SQLite file path is required');
    }
    const busy = opts.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS;
    if (!Number.isInteger(busy) || busy < 0) {
      throw new ReadPathError('INVALID_CONFIG', `database.busy_timeout: must be a non-negative integer of ms, got ${String(opts.busyTimeoutMs)}`);
    }
    const writeWait = opts.writeWaitMs ?? 5000;
    if (!Number.isInteger(writeWait) || writeWait < 0) {
      throw new ReadPathError('INVALID_CONFIG', `writeWaitMs: must be a non-negative integer of ms, got ${String(opts.writeWaitMs)}`);
    }
    this.#opts = { path: opts.path, readonly: opts.readonly ?? false, busyTimeoutMs: busy, writeWaitMs: writeWait, schemaRecheckMs: checkRecheckMs(opts.schemaRecheckMs, 1000), ...(opts.onUnknownColumns === undefined ? {} : { onUnknownColumns: opts.onUnknownColumns }) };
  }

  /** Open the database now (creating the tables when absent); rejects DB_UNAVAILABLE when it cannot. */
  static async open(opts: SqliteMetadataStoreOptions): Promise<SqliteMetadataStore> {
    const store = new SqliteMetadataStore(opts);
    store.#connection();
    return store;
  }

  /**
   * The file did not exist when the store was first opened, so it was created empty: every key
   * reads OBJECT_NOT_FOUND until s3-orchestrator writes it (a mistyped `database.path`?).
   */
  get createdFile(): boolean {
    return this.#createdFile;
  }

  /** The database file this store reads. */
  get path(): string {
    return this.#opts.path;
  }

  #connection(): Connection {
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'SQLite metadata store is closed');
    if (this.#conn !== undefined) return this.#conn;
    let db: Database.Database | undefined;
    // Once opened, a file that is missing or has no object_locations is the database gone (being
    // restored, deleted, emptied), not a new one to start: creating it would answer every key
    // OBJECT_NOT_FOUND instead of reading degraded, and leave an empty database (and its -wal)
    // where the restore puts upstream's.
    const reopen = this.#opened;
    try {
      this.#refuseStaleWal();
      // Before opening: a file put in its place meanwhile is noticed at the next check.
      let file = fileId(this.#opts.path);
      if (!reopen && file === undefined && this.#opts.path !== ':memory:') this.#createdFile = true;
      db = new Database(this.#opts.path, { readonly: this.#opts.readonly, fileMustExist: this.#opts.readonly || reopen, timeout: this.#opts.busyTimeoutMs });
      file ??= fileId(this.#opts.path);
      if (reopen && !hasTable(db, 'object_locations')) {
        throw new ReadPathError('DB_UNAVAILABLE', `SQLite database ${this.#opts.path} no longer holds object_locations (emptied or being replaced?)`);
      }
      if (!this.#opts.readonly) {
        db.pragma('journal_mode = WAL');
        // As upstream runs it: durable at checkpoints, no fsync per usage flush.
        db.pragma('synchronous = NORMAL');
        // Creating only what is missing: an existing upstream database is left as it is.
        const have = new Set(
          (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('object_locations', 'backend_usage')`).all() as { name: string }[]).map((r) => r.name),
        );
        if (!have.has('object_locations')) db.exec(CREATE_OBJECT_LOCATIONS);
        if (!have.has('backend_usage')) db.exec(CREATE_BACKEND_USAGE);
      }
      this.#conn = this.#prepare(db);
      this.#file = file;
      this.#wal = fileId(`${this.#opts.path}-wal`);
      this.#staleWal = undefined;
      this.#opened = true;
      return this.#conn;
    } catch (err) {
      try {
        db?.close();
      } catch {
        // Already failing: the open error is the one to report.
      }
      if (err instanceof ReadPathError) throw err;
      const code = sqliteCode(err);
      // Anything that stops the file from opening is an outage, not a bad query; a missing
      // table in a read-only database is a wrong database, reported as such.
      if (code === 'SQLITE_ERROR') throw this.#wrap(err, 'open');
      throw new ReadPathError('DB_UNAVAILABLE', `cannot open SQLite database ${this.#opts.path}: ${messageOf(err)}`, { cause: err });
    }
  }

  /**
   * The connection, its statements prepared again when the file's schema changed since, opened
   * again when the path names another file or none (checked at most every `schemaRecheckMs`:
   * reading the cookie takes the WAL read lock, ~2 µs; a stat ~2 µs more).
   */
  #current(): Connection {
    const conn = this.#connection();
    const now = performance.now();
    if (now - conn.checkedAt < this.#opts.schemaRecheckMs) return conn;
    conn.checkedAt = now;
    if (!this.#sameFile()) {
      // An open handle reads the file it opened for as long as it is open, whatever the path
      // names since: a backup renamed into place would never be read, a deleted file read on.
      this.#leaveReplaced(conn);
      return this.#connection();
    }
    try {
      if (conn.readSchemaVersion.get() === conn.schemaVersion) return conn;
      this.#conn = this.#prepare(conn.db);
    } catch (err) {
      throw this.#wrap(err, 'schema check');
    }
    return this.#conn;
  }

  #prepare(db: Database.Database): Connection {
    // Read first: a change made while the statements are prepared is seen at the next check.
    const readSchemaVersion = db.prepare<[], number>('PRAGMA schema_version').pluck();
    const schemaVersion = readSchemaVersion.get() as number;
    const checkedAt = performance.now();
    const columns = new Set((db.prepare(`PRAGMA table_info(object_locations)`).all() as { name: string }[]).map((c) => c.name));
    this.#warnUnknown(columns);
    const managed = columns.has('managed');
    const compressed = columns.has('compression_algorithm') && columns.has('logical_size');
    const identity = columns.has('etag');
    const tags = hasObjectTags(db);
    const select = db.prepare<[string], unknown[]>(selectLocationsSql(columns, tags)).raw(true);
    let usage: Database.Statement<[string], Record<string, unknown>> | undefined;
    const selectUsage = (): Database.Statement<[string], Record<string, unknown>> => (usage ??= db.prepare<[string], Record<string, unknown>>(SELECT_USAGE));
    const selectMany = db.transaction((lookups: readonly Lookup[]) => {
      for (let i = 0; i < lookups.length; i++) {
        const l = lookups[i] as Lookup;
        try {
          l.resolve(select.all(l.key));
        } catch (err) {
          const e = this.#wrap(err, `lookup of ${JSON.stringify(l.key)}`);
          l.reject(e);
          // An outage is the file's, not the key's: the rest would meet it too, each after
          // waiting the whole busy timeout on this thread (a rollback-journal file whose writer
          // holds its lock: 20 keys, 20 waits), so they fail with it now.
          if (hasCode(e, 'DB_UNAVAILABLE')) {
            for (const rest of lookups.slice(i + 1)) rest.reject(e);
            return;
          }
        }
      }
    });
    const list = new Map<string, Database.Statement<unknown[], unknown[]>>();
    const utf8 = db.pragma('encoding', { simple: true }) === 'UTF-8';
    if (this.#opts.readonly) {
      const readOnly = (): never => {
        throw new ReadPathError('METADATA_ERROR', `SQLite database ${this.#opts.path} is open read-only`);
      };
      return { db, select, selectUsage, selectMany, list, utf8, managed, compressed, identity, schemaVersion, readSchemaVersion, checkedAt, upsertLocations: readOnly, flushUsage: readOnly };
    }
    const upsertLocation = db.prepare(UPSERT_LOCATION);
    let upsertUsage: Database.Statement | undefined;
    return {
      db,
      select,
      selectUsage,
      selectMany,
      list,
      utf8,
      managed,
      compressed,
      identity,
      schemaVersion,
      readSchemaVersion,
      checkedAt,
      upsertLocations: db.transaction((locs: readonly ObjectLocation[]) => {
        for (const l of locs) {
          const key = l.encryptionKey ?? null;
          upsertLocation.run(
            l.objectKey,
            l.backendName,
            l.sizeBytes,
            l.encrypted ? 1 : 0,
            key === null ? null : Buffer.from(key.buffer, key.byteOffset, key.byteLength),
            l.keyId ?? null,
            l.plaintextSize ?? null,
            l.contentHash ?? null,
            // upstream's format: RFC 3339 in UTC, what strftime('%Y-%m-%dT%H:%M:%fZ') writes.
            l.createdAt.toISOString(),
          );
        }
      }),
      flushUsage: db.transaction((deltas: readonly UsageDelta[]) => {
        upsertUsage ??= db.prepare(UPSERT_USAGE);
        for (const d of deltas) upsertUsage.run(d.backendName, d.period, d.apiRequests, d.egressBytes, d.ingressBytes);
      }),
    };
  }

  /** Map a driver error: outages to DB_UNAVAILABLE (dropping a broken handle), the rest to METADATA_ERROR. */
  #wrap(err: unknown, what: string): ReadPathError {
    if (err instanceof ReadPathError) return err;
    const code = sqliteCode(err);
    // A statement the schema changed under (a column or table it reads dropped or renamed):
    // the next call looks at the schema at once rather than failing until the recheck is due.
    if (code === 'SQLITE_ERROR' && this.#conn !== undefined) this.#conn.checkedAt = -Infinity;
    if (code !== undefined && UNAVAILABLE_CODES.test(code)) {
      if (REOPEN_CODES.test(code)) this.#dropConnection();
      return new ReadPathError('DB_UNAVAILABLE', `SQLite ${what} failed (${code}): ${messageOf(err)}`, { cause: err });
    }
    return new ReadPathError('METADATA_ERROR', `SQLite ${what} failed${code === undefined ? '' : ` (${code})`}: ${messageOf(err)}`, { cause: err });
  }

  /** Whether the path still names the file the connection opened (true when that cannot be told). */
  #sameFile(): boolean {
    const was = this.#file;
    if (was === undefined) return true;
    let now: FileId | undefined;
    try {
      now = fileId(this.#opts.path);
    } catch {
      // Not a file any more (a path component replaced): gone, as far as this path goes.
      return false;
    }
    return now !== undefined && now.dev === was.dev && now.ino === was.ino;
  }

  /**
   * Let go of a file the path no longer names. Its `-wal` stays beside the path (SQLite deletes a
   * log on close only when the file was not moved), and SQLite pairs a database with the `-wal`
   * next to it, whatever file wrote it: the file put in its place would be read through the old
   * file's pages, by this store and by s3-orchestrator once it starts. While this store is open,
   * s3-orchestrator's own close cannot checkpoint that log either (this connection's lock stops
   * it). So a writable connection checkpoints its log into the old file and empties it first.
   */
  #leaveReplaced(conn: Connection): void {
    if (!this.#opts.readonly) {
      try {
        conn.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // Then the log is left as it is, and #refuseStaleWal keeps it from being read.
      }
    }
    this.#staleWal = this.#wal;
    this.#dropConnection();
  }

  /**
   * DB_UNAVAILABLE while the `-wal` beside the path is a replaced file's and holds pages: opening
   * the file there would read them as its own.
   */
  #refuseStaleWal(): void {
    const stale = this.#staleWal;
    if (stale === undefined) return;
    const wal = statSync(`${this.#opts.path}-wal`, { bigint: true, throwIfNoEntry: false });
    if (wal === undefined || wal.dev !== stale.dev || wal.ino !== stale.ino || wal.size === 0n) return;
    throw new ReadPathError(
      'DB_UNAVAILABLE',
      `SQLite database ${this.#opts.path} was replaced, and ${this.#opts.path}-wal beside it is the replaced file's write-ahead log: opened with it, the new file would read as the old one; delete ${this.#opts.path}-wal and ${this.#opts.path}-shm (with s3-orchestrator stopped) to read it`,
    );
  }

  #dropConnection(): void {
    const c = this.#conn;
    this.#conn = undefined;
    try {
      c?.db.close();
    } catch {
      // The handle is being thrown away because it is broken.
    }
  }

  /**
   * Lookups issued in one turn of the event loop run together at its end (turn-batch.ts), in one
   * read transaction: each statement on its own takes and releases SQLite's WAL read lock, most
   * of a lookup's cost (11-14 µs a key alone, 4-5 µs in a transaction of 64).
   */
  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    const arrays = await this.#lookups.add(key);
    if (arrays.length === 0) throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
    if (arrays.length === 1) {
      const r = fromArray(arrays[0] as unknown[]);
      return [toObjectLocation(key, r, rowTimestamp(key, r.backend_name, r.created_at) ?? undatedTimestamp(undefined))];
    }
    // Ordered here rather than by the database: text order is not time order for the layouts a
    // file may hold (SQLite's "YYYY-MM-DD HH:MM:SS", zone offsets, RFC3339Nano: "…05Z" sorts
    // after "…05.5Z"), and rows come in whichever index's order the plan picks (with
    // upstream's indexes, rowid order for equal keys). See compareCopies. Upstream's SQLite
    // store orders by the text; what it writes (Go's RFC3339Nano in UTC) differs from time
    // order only for two copies stamped in one second with one fraction, trailing zeros trimmed,
    // a prefix of the other's: time order is what upstream means ("oldest first") and does on
    // PostgreSQL.
    const rows: { r: RawLocationRow; t: ParsedTimestamp | null; backend: unknown }[] = arrays.map((a) => {
      const r = fromArray(a);
      return { r, t: rowTimestamp(key, r.backend_name, r.created_at), backend: r.backend_name };
    });
    // Undated copies come last: each gets the newest dated copy's time (see undatedTimestamp).
    let newest: ParsedTimestamp | undefined;
    return sortCopies(rows).map(({ r, t }) => {
      if (t !== null) newest = t;
      return toObjectLocation(key, r, t ?? undatedTimestamp(newest));
    });
  }

  #runLookups(lookups: readonly Lookup[]): void {
    let conn: Connection;
    try {
      conn = this.#current();
    } catch (err) {
      for (const l of lookups) l.reject(err);
      return;
    }
    if (lookups.length === 1) {
      const l = lookups[0] as Lookup;
      try {
        l.resolve(conn.select.all(l.key));
      } catch (err) {
        l.reject(this.#wrap(err, `lookup of ${JSON.stringify(l.key)}`));
      }
      return;
    }
    try {
      conn.selectMany(lookups);
    } catch (err) {
      // The transaction itself failed (BEGIN or COMMIT): every lookup not answered fails with it.
      const e = this.#wrap(err, `lookup of ${lookups.length} keys`);
      for (const l of lookups) l.reject(e);
    }
  }

  /**
   * One page of the key listing (see {@link MetadataStore.listKeys}): one statement, a range
   * scan of the primary key bounded by the prefix and start-after, LIMIT in SQL.
   */
  async listKeys(opts: ListKeysOptions): Promise<ListedObject[]> {
    const checked = checkListKeysOptions(opts);
    if (opts.signal?.aborted) throw abortedError(opts.signal);
    const conn = this.#current();
    if (!conn.utf8) {
      // UTF-16 text compares as UTF-16 bytes: pages would not be in S3's order.
      throw new ReadPathError('METADATA_ERROR', `SQLite database ${this.#opts.path}: key listing needs a UTF-8 database (PRAGMA encoding)`);
    }
    if (checked.limit === 0) return [];
    const { from, inclusive, to } = keyRange(checked);
    const variant = `${inclusive ? 'ge' : 'gt'}${to === undefined ? '' : '-lt'}`;
    let arrays: unknown[][];
    try {
      let stmt = conn.list.get(variant);
      if (stmt === undefined) {
        stmt = conn.db.prepare<unknown[], unknown[]>(sqliteListKeysSql(inclusive, to !== undefined, conn.managed, conn.compressed, conn.identity)).raw(true);
        conn.list.set(variant, stmt);
      }
      arrays = to === undefined ? stmt.all(from, checked.limit) : stmt.all(from, to, checked.limit);
    } catch (err) {
      throw this.#wrap(err, `key listing after ${JSON.stringify(from)}`);
    }
    const out: ListedObject[] = [];
    // Rows come grouped by key: each key's first copy is the one its lookup tries first.
    let i = 0;
    while (i < arrays.length) {
      const r = listedRow(arrays[i] as unknown[]);
      const key = listedKey(r);
      let best = r;
      let bestCopy = { t: rowTimestamp(key, r.backend_name, r.created_at), backend: r.backend_name };
      for (i++; i < arrays.length; i++) {
        const next = listedRow(arrays[i] as unknown[]);
        if (next.object_key !== key) break;
        const copy = { t: rowTimestamp(key, next.backend_name, next.created_at), backend: next.backend_name };
        if (compareCopies(copy, bestCopy) < 0) {
          best = next;
          bestCopy = copy;
        }
      }
      // Undated first copy: every copy is undated (they sort after dated ones).
      const bestT = bestCopy.t ?? undatedTimestamp(undefined);
      out.push(toListedObject(key, best, bestT));
    }
    // Keys whose bytes are not UTF-8 (upstream stores what its clients sent) reach us decoded,
    // with U+FFFD in place of those bytes: out of the byte order the page was read in, and
    // several keys as one. A page that does not go forward would be asked for again and again.
    let prev = inclusive ? undefined : from;
    for (const o of out) {
      if (prev !== undefined && compareKeys(o.key, prev) <= 0) {
        throw new ReadPathError('METADATA_ERROR', `SQLite database ${this.#opts.path}: a key after ${JSON.stringify(prev)} is not valid UTF-8 (read as ${JSON.stringify(o.key)}); readpath cannot list past it`);
      }
      prev = o.key;
    }
    return out;
  }

  /**
   * An object's tag set (see {@link MetadataStore.getObjectTags}) from upstream's `object_tags`;
   * `[]` while the file has no such table (looked for again on each call: upstream creates it
   * when it migrates, which may be after readpath opened the file).
   */
  async getObjectTags(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectTag[]> {
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    const conn = this.#current();
    let rows: unknown[][];
    try {
      if (conn.selectTags === undefined) {
        if (!hasObjectTags(conn.db)) return [];
        conn.selectTags = conn.db.prepare<[string], unknown[]>(SELECT_TAGS).raw(true);
      }
      rows = conn.selectTags.all(key);
    } catch (err) {
      throw this.#wrap(err, `tags of ${JSON.stringify(key)}`);
    }
    return toObjectTags(key, rows);
  }

  /** Insert or replace one location row (seeding, tests, the demo). */
  async addLocation(location: ObjectLocation): Promise<void> {
    await this.addLocations([location]);
  }

  /** Insert or replace location rows in one transaction: all or none are written (waiting up to `writeWaitMs` for the lock). */
  async addLocations(locations: Iterable<ObjectLocation>): Promise<void> {
    const locs = [...locations];
    locs.forEach(checkLocationForWrite);
    await this.#write((conn) => conn.upsertLocations(locs), 'location upsert', this.#opts.writeWaitMs);
  }

  async loadUsage(period: string): Promise<Map<string, UsageStat>> {
    checkPeriod(period);
    const conn = this.#current();
    let rows: Record<string, unknown>[];
    try {
      rows = conn.selectUsage().all(period);
    } catch (err) {
      throw this.#wrap(err, `usage load for ${period}`);
    }
    return usageRowsToMap(rows);
  }

  async flushUsage(deltas: readonly UsageDelta[], opts?: { final?: boolean }): Promise<void> {
    checkDeltas(deltas);
    if (deltas.length === 0) return;
    // A periodic flush is tried again at the next interval anyway: one attempt. The last one
    // (on close) has no next time, so it keeps trying, between waits that leave the thread free.
    await this.#write((conn) => conn.flushUsage(deltas), 'usage flush', opts?.final === true ? this.#opts.writeWaitMs : 0);
  }

  /**
   * Run a write transaction, trying again while another connection holds the lock for up to
   * `waitMs` in all. better-sqlite3 waits for a lock on the calling thread, so one attempt waits
   * at most the busy timeout and the pause between attempts is a timer: a long wait for
   * s3-orchestrator's lock never stops the reads sharing this thread. A failed attempt is rolled
   * back whole (db.transaction), so trying again adds nothing twice.
   */
  async #write(run: (conn: Connection) => void, what: string, waitMs: number): Promise<void> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const conn = this.#current();
      try {
        run(conn);
        return;
      } catch (err) {
        const code = sqliteCode(err);
        if (code === undefined || !LOCKED_CODES.test(code) || performance.now() + WRITE_RETRY_MS > deadline) throw this.#wrap(err, what);
      }
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_MS));
    }
  }

  /** Tell the caller, once per store, of columns readpath does not know. */
  #warnUnknown(columns: Iterable<string>): void {
    if (this.#warnedUnknown) return;
    const unknown = unknownLocationColumns(columns);
    if (unknown.length === 0) return;
    this.#warnedUnknown = true;
    this.#opts.onUnknownColumns?.(unknown);
  }

  /** Close the database. Idempotent; later calls answer DB_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropConnection();
  }
}

function fromArray(a: unknown[]): RawLocationRow {
  return {
    object_key: a[0],
    backend_name: a[1],
    size_bytes: a[2],
    encrypted: a[3],
    encryption_key: a[4],
    key_id: a[5],
    plaintext_size: a[6],
    content_hash: a[7],
    created_at: a[8],
    storage_key: a[9],
    compression_algorithm: a[10],
    logical_size: a[11],
    compression_format_version: a[12],
    etag: a[13],
    content_type: a[14],
    user_metadata: a[15],
    tag_count: a[16],
  };
}

function listedRow(a: unknown[]): RawListedRow {
  return { object_key: a[0], backend_name: a[1], size_bytes: a[2], encrypted: a[3], plaintext_size: a[4], created_at: a[5], compression_algorithm: a[6], logical_size: a[7], etag: a[8], content_hash: a[9] };
}

/** Which file a path names: its device and inode. */
interface FileId {
  dev: bigint;
  ino: bigint;
}

/** The file `path` names; undefined when it names none (missing, `:memory:`). */
function fileId(path: string): FileId | undefined {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st === undefined ? undefined : { dev: st.dev, ino: st.ino };
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}
