/**
 * `npm run bench`: the broadcast benchmark's scenarios side by side, each strategy with the
 * inline and the pool executor, then the issue-6 targets checked against what was measured.
 * Writes a table per scenario to stdout, and to bench/out/: one JSON and one SVG chart per
 * scenario plus broadcast.json (every cell) and targets.json.
 *
 *   npm run bench                         # = npm run build && node dist/bench/run-all.js
 *   node dist/bench/run-all.js --only heavy-tail --quick --out /tmp/bench
 *   node dist/bench/run-all.js --threads 1          # pool cells with 1 worker (default 2)
 *
 * Flags (after `npm run bench --`): --quick (a tenth of the reads, one s3 round: a smoke run),
 * --only NAMES (comma list of fastest, first-down, heavy-tail, s3, s3-first), --out DIR
 * (default bench/out), --executor inline|pool|inline,pool (default both), --threads N (pool
 * workers, default 2). A missed target is reported (MISS), not an exit code; exit 2 for an
 * unknown flag or scenario, before anything runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBenchTable, parseExecutors, runBroadcastBench, toBenchJson, type BenchOptions, type BenchReport } from './harness/index.js';
import { targets } from './targets.js';
import { messageOf } from '../src/errors.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

interface Scenario {
  name: string;
  /** Chart and table title. */
  title: string;
  what: string;
  options: BenchOptions;
}

const args = process.argv.slice(2);
/** Exit 2 with `message`: a mistyped flag must not start (or silently skip) a run of minutes. */
function usageError(message: string): never {
  process.stderr.write(`run-all: ${message} (see --help)\n`);
  process.exit(2);
}
const VALUE_FLAGS = new Set(['--only', '--out', '--executor', '--threads']);
for (let i = 0; i < args.length; i++) {
  const a = args[i] as string;
  if (a === '--quick') continue;
  if (!VALUE_FLAGS.has(a)) usageError(`unknown argument ${JSON.stringify(a)}`);
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) usageError(`${a} needs a value`);
  i++;
}
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const only = flag('--only')?.split(',');
const outDir = flag('--out') ?? path.join('bench', 'out');
let executors: Array<'inline' | 'pool'>;
try {
  executors = parseExecutors(flag('--executor') ?? 'inline,pool');
} catch (err) {
  usageError(messageOf(err));
}
// Two workers by default, whatever the machine: the pool cells of one RESULTS table are then
// comparable across machines. At ~4,000 sim probes/s one worker saturates on its own.
const threadsText = flag('--threads') ?? '2';
if (!/^\d+$/.test(threadsText) || Number(threadsText) < 1 || Number(threadsText) > 64) usageError(`--threads: expected an integer in [1, 64], got ${JSON.stringify(threadsText)}`);
const threads = Number(threadsText);
const scale = (n: number): number => (quick ? Math.max(20, Math.round(n / 10)) : n);

const SCENARIOS: Scenario[] = [
  {
    name: 'fastest',
    title: 'fastest: parallel vs the fastest backend alone (sim)',
    what: 'Parallel broadcast against the fastest backend alone (b2, 10 ms; b1 30 ms, b3 20 ms).',
    options: {
      latency: 'b1=const(30),b2=const(10),b3=const(20)',
      strategies: 'direct:b2,sequential,parallel,window:2,hedged:auto,hedged:15',
      reads: scale(2000),
    },
  },
  {
    name: 'first-down',
    title: 'first-down: the first backend fails in 5 ms (sim)',
    what: 'The first backend fails every read after 5 ms (a reset); the others answer in 10 ms.',
    options: {
      latency: 'b1=down(5),b2=const(10),b3=const(10)',
      strategies: 'direct:b1,direct:b2,sequential,parallel,hedged:auto',
      reads: scale(2000),
    },
  },
  {
    name: 'heavy-tail',
    title: 'heavy-tail: 10 ms backends, 2% of reads 10x slower (sim)',
    what: 'Every backend 10 ms, 2% of reads 10x slower: what each strategy buys against the tail, and what it costs.',
    options: {
      latency: '*=tail(10,0.02,10)',
      strategies: 'sequential,parallel,window:2,hedged:auto,hedged:p99,hedged:15',
      reads: scale(3000),
    },
  },
  {
    name: 's3',
    title: 's3: three s3rver backends, fastest second (real S3 protocol)',
    what: 'Three s3rver backends behind latency proxies (b2 fastest), read over the real S3 protocol; direct:b2 is a plain @aws-sdk/client-s3 GET.',
    options: {
      world: 's3',
      latency: 'b1=const(20),b2=const(10),b3=const(30)',
      strategies: 'direct:b2,sequential,parallel,window:2,hedged:auto',
      reads: scale(300),
      rounds: quick ? 1 : 3,
    },
  },
  {
    name: 's3-first',
    title: 's3-first: three s3rver backends, fastest first (real S3 protocol)',
    what: 'The same fleet with the fastest backend first in order: sequential is then readpath alone on one S3 GET.',
    options: {
      world: 's3',
      latency: 'b1=const(10),b2=const(20),b3=const(30)',
      strategies: 'direct:b1,sequential,parallel',
      reads: scale(300),
      rounds: quick ? 1 : 3,
    },
  },
];

const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) usageError(`--only: no scenario ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the scenarios are ${SCENARIOS.map((s) => s.name).join(', ')}`);

await mkdir(outDir, { recursive: true });
const reports = new Map<string, BenchReport>();
const t0 = performance.now();
for (const s of SCENARIOS) {
  if (only !== undefined && !only.includes(s.name)) continue;
  process.stderr.write(`\n== ${s.name}: ${s.what}\n`);
  const report = await runBroadcastBench({
    executors,
    threads,
    ...s.options,
    scenario: s.title,
    json: path.join(outDir, `broadcast-${s.name}.json`),
    chart: path.join(outDir, `broadcast-${s.name}.svg`),
    onProgress: (l) => process.stderr.write(`  ${l}\n`),
  });
  reports.set(s.name, report);
  process.stdout.write(`\n${formatBenchTable(report)}`);
}
const all = [...reports.values()];
await writeFile(path.join(outDir, 'broadcast.json'), JSON.stringify({ results: all.flatMap((r) => r.results), scenarios: all.map((r) => ({ ...toBenchJson(r), results: undefined })) }, null, 2) + '\n');
const rows = targets(reports, executors);
await writeFile(path.join(outDir, 'targets.json'), JSON.stringify({ targets: rows }, null, 2) + '\n');
process.stdout.write('\nTargets (issue 6)\n');
for (const r of rows) process.stdout.write(`${r.ok ? 'PASS' : 'MISS'}  [${r.executor}] ${r.target}: ${r.measured}; limit ${r.limit}\n`);
process.stdout.write(`\n${all.length} scenario(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s; JSON and charts in ${outDir}/\n`);
