/**
 * Reading objects s3-orchestrator stored compressed: what a verified read of a compressed copy
 * costs against the same object stored verbatim, and compressed then encrypted (upstream's
 * order). No target was set; this says what compression costs a reader, and where it goes.
 *
 * The object is JSON log lines (compressible, as the data upstream's compression is for),
 * `--mib` MiB, stored three ways by the encryption bench's S3 stand-in (a process of its own,
 * nice 10): verbatim; in upstream's layout (1 MiB zstd frames, level 3, seek table); and that
 * layout encrypted (SENC, 64 KiB chunks). Rows in a memory store, one backend, default
 * configuration plus the master key; and the compressed copy read with the database down
 * (degraded mode: no row, the layout recognised from the copy's bytes and decoded unverified). Side by side in interleaved rounds (each round one tinybench
 * per cell, the variants' order rotated), after `--warmup` rounds not counted:
 *
 * - `rp.get(key)` — buffered, SHA-256 verified — inline and with the pool (its default threads);
 * - `rp.getStream(key)` to the end, verified (decoded and hashed on the main thread);
 * - `rp.get(key, { range })`: `--range-mib` MiB from the middle, across a frame boundary (the
 *   seek table remembered after the first read, as in a batch of ranges).
 *
 * Per cell: mean wall ms and CPU ms (this process: main thread and workers) per read, and each
 * variant's ratio to verbatim; then micro rows in memory (libzstd, the frame decoder, SHA-256).
 *
 *   npm run bench:compression [-- --mib 64 --rounds 6 --warmup 1 --iterations 1 --range-mib 1 --micro-ms 300 --json FILE]
 *   (= npm run build && node dist/bench/compression.bench.js ...)
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { ReadPath } from '../src/read-path.js';
import { ReadPathError } from '../src/errors.js';
import { MemoryMetadataStore } from '../src/stores/memory-store.js';
import { FrameDecoder } from '../src/compression/frame-decoder.js';
import { loadZstd } from '../src/compression/zstd.js';
import type { ReadPathConfig } from '../src/config/types.js';
import { encryptForRow } from './encryption/encode.js';
import { fmt, log, mean, measureRound, rotated, type MeasuredCell } from './encryption/bench-args.js';
import { readFlags } from './flags.js';
import { BUCKET, startEncryptionServer } from './encryption/server-process.js';
import { encodeSeekable, logText } from './compression/encode.js';
import { benchTempDir, guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);
const flags = readFlags('bench:compression', {
  mib: 'positive', rounds: 'whole', warmup: 'count', iterations: 'whole', 'range-mib': 'positive', 'micro-ms': 'positive', json: 'text',
});

const MiB = 1024 * 1024;

const JSON_OUT = flags.text('json');
const SIZE = Math.round(flags.num('mib', 64) * MiB);
const ROUNDS = flags.num('rounds', 6);
const WARMUP = flags.num('warmup', 1);
const ITERATIONS = flags.num('iterations', 1);
const RANGE = Math.min(SIZE, Math.round(flags.num('range-mib', 1) * MiB));
const MICRO_MS = flags.num('micro-ms', 300);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// --- the objects and their rows ---------------------------------------------------------------

const masterKey = randomBytes(32);
log(`encoding ${SIZE / MiB} MiB of log lines in upstream's layout…`);
const logical = logText(SIZE);
const stored = await encodeSeekable(logical);
const sealed = encryptForRow(stored, { masterKey, chunkSize: 65536 });
const tmp = await benchTempDir('readpath-compression-bench-');
const files = path.join(tmp, 'objects');
await mkdir(files);
/** `down:` keys are read with the database down: the copy recognised from its bytes (degraded mode). */
const DOWN = 'down:';
const VARIANTS = [
  ['verbatim', 'plain.log', logical], ['compressed', 'z.log', stored], ['compressed+encrypted', 'zenc.log', sealed.body],
  ['compressed, database down', `${DOWN}z.log`, stored],
] as const;
for (const [, name, body] of VARIANTS) if (!name.startsWith(DOWN)) await writeFile(path.join(files, name), body);
const server = await startEncryptionServer(1, masterKey, 65536, files);

const store = new MemoryMetadataStore();
const createdAt = new Date(Date.UTC(2026, 0, 1));
const hash = sha(logical);
store.add({ objectKey: 'plain.log', backendName: 'b1', sizeBytes: SIZE, createdAt, encrypted: false, contentHash: hash });
store.add({ objectKey: 'z.log', backendName: 'b1', sizeBytes: stored.byteLength, createdAt, encrypted: false, contentHash: hash, compression: 'zstd', logicalSize: SIZE, compressionVersion: 1 });
store.add({
  objectKey: 'zenc.log', backendName: 'b1', sizeBytes: sealed.sizeBytes, createdAt, encrypted: true, encryptionKey: sealed.encryptionKey, keyId: sealed.keyId,
  plaintextSize: sealed.plaintextSize, contentHash: hash, compression: 'zstd', logicalSize: SIZE, compressionVersion: 1,
});

