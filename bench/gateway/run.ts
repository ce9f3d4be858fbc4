/**
 * The gateway benchmark (issue 16): rclone downloading one data set directly from a stub
 * backend against rclone downloading it through `readpath serve` in front of the same stub, in
 * the same run. Per data set: one stub process (bench/peers/stub-process.ts, `backends`
 * buckets), the peers' SQLite rows and config plus one gateway bucket (setup.ts), one gateway
 * process (gateway-process.ts, event-loop delay sampled by the preloaded loop-monitor.ts);
 * an untimed warm-up of both paths (whole copies of the set, at least `warmupObjects` objects:
 * a gateway runs for hours, and V8 was still optimising its code after a thousand 1 MiB
 * requests), then `repeat` rounds in which the two
 * variants take turns going first. Each download goes into a fresh directory, timed from
 * rclone's spawn to its exit, and is checked file by file (bench/peers/run.ts `download`).
 *
 * With `compare` (LABEL -> another build's CLI entry), each such build runs as a gateway process
 * of its own beside this one, as variant `gateway@LABEL` in the same rounds (the variants take
 * turns going first), judged alike but reported apart: what a change to src/ buys, same run.
 *
 * Targets: gateway/direct ≥ 0.6 on the 4 KiB set (objects/s), ≥ 0.8 on the 1 MiB set (MiB/s),
 * the gateway's main-thread event-loop delay p99 ≤ 10 ms while it serves. Ratios are the
 * median of the per-round ratios (each round's pair ran back to back, so drift in the
 * machine's load cancels better than in a ratio of medians).
 */
import { benchTempDir } from '../process-guard.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DownloadDirs, type DownloadDestination } from '../peers/download-dirs.js';
import { download, median, medianRow, type DataSet, type DownloadRun } from '../peers/run.js';
import { startSetStub, type StubFleet } from '../peers/stub-fleet.js';
import { runRclone, TRANSFERS } from '../peers/tools.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import type { LoopWindow } from './loop-monitor.js';
import { writeGatewaySetup } from './setup.js';

/** The two ways rclone reads the data set. */
export type Variant = 'direct' | 'gateway' | `gateway@${string}` | 'gateway+cache' | `gateway+processes${number}`;

/** A data set and what the gateway must reach on it. */
export interface GatewayDataSet extends DataSet {
  /** The figure judged (gateway / direct, same run) and its minimum. */
  target: { metric: 'objectsPerSec' | 'mibPerSec'; min: number };
}

export const LOOP_P99_TARGET_MS = 10;
const T4K = { metric: 'objectsPerSec', min: 0.6 } as const;
const T1M = { metric: 'mibPerSec', min: 0.8 } as const;
export const FULL_SETS: GatewayDataSet[] = [
  { name: '4k', count: 10_000, size: 4096, target: T4K },
  { name: '1m', count: 300, size: 1 << 20, target: T1M },
];
export const QUICK_SETS: GatewayDataSet[] = [
  { name: '4k', count: 200, size: 4096, target: T4K },
  { name: '1m', count: 6, size: 1 << 20, target: T1M },
];

