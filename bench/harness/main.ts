/**
 * `readpath bench` in one call, for the CLI: parse the flags, run, print the table to stdout
 * and progress to stderr, write `--json`/`--chart`. Resolves with the exit code (0 done,
 * 2 usage or configuration error, 1 the bench itself failed); never throws.
 */
import { hasCode, messageOf } from '../../src/errors.js';
import { BENCH_USAGE, parseBenchArgs } from './options.js';
import { formatBenchTable } from './report.js';
import { runBroadcastBench } from './runner.js';
import type { BenchReport } from './types.js';

/** Where {@link benchMain} writes. */
export interface BenchIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Run `readpath bench ARGS`. `argv` is what follows `bench`. */
export async function benchMain(argv: readonly string[], io: BenchIO = process): Promise<number> {
  let parsed;
  try {
    parsed = parseBenchArgs(argv);
  } catch (err) {
    io.stderr.write(`readpath bench: ${messageOf(err)}\n${hasCode(err, 'INVALID_CONFIG') ? 'see readpath bench --help\n' : ''}`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(BENCH_USAGE);
    return 0;
  }
  let report: BenchReport;
  try {
    report = await runBroadcastBench({ ...parsed.options, onProgress: (line) => io.stderr.write(`${line}\n`) });
  } catch (err) {
    io.stderr.write(`readpath bench: ${messageOf(err)}\n`);
    return hasCode(err, 'INVALID_CONFIG') ? 2 : 1;
  }
  io.stdout.write(formatBenchTable(report));
  if (parsed.options.json !== undefined) io.stderr.write(`results: ${parsed.options.json}\n`);
  if (parsed.options.chart !== undefined) io.stderr.write(`chart: ${parsed.options.chart}\n`);
  return 0;
}
