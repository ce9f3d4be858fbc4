/**
 * Rules that span fields: unique backend names, credentials per `credential_source`, and the
 * fields each database driver needs. They read the prepared document defensively (wrong types
 * are the schema's to report), so they run even when the schema found other problems and every
 * problem is reported in one pass.
 */
import type { RawIssue } from './issues.js';
import { isPlainObject } from './prepare.js';

const PG_FIELDS = ['host', 'port', 'database', 'user', 'password', 'ssl_mode'] as const;

/** Cross-field problems in a prepared document. */
export function crossFieldIssues(doc: unknown): RawIssue[] {
  if (!isPlainObject(doc)) return [];
  return [...backendIssues(doc['backends']), ...databaseIssues(doc['database'])];
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
