/**
 * `readpath bench` flags (API.md §4) into {@link BenchOptions}, and options into their
 * resolved form. Bad input is an INVALID_CONFIG error naming the flag and the part at fault.
 */
import { ReadPathError } from '../../src/errors.js';
import { formatLatencySpec, parseLatencySpec } from './latency-spec.js';
import { parseStrategies, strategyName } from './strategies.js';
import type { BenchOptions, ExecutorKind, ResolvedBenchOptions, WorldKind } from './types.js';

/** The usage text of `readpath bench`. */
export const BENCH_USAGE = `usage: readpath bench [--world sim|s3] [--backends N] [--latency SPEC] [--strategies LIST]
                      [--executor inline,pool] [--reads N] [--json FILE] [--chart FILE]
                      [--warmup N] [--concurrency N] [--rounds N] [--seed N] [--object-size BYTES]
                      [--percentile P] [--max-extra-load F] [--threads N] [--scenario NAME]

  SPEC  comma list NAME=DIST over b1..bN (NAME * = every backend not named; default const(10))
        DIST: const(MS) | lognormal(MEDIAN_MS,SIGMA) | tail(MEDIAN_MS,P,FACTOR) | fail(P)
              | down | down(MS); terms combine with +, e.g. lognormal(10,0.3)+fail(0.05)
  LIST  sequential | parallel | window:K | hedged:auto | hedged:MS | hedged:pNN | direct:NAME
        default: sequential,parallel,window:2,hedged:auto,hedged:15

  --world sim   in-memory backends with those latencies (seeded: runs are reproducible)
  --world s3    s3rver backends behind latency proxies, over the real S3 protocol
  Defaults: 3 backends, 2000 reads (s3: 300) at concurrency 16 (s3: 1) in 1 round (s3: 3,
  interleaving the cells), inline executor, hedged:auto at p95 with a 5% extra-load budget,
  pool executor with runtime.threads' default (cores - 1, at least 1) worker threads.

  example: readpath bench --latency '*=tail(10,0.02,10)' --strategies sequential,parallel,hedged:auto \\
             --json bench.json --chart bench.svg
`;

/** What {@link parseBenchArgs} found. */
export interface ParsedBenchArgs {
  /** `-h`/`--help` was given: print {@link BENCH_USAGE}. */
  help: boolean;
  options: BenchOptions;
}

function bad(flag: string, why: string): ReadPathError {
  return new ReadPathError('INVALID_CONFIG', `${flag}: ${why}`);
}

const FLAGS = new Set([
  '--world', '--backends', '--latency', '--strategies', '--executor', '--reads', '--warmup', '--concurrency',
  '--seed', '--rounds', '--object-size', '--percentile', '--max-extra-load', '--json', '--chart', '--scenario',
  '--threads',
]);

function integer(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text.trim())) throw bad(flag, `must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw bad(flag, `must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function number(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw bad(flag, `must be a number, got ${JSON.stringify(text)}`);
  return n;
}

/** Parse the executor list (`inline`, `pool`, or both comma-separated). */
export function parseExecutors(text: string): ExecutorKind[] {
  const out: ExecutorKind[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (part !== 'inline' && part !== 'pool') throw bad('--executor', `${JSON.stringify(part)}: expected inline, pool or inline,pool`);
    if (!out.includes(part)) out.push(part);
  }
  return out;
}

/**
 * Parse `readpath bench` arguments (those after `bench`). `--flag value` and `--flag=value` both
 * work. Throws INVALID_CONFIG naming the flag at fault; SPEC and LIST are checked here too.
 */
export function parseBenchArgs(argv: readonly string[]): ParsedBenchArgs {
  const o: BenchOptions = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!FLAGS.has(flag)) throw bad(arg, arg.startsWith('-') ? 'unknown flag (see readpath bench --help)' : 'unexpected argument');
    let value: string;
    if (flag !== arg) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && FLAGS.has(next.split('=')[0] as string))) throw bad(flag, 'needs a value');
      value = next;
      i++;
    }
    switch (flag) {
      case '--world':
        if (value !== 'sim' && value !== 's3') throw bad(flag, `expected sim or s3, got ${JSON.stringify(value)}`);
        o.world = value;
        break;
      case '--backends': o.backends = integer(flag, value, 1); break;
      case '--latency': o.latency = value; break;
      case '--strategies': o.strategies = value; break;
      case '--executor': o.executors = parseExecutors(value); break;
      case '--reads': o.reads = integer(flag, value, 1); break;
      case '--warmup': o.warmup = integer(flag, value, 0); break;
      case '--concurrency': o.concurrency = integer(flag, value, 1); break;
      case '--seed': o.seed = integer(flag, value, 0); break;
      case '--rounds': o.rounds = integer(flag, value, 1); break;
      case '--object-size': o.objectSize = integer(flag, value, 0); break;
      case '--percentile': o.hedgePercentile = number(flag, value); break;
      case '--max-extra-load': o.maxExtraLoad = number(flag, value); break;
      case '--threads': o.threads = integer(flag, value, 1); break;
      case '--json': o.json = value; break;
      case '--chart': o.chart = value; break;
      case '--scenario': o.scenario = value; break;
    }
  }
  if (!help) resolveBenchOptions(o); // SPEC, LIST and ranges are checked now, before anything runs.
  return { help, options: o };
}

