/**
 * How readpath reaches PostgreSQL: the connection options (upstream's `database:` keys or a
 * URL), the pg pool configuration they validate into, and which pg errors mean "the database
 * cannot be reached or used right now" (DB_UNAVAILABLE) rather than a bad query or bad data.
 */
import type { ConnectionOptions } from 'node:tls';
import { ReadPathError, messageOf, requirePositiveInt } from '../errors.js';
import { isUnreachable } from '../net-errors.js';

/** libpq's sslmode values. */
export type PostgresSslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** How to reach the database: a URL, or upstream's discrete `database:` keys. */
export type PostgresConnectionOptions =
  | { url: string; ssl_mode?: PostgresSslMode; max_conns?: number }
  | {
      host?: string;
      port?: number;
      database?: string;
      user?: string;
      password?: string;
      ssl_mode?: PostgresSslMode;
      max_conns?: number;
    };

/** Options for {@link PostgresMetadataStore}. */
export type PostgresMetadataStoreOptions = PostgresConnectionOptions & {
  /** Server-side statement_timeout, in ms. Default 5000. */
  statementTimeoutMs?: number;
  /** Client-side bound on one query (covers a server that stopped answering), in ms. Default statementTimeoutMs + 1000. */
  queryTimeoutMs?: number;
  /** Bound on acquiring a connection (pool wait plus connect), in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Idle connections are closed after this many ms. Default 30000. */
  idleTimeoutMs?: number;
  /** Create `object_locations` and `backend_usage` when absent. Default true. */
  createTables?: boolean;
  /** Called once when `object_locations` has columns readpath does not know (see unknownLocationColumns). */
  onUnknownColumns?: (columns: string[]) => void;
  /**
   * How often the store looks again at which of upstream's columns and tables the database has,
   * in ms (upstream adds them when it migrates, which may be while readpath runs). Default 30000.
   */
  schemaRecheckMs?: number;
};

/**
 * The pg pool configuration readpath builds: the part of pg's `PoolConfig` it sets, spelled out
 * here so that readpath's public declarations need no `pg` types (they live in `@types/pg`,
 * which a library user does not install). postgres-store.ts hands it to pg as a `PoolConfig`,
 * so the compiler keeps the two compatible.
 */
export interface PostgresPoolSettings {
  max: number;
  connectionTimeoutMillis: number;
  idleTimeoutMillis: number;
  statement_timeout: number;
  query_timeout: number;
  application_name: string;
  allowExitOnIdle: boolean;
  /** `false`: no TLS; otherwise node:tls options. */
  ssl?: false | ConnectionOptions;
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
}

// SQLSTATEs of a server that cannot serve now: admin/crash shutdown, starting up, too many
// connections, out of resources, statement timeout (57014), auth or database-missing at connect,
// and a hot standby cancelling a statement in conflict with what it replays (see
// isRecoveryConflict): a read readpath sent again and still cancelled goes degraded.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '57014', '53000', '53100', '53200', '53300', '53400', '3D000', '40001', '40P01']);
// pg and pg-pool report their own connection failures as plain Errors without a code.
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|not queryable|Cannot use a pool after calling end|Client was closed/i;

// TLS that ssl_mode asks for and the server cannot give: no TLS at all (pg's own message), or a
// certificate node:tls does not accept.
const TLS_REFUSED_MESSAGE = /The server does not support SSL connections/i;
const TLS_REFUSED_CODE = /^(ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)|CERT_(HAS_EXPIRED|NOT_YET_VALID|UNTRUSTED|REJECTED|SIGNATURE_FAILURE))$/;

/** True when the TLS that the connection settings ask for could not be set up with this server. */
function isTlsRefused(err: object): boolean {
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' && TLS_REFUSED_CODE.test(code)) || TLS_REFUSED_MESSAGE.test(messageOf(err));
}

/**
 * True when a pg error means the database is unreachable or unusable right now (as opposed
 * to a bad query or bad data). A session the server refuses (authentication, a missing
 * database, TLS it cannot give as configured) counts: reads go degraded, as in an outage.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  if (err instanceof AggregateError && err.errors.some(isPostgresUnavailable)) return true;
  if (isTlsRefused(err)) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    // ENOENT: a unix socket that is gone.
    if (isUnreachable(err) || code === 'ENOENT' || UNAVAILABLE_SQLSTATES.has(code)) return true;
    // Class 08: connection exception; class 28: invalid authorization.
    if (/^(08|28)[0-9A-Z]{3}$/.test(code)) return true;
  }
  return UNAVAILABLE_MESSAGES.test(messageOf(err));
}

/**
 * True when a statement failed because the connection it was sent on broke under it (the server
 * ended that session, the socket was reset), not because the server is unreachable or slow: a
 * new connection may well serve it at once. 57P05: the server's `idle_session_timeout` ended the
 * session as the statement was on its way (sent on a connection the pool still held as idle, it
 * gets the session's end as its answer).
 */
