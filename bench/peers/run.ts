/**
 * The peer benchmark: for each data set, one stub process serving it on every backend; each
 * tool downloads it into a fresh directory (rounds interleave the tools, so drift in the
 * machine's load hits them alike), every download is checked file by file; then, on the 4 KiB
 * set, the library rows. Medians over `repeat` rounds.
 */
import { benchTempDir } from '../process-guard.js';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DownloadDirs, type DownloadDestination } from './download-dirs.js';
import { runCeiling, runReadMany, type LibraryRow } from './library.js';
import { writeReadpathSetup } from './readpath-setup.js';
import { startSetStub } from './stub-fleet.js';
import { receivedCount, runAws, runFloor, runRclone, runReadpath, syncDisks, verifyDownload, type CommandRun, type Tool, type Verification } from './tools.js';

/** A data set: `count` random objects of `size` bytes. */
export interface DataSet {
  name: string;
  count: number;
  size: number;
}

/** Options of {@link runPeerBench}. */
export interface PeerBenchOptions {
  /** Small counts, one round: a smoke run of a few seconds. */
  quick?: boolean;
  /** Rounds; figures are medians. Default 1. */
  repeat?: number;
  /** Default 20,000 × 4 KiB and 400 × 1 MiB (quick: 300 × 4 KiB and 8 × 1 MiB). */
  sets?: DataSet[];
  /** Default rclone and readpath. `floor:contract` and `floor:receive` are the bare Node floors (floor-client.ts). */
  tools?: Tool[];
  /** The library rows (on the set named `4k`). Default true. */
  library?: boolean;
  /** Stub backends (buckets). Default 3. */
  backends?: number;
  /** Extra arguments for `readpath batch`. */
  readpathArgs?: string[];
  /** Other builds of the readpath CLI to run beside this one: LABEL -> its `main.js` (rows `readpath@LABEL`). */
  compare?: Record<string, string>;
  /** Extra flags for `rclone copy`. */
  rcloneFlags?: string[];
  /** Scheduling priority of the stub process. Default 0. */
  stubNice?: number;
  /** The directory the downloads go under (`--dest`; default the OS's temporary directory). */
  dest?: string;
  onProgress?: (line: string) => void;
}

/**
 * One timed download. A failed one (the tool exited non-zero, or the files do not match the data
 * set) has no rates: timing a tool that did not do the job measures nothing (an rclone that
 * exits at once would be the fastest row and every ratio's baseline).
 */
export interface DownloadRun {
  seconds: number;
  /** The tool exited 0 and every file matched the data set. */
  ok: boolean;
  /** CPU the tool used (all threads, user + system) per object, ms; not the stub's. Absent when failed. */
  cpuMsPerObject?: number;
  /** Absent when failed. */
  objectsPerSec?: number;
  /** Absent when failed. */
  mibPerSec?: number;
  exitCode: number | null;
  verification: Verification;
  /** The tail of the tool's stderr when it failed. */
  stderr?: string;
  /** readpath's closing summary line. */
  summary?: string;
}

/** A tool on a data set, over every round. */
export interface DownloadRow {
  set: string;
  tool: Tool;
  objects: number;
  objectSize: number;
  bytes: number;
  /** Medians over the rounds; absent when a round failed (see {@link DownloadRun}). */
  seconds?: number;
  objectsPerSec?: number;
  mibPerSec?: number;
  /** Median CPU per object, ms (undefined when not measured or a round failed). */
  cpuMsPerObject?: number;
  /** objectsPerSec / rclone's on the same set (undefined without an rclone row, or when either failed). */
  ratioToRclone?: number;
  /** Every round downloaded every object with the right bytes, and exited 0. */
  verified: boolean;
  runs: DownloadRun[];
}

/** A library variant over every round (medians). */
export interface LibraryResult extends LibraryRow {
  ratioToCeiling?: number;
  rounds: LibraryRow[];
}