/** Options of {@link runGatewayBench}. */
export interface GatewayBenchOptions {
  /** QUICK_SETS and one round unless told otherwise: a smoke run of seconds. */
  quick?: boolean;
  /** Rounds; figures are medians. Default 5 (quick: 1). */
  repeat?: number;
  sets?: GatewayDataSet[];
  /** Stub backends (buckets) the gateway reads from; rclone direct reads the first. Default 2. */
  backends?: number;
  /** The directory rclone's downloads go under (`--dest`; default the OS's temporary directory). */
  dest?: string;
  /**
   * Untimed objects through each path before the rounds, in whole copies of the set (0: none).
   * Default {@link DEFAULT_WARMUP_OBJECTS}; the quick run's 1.
   */
  warmupObjects?: number;
  /** Extra flags for every `rclone copy`. */
  rcloneFlags?: string[];
  /** Extra node flags for the gateway process (e.g. `--cpu-prof --cpu-prof-dir DIR`). */
  gatewayNodeArgs?: string[];
  /** Another build's CLI entry to run as the gateway (its `dist/src/cli/main.js`); default this bench's. */
  gatewayMain?: string;
  /** Other builds to run as gateways beside it, in the same rounds: LABEL -> CLI entry (rows `gateway@LABEL`, not judged). */
  compare?: Record<string, string>;
  /**
   * Also run this build's gateway with `cache:` enabled (room for the whole set), as variant
   * `gateway+cache`, reported beside, not judged: rounds after the first read every object from
   * memory, so it shows what the object cache does for hot objects, not what a first read costs.
   */
  cacheVariant?: boolean;
  /**
   * Also run this build's gateway with `server.processes: N` as variant `gateway+processesN`,
   * reported beside, not judged. Its loop p99 is the worst of its processes', its CPU all of
   * theirs and the primary's (the loop monitor relays the windows to every process).
   */
  processesVariant?: number;
  /** READPATH_LOG_LEVEL of the gateway; default unset (the configuration's `info`). */
  gatewayLogLevel?: string;
  /** Scheduling priority of the stub process. Default 0. */
  stubNice?: number;
  /** Scheduling priority of the gateway's main thread (negative: ahead of rclone and the stub; root only). Default 0. */
  gatewayNice?: number;
  /**
   * Split the machine's CPUs (Linux `taskset`): rclone, the stub and this process run on
   * `client` only, every gateway process (all its threads) on `gateway` only. Models a gateway
   * on a host of its own: the direct variant gets the same `client` CPUs. Default: no split.
   */
  cpus?: CpuSplit;
  onProgress?: (line: string) => void;
}

/** CPU lists (`taskset -c` syntax, e.g. "0" or "0-1") for the two sides of {@link GatewayBenchOptions.cpus}. */
export interface CpuSplit {
  client: string;
  gateway: string;
}

/** Parse `client=LIST,gateway=LIST` (the bench's `--cpus`). */
export function parseCpuSplit(text: string): CpuSplit {
  const m = /^client=([\d,-]+),gateway=([\d,-]+)$/.exec(text.trim());
  if (m === null) throw new Error(`--cpus: expected client=LIST,gateway=LIST (taskset lists, e.g. client=0,gateway=1), got ${text}`);
  return { client: m[1] as string, gateway: m[2] as string };
}

/** Bind every thread of `pid` to `cpus` (children and threads started later inherit it). */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** One timed download of one variant. */
export interface VariantRun extends DownloadRun {
  round: number;
  /** The stub process's CPU during the download, ms per object (Linux /proc; undefined elsewhere). */
  stubCpuMsPerObject?: number;
  /** The gateway process during the download (gateway variant only). */
  gateway?: LoopWindow & { cpuMsPerObject: number };
}

/** A variant over every round (medians). */
export interface VariantRow {
  variant: Variant;
  /** Medians over the rounds; absent when a round failed (a failed download has no rates). */
  seconds?: number;
  objectsPerSec?: number;
  mibPerSec?: number;
  /** rclone's CPU (all threads, user + system) per object, ms. */
  cpuMsPerObject?: number;
  stubCpuMsPerObject?: number;
  /** Every round downloaded every object with the right bytes, and rclone exited 0. */
  verified: boolean;
  runs: VariantRun[];
}

/** One data set's result. */
export interface GatewaySetResult {
  set: string;
  objects: number;
  objectSize: number;
  bytes: number;
  direct: VariantRow;
  gateway: VariantRow;
  /** Gateway rate / direct rate, per round (objects/s and MiB/s give the same ratio). */
  roundRatios: number[];
  /** Median of `roundRatios`: the judged figure. */
  ratio: number;
  target: GatewayDataSet['target'];
  /** The gateway process's CPU per object (main thread and workers), ms, median. */
  gatewayCpuMsPerObject: number;
  /** Main-thread event-loop utilization of the gateway while serving, median. */
  gatewayElu: number;
  /** The gateway's event-loop delay while serving: median and worst of the rounds' p99, the largest delay seen. */
  loop: { p99Ms: number; worstP99Ms: number; maxMs: number };
  /** The ratio and the loop's median p99 both meet their targets, every download verified. */
  pass: boolean;
}

