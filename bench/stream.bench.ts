/**
 * Large objects (issue 14), measured side by side in one run against local servers that
 * generate objects on the fly (bench/large/big-object-server.ts):
 *
 * 1. `readpath get -o` of a 64 MiB and a 1 GiB object in a child process: peak RSS, striped and
 *    one copy at a time (memory must not grow with the object).
 * 2. `getStream` of 1 GiB in this process with the default (pool) runtime: MiB/s and the main
 *    event loop's delay p99 — the bytes are read and hashed on the main thread.
 * 3. A copy cut at 40%: the share of the object the second copy serves (Range resume).
 * 4. Striped vs one copy, each server capped at `--cap-mib` MiB/s: the time of a `--striped-mib`
 *    object read from three copies at once against one copy.
 * 5. With `--base DIST`: `readMany` of verified 1 MiB objects, this build vs another build's
 *    dist (alternating child processes), to show small reads are no slower.
 *
 * `--rss-mib` lists the object sizes of part 1 (default: 64 and `--huge-mib`); e.g.
 * `--rss-mib 64,256,1024,4096` shows where the peak stops growing with the size.
 *
 *   npm run bench:stream [-- --huge-mib 1024 --rss-mib 64,1024 --striped-mib 96 --cap-mib 24 --rounds 3 --base /tmp/base/dist]
 */
import { createHash } from 'node:crypto';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ReadPath } from '../src/read-path.js';
import { SqliteMetadataStore } from '../src/stores/sqlite-store.js';
import type { ReadPathConfig } from '../src/config/types.js';
import type { ObjectLocation } from '../src/types.js';
import { generatedSha256 } from './large/big-object-server.js';
import { startRemoteServers, type RemoteObject } from './large/server-process.js';
import { runWithPeakRss } from './large/peak-rss.js';
import { readFlags, refuseFlags } from './flags.js';
import { benchTempDir, guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

const MiB = 1024 * 1024;

const flags = readFlags('bench:stream', {
  'huge-mib': 'whole', 'striped-mib': 'whole', 'cap-mib': 'positive', rounds: 'whole', small: 'whole', base: 'text', 'rss-mib': 'text',
});
const HUGE_MIB = flags.num('huge-mib', 1024);
const STRIPED_MIB = flags.num('striped-mib', 96);
const CAP_MIB = flags.num('cap-mib', 24);
const ROUNDS = flags.num('rounds', 3);
const SMALL = flags.num('small', 200);
const BASE = flags.text('base');
const RSS_MIB = (flags.text('rss-mib') ?? `64,${HUGE_MIB}`).split(',').map((s) => (/^\d+$/.test(s) ? Number(s) : Number.NaN));
if (RSS_MIB.some((n) => !Number.isInteger(n) || n < 1)) refuseFlags('bench:stream', `--rss-mib: expected a comma list of whole MiB counts, got ${JSON.stringify(flags.text('rss-mib'))}`);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, '../src/cli/main.js');
const LIB = path.join(HERE, '../src/index.js');
const CHILD = path.join(HERE, 'large/readmany-child.js');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};
const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** Objects: key -> size/seed. */
const objects = {
  huge: { key: 'large/huge.bin', size: HUGE_MIB * MiB, seed: 'huge' },
  mid: { key: 'large/mid.bin', size: 64 * MiB, seed: 'mid' },
  striped: { key: 'large/striped.bin', size: STRIPED_MIB * MiB, seed: 'striped' },
};

