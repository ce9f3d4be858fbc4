/**
 * An s3-orchestrator SQLite database as a current upstream leaves it — `storage_key`, `managed`,
 * the compression columns its migrations added (`compression_algorithm`, `compression_level`,
 * `compression_format_version`, `logical_size`) and the object-identity ones (`etag`,
 * `content_type`, `user_metadata`) — with rows inserted as upstream writes them. readpath's own store writes only the columns it creates, so tests of
 * upstream's later columns seed through this.
 */
import Database from 'better-sqlite3';
import type { ObjectLocation } from '../../src/types.js';

const SCHEMA = `
CREATE TABLE object_locations (
    object_key TEXT NOT NULL, backend_name TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 0, encryption_key BLOB, key_id TEXT, plaintext_size INTEGER,
    content_hash TEXT, managed INTEGER NOT NULL DEFAULT 1, last_scrubbed_at TEXT,
    created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    compression_algorithm TEXT, compression_level TEXT, compression_format_version INTEGER, logical_size INTEGER,
    compression_probe_size INTEGER, compression_probe_level TEXT,
    etag TEXT, content_type TEXT, user_metadata TEXT,
    storage_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (object_key, backend_name));
CREATE UNIQUE INDEX idx_object_locations_backend_storage_key ON object_locations(backend_name, storage_key);
CREATE TABLE object_tags (
    object_key TEXT NOT NULL, tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (object_key, tag_key));
CREATE TABLE backend_usage (
    backend_name TEXT NOT NULL, period TEXT NOT NULL, api_requests INTEGER NOT NULL DEFAULT 0,
    egress_bytes INTEGER NOT NULL DEFAULT 0, ingress_bytes INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (backend_name, period));
`;

/** How a row is written besides its location. */
export interface UpstreamRowOptions {
  /** `managed` (default true: upstream's unmanaged rows are kept for their quota, never served). */
  managed?: boolean;
  /** `compression_level` of a compressed row (default `default`). */
  level?: string;
  /**
   * `user_metadata` as raw column text (default: the location's `userMetadata` as JSON, NULL when
   * it has none), to write what a row could hold but no upstream writes.
   */
  rawUserMetadata?: string;
  /** Store `user_metadata` as a BLOB, as upstream's Go driver binds a `[]byte`. */
  userMetadataBlob?: boolean;
}

/**
 * Create the database at `path` and return a row inserter; `close()` when done. A location
 * without `storageKey` gets its object key there, as upstream's migration backfills it.
 */
export function upstreamSqlite(path: string): { insert(l: ObjectLocation, o?: UpstreamRowOptions): void; tag(key: string, tags: Record<string, unknown>): void; close(): void } {
  const db = new Database(path);
  db.exec(SCHEMA);
  const stmt = db.prepare(`
INSERT INTO object_locations (object_key, backend_name, size_bytes, encrypted, encryption_key, key_id, plaintext_size,
  content_hash, created_at, compression_algorithm, compression_level, compression_format_version, logical_size, storage_key, managed,
  etag, content_type, user_metadata)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const tagStmt = db.prepare(`INSERT INTO object_tags (object_key, tag_key, tag_value) VALUES (?, ?, ?)`);
  return {
    /** Give `key` these tags (upstream's object_tags rows; values as given, to write bad ones too). */
    tag(key, tags) {
      for (const [k, v] of Object.entries(tags)) tagStmt.run(key, k, v);
    },
    insert(l, o = {}) {
      const compressed = l.compression !== undefined && l.compression !== null && l.compression !== '';
      const meta = o.rawUserMetadata ?? (l.userMetadata === undefined || l.userMetadata === null ? null : JSON.stringify(l.userMetadata));
      stmt.run(
        l.objectKey, l.backendName, l.sizeBytes, l.encrypted ? 1 : 0,
        l.encryptionKey === undefined || l.encryptionKey === null ? null : Buffer.from(l.encryptionKey),
        l.keyId ?? null, l.plaintextSize ?? null, l.contentHash ?? null, l.createdAt.toISOString(),
        l.compression ?? null, compressed ? (o.level ?? 'default') : null, l.compressionVersion ?? null, l.logicalSize ?? null,
        l.storageKey ?? l.objectKey, o.managed === false ? 0 : 1,
        l.etag ?? null, l.contentType ?? null,
        meta !== null && o.userMetadataBlob === true ? Buffer.from(meta) : meta,
      );
    },
    close() {
      db.close();
    },
  };
}
