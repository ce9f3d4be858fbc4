/**
 * `${VAR}` expansion in config string values.
 *
 * Expansion runs on parsed values, not on the raw YAML text as s3-orchestrator does, so a secret
 * holding `: ` or `#` cannot change the document's structure. Syntax:
 * - `${NAME}` — the variable's value; an unset variable is an error naming it.
 * - `${NAME:-fallback}` — the fallback when the variable is unset or empty.
 * - `$$` — a literal `$` (so `$${NAME}` is the literal text `${NAME}`).
 * - any other `$` is kept as written.
 */

/** The environment variables are read from. */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** The result of expanding one string. */
export interface ExpandResult {
  value: string;
  /** Variables referenced without a fallback that are not set. */
  missing: string[];
  /** True when a `${` was not a well-formed reference. */
  malformed: boolean;
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/** Expand the references in one string. */
export function expandString(text: string, env: ConfigEnv): ExpandResult {
  if (!text.includes('$')) return { value: text, missing: [], malformed: false };
  let out = '';
  const missing: string[] = [];
  let malformed = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    const m = close < 0 ? null : REF.exec(text.slice(i + 2, close));
    if (m === null) {
      malformed = true;
      out += '$';
      i++;
      continue;
    }
    const name = m[1] as string;
    const fallback = m[2];
    const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
    if (fallback !== undefined) {
      out += value === undefined || value === '' ? fallback : value;
    } else if (value === undefined) {
      if (!missing.includes(name)) missing.push(name);
      out += text.slice(i, close + 1);
    } else {
      out += value;
    }
    i = close + 1;
  }
  return { value: out, missing, malformed };
}
