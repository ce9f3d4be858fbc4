/**
 * HEADs of objects whose rows carry s3-orchestrator's identity (`etag`): answered from the row
 * (`head.from_metadata: true`, the default) against asking a backend (`false`, every HEAD before
 * it). `readMany(keys, { op: 'head' })` of `--count` keys (default 20,000) with the default
 * runtime, over the peer benchmark's S3 stub (three buckets, one process) and a SQLite database
 * of its objects to which an `etag` column was added. The two variants alternate, `--rounds`
 * rounds (default 3), each a tinybench task of one iteration; reported per variant: median
 * HEADs/s, this process's CPU per HEAD, the main thread's event-loop delay p99, and how many
 * outcomes were answered from the metadata (all or none, checked).
 *
 *   npm run bench:head [-- --count 20000 --rounds 3 --json FILE]
 *   (= npm run build && node dist/bench/head.bench.js ...)
 */
import { rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Bench } from 'tinybench';
import { ReadPath } from '../src/read-path.js';
import { startStubFleet } from './peers/stub-fleet.js';
import { median } from './peers/run.js';
import { configYaml, writeReadpathSetup } from './peers/readpath-setup.js';
import { cpuMs, fmt, log, rotated } from './encryption/bench-args.js';
import { readFlags } from './flags.js';
import { benchTempDir, guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);
const flags = readFlags('bench:head', { count: 'whole', rounds: 'whole', json: 'text' });

const VARIANTS = ['backend HEAD', 'from metadata'] as const;
type Variant = (typeof VARIANTS)[number];

/** One variant's figures over the rounds. */
export interface HeadRow {
  variant: Variant;
  heads: number;
  headsPerSec: number[];
  cpuUsPerHead: number[];
  loopP99Ms: number[];
  fromMetadata: number[];
}

const count = flags.num('count', 20_000);
const rounds = flags.num('rounds', 3);
const json = flags.text('json');
const dir = await benchTempDir('readpath-head-bench-');
const fleet = await startStubFleet({ set: 'head', count, size: 1024, buckets: ['h1', 'h2', 'h3'] });
try {
  const setup = await writeReadpathSetup(fleet, dir);
  // Upstream's identity column, filled as its PUT fills it (any quoted value will do here).
  const db = new Database(setup.db);
  db.exec(`ALTER TABLE object_locations ADD COLUMN etag TEXT; UPDATE object_locations SET etag = '"' || substr(content_hash, 1, 32) || '"'`);
  db.close();
  const configs: Record<Variant, string> = { 'backend HEAD': path.join(dir, 'backend.yaml'), 'from metadata': setup.config };
  await writeFile(configs['backend HEAD'], configYaml(fleet, setup.db, 'head:\n  from_metadata: false\n'));
  const keys = fleet.objects.map((o) => o.key);
  const rows: HeadRow[] = VARIANTS.map((variant) => ({ variant, heads: count, headsPerSec: [], cpuUsPerHead: [], loopP99Ms: [], fromMetadata: [] }));
  const opened = new Map<Variant, ReadPath>();
  for (const v of VARIANTS) {
    const rp = await ReadPath.open(configs[v]);
    opened.set(v, rp);
    for await (const o of rp.readMany(keys.slice(0, 500), { op: 'head' })) if (!o.ok) throw new Error(`${v}: ${o.key}: ${o.error.code}`);
  }
  try {
    for (let r = 0; r < rounds; r++) {
      const bench = new Bench({ iterations: 1, time: 0, warmup: false, throws: true });
      for (const v of rotated(VARIANTS, r)) {
        const row = rows.find((x) => x.variant === v) as HeadRow;
        const rp = opened.get(v) as ReadPath;
        bench.add(v, async () => {
          const h = monitorEventLoopDelay({ resolution: 1 });
          h.enable();
          const c0 = cpuMs();
          const t0 = performance.now();
          let fromMeta = 0;
          for await (const o of rp.readMany(keys, { op: 'head' })) {
            if (!o.ok) throw new Error(`${v}: ${o.key}: ${o.error.code}: ${o.error.message}`);
            if ('fromMetadata' in o && o.fromMetadata === true) fromMeta++;
          }
          const s = (performance.now() - t0) / 1000;
          h.disable();
          row.headsPerSec.push(count / s);
          row.cpuUsPerHead.push(((cpuMs() - c0) * 1000) / count);
          row.loopP99Ms.push(h.percentile(99) / 1e6);
          row.fromMetadata.push(fromMeta);
        });
      }
      await bench.run();
      log(`  round ${r + 1}/${rounds}: ${rows.map((x) => `${x.variant} ${fmt(x.headsPerSec.at(-1) ?? 0)}/s`).join(', ')}`);
    }
  } finally {
    for (const rp of opened.values()) await rp.close();
  }
  for (const row of rows) {
    const want = row.variant === 'from metadata' ? count : 0;
    if (row.fromMetadata.some((n) => n !== want)) throw new Error(`${row.variant}: ${row.fromMetadata.join(', ')} of ${count} answered from the metadata, expected ${want}`);
  }
  const base = median(rows[0]?.headsPerSec ?? []);
  let out = `## HEAD from the metadata row: readMany of ${fmt(count)} HEADs (pool, 3 stub buckets), median of ${rounds} rounds\n\n`;
  out += '| variant | HEADs/s | range | × backend HEAD | CPU µs/HEAD (this process) | loop p99 ms | answered from the row |\n|---|---:|---:|---:|---:|---:|---:|\n';
  for (const row of rows) {
    const m = median(row.headsPerSec);
    out += `| ${row.variant} | ${fmt(m)} | ${fmt(Math.min(...row.headsPerSec))}–${fmt(Math.max(...row.headsPerSec))} | ${fmt(m / base, 2)}× | ${fmt(median(row.cpuUsPerHead), 1)} | ${fmt(median(row.loopP99Ms), 1)} | ${fmt(median(row.fromMetadata))} |\n`;
  }
  process.stdout.write(out);
  if (json !== undefined) {
    await mkdir(path.dirname(path.resolve(json)), { recursive: true });
    await writeFile(json, `${JSON.stringify({ count, rounds, rows }, null, 2)}\n`);
  }
} finally {
  await fleet.close();
  await rm(dir, { recursive: true, force: true });
}