/** What {@link runGatewayBench} measured. */
export interface GatewayBenchReport {
  bench: 'gateway';
  date: string;
  machine: { cores: number; node: string; platform: string; rclone: string; loadavg: [number, number] };
  /** Where rclone's downloads went (kept until the end of the run, see bench/peers/download-dirs.ts). */
  destination: DownloadDestination;
  quick: boolean;
  repeat: number;
  /** Untimed copies of each set through each path before its rounds, per set name. */
  warmupCopies: Record<string, number>;
  backends: number;
  transfers: number;
  gatewayNodeArgs: string[];
  /** The CLI the gateway ran from when not this bench's own (`--gateway-main`). */
  gatewayMain?: string;
  /** Scheduling priority given to the gateway's main thread (0: unchanged). */
  gatewayNice: number;
  /** The CPU split, when one was asked for. */
  cpus?: CpuSplit;
  /** The gateway's READPATH_LOG_LEVEL ('' : the configuration's, `info`). */
  gatewayLogLevel: string;
  loopP99TargetMs: number;
  sets: GatewaySetResult[];
  /** The `compare` builds: LABEL -> CLI entry. */
  compare: Record<string, string>;
  /** The `compare` builds' results, judged alike but not counted in `pass`. */
  compared: GatewaySetResult[];
  pass: boolean;
  seconds: number;
}

