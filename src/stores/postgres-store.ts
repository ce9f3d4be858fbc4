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
import type { MetadataStore, ObjectLocation } from '../types.js';
import type { UsageDelta, UsageStat } from '../policies/usage-tracker.js';
import { checkLocationForWrite, rowTimestamp, toObjectLocation, type RawLocationRow } from './row-mapping.js';
import { checkDeltas, checkPeriod, usageRowsToMap, type UsageStore } from './usage-store.js';
import { lazyModule } from '../lazy-module.js';
import { isPostgresUnavailable, postgresPoolConfig, type PostgresMetadataStoreOptions } from './postgres-connection.js';

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

const SELECT_LOCATIONS = `
SELECT object_key, backend_name, size_bytes, encrypted, encryption_key,
       key_id, plaintext_size, content_hash, created_at
FROM object_locations
WHERE object_key = $1
ORDER BY created_at ASC`;

const UPSERT_LOCATION = `
INSERT INTO object_locations (object_key, backend_name, size_bytes, encrypted, encryption_key,
                              key_id, plaintext_size, content_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (object_key, backend_name) DO UPDATE SET
    size_bytes = EXCLUDED.size_bytes, encrypted = EXCLUDED.encrypted,
    encryption_key = EXCLUDED.encryption_key, key_id = EXCLUDED.key_id,
    plaintext_size = EXCLUDED.plaintext_size, content_hash = EXCLUDED.content_hash,
    created_at = EXCLUDED.created_at`;

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
  #schema: Promise<void> | undefined;
  #schemaReady = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: PostgresMetadataStoreOptions) {
    this.#cfg = postgresPoolConfig(opts);
    this.#createTables = opts.createTables ?? true;
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
    const detail = `PostgreSQL ${what} failed${typeof code === 'string' ? ` (${code})` : ''}: ${messageOf(err)}`;
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
      if (r?.ol == null) await c.query(CREATE_OBJECT_LOCATIONS);
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

  async #query<R extends object>(text: string, values: unknown[], signal?: AbortSignal, name?: string): Promise<R[]> {
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
    if (signal?.aborted) throw abortedError(signal);
    await this.#ensureSchema();
    const pool = this.#pool ?? (await this.#lazyPool());
    if (this.#closed) throw new ReadPathError('DB_UNAVAILABLE', 'PostgreSQL metadata store is closed');
    const pending = pool.query<R>(name === undefined ? { text, values } : { name, text, values });
    if (signal === undefined) return (await pending).rows;
    if (signal.aborted) {
      pending.catch(() => {});
      throw abortedError(signal);
    }
    // pg cannot cancel a running query: the caller stops waiting and the query finishes
    // (or times out) on its own, returning its connection to the pool.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortedError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return (await Promise.race([pending, aborted])).rows;
    } catch (err) {
      pending.catch(() => {});
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort as () => void);
    }
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

  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    let raw: RawLocationRow[];
    try {
      // Named: prepared once per connection, then only bound and executed.
      raw = await this.#query<RawLocationRow>(SELECT_LOCATIONS, [key], opts?.signal, 'readpath_get_all_object_locations');
    } catch (err) {
      throw this.#wrap(err, `lookup of ${JSON.stringify(key)}`);
    }
    if (raw.length === 0) throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
    // The server ordered by the full-precision timestamptz; Dates only keep milliseconds.
    return raw.map((r) => toObjectLocation(key, r, rowTimestamp(key, r.backend_name, r.created_at)));
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
      rows = await this.#query<Record<string, unknown>>(SELECT_USAGE, [period]);
    } catch (err) {
      throw this.#wrap(err, `usage load for ${period}`);
    }
    return usageRowsToMap(rows);
  }

  async flushUsage(deltas: readonly UsageDelta[]): Promise<void> {
    checkDeltas(deltas);
    if (deltas.length === 0) return;
    await this.#ensureSchema();
    await this.#transaction('usage flush', async (c) => {
      for (const d of deltas) await c.query(UPSERT_USAGE, [d.backendName, d.period, d.apiRequests, d.egressBytes, d.ingressBytes]);
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