/** Part 1's objects: the ones above where the size matches, else one of their own. */
const rssObjects = RSS_MIB.map((mib) => Object.values(objects).find((o) => o.size === mib * MiB) ?? { key: `large/rss-${mib}.bin`, size: mib * MiB, seed: `rss-${mib}` });
const smallKeys = Array.from({ length: SMALL }, (_, k) => `small/${String(k).padStart(4, '0')}.bin`);
const all: RemoteObject[] = [...new Set([...Object.values(objects), ...rssObjects]), ...smallKeys.map((key) => ({ key, size: MiB, seed: key }))];
// The servers run in a process of their own: generating GiBs in this one would be measured as this loop's delay.
const servers = await startRemoteServers(3, all);
const tmp = await benchTempDir('readpath-stream-bench-');
const db = path.join(tmp, 'meta.db');
const store = await SqliteMetadataStore.open({ path: db });
let t = Date.UTC(2026, 0, 1);
const rows: ObjectLocation[] = [];
for (const o of all) {
  if (o.size > MiB) log(`hashing ${o.key} (${o.size / MiB} MiB)…`);
  const hash = await generatedSha256(o.size, o.seed);
  for (let i = 0; i < servers.urls.length; i++) {
    rows.push({ objectKey: o.key, backendName: `b${i + 1}`, sizeBytes: o.size, createdAt: new Date(t++), encrypted: false, contentHash: hash });
  }
}
await store.addLocations(rows);
await store.close();

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: servers.urls.map((url, i) => ({ name: `b${i + 1}`, endpoint: url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true })),
    database: { driver: 'sqlite', path: db },
    logging: { level: 'warn' },
    ...extra,
  };
}
async function configFile(name: string, extra: Partial<ReadPathConfig> = {}): Promise<string> {
  const f = path.join(tmp, `${name}.json`);
  await writeFile(f, JSON.stringify(config(extra)));
  return f;
}

/** Run node on `args`: exit code, output, peak RSS (bytes) and wall time. */
async function runNode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; maxRss: number; ms: number }> {
  const t0 = performance.now();
  const [script, ...rest] = args as [string, ...string[]];
  const r = await runWithPeakRss(script, rest, process.env, { timeoutMs: 600_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, maxRss: r.maxRssBytes ?? NaN, ms: performance.now() - t0 };
}

const results: string[] = [];

// 1. get -o peak RSS.
{
  const striped = await configFile('striped');
  const single = await configFile('single', { striping: { enabled: false } });
  results.push('', '### `readpath get -o`: peak RSS of the CLI process', '', '| object | striped (3 copies) | one copy at a time |', '|---|---:|---:|');
  for (const o of rssObjects) {
    const cells: string[] = [];
    for (const cfg of [striped, single]) {
      const rss: number[] = [];
      const secs: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const out = path.join(tmp, 'out.bin');
        const run = await runNode([CLI, 'get', o.key, '-c', cfg, '-o', out]);
        if (run.code !== 0) throw new Error(`get -o ${o.key} failed: ${run.stderr}`);
        if ((await stat(out)).size !== o.size || !/verified/.test(run.stderr)) throw new Error(`get -o ${o.key}: wrong output`);
        await rm(out);
        rss.push(run.maxRss / MiB);
        secs.push(run.ms / 1000);
      }
      cells.push(`${median(rss).toFixed(0)} MiB (${(o.size / MiB / median(secs)).toFixed(0)} MiB/s incl. startup)`);
      log(`get -o ${o.key} ${cfg === striped ? 'striped' : 'single'}: RSS ${rss.map((x) => x.toFixed(0)).join('/')} MiB`);
    }
    results.push(`| ${o.size / MiB} MiB | ${cells.join(' | ')} |`);
  }
}

// 2. getStream in this process, default runtime: throughput and event-loop delay.
{
  results.push('', `### \`getStream\` of ${HUGE_MIB} MiB in-process (default pool runtime): main-loop delay`, '', '| mode | MiB/s | loop delay p99 | max |', '|---|---:|---:|---:|');
  for (const [label, extra] of [['striped', {}], ['one copy', { striping: { enabled: false } }]] as const) {
    const rp = await ReadPath.open(config(extra));
    const p99: number[] = [];
    const max: number[] = [];
    const rate: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const t0 = performance.now();
      const o = await rp.getStream(objects.huge.key);
      const hash = createHash('sha256');
      for await (const c of o.body) hash.update(c as Buffer);
      const ms = performance.now() - t0;
      h.disable();
      if (!(await o.verified)) throw new Error('not verified');
      p99.push(h.percentile(99) / 1e6);
      max.push(h.max / 1e6);
      rate.push(objects.huge.size / MiB / (ms / 1000));
    }
    await rp.close();
    results.push(`| ${label} | ${median(rate).toFixed(0)} | ${median(p99).toFixed(1)} ms | ${median(max).toFixed(1)} ms |`);
    log(`getStream ${label}: ${rate.map((x) => x.toFixed(0)).join('/')} MiB/s, p99 ${p99.map((x) => x.toFixed(1)).join('/')} ms`);
  }
}

