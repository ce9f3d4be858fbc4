/**
 * `readpath demo` (and `npm start`): the main job, self-contained, on embedded defaults.
 *
 * Three local S3 backends (s3rver), a SQLite metadata database with s3-orchestrator's schema,
 * a few thousand objects with two replicas each and their SHA-256 content hashes; then the same
 * batch read in four phases — all healthy; one backend stopped (reads fail over); the metadata
 * database unreachable (degraded broadcast), and once more (the location cache answers) — with
 * a summary table. Every body read is also checked against what was seeded. Everything it
 * starts and writes is removed at the end, also when it fails or is interrupted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { ReadPathConfig } from '../../config/types.js';
import { sha256Hex } from '../../probe/probes.js';
import { ReadPath } from '../../read-path.js';
import { SqliteMetadataStore } from '../../stores/sqlite-store.js';
import { BatchStats, formatByCode, formatMs, type BatchTotals } from '../summary.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY, requireS3rver, startLocalS3Fleet, type LocalS3Fleet } from './local-s3.js';
import { OutageStore } from './outage-store.js';
import { demoBody, seedDemo, type DemoObject } from './seed.js';
import { renderTable } from './table.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Objects to seed. Default 2000. */
  objects?: number;
  /** Reads in flight. Default 16. */
  concurrency?: number;
  /** Where probes run. Default `inline`. */
  executor?: 'inline' | 'pool';
  /** Receives each output line. Default: console.log. */
  out?: (line: string) => void;
  /** Parent of the demo's temporary directory. Default: the OS temp dir. */
  tmpRoot?: string;
  /** Ends the demo early (it still cleans up) with the signal's reason. */
  signal?: AbortSignal;
  /** The reader's logger. Default: warnings and errors to stderr. */
  logger?: Logger;
}

/** One phase's results. */
export interface DemoPhase {
  id: string;
  /** Short name for the table. */
  label: string;
  title: string;
  totals: BatchTotals;
  cacheHits: number;
  /** Requests answered by a backend (HTTP responses), over all reads of the phase. */
  backendRequests: number;
  /** Bodies that differed from what was seeded (always 0: a mismatch is never served). */
  mismatches: number;
}

/** What {@link runDemo} returns. */
export interface DemoReport {
  objects: number;
  replicas: number;
  backends: string[];
  executor: 'inline' | 'pool';
  seedMs: number;
  phases: DemoPhase[];
  /** How many objects have their first copy on the backend stopped in phase 2. */
  firstCopyOnStopped: number;
  /** Lookups that reached the unreachable store before its circuit breaker opened. */
  storeLookupsDuringOutage: number;
  totalMs: number;
  /** The temporary directory used (removed by the time runDemo returns). */
  tmpDir: string;
}

const BACKENDS = ['b1', 'b2', 'b3'];
const BUCKET = 'demo';
const REPLICAS = 2;
const STOPPED = 'b1';