export function isBrokenConnection(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (code === '57P01' || code === '57P02' || code === '57P05' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  return /Connection terminated unexpectedly/i.test(messageOf(err));
}

/**
 * True when a hot standby cancelled the statement because it held what the standby had to replay
 * (a lock the primary took, rows the primary's vacuum removed): 40001 "canceling statement due to
 * conflict with recovery", or 40P01 for a deadlock with the replay. readpath's reads run outside
 * serializable transactions, where nothing else answers these, and are harmless to send again;
 * the conflict ends with the replay, so the statement sent again usually succeeds.
 */
export function isRecoveryConflict(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  return code === '40001' || code === '40P01';
}

/**
 * True when a statement failed because the tables it names changed since readpath looked at
 * them: a column gone (42703), a table gone (42P01), or a prepared statement whose result
 * columns changed type (0A000, "cached plan must not change result type").
 */
export function isSchemaChange(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (code === '42703' || code === '42P01') return true;
  return code === '0A000' && /cached plan must not change result type/i.test(messageOf(err));
}

/**
 * The settings to check when the server refused the session itself: a role or password it does
 * not accept (class 28), a database it does not have (3D000), TLS it cannot give as configured
 * (no TLS at all, a certificate not trusted). Undefined for any other error.
 * Those stay DB_UNAVAILABLE (a database may be created, a password rotated, while readpath runs
 * degraded), but the message says which setting to look at.
 */
export function connectionHint(err: unknown, byUrl: boolean): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (code === '3D000') return byUrl ? 'the database name in database.url' : 'database.database';
  if (typeof code === 'string' && /^28[0-9A-Z]{3}$/.test(code)) return byUrl ? 'the user and password in database.url' : 'database.user and database.password';
  if (isTlsRefused(err)) return byUrl ? 'database.ssl_mode, or sslmode in database.url' : 'database.ssl_mode';
  return undefined;
}

/**
 * Whether pg can read a connection URL: pg-connection-string's own parse (a URL against a
 * `postgres://base`, again with a placeholder host when it has none; a leading `/` is a socket
 * directory), so that a malformed URL is a configuration error when the store is built, not a
 * METADATA_ERROR from every read.
 */
function isConnectionUrl(url: string): boolean {
  if (url.startsWith('/')) return true;
  const s = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url) ? encodeURI(url).replace(/%25(\d\d)/g, '%$1') : url;
  for (const candidate of [s, s.replace('@/', '@___DUMMY___/')]) {
    try {
      new URL(candidate, 'postgres://base');
      return true;
    } catch {
      // The next form, as pg tries it.
    }
  }
  return false;
}

function positiveInt(value: unknown, field: string, fallback: number): number {
  return value === undefined ? fallback : requirePositiveInt(value, field);
}

function sslFor(mode: unknown): PostgresPoolSettings['ssl'] | undefined {
  switch (mode) {
    case undefined:
      return undefined;
    // node-postgres cannot fall back from TLS to plain text, so the modes that do not
    // require TLS connect without it.
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // Chain verified, host name not: what libpq's verify-ca checks.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      throw new ReadPathError(
        'INVALID_CONFIG',
        `database.ssl_mode: must be one of disable, allow, prefer, require, verify-ca, verify-full; got ${JSON.stringify(mode)}`,
      );
  }
}

/** Build the pg pool configuration, validating each field (INVALID_CONFIG names the one at fault). */
export function postgresPoolConfig(opts: PostgresMetadataStoreOptions): PostgresPoolSettings {
  if (opts === null || typeof opts !== 'object') throw new ReadPathError('INVALID_CONFIG', 'database: PostgreSQL options are required');
  const statementTimeout = positiveInt(opts.statementTimeoutMs, 'database.statement_timeout', 5000);
  const cfg: PostgresPoolSettings = {
    max: positiveInt(opts.max_conns, 'database.max_conns', 10),
    connectionTimeoutMillis: positiveInt(opts.connectTimeoutMs, 'database.connect_timeout', 5000),
    idleTimeoutMillis: positiveInt(opts.idleTimeoutMs, 'database.idle_timeout', 30_000),
    statement_timeout: statementTimeout,
    query_timeout: positiveInt(opts.queryTimeoutMs, 'database.query_timeout', statementTimeout + 1000),
    application_name: 'readpath',
    // Idle pooled connections must not keep the process alive.
    allowExitOnIdle: true,
  };
  const ssl = sslFor(opts.ssl_mode);
  if (ssl !== undefined) cfg.ssl = ssl;
  if ('url' in opts) {
    if (typeof opts.url !== 'string' || opts.url === '') throw new ReadPathError('INVALID_CONFIG', 'database.url: must be a non-empty connection URL');
    // The URL itself is never quoted: it may hold the password.
    if (!isConnectionUrl(opts.url)) throw new ReadPathError('INVALID_CONFIG', 'database.url: not a connection URL pg can read (postgres://user:password@host:port/database)');
    cfg.connectionString = opts.url;
    return cfg;
  }
  const o = opts;
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || o.host === '') throw new ReadPathError('INVALID_CONFIG', 'database.host: must be a non-empty string');
    cfg.host = o.host;
  }
  if (o.port !== undefined) {
    if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
      throw new ReadPathError('INVALID_CONFIG', `database.port: must be an integer in 1..65535, got ${JSON.stringify(o.port)}`);
    }
    cfg.port = o.port;
  }
  for (const f of ['database', 'user', 'password'] as const) {
    const v = o[f];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new ReadPathError('INVALID_CONFIG', `database.${f}: must be a string`);
    cfg[f] = v;
  }
  return cfg;
}
