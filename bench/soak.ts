/**
 * Soak: does resident memory stay flat as a batch grows? Each size runs `readMany` in a fresh
 * child process over synthetic parts whose data costs no memory (the store computes a key's
 * rows, the backends compute its bytes), so anything that grows with the key count is
 * readpath's own. A tenth of the keys fail over (first copy 503), and the metadata store is down
 * for 10% of the batch (degraded broadcasts, location-cache writes). The child samples RSS at
 * most every 20 ms from the batch's consumer loop (a timer would never fire: parts this fast
 * settle in microtasks and the batch is one macrotask) and reports its peak and the OS's
 * maxRSS read as the batch ends (before close() and the forced GC); the parent compares sizes.
 *
 *   npm run build && node dist/bench/soak.js                       # 10,000 vs 1,000,000 keys
 *   node dist/bench/soak.js --repeat 3 --heap-limit 512            # medians of 3, heap capped
 *   node dist/bench/soak.js --sizes 20000,200000 --json out.json
 *   node dist/bench/soak.js --child --keys 50000                   # one run, JSON on stdout
 *
 * Options: --sizes LIST, --repeat N (runs per size, compared by median; default 1),
 * --heap-limit MiB (the children's --max-old-space-size; default Node's), --concurrency N (64),
 * --op get|head (get), --cache-max N (the location cache bound, default: the config default),
 * --outage F (the fraction of the batch during which the store is down, default 0.1), --json
 * FILE, --max-ratio R (exit 1 when the largest size's peak RSS exceeds R times the smallest's;
 * default 1.2), --diag (also report V8's heap spaces, external memory, array buffers and resident
 * mappings at the sampled peak and after the batch). `--child --keys N` is one run (what the
 * parent starts for each size; it takes the flags the parent hands on, not the parent's own).
 * An unknown flag, a missing or a bad value is exit 2 naming the flag, before any child starts.
 *
 * Over 300 lines on purpose: the parent and the child of one measurement, kept in one file so the
 * child's protocol and the parent's reading of it cannot drift apart.
 */
import { spawn } from 'node:child_process';
import { sha256Hex } from '../src/probe/probes.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { ReadPath } from '../src/read-path.js';
import { ReadPathError } from '../src/errors.js';
import type { GetResult, HeadResult, MetadataStore, ObjectBackend, ObjectLocation } from '../src/types.js';
import { readFlags, refuseFlags, type FlagTable, type Flags } from './flags.js';
import { guardBenchProcess, killAtExit } from './process-guard.js';

const NAMES = ['b1', 'b2', 'b3'];
const BODY_BYTES = 256;
const UNAVAILABLE = new ReadPathError('DB_UNAVAILABLE', 'soak: simulated outage');

function indexOf(key: string): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}

/** The bytes of key `i`: BODY_BYTES of a cheap deterministic sequence. */
function bodyOf(i: number): Buffer {
  const b = Buffer.allocUnsafe(BODY_BYTES);
  let s = (i * 2654435761) >>> 0;
  for (let j = 0; j < BODY_BYTES; j++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[j] = s >>> 24;
  }
  return b;
}

/** Rows computed per lookup: two copies, the first one 503s for every tenth key. */
class SyntheticStore implements MetadataStore {
  available = true;

  async getAllObjectLocations(key: string): Promise<ObjectLocation[]> {
    if (!this.available) throw UNAVAILABLE;
    const i = indexOf(key);
    const hash = sha256Hex(bodyOf(i));
    const first = i % NAMES.length;
    return [0, 1].map((j) => ({
      objectKey: key, backendName: NAMES[(first + j) % NAMES.length] as string, sizeBytes: BODY_BYTES,
      createdAt: new Date(1_700_000_000_000 + j), encrypted: false, contentHash: hash,
    }));
  }
}

/** A backend that holds every key it is the first or second copy of; the first copy of every tenth key answers 503. */
class SyntheticBackend implements ObjectBackend {
  readonly name: string;
  readonly #n: number;

  constructor(name: string) {
    this.name = name;
    this.#n = NAMES.indexOf(name);
  }

  #check(key: string, signal: AbortSignal | undefined): number {
    if (signal?.aborted) throw new ReadPathError('ABORTED', 'aborted');
    const i = indexOf(key);
    const first = i % NAMES.length;
    const copy = (this.#n - first + NAMES.length) % NAMES.length;
    if (copy > 1) throw new ReadPathError('BACKEND_ERROR', `${this.name}: NoSuchKey`, { backendStatus: 404 });
    if (copy === 0 && i % 10 === 0) throw new ReadPathError('BACKEND_ERROR', `${this.name}: HTTP 503 SlowDown`, { backendStatus: 503 });
    return i;
  }

