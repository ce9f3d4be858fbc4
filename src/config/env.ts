/**
 * Environment references in config string values, recognised as s3-orchestrator recognises them:
 * it runs Go's `os.Expand` over its config file, so the same forms start a reference here, and one
 * file means the same to both programs.
 *
 * Expansion runs on parsed values, not on the raw YAML text as s3-orchestrator does, so a secret
 * holding `: ` or `#` cannot change the document's structure. Syntax:
 * - `${NAME}` and `$NAME` (NAME: letters, digits, `_`, not starting with a digit) — the variable's
 *   value; an unset variable is an error naming it, where upstream would silently substitute `""`.
 * - `$$`, `$1`, `$?` … and `${$}`, `${1}` … (a `$` before one of `*#$@!?-0123456789`) — the
 *   variable of that one-character name, as upstream reads them: never set in practice, so an
 *   error. In particular `$$` is not an escaped `$` (upstream has no escape): a value that must
 *   hold such a `$` goes in an environment variable, whose value is not expanded again.
 * - `${NAME:-fallback}` — readpath's own: the fallback when the variable is unset or empty.
 * - `${` without its `}`, `${}` and `${anything else}` — malformed: an error (upstream silently
 *   drops `${` and `${}` and reads `${a b}` as the variable `a b`).
 * - any other `$` (before a space, `.`, `/` …, or at the end) is kept as written, as upstream keeps it.
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
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
/** Go's isShellSpecialVar: `$` before one of these names the one-character variable. */
const SPECIAL = '*#$@!?-0123456789';

/** Whether `name` is one of the one-character special names (`$`, `1`, `?` …). */
export function isSpecialName(name: string): boolean {
  return name.length === 1 && SPECIAL.includes(name);
}

/** Expand the references in one string. */
export function expandString(text: string, env: ConfigEnv): ExpandResult {
  if (!text.includes('$')) return { value: text, missing: [], malformed: false };
  let out = '';
  const missing: string[] = [];
  let malformed = false;
  // An unset variable's reference stays as written: the value is refused anyway, and an empty
  // string there would read as "not set" to the checks that run beside this one.
  const lookup = (name: string, ref: string, fallback?: string): string => {
    const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
    if (value !== undefined) return value;
    if (!missing.includes(name)) missing.push(name);
    return ref;
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const next = text[i + 1];
    if (ch !== '$' || next === undefined) {
      out += ch;
      i++;
      continue;
    }
    if (next === '{') {
      const special = text[i + 2];
      if (special !== undefined && SPECIAL.includes(special) && text[i + 3] === '}') {
        out += lookup(special, text.slice(i, i + 4));
        i += 4;
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
      out += lookup(m[1] as string, text.slice(i, close + 1), m[2]);
      i = close + 1;
      continue;
    }
    if (SPECIAL.includes(next)) {
      out += lookup(next, text.slice(i, i + 2));
      i += 2;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1))?.[0];
    if (name === undefined) {
      out += '$';
      i++;
      continue;
    }
    out += lookup(name, text.slice(i, i + 1 + name.length));
    i += 1 + name.length;
  }
  return { value: out, missing, malformed };
}