/** What {@link runPeerBench} measured. */
export interface PeerBenchReport {
  bench: 'peers';
  date: string;
  /** `loadavg` is the 1-minute load average before and after the run (other work on the machine skews figures). */
  machine: { cores: number; node: string; platform: string; loadavg: [number, number] };
  /** Where the downloads went (kept until the end of the run, see download-dirs.ts). */
  destination: DownloadDestination;
  quick: boolean;
  repeat: number;
  backends: number;
  transfers: number;
  downloads: DownloadRow[];
  library: LibraryResult[];
  seconds: number;
}

export const FULL_SETS: DataSet[] = [{ name: '4k', count: 20_000, size: 4096 }, { name: '1m', count: 400, size: 1 << 20 }];
export const QUICK_SETS: DataSet[] = [{ name: '4k', count: 300, size: 4096 }, { name: '1m', count: 8, size: 1 << 20 }];

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The medians of `fields` over `rows`. */
export function medianRow<T extends object, K extends keyof T>(rows: readonly T[], fields: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const f of fields) out[f] = median(rows.map((r) => r[f] as number)) as T[K];
  return out;
}

/**
 * One timed download of `set` into `dest` (after a `sync`), then checked file by file (or by
 * `check`, for a tool that writes no files).
 */
export async function download(tool: Tool, run: () => Promise<CommandRun>, dest: string, set: DataSet, objects: Parameters<typeof verifyDownload>[1], check: () => Promise<Verification> = () => verifyDownload(dest, objects)): Promise<DownloadRun> {
  await syncDisks();
  const r = await run();
  const verification = await check().catch((): Verification => ({ files: 0, bytes: 0, missing: objects.length, wrong: 0, unexpected: 0, ok: false }));
  const seconds = r.ms / 1000;
  const ok = r.code === 0 && verification.ok;
  const out: DownloadRun = { seconds, ok, exitCode: r.code, verification };
  if (ok) {
    out.objectsPerSec = set.count / seconds;
    out.mibPerSec = (set.count * set.size) / (1 << 20) / seconds;
    if (r.cpuMs !== undefined) out.cpuMsPerObject = r.cpuMs / set.count;
  } else {
    out.stderr = r.stderr.slice(-2000);
  }
  if (tool.startsWith('readpath')) {
    const line = r.stderr.trim().split('\n').pop();
    if (line !== undefined) out.summary = line;
  }
  return out;
}

/** Run the benchmark (see the module comment). */
export async function runPeerBench(opts: PeerBenchOptions = {}): Promise<PeerBenchReport> {
  const t0 = performance.now();
  return DownloadDirs.during(opts.dest, 'readpath-peers-downloads-', (downloads) => runSets(opts, downloads, t0));
}