  async head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    this.#check(key, opts?.signal);
    return { size: BODY_BYTES };
  }

  async get(key: string, opts?: { signal?: AbortSignal }): Promise<GetResult> {
    const i = this.#check(key, opts?.signal);
    return { size: BODY_BYTES, body: Readable.from([bodyOf(i)]) };
  }
}

const MiB = 1024 * 1024;

/** One run's figures. */
export interface SoakRun {
  keys: number;
  ok: number;
  failed: number;
  degraded: number;
  elapsedMs: number;
  readsPerSec: number;
  /** RSS once ReadPath is open, before the batch (MiB). */
  openRssMiB: number;
  /** Highest RSS sampled during the batch (MiB). */
  peakRssMiB: number;
  /** The OS's peak resident set of the whole process, read as the batch ends (MiB). */
  maxRssMiB: number;
  /** RSS and heap after the batch, close() and a full GC (MiB). */
  endRssMiB: number;
  endHeapMiB: number;
  /** With `diag`: memory by kind at the sampled peak and after the final GC. */
  diag?: { peak: MemorySnapshot; end: MemorySnapshot };
}

/** Where resident memory is, by kind (MiB): V8 spaces as [committed, used]. */
export interface MemorySnapshot {
  rss: number;
  heapCommitted: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** V8's own malloc'd memory (not the JS heap). */
  malloced: number;
  spaces: Record<string, [number, number]>;
  /** Linux: resident anonymous memory (V8 heap, malloc) and file-backed (the node binary, libraries). */
  anon?: number;
  file?: number;
  /** Linux: resident anonymous memory by mapping kind (MiB): V8's 256 KiB pages, malloc's main heap, the rest. */
  mappings?: { v8Pages: number; v8PageCount: number; brk: number; otherAnon: number; lazyFree: number };
}

interface ResidentKiB {
  anon: number;
  file: number;
  v8Pages: number;
  v8PageCount: number;
  brk: number;
  otherAnon: number;
  lazyFree: number;
}

/**
 * Resident memory from one read of /proc/self/smaps (Linux), in KiB: anonymous (V8 heap, malloc)
 * and file-backed (the node binary, libraries) as smaps_rollup would sum them, and the anonymous
 * part by mapping: V8's 256 KiB pages, malloc's main heap, the rest.
 */
function residentMemory(): ResidentKiB | undefined {
  try {
    const out: ResidentKiB = { anon: 0, file: 0, v8Pages: 0, v8PageCount: 0, brk: 0, otherAnon: 0, lazyFree: 0 };
    let rssTotal = 0;
    let sizeKiB = 0;
    let name = '';
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
      if (m !== null) {
        sizeKiB = (parseInt(m[2] as string, 16) - parseInt(m[1] as string, 16)) / 1024;
        name = m[3] ?? '';
        continue;
      }
      const field = /^(Rss|Anonymous|LazyFree):\s+(\d+) kB/.exec(line);
      if (field === null) continue;
      const kib = Number(field[2]);
      if (field[1] === 'Anonymous') out.anon += kib;
      else if (field[1] === 'LazyFree') out.lazyFree += kib;
      else {
        rssTotal += kib;
        if (name.startsWith('/')) continue;
        if (name === '[heap]') out.brk += kib;
        else if (name === '' && sizeKiB === 256) {
          out.v8Pages += kib;
          out.v8PageCount++;
        } else out.otherAnon += kib;
      }
    }
    out.file = rssTotal - out.anon;
    return out;
  } catch {
    return undefined;
  }
}

function snapshot(): MemorySnapshot {
  const r = (n: number): number => Math.round((n / MiB) * 10) / 10;
  const mu = process.memoryUsage();
  const spaces: Record<string, [number, number]> = {};
  for (const sp of getHeapSpaceStatistics()) {
    if (sp.space_size > 0) spaces[sp.space_name.replace(/_space$/, '')] = [r(sp.space_size), r(sp.space_used_size)];
  }
  const res = residentMemory();
  return {
    rss: r(mu.rss), heapCommitted: r(mu.heapTotal), heapUsed: r(mu.heapUsed), external: r(mu.external),
    arrayBuffers: r(mu.arrayBuffers), malloced: r(getHeapStatistics().malloced_memory), spaces,
    ...(res === undefined ? {} : {
      anon: r(res.anon * 1024), file: r(res.file * 1024),
      mappings: { v8Pages: r(res.v8Pages * 1024), v8PageCount: res.v8PageCount, brk: r(res.brk * 1024), otherAnon: r(res.otherAnon * 1024), lazyFree: r(res.lazyFree * 1024) },
    }),
  };
}

