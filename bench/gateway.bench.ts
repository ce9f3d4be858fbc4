/**
 * `npm run bench:gateway`: rclone through `readpath serve` against rclone directly from one
 * backend (the peers' local S3 stub), same run, interleaved rounds, plus the gateway process's
 * event-loop delay. Targets (issue 16): ≥ 0.6× direct objects/s on 4 KiB objects, ≥ 0.8× direct
 * MiB/s on 1 MiB objects, gateway event-loop delay p99 ≤ 10 ms. See bench/gateway/ and
 * bench/RESULTS.md.
 *
 *   npm run bench:gateway                             # 10,000 x 4 KiB and 300 x 1 MiB, 5 rounds
 *   node dist/bench/gateway.bench.js --json bench/out/gateway.json
 *   node dist/bench/gateway.bench.js --quick          # seconds: the smoke test's run
 *   node dist/bench/gateway.bench.js --gateway-node-args "--cpu-prof --cpu-prof-dir bench/out/gw-prof"
 *
 * Flags: --quick, --repeat N, --json FILE, --sets 4k,1m, --small N (4 KiB objects),
 * --large N (1 MiB objects), --backends N, --no-warmup, --stub-nice N, --gateway-nice N (may be
 * negative: the gateway's main thread ahead of rclone and the stub), --rclone-flags "FLAGS",
 * --gateway-node-args "ARGS", --log-level LEVEL (the gateway's READPATH_LOG_LEVEL),
 * --gateway-main PATH (run another build's CLI as the gateway: PATH = its dist/src/cli/main.js),
 * --compare LABEL=PATH (also run another build's CLI as gateway `gateway@LABEL` in the same
 * rounds, reported beside, not judged; repeatable), --cpus client=LIST,gateway=LIST (Linux:
 * rclone, the stub and the bench on one set of CPUs, the gateway on another, as if it had a host
 * of its own; `taskset` lists, e.g. client=0,gateway=1).
 * Exit code 1 when a download failed or did not match the data set; the targets are reported,
 * not enforced (`--strict`: exit 2 when one is missed).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatGatewayTable } from './gateway/report.js';
import { FULL_SETS, QUICK_SETS, parseCpuSplit, runGatewayBench, type GatewayBenchOptions, type GatewayDataSet } from './gateway/run.js';

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
const split = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(/\s+/).filter((x) => x !== ''));

const quick = args.includes('--quick');
let sets: GatewayDataSet[] = (quick ? QUICK_SETS : FULL_SETS).map((s) => ({ ...s }));
const only = flag('--sets')?.split(',');
if (only !== undefined) sets = sets.filter((s) => only.includes(s.name));
const small = num('--small');
const large = num('--large');
for (const s of sets) {
  if (s.name === '4k' && small !== undefined) s.count = small;
  if (s.name === '1m' && large !== undefined) s.count = large;
}
const repeat = num('--repeat');
const backends = num('--backends');
const stubNice = num('--stub-nice');
const gatewayNice = flag('--gateway-nice');
const rcloneFlags = split(flag('--rclone-flags'));
const gatewayNodeArgs = split(flag('--gateway-node-args'));
const logLevel = flag('--log-level');
const gatewayMain = flag('--gateway-main');
const cpus = flag('--cpus');
const compare: Record<string, string> = {};
args.forEach((a, i) => {
  if (a !== '--compare') return;
  const m = /^([\w.-]+)=(.+)$/.exec(args[i + 1] ?? '');
  if (m === null) throw new Error('--compare: expected LABEL=PATH');
  compare[m[1] as string] = path.resolve(m[2] as string);
});
const opts: GatewayBenchOptions = {
  quick, sets, compare,
  warmup: !args.includes('--no-warmup'),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
  ...(repeat === undefined ? {} : { repeat }),
  ...(backends === undefined ? {} : { backends }),
  ...(stubNice === undefined ? {} : { stubNice }),
  ...(gatewayNice === undefined ? {} : { gatewayNice: Number(gatewayNice) }),
  ...(rcloneFlags === undefined ? {} : { rcloneFlags }),
  ...(gatewayNodeArgs === undefined ? {} : { gatewayNodeArgs }),
  ...(logLevel === undefined ? {} : { gatewayLogLevel: logLevel }),
  ...(gatewayMain === undefined ? {} : { gatewayMain: path.resolve(gatewayMain) }),
  ...(cpus === undefined ? {} : { cpus: parseCpuSplit(cpus) }),
};

const report = await runGatewayBench(opts);
process.stdout.write(formatGatewayTable(report));
const json = flag('--json');
if (json !== undefined) {
  await mkdir(path.dirname(path.resolve(json)), { recursive: true });
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`JSON in ${json}\n`);
}
const failed = report.sets.some((s) => !s.direct.verified || !s.gateway.verified);
process.exitCode = failed ? 1 : args.includes('--strict') && !report.pass ? 2 : 0;
