/**
 * The command-line flags `bench/peers.bench.ts` and `bench/gateway.bench.ts` share, read with
 * bench/flags.ts (an unknown flag or a bad value is exit 2 before anything starts): values,
 * non-negative integers, word lists, repeatable `--compare LABEL=PATH`, the data-set choice
 * (`--quick`, `--sets`, `--small`, `--large`) and `--json FILE`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FlagError, parseFlags, readFlags, refuseFlags, type FlagTable, type Flags } from '../flags.js';
import type { DataSet } from './run.js';

/** The flags both benches take; each adds its own. */
export const SHARED_FLAGS: FlagTable = {
  quick: 'flag', repeat: 'count', json: 'text', sets: { oneOf: ['4k', '1m'] }, small: 'count', large: 'count',
  backends: 'count', 'stub-nice': 'count', 'rclone-flags': 'words', compare: 'texts', dest: 'text',
};

/** Flags read from an argument list. */
export class BenchArgs {
  readonly #flags: Flags;

  /**
   * Read `args` against {@link SHARED_FLAGS} and `own` (the bench's own flags). With `bench`
   * (the name in messages), a refused command line is exit 2; without, a {@link FlagError}.
   */
  constructor(own: FlagTable, args: readonly string[] = process.argv.slice(2), bench?: string) {
    const table = { ...SHARED_FLAGS, ...own };
    this.#flags = bench === undefined ? parseFlags(table, args) : readFlags(bench, table, args);
    // Checked here, with the rest, so a bad one is refused before anything starts.
    try {
      this.compare();
    } catch (err) {
      if (bench === undefined || !(err instanceof FlagError)) throw err;
      refuseFlags(bench, err.message);
    }
  }

  /** `name` is present (a flag without a value). */
  has(name: string): boolean {
    return this.#flags.has(name.replace(/^--/, ''));
  }

  /** The value of `name`, or undefined when absent. */
  value(name: string): string | undefined {
    return this.#flags.text(name.replace(/^--/, ''));
  }

  /** The value of `name` as a number (its kind checked when read). */
  count(name: string): number | undefined {
    return this.#flags.num(name.replace(/^--/, ''));
  }

  /** The value of `name` split on whitespace ("--rclone-flags '--a --b'"). */
  words(name: string): string[] | undefined {
    return this.#flags.words(name.replace(/^--/, ''));
  }

  /** Every `--compare LABEL=PATH`: LABEL -> PATH resolved. */
  compare(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const v of this.#flags.texts('compare')) {
      const m = /^([\w.-]+)=(.+)$/.exec(v);
      if (m === null) throw new FlagError(`--compare: expected LABEL=PATH, got ${JSON.stringify(v)}`);
      out[m[1] as string] = path.resolve(m[2] as string);
    }
    return out;
  }

  /**
   * The data sets to run: `quick` or `full` (copies), only those `--sets` names, with the
   * `4k` set's count from `--small` and the `1m` set's from `--large`.
   */
  sets<S extends DataSet>(quick: readonly S[], full: readonly S[]): S[] {
    let sets = (this.has('--quick') ? quick : full).map((s) => ({ ...s }));
    const only = this.value('--sets')?.split(',');
    if (only !== undefined) sets = sets.filter((s) => only.includes(s.name));
    const small = this.count('--small');
    const large = this.count('--large');
    for (const s of sets) {
      if (s.name === '4k' && small !== undefined) s.count = small;
      if (s.name === '1m' && large !== undefined) s.count = large;
    }
    return sets;
  }

  /** With `--json FILE`: write `report` there and say so on stdout. */
  async writeJson(report: unknown): Promise<void> {
    const json = this.value('--json');
    if (json === undefined) return;
    await mkdir(path.dirname(path.resolve(json)), { recursive: true });
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`JSON in ${json}\n`);
  }
}