// 3. Cut at 40%: what the second copy serves.
{
  const rp = await ReadPath.open(config({ runtime: { mode: 'inline' }, striping: { enabled: false } }));
  const o = objects.mid;
  await servers.setFaults(0, { cutAtByte: Math.floor(o.size * 0.4), cutTimes: 1 }, o.key);
  const sentBy = async (): Promise<number[]> => Promise.all(servers.urls.map(async (_, i) => (await servers.stats(i)).bytesSent));
  const before = await sentBy();
  const s = await rp.getStream(o.key);
  for await (const _ of s.body) { /* drain */ }
  if (!(await s.verified)) throw new Error('resumed stream not verified');
  const sent = (await sentBy()).map((n, i) => n - (before[i] as number));
  await servers.setFaults(0, {}, o.key);
  await rp.close();
  const second = (sent[1] as number) / o.size;
  results.push('', '### A copy cut at 40% of a 64 MiB object', '', `backends: ${s.backends.join(' → ')}; bytes sent by b1 ${((sent[0] as number) / MiB).toFixed(1)} MiB, by b2 ${((sent[1] as number) / MiB).toFixed(1)} MiB: the second copy served **${(second * 100).toFixed(1)}%** of the object (target ≤ 65%).`);
}

// 4. Striped vs one copy under a bandwidth cap.
{
  for (let i = 0; i < servers.urls.length; i++) await servers.setFaults(i, { bytesPerSecond: CAP_MIB * MiB });
  const striped = await ReadPath.open(config({ runtime: { mode: 'inline' } }));
  const single = await ReadPath.open(config({ runtime: { mode: 'inline' }, striping: { enabled: false } }));
  const times: Record<string, number[]> = { single: [], striped: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, rp] of [['single', single], ['striped', striped]] as const) {
      const t0 = performance.now();
      const o = await rp.getStream(objects.striped.key);
      for await (const _ of o.body) { /* drain */ }
      if (!(await o.verified)) throw new Error(`${label} not verified`);
      times[label]?.push((performance.now() - t0) / 1000);
    }
  }
  await striped.close();
  await single.close();
  for (let i = 0; i < servers.urls.length; i++) await servers.setFaults(i, {});
  const one = median(times['single'] ?? []);
  const three = median(times['striped'] ?? []);
  results.push('', `### Striped vs one copy: ${STRIPED_MIB} MiB, each server capped at ${CAP_MIB} MiB/s`, '', '| read | seconds (median of ' + ROUNDS + ') | MiB/s |', '|---|---:|---:|',
    `| one copy | ${one.toFixed(2)} | ${(STRIPED_MIB / one).toFixed(1)} |`,
    `| striped over 3 copies | ${three.toFixed(2)} | ${(STRIPED_MIB / three).toFixed(1)} |`,
    '', `speed-up **${(one / three).toFixed(2)}×** (target ≥ 2.2×)`);
}

// 5. readMany of 1 MiB objects, this build vs a base build.
{
  const cfg = await configFile('readmany');
  const keysFile = path.join(tmp, 'keys.txt');
  await writeFile(keysFile, `${smallKeys.join('\n')}\n`);
  const libs: [string, string][] = [['this build', LIB]];
  if (BASE !== undefined) libs.push(['base', path.join(BASE, 'src/index.js')]);
  const rates: Record<string, number[]> = {};
  const cpus: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, lib] of libs) {
      const run = await runNode([CHILD, lib, cfg, keysFile]);
      if (run.code !== 0) throw new Error(`readMany (${label}) failed: ${run.stderr}`);
      const j = JSON.parse(run.stdout.trim()) as { readsPerSec: number; cpuMsPerRead: number };
      (rates[label] ??= []).push(j.readsPerSec);
      (cpus[label] ??= []).push(j.cpuMsPerRead);
    }
  }
  results.push('', `### \`readMany\` of ${SMALL} verified 1 MiB objects (default runtime), alternating child processes`, '', '| build | reads/s | MiB/s | CPU ms/read |', '|---|---:|---:|---:|');
  for (const [label] of libs) {
    const rps = median(rates[label] ?? []);
    results.push(`| ${label} | ${rps.toFixed(0)} | ${rps.toFixed(0)} | ${median(cpus[label] ?? []).toFixed(2)} |`);
  }
}

await servers.close();
await rm(tmp, { recursive: true, force: true });
process.stdout.write(`## Large objects (node dist/bench/stream.bench.js ${process.argv.slice(2).join(' ')})\n${results.join('\n')}\n`);
