/**
 * One look at the configured metadata database, for an operator: `validate --connect`, and
 * `serve` once it listens. readpath itself connects on first use (a database down at start must
 * not stop a gateway: reads go degraded), so a wrong password, a missing database or role, an
 * `ssl_mode` the server cannot meet, or a file that is not s3-orchestrator's would otherwise show
 * only as every read's DB_UNAVAILABLE or OBJECT_NOT_FOUND.
 *
 * The look writes nothing: PostgreSQL is asked without creating tables, SQLite is opened
 * read-only, and a SQLite file that does not exist is not created. It makes one lookup (the
 * statement reads make, so the table, its columns and the role's rights are all tried) and asks
 * for one listed key.
 */
import { stat } from 'node:fs/promises';
import { ReadPathError, hasCode, messageOf } from '../errors.js';
import { maskUrl } from '../config/mask.js';
import type { ResolvedDatabaseConfig, ResolvedPostgresDatabase } from '../config/types.js';
import type { MetadataStore } from '../types.js';
import { connectionHint } from '../stores/postgres-connection.js';
import type { PostgresMetadataStoreOptions } from '../stores/postgres-store.js';
import { postgresStoreOptions } from '../stores/postgres-options.js';

/** What the look found. */
export type DatabaseCheck =
  /** The database answered a lookup. `target` names it (password masked); `empty`: it lists no object. */
  | { ok: true; target: string; empty: boolean }
  /**
   * The settings are wrong: the server refused the session, or the database is not
   * s3-orchestrator's (or the role may not read it). `error` is INVALID_CONFIG, its message
   * starting with the setting to check.
   */
  | { ok: false; fault: 'settings'; target: string; error: ReadPathError }
  /** The database could not be reached (down, or a host or port where none listens): DB_UNAVAILABLE. */
  | { ok: false; fault: 'unreachable'; target: string; error: ReadPathError }
  /** Anything else, as the store reported it. */
  | { ok: false; fault: 'other'; target: string; error: unknown };

/** A key no object has: the lookup's answer (OBJECT_NOT_FOUND or rows) does not matter, only that it is one. */
const PROBE_KEY = 'readpath:database-check';

/** How long the look waits to connect, in ms: it is one connection, not the store's pool. */
const CONNECT_TIMEOUT_MS = 5000;

/** Look at `db` once (see the module comment). Never throws: a failure is the answer. */
export async function checkDatabase(db: ResolvedDatabaseConfig): Promise<DatabaseCheck> {
  switch (db.driver) {
    case 'memory':
      return { ok: true, target: 'the in-memory store', empty: true };
    case 'sqlite':
      return checkSqlite(db.path);
    case 'postgres':
      return checkPostgres(db);
  }
}

async function checkSqlite(path: string): Promise<DatabaseCheck> {
  const target = `SQLite ${path}`;
  const settings = (message: string, cause?: unknown): DatabaseCheck =>
    ({ ok: false, fault: 'settings', target, error: new ReadPathError('INVALID_CONFIG', `database.path: ${message}`, { cause }) });
  try {
    if (!(await stat(path)).isFile()) return settings(`${path} is not a file`);
  } catch (err) {
    // readpath would create an empty database there and answer OBJECT_NOT_FOUND for every key.
    return settings(`${path} does not exist (readpath would create an empty database there and find no object; s3-orchestrator's file is usually s3-orchestrator.db)`, err);
  }
  const { SqliteMetadataStore } = await import('../stores/sqlite-store.js');
  let store: MetadataStore;
  try {
    store = new SqliteMetadataStore({ path, readonly: true });
  } catch (err) {
    return { ok: false, fault: 'other', target, error: err };
  }
  return lookUp(store, target, (err) => {
    const text = driverText(err);
    if (hasCode(err, 'DB_UNAVAILABLE')) return settings(`cannot open ${path}: ${text}`, err);
    if (/no such table: object_locations/i.test(text)) return settings(`${path} has no object_locations table: not an s3-orchestrator database (readpath would create an empty table and find no object)`, err);
    if (/no such column/i.test(text)) return settings(`${path}: object_locations lacks a column readpath reads, not s3-orchestrator's schema: ${text}`, err);
    return undefined;
  });
}

/** The store's options for `db`, as assemble.ts builds them, but creating nothing and holding one connection. */
function postgresOptions(db: ResolvedPostgresDatabase): PostgresMetadataStoreOptions {
  return postgresStoreOptions(db, { max_conns: 1, connectTimeoutMs: CONNECT_TIMEOUT_MS, createTables: false });
}

