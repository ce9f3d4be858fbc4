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
 * --large N (1 MiB objects), --backends N, --warmup N (untimed objects per path before the rounds,
 * in whole copies of the set; default 3000), --no-warmup, --stub-nice N, --gateway-nice N (may be
 * negative: the gateway's main thread ahead of rclone and the stub), --rclone-flags "FLAGS",
 * --gateway-node-args "ARGS", --log-level LEVEL (the gateway's READPATH_LOG_LEVEL),
 * --gateway-main PATH (run another build's CLI as the gateway: PATH = its dist/src/cli/main.js),
 * --compare LABEL=PATH (also run another build's CLI as gateway `gateway@LABEL` in the same
 * rounds, reported beside, not judged; repeatable), --cpus client=LIST,gateway=LIST (Linux:
 * rclone, the stub and the bench on one set of CPUs, the gateway on another, as if it had a host
 * of its own; `taskset` lists, e.g. client=0,gateway=1), --cache-variant (also this build's
 * gateway with `cache:` enabled, row `gateway+cache`, not judged: after the first round it
 * answers every object from memory), --processes-variant N (also this build's gateway with
 * `server.processes: N`, row `gateway+processesN`, not judged), --dest DIR (rclone downloads
 * under DIR, e.g. a tmpfs, instead of the OS's temporary directory; every download is kept until
 * the end, see bench/peers/download-dirs.ts), --floor-variant (also a bare Node proxy in front of
 * the stub, row `gateway@floor`, not judged: forwarding with no SigV4 check, lookup,
 * verification or log, what any Node gateway costs here; bench/gateway/floor-proxy.ts).
 * A download that failed or did not match the data set has no rate (FAILED) and no ratio; exit
 * code 1 then. The targets are reported, not enforced (`--strict`: exit 2 when one is missed). Exit code 2, before anything is started,
 * when rclone is not installed.
 */
import path from 'node:path';
import { formatGatewayTable } from './gateway/report.js';
import { FULL_SETS, QUICK_SETS, parseCpuSplit, runGatewayBench, type GatewayBenchOptions } from './gateway/run.js';
import { floorProxyEntry } from './gateway/gateway-process.js';
import { BenchArgs } from './peers/args.js';
import { missingTools, missingToolsMessage } from './peers/tools.js';
import { refuseFlags } from './flags.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

const args = new BenchArgs({
  warmup: 'count', 'no-warmup': 'flag', 'gateway-nice': 'int', 'gateway-node-args': 'words', 'log-level': 'text', 'gateway-main': 'text',
  cpus: 'text', 'cache-variant': 'flag', 'processes-variant': 'count', 'floor-variant': 'flag', strict: 'flag',
}, process.argv.slice(2), 'bench:gateway');
const quick = args.has('--quick');
const sets = args.sets(QUICK_SETS, FULL_SETS);
const repeat = args.count('--repeat');
const backends = args.count('--backends');
const stubNice = args.count('--stub-nice');
const gatewayNice = args.value('--gateway-nice');
const rcloneFlags = args.words('--rclone-flags');
const gatewayNodeArgs = args.words('--gateway-node-args');
const logLevel = args.value('--log-level');
const gatewayMain = args.value('--gateway-main');
const cpusText = args.value('--cpus');
let cpus: ReturnType<typeof parseCpuSplit> | undefined;
try {
  cpus = cpusText === undefined ? undefined : parseCpuSplit(cpusText);
} catch (err) {
  refuseFlags('bench:gateway', err instanceof Error ? err.message : String(err));
}
const processesVariant = args.count('--processes-variant');
const warmup = args.count('--warmup');
const dest = args.value('--dest');
const missing = missingTools(['rclone']);
if (missing.length > 0) {
  process.stderr.write(missingToolsMessage('bench:gateway', missing));
  process.exit(2);
}
const opts: GatewayBenchOptions = {
  quick, sets, compare: { ...args.compare(), ...(args.has('--floor-variant') ? { floor: floorProxyEntry() } : {}) }, cacheVariant: args.has('--cache-variant'),
  ...(args.has('--no-warmup') ? { warmupObjects: 0 } : warmup === undefined ? {} : { warmupObjects: warmup }),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
  ...(repeat === undefined ? {} : { repeat }),
  ...(backends === undefined ? {} : { backends }),
  ...(stubNice === undefined ? {} : { stubNice }),
  ...(gatewayNice === undefined ? {} : { gatewayNice: Number(gatewayNice) }),
  ...(rcloneFlags === undefined ? {} : { rcloneFlags }),
  ...(gatewayNodeArgs === undefined ? {} : { gatewayNodeArgs }),
  ...(logLevel === undefined ? {} : { gatewayLogLevel: logLevel }),
  ...(gatewayMain === undefined ? {} : { gatewayMain: path.resolve(gatewayMain) }),
  ...(cpus === undefined ? {} : { cpus }),
  ...(processesVariant === undefined ? {} : { processesVariant }),
  ...(dest === undefined ? {} : { dest }),
};

const report = await runGatewayBench(opts);
process.stdout.write(formatGatewayTable(report));
await args.writeJson(report);
const failed = report.sets.some((s) => !s.direct.verified || !s.gateway.verified);
process.exitCode = failed ? 1 : args.has('--strict') && !report.pass ? 2 : 0;