function config(runtime: ReadPathConfig['runtime']): ReadPathConfig {
  return {
    // The stand-in answers no ListObjectsV2: degraded reads go to the key itself.
    broadcast: { storage_keys: false },
    backends: [{ name: 'b1', endpoint: server.url, bucket: BUCKET, access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
    database: { driver: 'memory' },
    runtime: { max_buffered_bytes: Math.max(256 * MiB, 2 * SIZE), ...runtime },
    striping: { enabled: false },
    encryption: { enabled: true, master_key: masterKey.toString('base64') },
    logging: { level: 'warn' },
  };
}
const down = { getAllObjectLocations: (): Promise<never> => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'database down (bench)')) };
const both = async (runtime: ReadPathConfig['runtime']): Promise<{ up: ReadPath; down: ReadPath }> => ({
  up: await ReadPath.open(config(runtime), { store }),
  down: await ReadPath.open(config(runtime), { store: down }),
});
const inline = await both({ mode: 'inline' });
const pool = await both({ mode: 'pool' });
/** The instance that reads `key`, and the key it reads. */
const pick = (rps: { up: ReadPath; down: ReadPath }, key: string): [ReadPath, string, boolean] =>
  (key.startsWith(DOWN) ? [rps.down, key.slice(DOWN.length), true] : [rps.up, key, false]);
const rangeStart = Math.max(0, Math.floor(SIZE / 2) - Math.floor(RANGE / 2) - 1000);
const range = `bytes=${rangeStart}-${rangeStart + RANGE - 1}`;

// Degraded reads have no content hash to verify against (the frames' checksums are checked).
async function readGet(rps: { up: ReadPath; down: ReadPath }, k: string): Promise<void> {
  const [rp, key, degraded] = pick(rps, k);
  const o = await rp.get(key);
  if (o.body.byteLength !== SIZE || o.verified === degraded || o.degraded !== degraded) throw new Error(`get ${k}: ${o.body.byteLength} bytes, verified ${o.verified}`);
}
async function readStream(rps: { up: ReadPath; down: ReadPath }, k: string): Promise<void> {
  const [rp, key, degraded] = pick(rps, k);
  const o = await rp.getStream(key);
  let n = 0;
  for await (const c of o.body) n += (c as Buffer).byteLength;
  if (n !== SIZE || (await o.verified) === degraded) throw new Error(`getStream ${k}: ${n} bytes`);
}
async function readRange(rps: { up: ReadPath; down: ReadPath }, k: string): Promise<void> {
  const [rp, key] = pick(rps, k);
  const o = await rp.get(key, { range });
  if (!Buffer.from(o.body).equals(logical.subarray(rangeStart, rangeStart + RANGE))) throw new Error(`get ${key} ${range}: wrong bytes`);
}

const cells: MeasuredCell[] = [
  { read: 'get (buffered, verified)', runtime: 'inline', run: (k) => readGet(inline, k), ms: {}, cpu: {} },
  { read: 'get (buffered, verified)', runtime: `pool ×${pool.up.config.runtime.threads} (default)`, run: (k) => readGet(pool, k), ms: {}, cpu: {} },
  { read: 'getStream to the end (verified)', runtime: 'main thread (any mode)', run: (k) => readStream(inline, k), ms: {}, cpu: {} },
  { read: `get ${fmt(RANGE / MiB, 2)} MiB range from the middle`, runtime: 'inline', run: (k) => readRange(inline, k), ms: {}, cpu: {} },
];

const load0 = os.loadavg()[0] ?? 0;
const t0 = performance.now();
for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
  const warm = round <= 0;
  for (const cell of cells) await measureRound(cell, rotated(VARIANTS, round + WARMUP), warm ? 1 : ITERATIONS, !warm);
  if (!warm) log(`round ${round}/${ROUNDS}`);
}
const readSeconds = (performance.now() - t0) / 1000;
for (const rp of [inline.up, inline.down, pool.up, pool.down]) await rp.close();
await server.close();
await rm(tmp, { recursive: true, force: true });

// --- micro rows ----------------------------------------------------------------------------------

