/**
 * The command-line flags `bench/peers.bench.ts` and `bench/gateway.bench.ts` share: values,
 * non-negative integers, word lists, repeatable `--compare LABEL=PATH`, the data-set choice
 * (`--quick`, `--sets`, `--small`, `--large`) and `--json FILE`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataSet } from './run.js';

/** Flags read from an argument list. */
export class BenchArgs {
  readonly #args: readonly string[];

  constructor(args: readonly string[] = process.argv.slice(2)) {
    this.#args = args;
  }

  /** `name` is present (a flag without a value). */
  has(name: string): boolean {
    return this.#args.includes(name);
  }

  /** The value after `name`, or undefined when absent; throws when `name` ends the list. */
  value(name: string): string | undefined {
    const i = this.#args.indexOf(name);
    if (i < 0) return undefined;
    const v = this.#args[i + 1];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  }

  /** The value after `name` as a non-negative integer. */
  count(name: string): number | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${v}`);
    return n;
  }

  /** The value after `name` split on whitespace ("--rclone-flags '--a --b'"). */
  words(name: string): string[] | undefined {
    return this.value(name)?.split(/\s+/).filter((x) => x !== '');
  }

  /** Every `--compare LABEL=PATH`: LABEL -> PATH resolved. */
  compare(): Record<string, string> {
    const out: Record<string, string> = {};
    this.#args.forEach((a, i) => {
      if (a !== '--compare') return;
      const m = /^([\w.-]+)=(.+)$/.exec(this.#args[i + 1] ?? '');
      if (m === null) throw new Error('--compare: expected LABEL=PATH');
      out[m[1] as string] = path.resolve(m[2] as string);
    });
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
