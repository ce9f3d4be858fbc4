/**
 * Config problems as readers see them: `backends[1].endpoint: expected an http(s) URL`, in
 * document order, gathered into one `INVALID_CONFIG` error. No message ever contains a config
 * value (only key names, which are not secret), so secrets cannot leak through errors.
 */
import type { z } from 'zod';
import { ReadPathError } from '../errors.js';
import { kindOf } from './duration.js';

/** One problem in a config. */
export interface ConfigIssue {
  /**
   * The field at fault, e.g. `backends[1].endpoint`; `(root)` for the document itself; empty for a
   * problem with the file (unreadable, YAML syntax), whose message then says where.
   */
  path: string;
  message: string;
}

/** A rejected configuration: code `INVALID_CONFIG`, with every problem found, first one first. */
export class InvalidConfigError extends ReadPathError {
  /** Every problem, in document order. */
  readonly issues: readonly ConfigIssue[];
  /** The config file, when the config came from one. */
  readonly file: string | undefined;

  constructor(issues: readonly ConfigIssue[], opts: { file?: string | undefined; cause?: unknown } = {}) {
    const body = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
    super('INVALID_CONFIG', opts.file === undefined ? body : `${opts.file}: ${body}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'InvalidConfigError';
    this.issues = issues;
    this.file = opts.file;
  }
}

/** Render a path as `backends[1].endpoint`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  object: 'object (mapping)',
  array: 'array (list)',
  int: 'integer',
};

/**
 * The per-parse zod error map: plain messages that name what was expected and the *type* of what
 * was found, never the value. Schema-level messages (set where the schemas are built) take
 * precedence over this one.
 */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'required';
      const expected = String(iss.expected);
      if (expected === 'int') return 'expected an integer';
      return `expected ${article(EXPECTED_NAMES[expected] ?? expected)}, got ${kindOf(iss.input)}`;
    }
    case 'too_small':
      if (iss.origin === 'array' || iss.origin === 'string') return 'must not be empty';
      return `must be ${iss.inclusive === false ? 'greater than' : 'at least'} ${String(iss.minimum)}`;
    case 'too_big':
      return `must be ${iss.inclusive === false ? 'less than' : 'at most'} ${String(iss.maximum)}`;
    case 'invalid_value':
      return `expected one of ${iss.values.map((v) => String(v)).join(', ')}`;
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return 'invalid value';
  }
};

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'file not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a parent of the path is not a directory',
};

/** Why a file could not be read, from a Node fs error (never the path or the file's content). */
export function fsReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? FS_REASONS[code] ?? `cannot read (${code})` : 'cannot read';
}

/** A problem with its raw path, before ordering. */
export interface RawIssue {
  path: PropertyKey[];
  message: string;
}

/**
 * Sort issues into the order their fields appear in the document, so the first problem reported
 * is the first one a reader meets; problems about absent keys come after the keys present there.
 */
export function sortByDocumentOrder(issues: RawIssue[], doc: unknown): RawIssue[] {
  const keyed = issues.map((issue, i) => ({ issue, i, key: orderKey(issue.path, doc) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key) || a.i - b.i);
  return keyed.map((k) => k.issue);
}

function orderKey(path: readonly PropertyKey[], doc: unknown): number[] {
  const key: number[] = [];
  let cur: unknown = doc;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') {
      key.push(Number.MAX_SAFE_INTEGER);
      cur = undefined;
      continue;
    }
    if (Array.isArray(cur) && typeof seg === 'number') {
      key.push(seg);
      cur = cur[seg];
    } else {
      const idx = Object.keys(cur).indexOf(String(seg));
      key.push(idx < 0 ? Number.MAX_SAFE_INTEGER : idx);
      cur = idx < 0 ? undefined : (cur as Record<string, unknown>)[String(seg)];
    }
  }
  return key;
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** The closest known key to a misspelt one, when it is close enough to be a likely typo. */
export function suggestKey(unknown: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(unknown.toLowerCase(), k);
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(unknown.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}