log('micro rows…');
await loadZstd();
const PIECE = 64 * 1024;
let sink = 0;
const count = (b: Buffer): void => {
  sink += b.byteLength;
};
const micro = new Bench({ time: MICRO_MS, warmup: true, warmupTime: 100, warmupIterations: 2, iterations: 3, retainSamples: true, throws: true });
micro.add('SHA-256 of the object', () => {
  createHash('sha256').update(logical).digest();
});
micro.add('FrameDecoder: the stored stream fed in 64 KiB pieces (libzstd, frames found, table checked)', () => {
  const d = new FrameDecoder({ where: 'bench', take: SIZE });
  for (let at = 0; at < stored.byteLength; at += PIECE) d.push(stored.subarray(at, at + PIECE), count);
  d.end(count);
});
micro.add('the same, each decoded piece hashed (a verified read\'s work)', () => {
  const h = createHash('sha256');
  const d = new FrameDecoder({ where: 'bench', take: SIZE });
  for (let at = 0; at < stored.byteLength; at += PIECE) d.push(stored.subarray(at, at + PIECE), (b) => h.update(b));
  d.end((b) => h.update(b));
  if (h.digest('hex') !== hash) throw new Error('decoded bytes differ');
});
await micro.run();
if (sink < 0) log('unreachable');

// --- report --------------------------------------------------------------------------------------

const load1 = os.loadavg()[0] ?? 0;
const cmd = `npm run bench:compression -- ${process.argv.slice(2).join(' ')}`.trim();
const out: string[] = [];
out.push(`## Compressed copies — ${cmd}`, '');
out.push(`${os.availableParallelism()} cores (nproc), Node ${process.version}; ${SIZE / MiB} MiB of log lines, stored ${fmt(stored.byteLength / MiB, 2)} MiB compressed (${fmt((stored.byteLength / SIZE) * 100, 1)}%, 1 MiB frames, level 3); `
  + `${ROUNDS} interleaved rounds × ${ITERATIONS} read(s) per variant per cell after ${WARMUP} warm-up round(s); one server process${server.niced ? ' at nice 10' : ''}; `
  + `load ${fmt(load0, 1)} → ${fmt(load1, 1)}; reads took ${fmt(readSeconds, 0)} s.`, '');
out.push('| read | runtime | verbatim ms | compressed ms (×) | compressed+encrypted ms (×) | compressed, database down ms (×) | verbatim CPU ms | compressed CPU ms (×) | compressed+encrypted CPU ms (×) | compressed, database down CPU ms (×) |');
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
const summary: Record<string, unknown>[] = [];
for (const c of cells) {
  const ms = Object.fromEntries(VARIANTS.map(([v]) => [v, mean(c.ms[v] ?? [])]));
  const cpu = Object.fromEntries(VARIANTS.map(([v]) => [v, mean(c.cpu[v] ?? [])]));
  const base = ms['verbatim'] ?? NaN;
  const baseCpu = cpu['verbatim'] ?? NaN;
  const cellOf = (v: string, m: Record<string, number>, b: number): string => `${fmt(m[v] ?? NaN, 1)} (${fmt((m[v] ?? NaN) / b, 2)}×)`;
  const down = VARIANTS[3][0];
  out.push(`| ${c.read} | ${c.runtime} | ${fmt(base, 1)} | ${cellOf('compressed', ms, base)} | ${cellOf('compressed+encrypted', ms, base)} | ${cellOf(down, ms, base)} | ${fmt(baseCpu, 1)} | ${cellOf('compressed', cpu, baseCpu)} | ${cellOf('compressed+encrypted', cpu, baseCpu)} | ${cellOf(down, cpu, baseCpu)} |`);
  summary.push({ read: c.read, runtime: c.runtime, ms, cpuMs: cpu, samples: c.ms });
}
out.push('', `Micro: ${SIZE / MiB} MiB in memory, this process (tinybench, ${MICRO_MS} ms per row, median):`, '');
out.push('| work | median ms | MiB/s (of the object) |', '|---|---:|---:|');
const microRows: Record<string, unknown>[] = [];
for (const t of micro.tasks) {
  const xs = [...((t.result as unknown as { latency?: { samples?: number[] } }).latency?.samples ?? [])].sort((a, b) => a - b);
  const med = xs[Math.floor((xs.length - 1) / 2)] ?? NaN;
  out.push(`| ${t.name} | ${fmt(med, 1)} | ${fmt(SIZE / MiB / (med / 1000))} |`);
  microRows.push({ task: t.name, medianMs: med, samples: xs.length });
}
process.stdout.write(`${out.join('\n')}\n`);
if (JSON_OUT !== undefined) {
  await writeFile(JSON_OUT, `${JSON.stringify({ size: SIZE, stored: stored.byteLength, rounds: ROUNDS, cells: summary, micro: microRows }, null, 2)}\n`);
}
