/**
 * Rules that span fields: unique backend names, credentials per `credential_source`, the
 * fields each database driver needs, the key source of an enabled `encryption:` section, and the
 * gateway's: unique bucket names and access keys, what a bucket credential needs, TLS files in
 * pairs, and bucket names clear of the paths served outside the S3 namespace.
 * They read the prepared document defensively (wrong types are the schema's to report), so they
 * run even when the schema found other problems and every problem is reported in one pass.
 */
import type { RawIssue } from './issues.js';
import { isPlainObject } from './prepare.js';
import { CONFIG_DEFAULTS } from './resolve.js';
import { encryptionEnabled } from './schema.js';

const PG_FIELDS = ['host', 'port', 'database', 'user', 'password', 'ssl_mode'] as const;

/** Cross-field problems in a prepared document. */
export function crossFieldIssues(doc: unknown): RawIssue[] {
  if (!isPlainObject(doc)) return [];
  return [
    ...backendIssues(doc['backends']), ...databaseIssues(doc['database']), ...encryptionIssues(doc['encryption']),
    ...serverIssues(doc['server']), ...bucketIssues(doc['buckets'], doc['server']),
  ];
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
  if (driver !== 'sqlite' && db['busy_timeout'] !== undefined) {
    issues.push({ path: ['database', 'busy_timeout'], message: 'only valid with driver sqlite' });
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
  // previous_keys go with any source, Vault included (upstream keeps them for objects wrapped
  // locally before a move to Vault).
  const vault = enc['vault'];
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

/** `server.tls`: both files or neither (upstream's rule); a client CA only with them (mTLS needs TLS). */
function serverIssues(server: unknown): RawIssue[] {
  if (!isPlainObject(server)) return [];
  const issues: RawIssue[] = [];
  const tls = server['tls'];
  if (isPlainObject(tls)) {
    const cert = isSet(tls['cert_file']);
    const key = isSet(tls['key_file']);
    if (cert && !key) issues.push({ path: ['server', 'tls', 'key_file'], message: 'required with server.tls.cert_file (TLS needs both files)' });
    if (key && !cert) issues.push({ path: ['server', 'tls', 'cert_file'], message: 'required with server.tls.key_file (TLS needs both files)' });
    if (!cert && !key && isSet(tls['client_ca_file'])) {
      issues.push({ path: ['server', 'tls', 'client_ca_file'], message: 'only valid with server.tls.cert_file and server.tls.key_file (client certificates need TLS)' });
    }
  }
  const metrics = server['metrics_path'] ?? CONFIG_DEFAULTS.metricsPath;
  const health = server['health_path'] ?? CONFIG_DEFAULTS.healthPath;
  if (metrics === health) {
    if (server['health_path'] !== undefined) issues.push({ path: ['server', 'health_path'], message: 'must differ from server.metrics_path' });
    else issues.push({ path: ['server', 'metrics_path'], message: 'must differ from server.health_path' });
  }
  return issues;
}

/** The first segment of a service path: the bucket name its requests would otherwise address. */
function firstSegment(path: unknown): string | undefined {
  return typeof path === 'string' && path.startsWith('/') ? path.slice(1).split('/')[0] : undefined;
}

/**
 * `buckets:`, as upstream checks it (unique names; a credential needs SigV4 keys or a token;
 * access keys unique across every bucket, so a SigV4 signature names one credential), plus
 * readpath's own: no bucket named like the first segment of `server.metrics_path` or
 * `server.health_path` (path-style `/{bucket}/…` and those paths share one namespace).
 * Messages name the fields, never the names or keys.
 */
function bucketIssues(buckets: unknown, server: unknown): RawIssue[] {
  if (!Array.isArray(buckets)) return [];
  const issues: RawIssue[] = [];
  const names = new Map<string, number>();
  const accessKeys = new Map<string, string>();
  const srv = isPlainObject(server) ? server : {};
  const reserved = [
    ['server.metrics_path', firstSegment(srv['metrics_path'] ?? CONFIG_DEFAULTS.metricsPath)],
    ['server.health_path', firstSegment(srv['health_path'] ?? CONFIG_DEFAULTS.healthPath)],
  ] as const;
  buckets.forEach((b: unknown, i) => {
    if (!isPlainObject(b)) return;
    const name = b['name'];
    if (typeof name === 'string' && name !== '') {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else issues.push({ path: ['buckets', i, 'name'], message: `duplicate bucket name (same as buckets[${first}])` });
      for (const [field, segment] of reserved) {
        if (segment === name) {
          issues.push({ path: ['buckets', i, 'name'], message: `conflicts with ${field}: a bucket may not be named like that path's first segment (set ${field} to another path, or rename the bucket)` });
        }
      }
    }
    const creds = b['credentials'];
    if (!Array.isArray(creds)) return;
    creds.forEach((c: unknown, j) => {
      if (!isPlainObject(c)) return;
      const at = (k?: string): PropertyKey[] => (k === undefined ? ['buckets', i, 'credentials', j] : ['buckets', i, 'credentials', j, k]);
      const id = isSet(c['access_key_id']);
      const secret = isSet(c['secret_access_key']);
      if (!isSet(c['token'])) {
        if (id && !secret) issues.push({ path: at('secret_access_key'), message: 'required with access_key_id (SigV4), or set token' });
        else if (secret && !id) issues.push({ path: at('access_key_id'), message: 'required with secret_access_key (SigV4), or set token' });
        else if (!id && !secret) issues.push({ path: at(), message: 'set access_key_id and secret_access_key (SigV4), or token' });
      }
      const keyId = c['access_key_id'];
      if (typeof keyId === 'string' && keyId !== '') {
        const first = accessKeys.get(keyId);
        if (first === undefined) accessKeys.set(keyId, `buckets[${i}].credentials[${j}]`);
        else issues.push({ path: at('access_key_id'), message: `duplicate access key id (same as ${first}): each must name one credential` });
      }
    });
  });
  return issues;
}