/** Where the look connects, as an operator wrote it (pg's defaults for what is unset), never the password. */
function postgresTarget(db: ResolvedPostgresDatabase): string {
  if (db.url !== null) return `PostgreSQL ${maskUrl(db.url)}`;
  return `PostgreSQL ${db.host ?? 'localhost'}:${db.port ?? 5432}/${db.database ?? '(default database)'} as ${db.user ?? '(default user)'}`;
}

async function checkPostgres(db: ResolvedPostgresDatabase): Promise<DatabaseCheck> {
  const target = postgresTarget(db);
  const byUrl = db.url !== null;
  const { PostgresMetadataStore } = await import('../stores/postgres-store.js');
  let store: MetadataStore;
  try {
    await PostgresMetadataStore.preload();
    store = new PostgresMetadataStore(postgresOptions(db));
  } catch (err) {
    return { ok: false, fault: 'other', target, error: err };
  }
  const settings = (field: string, message: string, cause: unknown): DatabaseCheck =>
    ({ ok: false, fault: 'settings', target, error: new ReadPathError('INVALID_CONFIG', `${field}: ${message}`, { cause }) });
  return lookUp(store, target, (err) => {
    const pgErr = driverError(err);
    const code = (pgErr as { code?: unknown } | undefined)?.code;
    const text = driverText(err);
    const hint = connectionHint(pgErr, byUrl);
    if (hint !== undefined) return settings(refusedField(code, byUrl) ?? hint, `${target} refused readpath's session (${text}; check ${hint})`, err);
    const dbField = byUrl ? 'the database name in database.url' : 'database.database';
    if (code === '42P01' || /table object_locations not found/i.test(text)) {
      return settings(dbField, `${target} has no object_locations table: not s3-orchestrator's database (or not on the role's search_path); readpath would create an empty table and find no object`, err);
    }
    if (code === '42703') return settings(dbField, `${target}: object_locations lacks a column readpath reads, not s3-orchestrator's schema: ${text}`, err);
    if (code === '42501') return settings(byUrl ? 'the user in database.url' : 'database.user', `${target}: the role may not read s3-orchestrator's tables (grant it SELECT): ${text}`, err);
    if (hasCode(err, 'DB_UNAVAILABLE')) {
      const where = byUrl ? 'the host and port in database.url' : 'database.host and database.port';
      return { ok: false, fault: 'unreachable', target, error: new ReadPathError('DB_UNAVAILABLE', `${target} cannot be reached (${text}; check ${where}, and that the server is up)`, { cause: err }) };
    }
    return undefined;
  });
}

/** The one setting a refusal points at, when pg's code says which; else the store's hint stands. */
function refusedField(code: unknown, byUrl: boolean): string | undefined {
  if (code === '28P01') return byUrl ? 'the password in database.url' : 'database.password';
  if (code === '28000') return byUrl ? 'the user in database.url' : 'database.user';
  if (code === '3D000') return byUrl ? 'the database name in database.url' : 'database.database';
  return undefined;
}

/** The driver's own error under readpath's wrapping (the first cause that is not a readpath error). */
function driverError(err: unknown): object | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 16 && cur !== null && typeof cur === 'object'; depth++) {
    if (!(cur instanceof ReadPathError)) return cur;
    cur = cur.cause;
  }
  return undefined;
}

/** What the driver said, with its code when it gave one (`28P01: password authentication failed …`). */
function driverText(err: unknown): string {
  const d = driverError(err);
  if (d === undefined) return messageOf(err);
  const code = (d as { code?: unknown }).code;
  const text = d instanceof AggregateError && d.message === '' ? d.errors.map(messageOf).join('; ') : messageOf(d);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}

/**
 * One lookup and one listed key on `store`, then close it. `classify` turns a failure into the
 * answer for it (undefined: any other failure).
 */
async function lookUp(store: MetadataStore, target: string, classify: (err: unknown) => DatabaseCheck | undefined): Promise<DatabaseCheck> {
  try {
    try {
      await store.getAllObjectLocations(PROBE_KEY);
    } catch (err) {
      if (!hasCode(err, 'OBJECT_NOT_FOUND')) throw err;
    }
    const listed = (await store.listKeys?.({ limit: 1 })) ?? [];
    return { ok: true, target, empty: listed.length === 0 };
  } catch (err) {
    return classify(err) ?? { ok: false, fault: 'other', target, error: err };
  } finally {
    await store.close?.();
  }
}
