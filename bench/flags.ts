/**
 * The one command-line reader of the bench entries: node:util `parseArgs` in strict mode over a
 * table of the entry's flags, each with the kind of value it takes. An unknown flag (`--quik`),
 * a missing value or a value of the wrong kind (`--rounds x`, `--sizes 4KB`) is refused before
 * the bench starts anything: each entry used to look its flags up with `indexOf` and ignore the
 * rest, so a mistyped `--quik` silently turned a smoke run of seconds into a full one of minutes,
 * and `--rounds x` ran with NaN rounds.
 */
import { parseArgs } from 'node:util';

/**
 * What a flag takes:
 * - `flag`: nothing (present or not);
 * - `text`: any value; `texts`: the same, repeatable;
 * - `words`: a value that may itself start with a dash (`--rclone-flags "--fast-list"`);
 * - `count`: an integer ≥ 0; `whole`: an integer ≥ 1 (rounds); `int`: any integer (a nice level
 *   may be negative);
 * - `positive`: a finite number > 0;
 * - `{ oneOf }`: a comma list of those names.
 */
export type FlagKind = 'flag' | 'text' | 'texts' | 'words' | 'count' | 'whole' | 'int' | 'positive' | { oneOf: readonly string[] };

/** An entry's flags: name without the leading `--` -> kind. */
export type FlagTable = Readonly<Record<string, FlagKind>>;

/** A command line refused by {@link parseFlags}; the message names the flag. */
export class FlagError extends Error {
  override readonly name = 'FlagError';
}

/** Kinds whose value may begin with a dash, so `--name -x` is a value and not a missing one. */
const DASH_VALUE = new Set<FlagKind>(['words', 'int']);

function checkValue(name: string, kind: FlagKind, v: string): void {
  const bad = (what: string): FlagError => new FlagError(`--${name}: expected ${what}, got ${JSON.stringify(v)}`);
  if (kind === 'count' || kind === 'whole' || kind === 'int') {
    const n = /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
    const least = kind === 'count' ? 0 : kind === 'whole' ? 1 : -Infinity;
    if (!Number.isSafeInteger(n) || n < least) throw bad(kind === 'count' ? 'a non-negative integer' : kind === 'whole' ? 'an integer ≥ 1' : 'an integer');
  } else if (kind === 'positive') {
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw bad('a number > 0');
  } else if (typeof kind === 'object') {
    const names = v.split(',');
    const unknown = names.filter((x) => !kind.oneOf.includes(x));
    if (unknown.length > 0 || v === '') throw bad(`a comma list of ${kind.oneOf.join(', ')}`);
  }
}

/** The flags an entry was given, read and checked by {@link parseFlags}. */
export class Flags {
  readonly #values: Readonly<Record<string, string | boolean | string[] | undefined>>;

  constructor(values: Readonly<Record<string, string | boolean | string[] | undefined>>) {
    this.#values = values;
  }

  /** `--name` was given (a `flag`, or a flag with a value). */
  has(name: string): boolean {
    return this.#values[name] !== undefined;
  }

  /** The value of `--name`; the last one when repeated. */
  text(name: string): string | undefined {
    const v = this.#values[name];
    if (Array.isArray(v)) return v.at(-1);
    return typeof v === 'string' ? v : undefined;
  }

  /** Every value of a repeatable `--name`, in order. */
  texts(name: string): string[] {
    const v = this.#values[name];
    return Array.isArray(v) ? [...v] : typeof v === 'string' ? [v] : [];
  }

  /** `--name` as a number (checked by its kind), else `dflt`. */
  num(name: string, dflt: number): number;
  num(name: string): number | undefined;
  num(name: string, dflt?: number): number | undefined {
    const v = this.text(name);
    return v === undefined ? dflt : Number(v);
  }

  /** `--name`'s comma list, else undefined. */
  list(name: string): string[] | undefined {
    return this.text(name)?.split(',');
  }

  /** `--name` split on whitespace (`--rclone-flags '--a --b'`). */
  words(name: string): string[] | undefined {
    return this.text(name)?.split(/\s+/).filter((x) => x !== '');
  }
}

/**
 * Read `argv` against `table` (strict: no positionals, no flag outside the table; `-h`/`--help`
 * are accepted, process-guard.ts answers them). Throws a {@link FlagError} naming the flag.
 */
export function parseFlags(table: FlagTable, argv: readonly string[]): Flags {
  // parseArgs takes `--name -x` for a forgotten value; for kinds whose values may start with a
  // dash, hand it `--name=-x` instead.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const kind = a.startsWith('--') ? table[a.slice(2)] : undefined;
    const next = argv[i + 1];
    if (kind !== undefined && DASH_VALUE.has(kind) && next !== undefined && next.startsWith('-') && (kind === 'words' || /^-\d/.test(next))) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, kind] of Object.entries(table)) options[name] = kind === 'flag' ? { type: 'boolean' } : kind === 'texts' ? { type: 'string', multiple: true } : { type: 'string' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new FlagError(err instanceof Error ? err.message : String(err));
  }
  for (const [name, v] of Object.entries(values)) {
    const kind = table[name];
    if (kind === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) if (typeof one === 'string') checkValue(name, kind, one);
  }
  return new Flags(values as Record<string, string | boolean | string[] | undefined>);
}

/**
 * {@link parseFlags} for an entry's own command line: a refused one is `bench: message (see
 * --help)` on stderr and exit 2, before the entry starts anything.
 */
export function readFlags(bench: string, table: FlagTable, argv: readonly string[] = process.argv.slice(2)): Flags {
  try {
    return parseFlags(table, argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    refuseFlags(bench, err.message);
  }
}

/** `bench: message (see --help)` on stderr and exit 2: a command line the entry refuses. */
export function refuseFlags(bench: string, message: string): never {
  process.stderr.write(`${bench}: ${message} (see --help)\n`);
  process.exit(2);
}
