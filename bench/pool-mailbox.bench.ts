/**
 * What the pool costs per probe when probes themselves are cheap: verified GETs of in-memory
 * objects (4 KiB, SHA-256 checked) through the Failover, 64 reads in flight, inline vs the
 * pool, side by side in one process. Reports reads/s, the main loop's busy time per read and its
 * event-loop delay p99 — the figures the lean S3 transport makes matter (issue 13).
 *
 *   npm run build && node dist/bench/pool-mailbox.bench.js [--reads N] [--rounds N] [--size BYTES]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { Recorder } from '../src/telemetry/recorder.js';
import { MemoryLocationCache } from '../src/cache/memory-location-cache.js';
import { Failover } from '../src/engine/failover.js';
import { InlineExecutor } from '../src/executors/inline.js';
import type { ProbeExecutor } from '../src/executors/executor.js';
import { PoolExecutor } from '../src/executors/pool/executor.js';
import { MemoryMetadataStore } from '../src/stores/memory-store.js';
import { runBatch } from '../src/engine/batch.js';
import type { Core, ObjectBackend } from '../src/types.js';
import { createBackends } from './pool-mailbox-backends.js';
import { readFlags } from './flags.js';
import { guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);

const flags = readFlags('pool-mailbox.bench', { reads: 'whole', rounds: 'whole', size: 'whole', threads: 'whole' });
const READS = flags.num('reads', 20_000);
const ROUNDS = flags.num('rounds', 3);
const SIZE = flags.num('size', 4096);
const THREADS = flags.num('threads', 1);
const NAMES = ['b1', 'b2'];
const KEYS = 1000;

const store = new MemoryMetadataStore();
const hash = createHash('sha256').update(Buffer.alloc(SIZE, 0x61)).digest('hex');
for (let k = 0; k < KEYS; k++) {
  for (const [i, n] of NAMES.entries()) {
    store.add({ objectKey: `k${k}`, backendName: n, sizeBytes: SIZE, createdAt: new Date(i), encrypted: false, contentHash: hash });
  }
}
const mainBackends = new Map<string, ObjectBackend>(createBackends({ names: NAMES, size: SIZE }).map((b) => [b.name, b]));

async function run(label: string, executor: ProbeExecutor, recorder: Recorder): Promise<Record<string, unknown>> {
  const core: Core = { backends: () => mainBackends, backendOrder: () => NAMES, acct: () => recorder };
  const failover = new Failover({ core, stores: store, cache: new MemoryLocationCache({ maxEntries: 10 }) });
  const keys = Array.from({ length: READS }, (_, i) => `k${i % KEYS}`);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let ok = 0;
  for await (const o of runBatch(keys, (key, signal) => failover.read('GetObject', key, executor.get(key), { signal }).then((r) => ({ size: r.size })), { concurrency: 64, capacity: executor })) {
    if (o.ok) ok++;
  }
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  if (ok !== READS) throw new Error(`${label}: ${READS - ok} reads failed`);
  return {
    executor: label,
    readsPerSec: Math.round(READS / (ms / 1000)),
    // The main loop's busy time (ELU's active ms), and the whole process's CPU, per read.
    mainBusyUsPerRead: +((elu.active * 1000) / READS).toFixed(1),
    processCpuUsPerRead: +((cpu.user + cpu.system) / READS).toFixed(1),
    loopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(1),
  };
}

const inlineRec = new Recorder();
const inline = new InlineExecutor({ recorder: inlineRec });
const poolRec = new Recorder();
const pool = new PoolExecutor({
  recorder: poolRec,
  backendModule: new URL('./pool-mailbox-backends.js', import.meta.url).href,
  backendData: { names: NAMES, size: SIZE },
  threads: THREADS,
});
const rows: Record<string, unknown>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  rows.push(await run('inline', inline, inlineRec));
  rows.push(await run(`pool x${THREADS}`, pool, poolRec));
}
await pool.close();
console.table(rows);
