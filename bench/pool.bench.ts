/**
 * The pool executor against the inline one, side by side in one process:
 *
 * 1. dispatch overhead: a located HEAD read through the Failover whose probe answers at once
 *    (in-memory backend), concurrency 1 — what sending a probe to a worker and back costs;
 * 2. verified GETs from s3rver (in a child process, so its CPU stays off the measured loop),
 *    64 reads in flight, for 4 KiB, 64 KiB and 1 MiB objects: throughput, and the main thread's
 *    event-loop delay (monitorEventLoopDelay, 1 ms resolution) while the batch runs; inline,
 *    pool with 1 thread and pool with 2 threads, interleaved round by round.
 *
 *   npm run build && node dist/bench/pool.bench.js [--quick] [--json FILE]
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg, setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { Recorder } from '../src/telemetry/recorder.js';
import { S3Backend, type S3BackendOptions } from '../src/backends/s3-backend.js';
import { MemoryLocationCache } from '../src/cache/memory-location-cache.js';
import { Failover } from '../src/engine/failover.js';
import { InlineExecutor } from '../src/executors/inline.js';
import type { ProbeExecutor } from '../src/executors/executor.js';
import { PoolExecutor } from '../src/executors/pool/executor.js';
import { MemoryMetadataStore } from '../src/stores/memory-store.js';
import type { Core, ObjectBackend } from '../src/types.js';
import { createBackends as instantBackends } from './pool-noop-backends.js';
import type { ChildReply, StartRequest } from './pool-s3-child.js';
import { readFlags } from './flags.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

const flags = readFlags('pool.bench', { quick: 'flag', json: 'text', 'worker-nice': 'int', 'server-nice': 'int' });
const quick = flags.has('quick');
/** Niceness of the pool's worker threads (`--worker-nice N`). */
const WORKER_NICE = flags.num('worker-nice', 0);
/** Niceness of the S3 server process (`--server-nice N`): it stands in for remote machines. */
const SERVER_NICE = flags.num('server-nice', 10);
/** s3rver bounds throughput at a few hundred GETs/s: fewer reads keep the run short. */
const S3RVER_SCALE = 0.4;
const CONCURRENCY = 64;
const SIZES = [
  { label: '4 KiB', size: 4 * 1024, reads: quick ? 300 : 1500 },
  { label: '64 KiB', size: 64 * 1024, reads: quick ? 200 : 1000 },
  { label: '1 MiB', size: 1024 * 1024, reads: quick ? 64 : 256 },
];
const KEYS_PER_SIZE = 32;
const ROUNDS = quick ? 1 : 3;
const NAMES = ['b1', 'b2'];

function failoverOver(recorder: Recorder, backends: Map<string, ObjectBackend>, store: MemoryMetadataStore): Failover {
  const core: Core = { backends: () => backends, backendOrder: () => NAMES, acct: () => recorder };
  return new Failover({ core, stores: store, cache: new MemoryLocationCache({ maxEntries: 10 }) });
}

// --- 1. dispatch overhead -------------------------------------------------------------------