/** Run the demo; see the module comment. */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const objects = opts.objects ?? 2000;
  const concurrency = opts.concurrency ?? 16;
  const executor = opts.executor ?? 'inline';
  const out = opts.out ?? ((line: string) => console.log(line));
  const signal = opts.signal;
  const logger = opts.logger ?? pino({ name: 'readpath', level: 'warn' }, process.stderr);
  const t0 = performance.now();
  // Before anything is printed or created: without s3rver there is no demo.
  requireS3rver();

  const tmpDir = await mkdtemp(path.join(opts.tmpRoot ?? os.tmpdir(), 'readpath-demo-'));
  let fleet: LocalS3Fleet | undefined;
  let sqlite: SqliteMetadataStore | undefined;
  let rp: ReadPath | undefined;
  try {
    out(`readpath demo: ${objects} objects, ${REPLICAS} replicas each, on ${BACKENDS.length} local S3 backends (s3rver)`);
    out('');
    fleet = await startLocalS3Fleet(BACKENDS, BUCKET, tmpDir);
    for (const b of fleet.backends) out(`  backend ${b.name}   ${b.endpoint}  (s3rver, bucket "${BUCKET}")`);
    const dbPath = path.join(tmpDir, 'metadata.db');
    sqlite = await SqliteMetadataStore.open({ path: dbPath });
    out(`  metadata    ${dbPath}  (SQLite, s3-orchestrator's object_locations schema)`);
    throwIfAborted(signal);

    const tSeed = performance.now();
    const seeded = await seedDemo({ objects, replicas: REPLICAS, backends: fleet.backends, bucket: BUCKET, store: sqlite, ...(signal === undefined ? {} : { signal }) });
    const seedMs = performance.now() - tSeed;
    const bytes = seeded.reduce((n, o) => n + o.size * o.replicas.length, 0);
    out(`  seeded      ${objects} objects = ${objects * REPLICAS} copies (${(bytes / 1048576).toFixed(1)} MiB) with SHA-256 content hashes in ${(seedMs / 1000).toFixed(1)} s`);
    out('');
    throwIfAborted(signal);

    const expected = new Map<string, string>();
    seeded.forEach((o) => expected.set(o.key, sha256Hex(demoBody(indexOf(o)))));
    const outage = new OutageStore(sqlite);
    const config: ReadPathConfig = {
      backends: fleet.backends.map((b) => ({
        name: b.name, endpoint: b.endpoint, region: 'us-east-1', bucket: BUCKET,
        access_key_id: LOCAL_S3_ACCESS_KEY, secret_access_key: LOCAL_S3_SECRET_KEY, force_path_style: true,
      })),
      database: { driver: 'sqlite', path: dbPath },
      // A long open period keeps the breaker open for the whole outage phase; the cache TTL
      // outlives both outage passes.
      circuit_breaker: { failure_threshold: 3, open_timeout: '10m', cache_ttl: '10m', parallel_broadcast: false },
      server: { backend_timeout: '10s' },
      integrity: { verify_on_read: true },
      runtime: { mode: executor },
    };
    rp = await ReadPath.open(config, { store: outage, logger });
    const reader = rp;

    const firstCopyOnStopped = seeded.filter((o) => o.replicas[0] === STOPPED).length;
    const phases: DemoPhase[] = [];
    const phase = async (id: string, label: string, title: string, explain: () => string[]): Promise<DemoPhase> => {
      throwIfAborted(signal);
      out(`phase ${id}: ${title}`);
      const p = await readAll(reader, seeded, expected, id, label, title, concurrency, signal);
      phases.push(p);
      const t = p.totals;
      const failed = t.failed === 0 ? '' : `, ${t.failed} failed (${formatByCode(t.failedByCode)})`;
      out(`  ${t.ok}/${t.reads} ok${failed} in ${(t.durationMs / 1000).toFixed(1)} s; ${t.failovers} failovers, ${t.degraded} degraded, ${p.cacheHits} cache hits, ${t.verified} verified`);
      for (const line of explain()) out(`  ${line}`);
      out('');
      return p;
    };

    await phase('1', 'healthy', 'all healthy', () => [
      'Each read looks up the object\'s copies in the database, GETs the first one and checks its SHA-256.',
    ]);

    await fleet.stop(STOPPED);
    await phase('2', `${STOPPED} down`, `backend ${STOPPED} stopped`, () => [
      `${firstCopyOnStopped} objects have their first copy on ${STOPPED}: their GET is refused and they fail over to the second copy.`,
    ]);
    await fleet.start(STOPPED);

    outage.setDown(true);
    await phase('3a', 'database down', 'metadata database unreachable', () => [
      `${STOPPED} is back. The database now fails every lookup with DB_UNAVAILABLE. (The demo's database is a local`,
      'SQLite file that cannot really become unreachable, so it is cut off in front of the store, as a shared',
      'PostgreSQL would be by an outage; the breaker, the broadcast and the cache above it are the real code.)',
      `The store's breaker opened after ${outage.refused} failed lookups; after that reads no longer wait on the database.`,
      'Each read broadcasts to the backends in order (b1, b2, b3) until one has the key; the winner is cached.',
      'Without rows, a backend is first asked for a listing under the key (s3-orchestrator stores each write at',
      '{key}!{id}); the newest of the key and its copies is read, so a read costs a listing and a GET.',
      'Degraded reads are not verified: without the database there is no content hash to check against.',
    ]);
    const refusedAfter3a = outage.refused;
    await phase('3b', 'database down, again', 'database still unreachable, same keys again', () => [
      'The location cache remembers each key\'s winner: no broadcast, the listing and the GET on that one backend.',
    ]);
    outage.setDown(false);

    out(renderTable([
      ['phase', 'reads', 'ok', 'failed', 'failovers', 'degraded', 'cache hits', 'verified', 'req/read', 'p50', 'p99', 'reads/s'],
      ...phases.map((p) => [
        `${p.id.padEnd(3)}${p.label}`,
        String(p.totals.reads), String(p.totals.ok),
        p.totals.failed === 0 ? '0' : `${p.totals.failed} (${formatByCode(p.totals.failedByCode)})`,
        String(p.totals.failovers), String(p.totals.degraded), String(p.cacheHits), String(p.totals.verified),
        p.totals.reads === 0 ? '-' : (p.backendRequests / p.totals.reads).toFixed(2),
        formatMs(p.totals.p50Ms), formatMs(p.totals.p99Ms), String(p.totals.readsPerSec),
      ]),
    ], ''));
    out('');
    const mismatches = phases.reduce((n, p) => n + p.mismatches, 0);
    out(mismatches === 0
      ? `Every body served (${phases.reduce((n, p) => n + p.totals.ok, 0)}) matched what was seeded.`
      : `${mismatches} bodies differed from what was seeded!`);
    out('req/read: requests a backend answered, per read (a refused connection, as in phase 2, is not one).');
    return {
      objects, replicas: REPLICAS, backends: [...BACKENDS], executor, seedMs, phases, firstCopyOnStopped,
      storeLookupsDuringOutage: refusedAfter3a, totalMs: performance.now() - t0, tmpDir,
    };
  } finally {
    await rp?.close().catch(() => {});
    await sqlite?.close().catch(() => {});
    await fleet?.close().catch(() => {});
    await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
    out(`Cleaned up: servers stopped, ${tmpDir} removed (${((performance.now() - t0) / 1000).toFixed(1)} s in all).`);
  }
}

