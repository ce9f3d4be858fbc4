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
 * --compare LABEL=PATH (also run another build's CLI, PATH = its dist/src/cli/main.js; repeatable),
 * --dest DIR (download under DIR, e.g. a tmpfs, instead of the OS's temporary directory; every
 * download is kept until the end, see bench/peers/download-dirs.ts), --floor-variant (add the
 * rows of a bare Node client: `floor:contract` does only what readpath's contract needs — lookup,
 * signed GET, SHA-256 check, atomic file write — and `floor:receive` only receives the bytes; see
 * bench/peers/floor-client.ts).
 * A tool that failed (exit non-zero) or whose download did not match the data set has no rate or
 * ratio: FAILED in their place and its stderr tail under the table. Exit code 1 then; 2 when
 * rclone (or, with --aws, the aws CLI) is not installed, before anything is started.
 */
import { BenchArgs } from './peers/args.js';
import { formatPeerTable } from './peers/report.js';
import { FULL_SETS, QUICK_SETS, runPeerBench, type PeerBenchOptions } from './peers/run.js';
import { awsBinary, missingTools, missingToolsMessage, type Tool } from './peers/tools.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

const args = new BenchArgs({ aws: 'flag', 'no-library': 'flag', 'readpath-args': 'words', 'floor-variant': 'flag' }, process.argv.slice(2), 'bench:peers');
const quick = args.has('--quick');
const sets = args.sets(QUICK_SETS, FULL_SETS);
const tools: Tool[] = [...(args.has('--aws') ? ['rclone', 'aws', 'readpath'] as const : ['rclone', 'readpath'] as const), ...(args.has('--floor-variant') ? ['floor:contract', 'floor:receive'] as const : [])];
const readpathArgs = args.words('--readpath-args');
const rcloneFlags = args.words('--rclone-flags');
const compare = args.compare();
const repeat = args.count('--repeat');
const backends = args.count('--backends');
const stubNice = args.count('--stub-nice');
const dest = args.value('--dest');
const missing = missingTools(tools.flatMap((t) => (t === 'rclone' ? ['rclone'] : t === 'aws' ? [awsBinary()] : [])));
if (missing.length > 0) {
  process.stderr.write(missingToolsMessage('bench:peers', missing));
  process.exit(2);
}
const opts: PeerBenchOptions = {
  quick, sets, tools,
  library: !args.has('--no-library'),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
  ...(repeat === undefined ? {} : { repeat }),
  ...(backends === undefined ? {} : { backends }),
  ...(stubNice === undefined ? {} : { stubNice }),
  ...(readpathArgs === undefined ? {} : { readpathArgs }),
  ...(rcloneFlags === undefined ? {} : { rcloneFlags }),
  ...(dest === undefined ? {} : { dest }),
  compare,
};

const report = await runPeerBench(opts);
process.stdout.write(formatPeerTable(report));
await args.writeJson(report);
const failed = report.downloads.some((d) => !d.verified) || report.library.some((l) => l.verified !== l.reads);
process.exitCode = failed ? 1 : 0;