async function dispatchOverhead(): Promise<Record<string, unknown>[]> {
  const moduleUrl = new URL('./pool-noop-backends.js', import.meta.url).href;
  const store = new MemoryMetadataStore();
  store.add({ objectKey: 'k', backendName: 'b1', sizeBytes: 1, createdAt: new Date(0), encrypted: false });
  const mainBackends = new Map<string, ObjectBackend>(instantBackends(NAMES).map((b) => [b.name, b]));
  const inlineRec = new Recorder();
  const inline = { ex: new InlineExecutor({ recorder: inlineRec }) as ProbeExecutor, f: failoverOver(inlineRec, mainBackends, store) };
  const poolRec = new Recorder();
  const pool = {
    ex: new PoolExecutor({ recorder: poolRec, backendModule: moduleUrl, backendData: NAMES, threads: 1 }) as ProbeExecutor,
    f: failoverOver(poolRec, mainBackends, store),
  };
  const bench = new Bench({ time: quick ? 700 : 2000, warmup: true, warmupTime: 500 });
  bench
    .add('inline: located HEAD, instant backend', async () => { await inline.f.read('HeadObject', 'k', inline.ex.head('k')); })
    .add('pool: located HEAD, instant backend', async () => { await pool.f.read('HeadObject', 'k', pool.ex.head('k')); });
  await bench.run();
  await pool.ex.close();
  return bench.tasks.map((t) => {
    const r = t.result as unknown as { latency?: { mean: number; p50?: number; p99: number }; throughput?: { mean: number } };
    return {
      task: t.name,
      meanUs: +((r.latency?.mean ?? NaN) * 1000).toFixed(1),
      p50Us: +((r.latency?.p50 ?? NaN) * 1000).toFixed(1),
      p99Us: +((r.latency?.p99 ?? NaN) * 1000).toFixed(1),
      opsPerSec: Math.round(r.throughput?.mean ?? NaN),
    };
  });
}

// --- 2. S3 batches --------------------------------------------------------------------------

type WorldKind = 's3rver' | 'stub';
interface S3Setup { endpoints: string[]; hashes: Record<string, string>; close(): Promise<void> }

async function startS3(kind: WorldKind): Promise<S3Setup> {
  const here = fileURLToPath(import.meta.url);
  const js = here.replace(/pool\.bench\.(js|ts)$/, 'pool-s3-child.js');
  const file = existsSync(js) ? js : js.replace(/\.js$/, '.ts');
  const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.execArgv });
  // Real backends run on other machines: the servers must not outrank the measured client.
  if (child.pid !== undefined) setPriority(child.pid, SERVER_NICE);
  const objects = SIZES.flatMap((s) => Array.from({ length: KEYS_PER_SIZE }, (_, i) => ({ key: `${s.size}/${i}`, size: s.size })));
  const req: StartRequest = { type: 'start', kind, backends: NAMES, bucket: 'bench', objects };
  const reply = await new Promise<ChildReply>((resolve, reject) => {
    child.once('message', (m: ChildReply) => resolve(m));
    child.once('exit', (code) => reject(new Error(`s3 child exited (${code})`)));
    child.send(req);
  });
  if (reply.type === 'error') throw new Error(reply.message);
  return {
    endpoints: reply.endpoints,
    hashes: reply.hashes,
    close: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      await exited;
    },
  };
}