/** `rclone version`'s first line. */
export function rcloneVersion(): string {
  try {
    return execFileSync('rclone', ['version'], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

let clockTicks: number | undefined;
/** CPU (user + system) of process `pid` so far, ms, from /proc; undefined where there is none. */
export function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}

/** A variant's row from its runs. */
export function variantRow(variant: Variant, runs: VariantRun[]): VariantRow {
  const verified = runs.length > 0 && runs.every((r) => r.ok);
  const row: VariantRow = {
    variant,
    ...(verified ? medianRow(runs, ['seconds', 'objectsPerSec', 'mibPerSec']) : {}),
    verified,
    runs,
  };
  if (verified && runs.every((r) => r.cpuMsPerObject !== undefined)) row.cpuMsPerObject = median(runs.map((r) => r.cpuMsPerObject as number));
  if (runs.length > 0 && runs.every((r) => r.stubCpuMsPerObject !== undefined)) row.stubCpuMsPerObject = median(runs.map((r) => r.stubCpuMsPerObject as number));
  return row;
}

/** Pair the rounds, compute the ratios and judge one data set. */
export function judgeSet(set: GatewayDataSet, direct: VariantRun[], gateway: VariantRun[], variant: Variant = 'gateway', loopTargetMs = LOOP_P99_TARGET_MS): GatewaySetResult {
  const d = variantRow('direct', direct);
  const g = variantRow(variant, gateway);
  const roundRatios = gateway.map((gr) => {
    const dr = direct.find((x) => x.round === gr.round);
    return (gr[set.target.metric] ?? Number.NaN) / (dr?.[set.target.metric] ?? Number.NaN);
  }).filter((x) => Number.isFinite(x));
  const windows = gateway.map((r) => r.gateway).filter((w): w is NonNullable<VariantRun['gateway']> => w !== undefined);
  const loop = {
    p99Ms: windows.length === 0 ? Number.NaN : median(windows.map((w) => w.p99Ms)),
    worstP99Ms: windows.length === 0 ? Number.NaN : Math.max(...windows.map((w) => w.p99Ms)),
    maxMs: windows.length === 0 ? Number.NaN : Math.max(...windows.map((w) => w.maxMs)),
  };
  const ratio = roundRatios.length === 0 ? Number.NaN : median(roundRatios);
  return {
    set: set.name, objects: set.count, objectSize: set.size, bytes: set.count * set.size,
    direct: d, gateway: g, roundRatios, ratio, target: set.target,
    gatewayCpuMsPerObject: windows.length === 0 ? Number.NaN : median(windows.map((w) => w.cpuMsPerObject)),
    gatewayElu: windows.length === 0 ? Number.NaN : median(windows.map((w) => w.elu)),
    loop,
    pass: d.verified && g.verified && ratio >= set.target.min && loop.p99Ms <= loopTargetMs,
  };
}

/** Run the benchmark (see the module comment). */
export async function runGatewayBench(opts: GatewayBenchOptions = {}): Promise<GatewayBenchReport> {
  const t0 = performance.now();
  return DownloadDirs.during(opts.dest, 'readpath-gateway-downloads-', (downloads) => runSets(opts, downloads, t0));
}

/**
 * Objects each path serves untimed before the rounds, by default. The gateway's CPU per MiB fell
 * from 5.4 to 2.3 ms over its first ten copies of the 300 × 1 MiB set, the last few copies
 * within the noise of each other (RESULTS.md, seventeenth session); 3,000 objects is ten copies
 * of that set and one of the 4 KiB set.
 */
export const DEFAULT_WARMUP_OBJECTS = 3000;

/** Whole copies of a set of `count` objects that serve at least `objects` (0 for none). */
export function warmupCopies(count: number, objects: number): number {
  return objects <= 0 || count <= 0 ? 0 : Math.ceil(objects / count);
}

async function runSets(opts: GatewayBenchOptions, downloads: DownloadDirs, t0: number): Promise<GatewayBenchReport> {
  const quick = opts.quick === true;
  const repeat = Math.max(1, opts.repeat ?? (quick ? 1 : 5));
  const sets = opts.sets ?? (quick ? QUICK_SETS : FULL_SETS);
  const backendCount = Math.max(1, opts.backends ?? 2);
  const progress = opts.onProgress ?? ((): void => {});
  const compare = opts.compare ?? {};
  const rcloneFlags = opts.rcloneFlags ?? [];
  const report: GatewayBenchReport = {
    bench: 'gateway',
    date: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.release()}`, rclone: rcloneVersion(), loadavg: [os.loadavg()[0] ?? 0, 0] },
    destination: downloads.destination,
    quick, repeat, warmupCopies: {}, backends: backendCount, transfers: TRANSFERS, gatewayNodeArgs: opts.gatewayNodeArgs ?? [],
    gatewayNice: opts.gatewayNice ?? 0, gatewayLogLevel: opts.gatewayLogLevel ?? '',
    ...(opts.gatewayMain === undefined ? {} : { gatewayMain: opts.gatewayMain }),
    ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }),
    loopP99TargetMs: LOOP_P99_TARGET_MS, sets: [], compare, compared: [], pass: false, seconds: 0,
  };
  // The stub (forked) and every rclone (spawned) inherit this process's CPUs.
  if (opts.cpus !== undefined) pinProcess(process.pid, opts.cpus.client);
  const scratch = await benchTempDir('readpath-gateway-bench-');
  try {
    for (const set of sets) {
      progress(`${set.name}: starting the stub (${set.count} x ${set.size} bytes, ${backendCount} backends) and ${1 + Object.keys(compare).length} gateway(s)`);
      const fleet = await startSetStub(set, backendCount, opts.stubNice);
      try {
        const setDir = path.join(scratch, set.name);
        await mkdir(setDir);
        const setup = await writeGatewaySetup(fleet, setDir, set.name);
        // This build's gateway, then any `compare` builds: each its own process, idle unless measured.
        const gateways = new Map<Variant, GatewayProcess>();
        try {
          const builds: [Variant, string | undefined][] = [['gateway', opts.gatewayMain], ...Object.entries(compare).map(([label, main]): [Variant, string] => [`gateway@${label}`, main])];
          let cacheConfig: string | undefined;
          if (opts.cacheVariant === true) {
            cacheConfig = `${setup.gatewayConfig}.cache.yaml`;
            const room = set.count * set.size * 2;
            await writeFile(cacheConfig, `${await readFile(setup.gatewayConfig, 'utf8')}cache:\n  enabled: true\n  max_size: ${room}\n  max_object_size: ${set.size}\n  ttl: 1h\n`);
            builds.push(['gateway+cache', opts.gatewayMain]);
          }
          const configs = new Map<Variant, string>();
          if (cacheConfig !== undefined) configs.set('gateway+cache', cacheConfig);
          if (opts.processesVariant !== undefined) {
            const variant: Variant = `gateway+processes${opts.processesVariant}`;
            const file = `${setup.gatewayConfig}.processes.yaml`;
            await writeFile(file, `${await readFile(setup.gatewayConfig, 'utf8')}server:\n  processes: ${opts.processesVariant}\n`);
            configs.set(variant, file);
            builds.push([variant, opts.gatewayMain]);
          }
          for (const [variant, main] of builds) {
            const gw = await startGatewayProcess({
              config: configs.get(variant) ?? setup.gatewayConfig,
              env: { READPATH_LOG_LEVEL: report.gatewayLogLevel },
              ...(opts.gatewayNodeArgs === undefined ? {} : { nodeArgs: opts.gatewayNodeArgs }),
              ...(main === undefined ? {} : { main }),
            });
            gateways.set(variant, gw);
            if (opts.cpus !== undefined && gw.pid !== undefined) pinProcess(gw.pid, opts.cpus.gateway);
            // On Linux setpriority(pid) reaches the process's main thread only: the event loop measured.
            if (opts.gatewayNice !== undefined && opts.gatewayNice !== 0 && gw.pid !== undefined) os.setPriority(gw.pid, opts.gatewayNice);
          }
          const variants: Variant[] = ['direct', ...gateways.keys()];
          // rclone direct copies `bench-b1` (keys `{set}/NN/...`); through a gateway it copies
          // bucket `{set}` (keys `NN/...`) into `DEST/{set}`: both trees are the set's keys. rclone
          // signs with the stub's key pair, which is also the gateway bucket's credential.
          const copy = (variant: Variant, dest: string, flags: readonly string[]) => () => {
            const gw = gateways.get(variant);
            if (gw === undefined) return runRclone(fleet, dest, setDir, flags);
            const viaGateway: StubFleet = { ...fleet, endpoints: [gw.url], buckets: [setup.bucket] };
            return runRclone(viaGateway, path.join(dest, set.name), setDir, flags);
          };
          const gatewayLog = (variant: Variant): string => gateways.get(variant)?.stderrTail().slice(-2000) ?? '';
          const copies = warmupCopies(set.count, opts.warmupObjects ?? (quick ? 1 : DEFAULT_WARMUP_OBJECTS));
          report.warmupCopies[set.name] = copies;
          for (let c = 0; c < copies; c++) {
            for (const variant of variants) {
              const dest = await downloads.dir(`${set.name}/warmup-${variant}-${c}`);
              const r = await copy(variant, dest, rcloneFlags)();
              if (r.code !== 0) throw new Error(`warm-up ${variant}: rclone exited ${String(r.code)}:\n${r.stderr.slice(-2000)}\n${gatewayLog(variant)}`);
            }
            progress(`${set.name} warm-up ${c + 1}/${copies} done`);
          }
          const runs = new Map<Variant, VariantRun[]>(variants.map((v) => [v, []]));
          for (let round = 0; round < repeat; round++) {
            // Each round starts with another variant (direct, gateway / gateway, direct for two).
            const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
            for (const variant of order) {
              const dest = await downloads.dir(`${set.name}/${variant}-${round}`);
              const gw = gateways.get(variant);
              const stub0 = procCpuMs(fleet.pid);
              const win = gw === undefined ? undefined : await gw.window();
              const r: VariantRun = { round, ...await download('rclone', copy(variant, dest, rcloneFlags), dest, set, fleet.objects) };
              const w = await win?.end();
              const stub1 = procCpuMs(fleet.pid);
              if (stub0 !== undefined && stub1 !== undefined) r.stubCpuMsPerObject = (stub1 - stub0) / set.count;
              if (w !== undefined) r.gateway = { ...w, cpuMsPerObject: w.cpuMs / set.count };
              if (r.exitCode !== 0 && gw !== undefined) r.stderr = `${r.stderr ?? ''}\n--- gateway stderr ---\n${gatewayLog(variant)}`;
              runs.get(variant)?.push(r);
              const ok = r.ok;
              progress(`${set.name} round ${round + 1}/${repeat}: ${variant} ${ok ? `${(r.objectsPerSec ?? 0).toFixed(0)} objects/s, ${(r.mibPerSec ?? 0).toFixed(1)} MiB/s` : 'FAILED'}`
                + `${w === undefined ? '' : `, gateway loop p99 ${w.p99Ms.toFixed(1)} ms, ${(w.cpuMs / set.count).toFixed(3)} ms CPU/object`}`
                + `${ok ? '' : ` FAILED (exit ${String(r.exitCode)}, ${JSON.stringify(r.verification)})`}`);
            }
          }
          const direct = runs.get('direct') ?? [];
          report.sets.push(judgeSet(set, direct, runs.get('gateway') ?? []));
          for (const variant of gateways.keys()) if (variant !== 'gateway') report.compared.push(judgeSet(set, direct, runs.get(variant) ?? [], variant));
        } finally {
          for (const [variant, gw] of gateways) {
            const code = await gw.close();
            if (code !== 0) progress(`${set.name}: ${variant}: readpath serve exited ${String(code)}:\n${gw.stderrTail().slice(-2000)}`);
          }
        }
      } finally {
        await fleet.close();
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  report.pass = report.sets.length > 0 && report.sets.every((s) => s.pass);
  report.machine.loadavg[1] = os.loadavg()[0] ?? 0;
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
