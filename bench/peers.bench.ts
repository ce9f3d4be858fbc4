/**
 * `npm run bench:peers`: rclone, readpath (and optionally the aws CLI) downloading the same data
 * sets from the same local S3 stub, side by side, plus readpath's library rows against a raw
 * node:http ceiling. See bench/peers/ and bench/RESULTS.md.
 *
 *   npm run bench:peers                              # 20,000 x 4 KiB and 400 x 1 MiB, one round
 *   node dist/bench/peers.bench.js --repeat 3 --json bench/out/peers.json
 *   node dist/bench/peers.bench.js --quick           # a few seconds: the smoke test's run
 *   node dist/bench/peers.bench.js --aws             # add `aws s3 cp --recursive` (slow: ~250 objects/s)
 *
 * Flags: --quick, --repeat N, --json FILE, --aws, --no-library, --backends N, --sets 4k,1m,
 * --small N (4 KiB objects), --large N (1 MiB objects), --stub-nice N,
 * --readpath-args "ARGS" (extra `readpath batch` arguments), --rclone-flags "FLAGS",
 * --compare LABEL=PATH (also run another build's CLI, PATH = its dist/src/cli/main.js; repeatable).
 * Exit code 1 when a tool failed or a download did not match the data set.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatPeerTable } from './peers/report.js';
import { FULL_SETS, QUICK_SETS, runPeerBench, type DataSet, type PeerBenchOptions } from './peers/run.js';
import type { Tool } from './peers/tools.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  return v;
};
const num = (name: string): number | undefined => {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${v}`);
  return n;
};

const quick = args.includes('--quick');
let sets: DataSet[] = (quick ? QUICK_SETS : FULL_SETS).map((s) => ({ ...s }));
const only = flag('--sets')?.split(',');
if (only !== undefined) sets = sets.filter((s) => only.includes(s.name));
const small = num('--small');
const large = num('--large');
for (const s of sets) {
  if (s.name === '4k' && small !== undefined) s.count = small;
  if (s.name === '1m' && large !== undefined) s.count = large;
}
const tools: Tool[] = args.includes('--aws') ? ['rclone', 'aws', 'readpath'] : ['rclone', 'readpath'];
const split = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(/\s+/).filter((x) => x !== ''));
const readpathArgs = split(flag('--readpath-args'));
const rcloneFlags = split(flag('--rclone-flags'));
const compare: Record<string, string> = {};
args.forEach((a, i) => {
  if (a !== '--compare') return;
  const m = /^([\w.-]+)=(.+)$/.exec(args[i + 1] ?? '');
  if (m === null) throw new Error('--compare: expected LABEL=PATH');
  compare[m[1] as string] = path.resolve(m[2] as string);
});
const repeat = num('--repeat');
const backends = num('--backends');
const stubNice = num('--stub-nice');
const opts: PeerBenchOptions = {
  quick, sets, tools,
  library: !args.includes('--no-library'),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
  ...(repeat === undefined ? {} : { repeat }),
  ...(backends === undefined ? {} : { backends }),
  ...(stubNice === undefined ? {} : { stubNice }),
  ...(readpathArgs === undefined ? {} : { readpathArgs }),
  ...(rcloneFlags === undefined ? {} : { rcloneFlags }),
  compare,
};

const report = await runPeerBench(opts);
process.stdout.write(formatPeerTable(report));
const json = flag('--json');
if (json !== undefined) {
  await mkdir(path.dirname(path.resolve(json)), { recursive: true });
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`JSON in ${json}\n`);
}
const failed = report.downloads.some((d) => !d.verified) || report.library.some((l) => l.verified !== l.reads);
process.exitCode = failed ? 1 : 0;