/** Run one batch in this process. */
export async function soakRun(keys: number, opts: { concurrency?: number; op?: 'get' | 'head'; cacheMax?: number; outage?: number; diag?: boolean } = {}): Promise<SoakRun> {
  const store = new SyntheticStore();
  const rp = await ReadPath.open({
    backends: NAMES.map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'memory' },
    circuit_breaker: {
      failure_threshold: 3, open_timeout: '20ms', parallel_broadcast: true,
      ...(opts.cacheMax === undefined ? {} : { cache_max_entries: opts.cacheMax }),
    },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
  }, { backends: NAMES.map((n) => new SyntheticBackend(n)), store });
  const openRss = process.memoryUsage.rss();
  let peak = openRss;
  let peakSnap: MemorySnapshot | undefined;
  let nextSample = 0;
  const sample = (): void => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) {
      peak = rss;
      if (opts.diag === true) peakSnap = snapshot();
    }
  };
  let ok = 0;
  let failed = 0;
  let degraded = 0;
  let done = 0;
  const outage = opts.outage ?? 0.1;
  const outageFrom = Math.floor(keys * (0.5 - outage / 2));
  const outageTo = Math.floor(keys * (0.5 + outage / 2));
  function* input(): Generator<string> {
    for (let i = 0; i < keys; i++) yield `soak/${i}`;
  }
  const t0 = performance.now();
  for await (const o of rp.readMany(input(), { concurrency: opts.concurrency ?? 64, op: opts.op ?? 'get' })) {
    done++;
    if (o.ok) {
      ok++;
      if (o.degraded) degraded++;
    } else {
      failed++;
    }
    store.available = done < outageFrom || done >= outageTo;
    const t = performance.now();
    if (t >= nextSample) {
      nextSample = t + 20;
      sample();
    }
  }
  const elapsedMs = performance.now() - t0;
  sample();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  await rp.close();
  (globalThis as { gc?: () => void }).gc?.();
  const mu = process.memoryUsage();
  return {
    keys, ok, failed, degraded, elapsedMs, readsPerSec: keys / (elapsedMs / 1000),
    openRssMiB: openRss / MiB, peakRssMiB: peak / MiB, maxRssMiB: maxRss / MiB, endRssMiB: mu.rss / MiB, endHeapMiB: mu.heapUsed / MiB,
    ...(opts.diag === true ? { diag: { peak: peakSnap ?? snapshot(), end: snapshot() } } : {}),
  };
}

/** Run one size in a fresh child process (this file, `--child`), with the same node flags. */
export function soakInChild(keys: number, extra: string[] = [], execArgv: string[] = process.execArgv): Promise<SoakRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--child', '--keys', String(keys), ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // No IPC channel to notice the parent's end by: a soak stopped part-way must stop its child,
    // or the child runs its batch (a minute at 1,000,000 keys) to the end unseen.
    killAtExit(child);
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`soak child (${keys} keys) exited with ${code ?? signal}: ${out}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() as string) as SoakRun);
      } catch (err) {
        reject(err);
      }
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The command line: parent flags, `--child` flags, and those the parent hands each child. */
const FLAGS: FlagTable = {
  child: 'flag', keys: 'whole',
  sizes: 'text', repeat: 'whole', 'heap-limit': 'whole', json: 'text', 'max-ratio': 'positive',
  concurrency: 'whole', op: 'text', 'cache-max': 'whole', outage: 'text', diag: 'flag',
};
/** Read by the parent only; a child given one would ignore it. */
const PARENT_ONLY = ['sizes', 'repeat', 'heap-limit', 'json', 'max-ratio'];

/** What soak.ts was asked to do, checked: a refused command line is exit 2 before any child starts. */
interface SoakArgs {
  flags: Flags;
  /** The flags each child gets, as given. */
  common: string[];
  op: 'get' | 'head';
  outage: number;
}

function readSoakArgs(argv: readonly string[]): SoakArgs {
  const flags = readFlags('soak', FLAGS, argv);
  const op = flags.text('op') ?? 'get';
  if (op !== 'get' && op !== 'head') refuseFlags('soak', `--op: expected get or head, got ${JSON.stringify(op)}`);
  const outageText = flags.text('outage');
  const outage = outageText === undefined ? 0.1 : outageText.trim() === '' ? Number.NaN : Number(outageText);
  if (!(outage >= 0 && outage <= 1)) refuseFlags('soak', `--outage: expected a fraction from 0 to 1, got ${JSON.stringify(outageText)}`);
  const sizes = flags.list('sizes');
  if (sizes !== undefined && !sizes.every((n) => /^[1-9]\d*$/.test(n))) refuseFlags('soak', `--sizes: expected a comma list of key counts ≥ 1, got ${JSON.stringify(flags.text('sizes'))}`);
  if (flags.has('child')) {
    const parentOnly = PARENT_ONLY.find((name) => flags.has(name));
    if (parentOnly !== undefined) refuseFlags('soak', `--${parentOnly} is the parent's; a --child run is one size (--keys N)`);
  } else if (flags.has('keys')) {
    refuseFlags('soak', '--keys is a --child run\'s key count; the sizes compared are --sizes LIST');
  }
  const common: string[] = [];
  for (const f of ['concurrency', 'op', 'cache-max', 'outage']) {
    const v = flags.text(f);
    if (v !== undefined) common.push(`--${f}`, v);
  }
  if (flags.has('diag')) common.push('--diag');
  return { flags, common, op, outage };
}