interface Cell {
  world: WorldKind;
  executor: string;
  size: string;
  reads: number;
  readsPerSec: number;
  mibPerSec: number;
  /** CPU time of this process (main thread and workers, not the servers) per read, in ms. */
  cpuMsPerRead: number;
  /** Main-thread event-loop utilization during the batch (1 = never idle). */
  mainElu: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

interface Sample { ms: number; p99: number; max: number; elu: number; cpuMs: number }

async function batch(f: Failover, ex: ProbeExecutor, size: number, reads: number): Promise<Sample> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < reads) {
      const key = `${size}/${next++ % KEYS_PER_SIZE}`;
      const out = await f.read('GetObject', key, ex.get(key));
      if (!out.value.verified || out.value.body.byteLength !== size) throw new Error(`bad read of ${key}`);
    }
  };
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  return { ms, p99: h.percentile(99) / 1e6, max: h.max / 1e6, elu, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function s3Batches(kind: WorldKind, readsScale: number): Promise<Cell[]> {
  const s3 = await startS3(kind);
  const opts: S3BackendOptions[] = NAMES.map((name, i) => ({
    name, endpoint: s3.endpoints[i] as string, region: 'us-east-1', bucket: 'bench', forcePathStyle: true,
    accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', maxSockets: CONCURRENCY,
  }));
  const store = new MemoryMetadataStore();
  for (const [key, hash] of Object.entries(s3.hashes)) {
    const size = Number(key.split('/')[0]);
    for (const [i, name] of NAMES.entries()) {
      store.add({ objectKey: key, backendName: name, sizeBytes: size, createdAt: new Date(i), encrypted: false, contentHash: hash });
    }
  }
  await S3Backend.preload();
  const inlineBackends = opts.map((o) => new S3Backend(o));
  const stubs = new Map<string, ObjectBackend>(NAMES.map((n) => [n, { name: n } as ObjectBackend]));
  const variants: { name: string; ex: ProbeExecutor; f: Failover }[] = [];
  const inlineRec = new Recorder();
  variants.push({
    name: 'inline',
    ex: new InlineExecutor({ recorder: inlineRec }),
    f: failoverOver(inlineRec, new Map(inlineBackends.map((b) => [b.name, b as ObjectBackend])), store),
  });
  for (const threads of [1, 2]) {
    const rec = new Recorder();
    variants.push({
      name: `pool ×${threads}`,
      ex: new PoolExecutor({ recorder: rec, backends: opts, threads, tasksPerThread: CONCURRENCY, workerNice: WORKER_NICE }),
      f: failoverOver(rec, stubs, store),
    });
  }
  const cells: Cell[] = [];
  try {
    // Warm-up: sockets, JIT, worker module loading.
    for (const v of variants) for (const s of SIZES) await batch(v.f, v.ex, s.size, Math.min(s.reads, 128));
    for (const s of SIZES) {
      const reads = Math.max(CONCURRENCY, Math.round(s.reads * readsScale));
      const samples = new Map<string, Sample[]>();
      // Round-robin, so drifts of the machine (other processes, thermal) hit every variant alike.
      for (let r = 0; r < ROUNDS; r++) {
        for (const v of variants) {
          const list = samples.get(v.name) ?? [];
          list.push(await batch(v.f, v.ex, s.size, reads));
          samples.set(v.name, list);
        }
      }
      for (const v of variants) {
        const list = samples.get(v.name) ?? [];
        const totalMs = list.reduce((a, x) => a + x.ms, 0);
        const n = reads * list.length;
        cells.push({
          world: kind,
          executor: v.name,
          size: s.label,
          reads: n,
          readsPerSec: Math.round((n / totalMs) * 1000),
          mibPerSec: +(((n * s.size) / (1024 * 1024)) / (totalMs / 1000)).toFixed(1),
          cpuMsPerRead: +(list.reduce((a, x) => a + x.cpuMs, 0) / n).toFixed(2),
          mainElu: +(list.reduce((a, x) => a + x.elu * x.ms, 0) / totalMs).toFixed(2),
          // The worst round's figure: the target is a bound, not an average.
          loopDelayP99Ms: +Math.max(...list.map((x) => x.p99)).toFixed(1),
          loopDelayMaxMs: +Math.max(...list.map((x) => x.max)).toFixed(1),
        });
      }
      process.stderr.write(`${kind}: ${s.label} done\n`);
    }
  } finally {
    for (const v of variants) await v.ex.close();
    await Promise.all(inlineBackends.map((b) => b.close()));
    await s3.close();
  }
  return cells;
}

const loadBefore = loadavg()[0] ?? 0;
const overhead = await dispatchOverhead();
console.table(overhead);
const cells = [...(await s3Batches('stub', 1)), ...(await s3Batches('s3rver', S3RVER_SCALE))];
console.table(cells);
console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadavg()[0]?.toFixed(2)} after, on ${availableParallelism()} cores`);
const out = {
  // Other processes on the machine skew every figure: the 1-minute load average says how much.
  machine: { node: process.version, cpus: availableParallelism(), loadBefore, loadAfter: loadavg()[0] },
  concurrency: CONCURRENCY, rounds: ROUNDS, workerNice: WORKER_NICE, serverNice: SERVER_NICE, overhead, s3: cells,
};
const file = flags.text('json');
if (file !== undefined) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(out, null, 2));
}
