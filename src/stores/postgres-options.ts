/**
 * The PostgreSQL store's options from a resolved `database:` section: one mapping for the reader
 * (assemble.ts) and `validate --connect` / serve's look at the database (cli/database-check.ts),
 * so both connect to the same place the same way.
 */
import type { ResolvedPostgresDatabase } from '../config/types.js';
import type { PostgresMetadataStoreOptions } from './postgres-connection.js';

/** What a caller sets on top of the section's own settings. */
export type StoreOptionsExtra = Pick<PostgresMetadataStoreOptions, 'max_conns' | 'connectTimeoutMs' | 'createTables' | 'onUnknownColumns'>;

/** `db`'s connection settings (a `url`, or the fields set), with `extra` on top. */
export function postgresStoreOptions(db: ResolvedPostgresDatabase, extra: StoreOptionsExtra): PostgresMetadataStoreOptions {
  const common = { statementTimeoutMs: db.statementTimeoutMs, max_conns: db.maxConns, ...extra, ...(db.sslMode === null ? {} : { ssl_mode: db.sslMode }) };
  if (db.url !== null) return { url: db.url, ...common };
  return {
    ...common,
    ...(db.host === null ? {} : { host: db.host }),
    ...(db.port === null ? {} : { port: db.port }),
    ...(db.database === null ? {} : { database: db.database }),
    ...(db.user === null ? {} : { user: db.user }),
    ...(db.password === null ? {} : { password: db.password }),
  };
}
