/**
 * The pass before validation: copy the document, expand `${VAR}` / `$VAR` references in the values
 * readpath reads, and drop null-valued keys (YAML's `key:` with nothing after it means "not set",
 * as it does for s3-orchestrator's Go structs).
 *
 * Sections and keys only s3-orchestrator uses are copied untouched: their `${VAR}` references
 * name variables of upstream's environment (a UI secret) that readpath neither needs nor should
 * demand; so is a bucket credential's legacy `token`, which readpath checks is there but never
 * uses. So is a disabled `encryption:` section: it is reduced to its (expanded) `enabled`, as
 * upstream validates nothing else in it, and a `master_key: "${MASTER_KEY}"` kept there for later
 * must not require MASTER_KEY to be set.
 */
import { expandString, isSpecialName, type ConfigEnv } from './env.js';
import type { RawIssue } from './issues.js';
import { encryptionEnabled, UPSTREAM_ONLY_KEYS, UPSTREAM_ONLY_SECTIONS } from './schema.js';

const MAX_DEPTH = 64;
const IGNORED_SECTIONS: ReadonlySet<string> = new Set(UPSTREAM_ONLY_SECTIONS);
const IGNORED_KEYS: Readonly<Record<string, ReadonlySet<string>>> = Object.fromEntries(
  Object.entries(UPSTREAM_ONLY_KEYS).map(([section, keys]) => [section, new Set<string>(keys)]),
);

/** The prepared document and the problems found while expanding it. */
export interface Prepared {
  value: unknown;
  issues: RawIssue[];
}

/** True for `{}`-style objects (not arrays, dates, maps or class instances). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Expand and clean a config document (see the module comment). */
export function prepareDocument(doc: unknown, env: ConfigEnv): Prepared {
  const issues: RawIssue[] = [];
  const value = walk(doc, [], 0, env, issues, new Set());
  return { value, issues };
}

/** Sections that are lists: their entries' keys sit at depth 2. */
const LIST_SECTIONS: ReadonlySet<string> = new Set(['backends', 'buckets']);

function isIgnored(path: readonly PropertyKey[], key: string): boolean {
  if (path.length === 0) return IGNORED_SECTIONS.has(key);
  const section = path[0];
  if (typeof section !== 'string') return false;
  // A bucket credential's legacy `token`: validated (a credential needs SigV4 keys or a token),
  // never used, so its ${VAR} is upstream's to expand, not readpath's to demand.
  if (section === 'buckets' && path.length === 4 && path[2] === 'credentials' && key === 'token') return true;
  if (!Object.hasOwn(IGNORED_KEYS, section)) return false;
  const keys = IGNORED_KEYS[section] as ReadonlySet<string>;
  // Section keys sit at depth 1, except in list sections, whose entries sit at depth 2.
  const depth = LIST_SECTIONS.has(section) ? 2 : 1;
  return path.length === depth && keys.has(key);
}

/**
 * `ancestors` holds the objects on the path to `v`: a YAML alias inside its own anchor (`a: &a
 * [*a, *a]`) is a cycle, and walking one with two branches down to MAX_DEPTH is 2^64 nodes.
 */
function walk(v: unknown, path: PropertyKey[], depth: number, env: ConfigEnv, issues: RawIssue[], ancestors: Set<object>): unknown {
  if (typeof v === 'string') {
    const r = expandString(v, env);
    if (r.malformed) issues.push({ path, message: 'malformed ${...} reference (use ${NAME}, $NAME or ${NAME:-default})' });
    if (r.missing.length > 0) issues.push({ path, message: missingMessage(r.missing) });
    return r.value;
  }
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) {
    issues.push({ path, message: 'nested too deeply' });
    return undefined;
  }
  if (ancestors.has(v)) {
    issues.push({ path, message: 'contains itself (a circular YAML alias or object reference)' });
    return undefined;
  }
  ancestors.add(v);
  try {
    if (Array.isArray(v)) {
      return v.map((item, i) => walk(item, [...path, i], depth + 1, env, issues, ancestors));
    }
    if (!isPlainObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const raw = v[key];
      if (raw === null || raw === undefined) continue;
      const value = isIgnored(path, key)
        ? raw
        : path.length === 0 && key === 'encryption'
          ? encryptionSection(raw, depth + 1, env, issues, ancestors)
          : walk(raw, [...path, key], depth + 1, env, issues, ancestors);
      // defineProperty, so a `__proto__` key stays an ordinary (and then rejected) key.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  } finally {
    ancestors.delete(v);
  }
}

/** The problem with a value whose references name unset variables. */
function missingMessage(names: readonly string[]): string {
  const base = names.length === 1 ? `environment variable ${names[0] as string} is not set` : `environment variables ${names.join(', ')} are not set`;
  if (!names.some(isSpecialName)) return base;
  // `$$`, `$1`, `$?`: what a reader most likely meant is a literal `$`, which neither program has.
  return `${base} ($ before $, a digit or one of *#@!?- names a variable, as s3-orchestrator expands the file: there is no escape for a literal $; put such a value in an environment variable)`;
}

/** `encryption:` expanded when it is enabled, otherwise reduced to `{ enabled }` (see the module comment). */
function encryptionSection(v: unknown, depth: number, env: ConfigEnv, issues: RawIssue[], ancestors: Set<object>): unknown {
  if (!isPlainObject(v)) return walk(v, ['encryption'], depth, env, issues, ancestors);
  const rawEnabled = v['enabled'];
  const enabled = rawEnabled === null || rawEnabled === undefined ? undefined : walk(rawEnabled, ['encryption', 'enabled'], depth + 1, env, issues, ancestors);
  // An `enabled` that expanded to true had no problems to report, so walking it again adds none.
  if (encryptionEnabled({ enabled })) return walk(v, ['encryption'], depth, env, issues, ancestors);
  return enabled === undefined ? {} : { enabled };
}
