/**
 * The metadata database under a batch: `readMany` of `--count` verified objects (default 20,000
 * of `--size` 4096 bytes) over the peer benchmark's S3 stub (three buckets, one process), with
 * the same rows in SQLite and in PostgreSQL (a throw-away cluster started here, as the tests
 * start theirs: the Debian server binaries must be installed, see .ci/install-postgres.sh).
 * Every read looks its key up in the database, so the variants differ only in the store.
 *
 * `--compare NAME=MODULE` (repeatable) adds a variant whose PostgreSQL store is the
 * `PostgresMetadataStore` exported by MODULE — another build's, e.g. that of a commit before a
 * change to the store:
 *
 *   git worktree add /tmp/old COMMIT && (cd /tmp/old && npm ci && npm run build)
 *   npm run bench:lookups -- --compare before=/tmp/old/dist/src/stores/postgres-store.js
 *
 * Variants alternate, `--rounds` rounds (default 3), each a tinybench task of one iteration;
 * reported per variant: median objects/s, this process's CPU per object (the pool's workers
 * included; the database server's not), the machine's busy share (every process: stub,
 * PostgreSQL, readpath) and the main thread's event-loop delay p99.
 *
 *   npm run bench:lookups [-- --count 20000 --rounds 3 --size 4096 --compare NAME=MODULE --json FILE]
 *   (= npm run build && node dist/bench/lookups.bench.js ...)
 */
import { rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { ReadPath } from '../src/read-path.js';
import { PostgresMetadataStore } from '../src/stores/postgres-store.js';
import type { MetadataStore, ObjectLocation } from '../src/types.js';
import { startStubFleet } from './peers/stub-fleet.js';
import { median } from './peers/run.js';
import { backendNames, configYaml, writeReadpathSetup } from './peers/readpath-setup.js';
import { cpuMs, fmt, log, rotated } from './encryption/bench-args.js';
import { readFlags, refuseFlags } from './flags.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';
import { benchTempDir, guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);
const flags = readFlags('bench:lookups', { count: 'whole', rounds: 'whole', size: 'whole', json: 'text', compare: 'texts' });

/** One variant's figures over the rounds. */
export interface LookupsRow {
  variant: string;
  objects: number;
  objectsPerSec: number[];
  cpuUsPerObject: number[];
  machineBusy: number[];
  loopP99Ms: number[];
}

/** Idle and total jiffies of the whole machine, from /proc/stat. */
async function machineJiffies(): Promise<{ idle: number; total: number }> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  const f = first.trim().split(/\s+/).slice(1).map(Number);
  return { idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
}

/** `--compare NAME=MODULE` flags, in order. */
function compareArgs(): { name: string; module: string }[] {
  const out: { name: string; module: string }[] = [];
  for (const v of flags.texts('compare')) {
    const eq = v.indexOf('=');
    if (eq <= 0) refuseFlags('bench:lookups', `--compare: expected --compare NAME=MODULE, got ${JSON.stringify(v)}`);
    out.push({ name: v.slice(0, eq), module: path.resolve(v.slice(eq + 1)) });
  }
  return out;
}

const count = flags.num('count', 20_000);
const rounds = flags.num('rounds', 3);
const size = flags.num('size', 4096);
const json = flags.text('json');
const compares = compareArgs();
const dir = await benchTempDir('readpath-lookups-bench-');
const fleet = await startStubFleet({ set: 'lookups', count, size, buckets: ['l1', 'l2', 'l3'] });
let cluster: PgCluster | undefined;
try {
  const setup = await writeReadpathSetup(fleet, dir);
  cluster = await PgCluster.create();
  const url = await cluster.createDatabase('lookups');
  // The same rows as the SQLite file: every object on the three backends, in rotating order.
  const names = backendNames(fleet);
  const rows: ObjectLocation[] = [];
  const base = Date.UTC(2025, 0, 1);
  fleet.objects.forEach((o, i) => {
    for (let r = 0; r < names.length; r++) {
      rows.push({ objectKey: o.key, backendName: names[(i + r) % names.length] as string, sizeBytes: o.size, createdAt: new Date(base + i * 10 + r), encrypted: false, contentHash: o.sha256 });
    }
  });
  const seed = await PostgresMetadataStore.open({ url });
  try {
    for (let i = 0; i < rows.length; i += 5000) await seed.addLocations(rows.slice(i, i + 5000));
  } finally {
    await seed.close();
  }
  const pgConfig = path.join(dir, 'postgres.yaml');
  await writeFile(pgConfig, configYaml(fleet, setup.db).replace(/database:\n {2}driver: sqlite\n {2}path: .*\n/, `database:\n  driver: postgres\n  url: ${JSON.stringify(url)}\n`));

  const variants: string[] = ['sqlite', 'postgres', ...compares.map((c) => c.name)];
  const opened = new Map<string, ReadPath>();
  const ownStores: MetadataStore[] = [];
  const keys = fleet.objects.map((o) => o.key);
  const result: LookupsRow[] = variants.map((variant) => ({ variant, objects: count, objectsPerSec: [], cpuUsPerObject: [], machineBusy: [], loopP99Ms: [] }));
  try {
    opened.set('sqlite', await ReadPath.open(setup.config));
    opened.set('postgres', await ReadPath.open(pgConfig));
    for (const c of compares) {
      const mod = (await import(pathToFileURL(c.module).href)) as { PostgresMetadataStore?: new (o: { url: string }) => MetadataStore };
      if (typeof mod.PostgresMetadataStore !== 'function') throw new Error(`${c.module} exports no PostgresMetadataStore`);
      const store = new mod.PostgresMetadataStore({ url });
      ownStores.push(store);
      opened.set(c.name, await ReadPath.open(pgConfig, { store }));
    }
    // Warm each: connections, prepared statements, JIT.
    for (const [v, rp] of opened) {
      for await (const o of rp.readMany(keys.slice(0, 1000))) if (!o.ok) throw new Error(`${v}: ${o.key}: ${o.error.code}: ${o.error.message}`);
    }
    for (let r = 0; r < rounds; r++) {
      const bench = new Bench({ iterations: 1, time: 0, warmup: false, throws: true });
      for (const v of rotated(variants, r)) {
        const row = result.find((x) => x.variant === v) as LookupsRow;
        const rp = opened.get(v) as ReadPath;
        bench.add(v, async () => {
          const h = monitorEventLoopDelay({ resolution: 1 });
          h.enable();
          const m0 = await machineJiffies();
          const c0 = cpuMs();
          const t0 = performance.now();
          let ok = 0;
          for await (const o of rp.readMany(keys)) {
            if (!o.ok) throw new Error(`${v}: ${o.key}: ${o.error.code}: ${o.error.message}`);
            if ('verified' in o && o.verified) ok++;
          }
          const s = (performance.now() - t0) / 1000;
          const cpu = cpuMs() - c0;
          const m1 = await machineJiffies();
          h.disable();
          if (ok !== count) throw new Error(`${v}: ${ok} of ${count} reads verified`);
          row.objectsPerSec.push(count / s);
          row.cpuUsPerObject.push((cpu * 1000) / count);
          row.machineBusy.push(1 - (m1.idle - m0.idle) / Math.max(1, m1.total - m0.total));
          row.loopP99Ms.push(h.percentile(99) / 1e6);
        });
      }
      await bench.run();
      log(`  round ${r + 1}/${rounds}: ${result.map((x) => `${x.variant} ${fmt(x.objectsPerSec.at(-1) ?? 0)}/s`).join(', ')}`);
    }
  } finally {
    for (const rp of opened.values()) await rp.close();
    for (const s of ownStores) await s.close?.();
  }
  const pg = median(result.find((x) => x.variant === 'postgres')?.objectsPerSec ?? []);
  let out = `## The metadata database under a batch: readMany of ${fmt(count)} verified ${fmt(size)}-byte objects (pool, 3 stub buckets), median of ${rounds} rounds\n\n`;
  out += '| store | objects/s | range | × postgres | CPU µs/object (this process) | machine busy | loop p99 ms |\n|---|---:|---:|---:|---:|---:|---:|\n';
  for (const row of result) {
    const m = median(row.objectsPerSec);
    out += `| ${row.variant} | ${fmt(m)} | ${fmt(Math.min(...row.objectsPerSec))}–${fmt(Math.max(...row.objectsPerSec))} | ${fmt(m / pg, 2)}× | ${fmt(median(row.cpuUsPerObject))} | ${fmt(median(row.machineBusy) * 100)}% | ${fmt(median(row.loopP99Ms), 1)} |\n`;
  }
  process.stdout.write(out);
  if (json !== undefined) {
    await mkdir(path.dirname(path.resolve(json)), { recursive: true });
    await writeFile(json, `${JSON.stringify({ count, size, rounds, rows: result }, null, 2)}\n`);
  }
} finally {
  await cluster?.destroy();
  await fleet.close();
  await rm(dir, { recursive: true, force: true });
}