function indexOf(o: DemoObject): number {
  const m = /object-(\d+)\.txt$/.exec(o.key);
  return Number(m?.[1] ?? -1);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

async function readAll(
  rp: ReadPath, seeded: readonly DemoObject[], expected: ReadonlyMap<string, string>,
  id: string, label: string, title: string, concurrency: number, signal: AbortSignal | undefined,
): Promise<DemoPhase> {
  const cache0 = rp.recorder.count('degraded_cache_hits_total');
  const requests0 = apiRequests(rp);
  const stats = new BatchStats();
  const starts = new Map<string, number>();
  function* keys(): Generator<string> {
    for (const o of seeded) {
      starts.set(o.key, performance.now());
      yield o.key;
    }
  }
  let mismatches = 0;
  for await (const o of rp.readMany(keys(), { op: 'get', concurrency, ...(signal === undefined ? {} : { signal }) })) {
    const t = starts.get(o.key);
    starts.delete(o.key);
    if (o.ok && 'body' in o && sha256Hex(o.body) !== expected.get(o.key)) mismatches++;
    stats.add(o, t === undefined ? undefined : performance.now() - t);
  }
  stats.finish();
  return {
    id, label, title, totals: stats.totals(),
    cacheHits: rp.recorder.count('degraded_cache_hits_total') - cache0,
    backendRequests: apiRequests(rp) - requests0,
    mismatches,
  };
}

function apiRequests(rp: ReadPath): number {
  let n = 0;
  for (const name of BACKENDS) n += rp.recorder.usage.usage(name).apiRequests;
  return n;
}