async function main({ flags, common, op, outage }: SoakArgs): Promise<void> {
  if (flags.has('child')) {
    const cacheMax = flags.num('cache-max');
    const r = await soakRun(flags.num('keys', 10_000), {
      concurrency: flags.num('concurrency', 64), op, outage, diag: flags.has('diag'),
      ...(cacheMax === undefined ? {} : { cacheMax }),
    });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const sizes = (flags.list('sizes') ?? ['10000', '1000000']).map(Number);
  const repeat = flags.num('repeat', 1);
  const heapLimit = flags.text('heap-limit');
  // V8 sizes the old generation by a growing factor that depends on the heap limit (up to 4x
  // the live heap at Node's default limit on a large machine, ~1.3-2x below ~1 GiB): the same
  // batch peaks ~40 MiB lower with a cap. See bench/RESULTS.md, Soak.
  const execArgv = heapLimit === undefined ? process.execArgv : [...process.execArgv, `--max-old-space-size=${heapLimit}`];
  const runs: SoakRun[] = [];
  const peaks = new Map<number, number[]>();
  console.log(`heap limit: ${heapLimit === undefined ? "Node's default" : `${heapLimit} MiB`}; ${repeat} run(s) per size, each in a fresh process`);
  for (let rep = 0; rep < repeat; rep++) {
    for (const n of sizes) {
      const r = await soakInChild(n, common, execArgv);
      runs.push(r);
      peaks.set(n, [...(peaks.get(n) ?? []), r.peakRssMiB]);
      console.log(`${String(n).padStart(9)} keys: open ${r.openRssMiB.toFixed(1)} MiB, peak RSS ${r.peakRssMiB.toFixed(1)} MiB (maxRSS ${r.maxRssMiB.toFixed(1)}), after GC: RSS ${r.endRssMiB.toFixed(1)} MiB, heap ${r.endHeapMiB.toFixed(1)} MiB; ` +
        `${r.ok} ok, ${r.failed} failed, ${r.degraded} degraded; ${(r.elapsedMs / 1000).toFixed(1)} s, ${Math.round(r.readsPerSec)} reads/s`);
      if (r.diag !== undefined) console.log(`  at peak: ${JSON.stringify(r.diag.peak)}\n  after GC: ${JSON.stringify(r.diag.end)}`);
    }
  }
  const smallest = sizes[0] as number;
  const largest = sizes[sizes.length - 1] as number;
  const medians = sizes.map((n) => median(peaks.get(n) ?? []));
  if (repeat > 1) console.log(`median peak RSS: ${sizes.map((n, i) => `${n} keys ${(medians[i] as number).toFixed(1)} MiB`).join(', ')}`);
  const ratio = (medians[medians.length - 1] as number) / (medians[0] as number);
  const maxRatio = flags.num('max-ratio', 1.2);
  console.log(`peak RSS ratio ${largest}/${smallest} keys${repeat > 1 ? ' (medians)' : ''}: ${ratio.toFixed(3)} (limit ${maxRatio})`);
  const json = flags.text('json');
  if (json !== undefined) writeFileSync(json, `${JSON.stringify({ heapLimitMiB: heapLimit === undefined ? null : Number(heapLimit), repeat, runs, medians, ratio, maxRatio }, null, 2)}\n`);
  if (ratio > maxRatio) process.exitCode = 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  guardBenchProcess(import.meta.url);
  main(readSoakArgs(process.argv.slice(2))).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
