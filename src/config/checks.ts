/**
 * Rules that span fields: unique backend names, credentials per `credential_source`, the
 * fields each database driver needs, and the key source of an enabled `encryption:` section.
 * They read the prepared document defensively (wrong types are the schema's to report), so they
 * run even when the schema found other problems and every problem is reported in one pass.
 */
import type { RawIssue } from './issues.js';
import { isPlainObject } from './prepare.js';
import { encryptionEnabled } from './schema.js';

const PG_FIELDS = ['host', 'port', 'database', 'user', 'password', 'ssl_mode'] as const;

/** Cross-field problems in a prepared document. */
export function crossFieldIssues(doc: unknown): RawIssue[] {
  if (!isPlainObject(doc)) return [];
  return [...backendIssues(doc['backends']), ...databaseIssues(doc['database']), ...encryptionIssues(doc['encryption'])];
}

function isSet(v: unknown): boolean {
  return v !== undefined && v !== '';
}

function backendIssues(backends: unknown): RawIssue[] {
  if (!Array.isArray(backends)) return [];
  const issues: RawIssue[] = [];
  const firstIndex = new Map<string, number>();
  backends.forEach((b: unknown, i) => {
    if (!isPlainObject(b)) return;
    const rawName = b['name'];
    // Upstream names an unnamed backend `backend-<index>`; that name can collide too.
    const name = rawName === undefined ? `backend-${i}` : typeof rawName === 'string' ? rawName : undefined;
    if (name !== undefined && name !== '') {
      const first = firstIndex.get(name);
      if (first === undefined) firstIndex.set(name, i);
      else {
        issues.push({
          path: rawName === undefined ? ['backends', i] : ['backends', i, 'name'],
          message: `duplicate backend name (same as backends[${first}])`,
        });
      }
    }
    const source = b['credential_source'] ?? 'static';
    if (source === 'static') {
      for (const k of ['access_key_id', 'secret_access_key']) {
        if (!isSet(b[k])) issues.push({ path: ['backends', i, k], message: 'required (credential_source is static)' });
      }
    } else if (source === 'default_chain') {
      for (const k of ['access_key_id', 'secret_access_key']) {
        if (isSet(b[k])) issues.push({ path: ['backends', i, k], message: 'not allowed with credential_source: default_chain' });
      }
    }
  });
  return issues;
}

/** The driver a database section selects, inferring postgres from `host`/`url` as upstream does. */
export function inferDriver(db: Record<string, unknown>): unknown {
  if (db['driver'] !== undefined) return db['driver'];
  return db['url'] !== undefined || db['host'] !== undefined ? 'postgres' : 'sqlite';
}

function databaseIssues(db: unknown): RawIssue[] {
  if (!isPlainObject(db)) return [];
  const issues: RawIssue[] = [];
  const driver = inferDriver(db);
  if (driver === 'postgres') {
    if (db['url'] !== undefined) {
      for (const k of PG_FIELDS) {
        if (db[k] !== undefined) issues.push({ path: ['database', k], message: 'not allowed together with database.url' });
      }
    } else {
      for (const k of ['host', 'database', 'user'] as const) {
        if (db[k] === undefined) issues.push({ path: ['database', k], message: 'required with driver postgres (or set database.url)' });
      }
    }
  } else if ((driver === 'sqlite' || driver === 'memory') && db['url'] !== undefined) {
    issues.push({ path: ['database', 'url'], message: 'only valid with driver postgres' });
  }
  return issues;
}

/** upstream's key sources, exactly one of which an enabled `encryption:` section must set. */
const KEY_SOURCES = ['master_key', 'master_key_file', 'vault'] as const;
const ONE_SOURCE = 'set exactly one of encryption.master_key, encryption.master_key_file, encryption.vault';

function encryptionIssues(enc: unknown): RawIssue[] {
  if (!isPlainObject(enc) || !encryptionEnabled(enc)) return [];
  const issues: RawIssue[] = [];
  // As upstream: an empty string is "not set"; a `vault:` mapping counts even when empty.
  const sources = KEY_SOURCES.filter((k) => (k === 'vault' ? enc[k] !== undefined : isSet(enc[k])));
  const [first, ...others] = sources;
  if (first === undefined) issues.push({ path: ['encryption'], message: `no key source configured: ${ONE_SOURCE}` });
  for (const k of others) issues.push({ path: ['encryption', k], message: `not allowed together with encryption.${first as string}: ${ONE_SOURCE}` });
  const vault = enc['vault'];
  const previous = enc['previous_keys'];
  if (vault !== undefined && Array.isArray(previous) && previous.length > 0) {
    issues.push({ path: ['encryption', 'previous_keys'], message: 'only valid with a local master key (master_key or master_key_file), not with encryption.vault' });
  }
  if (isPlainObject(vault)) {
    if (!isSet(vault['address'])) issues.push({ path: ['encryption', 'vault', 'address'], message: 'required with encryption.vault' });
    const token = isSet(vault['token']);
    const tokenFile = isSet(vault['token_file']);
    if (!token && !tokenFile) issues.push({ path: ['encryption', 'vault', 'token'], message: 'required with encryption.vault (or set encryption.vault.token_file)' });
    if (token && tokenFile) issues.push({ path: ['encryption', 'vault', 'token_file'], message: 'not allowed together with encryption.vault.token: set one of them' });
    if (!isSet(vault['key_name'])) issues.push({ path: ['encryption', 'vault', 'key_name'], message: 'required with encryption.vault' });
  }
  return issues;
}