function check(flag: string, ok: boolean, why: string, got: unknown): void {
  if (!ok) throw bad(flag, `${why}, got ${JSON.stringify(got)}`);
}

/** Apply defaults and parse SPEC/LIST. Throws INVALID_CONFIG naming the option at fault. */
export function resolveBenchOptions(o: BenchOptions): ResolvedBenchOptions {
  const world: WorldKind = o.world ?? 'sim';
  check('--world', world === 'sim' || world === 's3', 'expected sim or s3', world);
  const backends = o.backends ?? 3;
  check('--backends', Number.isSafeInteger(backends) && backends >= 1 && backends <= 64, 'must be an integer in [1, 64]', backends);
  const models = parseLatencySpec(o.latency, backends);
  const strategies = typeof o.strategies === 'string' || o.strategies === undefined ? parseStrategies(o.strategies, backends) : [...o.strategies];
  check('--strategies', strategies.length > 0, 'at least one strategy is needed', strategies.map(strategyName));
  const executors = [...(o.executors ?? ['inline'])];
  check('--executor', executors.length > 0 && executors.every((e) => e === 'inline' || e === 'pool'), 'expected inline, pool or inline,pool', executors);
  const reads = o.reads ?? (world === 's3' ? 300 : 2000);
  check('--reads', Number.isSafeInteger(reads) && reads >= 1, 'must be an integer >= 1', reads);
  const warmup = o.warmup ?? Math.min(200, Math.max(20, Math.round(reads / 10)));
  check('--warmup', Number.isSafeInteger(warmup) && warmup >= 0, 'must be an integer >= 0', warmup);
  const concurrency = o.concurrency ?? (world === 's3' ? 1 : 16);
  check('--concurrency', Number.isSafeInteger(concurrency) && concurrency >= 1, 'must be an integer >= 1', concurrency);
  const seed = o.seed ?? 1;
  check('--seed', Number.isSafeInteger(seed) && seed >= 0, 'must be an integer >= 0', seed);
  const rounds = o.rounds ?? (world === 's3' ? 3 : 1);
  check('--rounds', Number.isSafeInteger(rounds) && rounds >= 1, 'must be an integer >= 1', rounds);
  const objectSize = o.objectSize ?? 1024;
  check('--object-size', Number.isSafeInteger(objectSize) && objectSize >= 0 && objectSize <= 64 * 1024 * 1024, 'must be an integer in [0, 64 MiB]', objectSize);
  const hedgePercentile = o.hedgePercentile ?? 95;
  check('--percentile', hedgePercentile > 0 && hedgePercentile <= 100, 'must be in (0, 100]', hedgePercentile);
  const maxExtraLoad = o.maxExtraLoad ?? 0.05;
  check('--max-extra-load', maxExtraLoad >= 0 && maxExtraLoad <= 1, 'must be in [0, 1]', maxExtraLoad);
  const threads = o.threads;
  check('--threads', threads === undefined || (Number.isSafeInteger(threads) && threads >= 1 && threads <= 64), 'must be an integer in [1, 64]', threads);
  const latency = formatLatencySpec(models);
  return {
    world, backends, models, latency, strategies, executors, reads, warmup, concurrency, seed, rounds, objectSize,
    hedgePercentile, maxExtraLoad, threads,
    json: o.json, chart: o.chart,
    scenario: o.scenario ?? `${world}: ${latency}`,
  };
}