async function runSets(opts: PeerBenchOptions, downloads: DownloadDirs, t0: number): Promise<PeerBenchReport> {
  const quick = opts.quick === true;
  const repeat = Math.max(1, opts.repeat ?? 1);
  const sets = opts.sets ?? (quick ? QUICK_SETS : FULL_SETS);
  const compare = opts.compare ?? {};
  const tools: Tool[] = [...(opts.tools ?? ['rclone', 'readpath']), ...Object.keys(compare).map((label): Tool => `readpath@${label}`)];
  const backendCount = opts.backends ?? 3;
  const progress = opts.onProgress ?? ((): void => {});
  const report: PeerBenchReport = {
    bench: 'peers',
    date: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: [os.loadavg()[0] ?? 0, 0] },
    destination: downloads.destination,
    quick, repeat, backends: backendCount, transfers: 64, downloads: [], library: [], seconds: 0,
  };
  const scratch = await benchTempDir('readpath-peers-');
  try {
    for (const set of sets) {
      progress(`${set.name}: starting the stub (${set.count} x ${set.size} bytes, ${backendCount} backends)`);
      const fleet = await startSetStub(set, backendCount, opts.stubNice);
      try {
        const setDir = path.join(scratch, set.name);
        await mkdir(setDir);
        const setup = await writeReadpathSetup(fleet, setDir);
        const runs = new Map<Tool, DownloadRun[]>(tools.map((t) => [t, []]));
        for (let round = 0; round < repeat; round++) {
          for (const tool of tools) {
            const dest = await downloads.dir(`${set.name}/${tool}-${round}`);
            const start = tool === 'rclone' ? () => runRclone(fleet, dest, setDir, opts.rcloneFlags)
              : tool === 'aws' ? () => runAws(fleet, dest, setDir)
              : tool === 'floor:contract' || tool === 'floor:receive' ? () => runFloor(tool === 'floor:contract' ? 'contract' : 'receive', fleet, setup, dest, setDir)
              : () => runReadpath(setup, dest, setDir, opts.readpathArgs, tool === 'readpath' ? undefined : compare[tool.slice('readpath@'.length)]);
            const r = tool === 'floor:receive'
              ? await download(tool, start, dest, set, fleet.objects, () => receivedCount(setDir, fleet.objects))
              : await download(tool, start, dest, set, fleet.objects);
            (runs.get(tool) as DownloadRun[]).push(r);
            progress(`${set.name} round ${round + 1}/${repeat}: ${tool} ${r.ok ? `${(r.objectsPerSec ?? 0).toFixed(0)} objects/s, ${(r.mibPerSec ?? 0).toFixed(1)} MiB/s` : `FAILED (exit ${String(r.exitCode)}, ${JSON.stringify(r.verification)})`}`);
          }
        }
        const rows: DownloadRow[] = tools.map((tool) => {
          const rs = runs.get(tool) as DownloadRun[];
          const verified = rs.every((r) => r.ok);
          return {
            set: set.name, tool, objects: set.count, objectSize: set.size, bytes: set.count * set.size,
            ...(verified ? medianRow(rs, ['seconds', 'objectsPerSec', 'mibPerSec']) : {}),
            ...(verified && rs.every((r) => r.cpuMsPerObject !== undefined) ? { cpuMsPerObject: median(rs.map((r) => r.cpuMsPerObject as number)) } : {}),
            verified,
            runs: rs,
          };
        });
        const rclone = rows.find((r) => r.tool === 'rclone');
        if (rclone?.objectsPerSec !== undefined) {
          for (const r of rows) if (r.objectsPerSec !== undefined) r.ratioToRclone = r.objectsPerSec / rclone.objectsPerSec;
        }
        report.downloads.push(...rows);

        if (opts.library !== false && set.name === '4k') {
          const warmup = Math.min(500, Math.max(16, Math.floor(set.count / 20)));
          const rounds = new Map<string, LibraryRow[]>();
          for (let round = 0; round < repeat; round++) {
            for (const [name, run] of [
              ['ceiling', () => runCeiling(fleet, fleet.objects, warmup)],
              ['readMany pool', () => runReadMany(setup, fleet.objects, 'pool', warmup)],
              ['readMany inline', () => runReadMany(setup, fleet.objects, 'inline', warmup)],
            ] as const) {
              const row = await run();
              rounds.set(name, [...(rounds.get(name) ?? []), row]);
              progress(`library round ${round + 1}/${repeat}: ${name} ${row.readsPerSec.toFixed(0)} reads/s, loop p99 ${row.loopP99Ms.toFixed(1)} ms`);
            }
          }
          const lib: LibraryResult[] = [...rounds.entries()].map(([, rs]) => ({
            ...(rs[0] as LibraryRow),
            ...medianRow(rs, ['seconds', 'readsPerSec', 'loopP99Ms', 'loopMaxMs', 'ok', 'verified']),
            rounds: rs,
          }));
          const ceiling = lib.find((r) => r.variant === 'ceiling');
          if (ceiling !== undefined) for (const r of lib) r.ratioToCeiling = r.readsPerSec / ceiling.readsPerSec;
          report.library.push(...lib);
        }
      } finally {
        await fleet.close();
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  report.machine.loadavg[1] = os.loadavg()[0] ?? 0;
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
