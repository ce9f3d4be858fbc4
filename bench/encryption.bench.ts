/**
 * Decrypting s3-orchestrator's encrypted objects (issue 15): what a verified read of an
 * encrypted object costs against the same bytes stored in the clear. Target: a verified 64 MiB
 * object decrypts in ≤ 1.3× the time of reading it unencrypted.
 *
 * One local S3 stand-in in a process of its own (bench/encryption/server-process.ts, nice 10)
 * serves a random plaintext object and its encrypted form (SENC v1, chunk size 65536 by
 * default, data key wrapped by the configured master key) from memory. Rows in SQLite, one
 * backend, default configuration plus `encryption: { enabled: true, master_key }`. Side by side
 * in this process, in interleaved rounds (each round one tinybench per cell, plain and encrypted
 * taking turns going first, after `--warmup` rounds not counted):
 *
 * - `rp.get(key)` — buffered, SHA-256 verified — with `runtime.mode: inline` and with the pool
 *   (its default thread count, and `--pools` others);
 * - `rp.getStream(key)` consumed to the end and verified (a stream reads, decrypts and hashes on
 *   the main thread whatever the runtime, so it runs once, on the inline reader);
 * - what-if: the encrypted stream with `integrity.verify_on_read: false` (GCM tags, nonce order and
 *   lengths still checked; no SHA-256) against the plain one verified — what skipping the
 *   redundant hash for encrypted copies would buy.
 *
 * Per cell: mean wall time per read, CPU time per read (`process.cpuUsage`: this process, main
 * thread and workers; the server excluded) and the encrypted/plain ratios. Then micro rows
 * over the same sizes in memory — ChunkDecryptor alone, bare AES-256-GCM, SHA-256, a copy — to
 * show where the time goes.
 *
 *   npm run bench:encryption [-- --rounds 8 --warmup 2 --iterations 1 --mib 64 --chunk 65536 --pools default,2
 *                             --micro-ms 400 --micro-passes 3 --no-what-if --json FILE]
 *   (= npm run build && node dist/bench/encryption.bench.js ...)
 */
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { ReadPath } from '../src/read-path.js';
import { SqliteMetadataStore } from '../src/stores/sqlite-store.js';
import { ChunkDecryptor } from '../src/encryption/chunk-decryptor.js';
import type { ReadPathConfig } from '../src/config/types.js';
import { SENC_CHUNK_OVERHEAD, SENC_HEADER_SIZE, encryptForRow } from './encryption/encode.js';
import { fmt, log, mean, measureRound, rotated, type MeasuredCell } from './encryption/bench-args.js';
import { readFlags, refuseFlags } from './flags.js';
import { BUCKET, ENC_KEY, PLAIN_KEY, startEncryptionServer } from './encryption/server-process.js';
import { benchTempDir, guardBenchProcess } from './process-guard.js';

guardBenchProcess(import.meta.url);
const flags = readFlags('bench:encryption', {
  mib: 'positive', chunk: 'whole', rounds: 'whole', iterations: 'whole', warmup: 'count', 'micro-ms': 'positive', 'micro-passes': 'whole',
  pools: 'text', json: 'text', 'no-what-if': 'flag',
});

const MiB = 1024 * 1024;


const SIZE = flags.num('mib', 64) * MiB;
const CHUNK = flags.num('chunk', 65536);
const ROUNDS = flags.num('rounds', 8);
const ITERATIONS = flags.num('iterations', 1);
const WARMUP = flags.num('warmup', 2);
const MICRO_MS = flags.num('micro-ms', 400);
const MICRO_PASSES = flags.num('micro-passes', 3);
const POOLS = (flags.text('pools') ?? 'default,2').split(',').filter((s) => s !== '');
if (POOLS.some((p) => p !== 'default' && !/^[1-9]\d*$/.test(p))) refuseFlags('bench:encryption', `--pools: expected a comma list of default and thread counts, got ${JSON.stringify(flags.text('pools'))}`);
const JSON_OUT = flags.text('json');
/** Add the what-if row (`--no-what-if` leaves it out). */
const WHAT_IF = !flags.has('no-what-if');
const TARGET = 1.3;


// --- the objects, the rows, the readers -----------------------------------------------------

const masterKey = randomBytes(32);
log(`starting the server: ${SIZE / MiB} MiB plaintext and its encryption (chunk ${CHUNK})…`);
const server = await startEncryptionServer(SIZE, masterKey, CHUNK);
const tmp = await benchTempDir('readpath-encryption-bench-');
const db = path.join(tmp, 'meta.db');
{
  const store = await SqliteMetadataStore.open({ path: db });
  const createdAt = new Date(Date.UTC(2026, 0, 1));
  await store.addLocations([
    { objectKey: PLAIN_KEY, backendName: 'b1', sizeBytes: server.plain.sizeBytes, createdAt, encrypted: false, contentHash: server.plain.contentHash },
    {
      objectKey: ENC_KEY, backendName: 'b1', sizeBytes: server.enc.sizeBytes, createdAt, encrypted: true,
      encryptionKey: Buffer.from(server.enc.encryptionKeyHex, 'hex'), keyId: server.enc.keyId,
      plaintextSize: server.enc.plaintextSize, contentHash: server.enc.contentHash,
    },
  ]);
  await store.close();
}

function config(runtime: ReadPathConfig['runtime'], extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: [{ name: 'b1', endpoint: server.url, bucket: BUCKET, access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
    database: { driver: 'sqlite', path: db },
    runtime: { max_buffered_bytes: Math.max(256 * MiB, 2 * SIZE), ...runtime },
    encryption: { enabled: true, master_key: masterKey.toString('base64') },
    logging: { level: 'warn' },
    ...extra,
  };
}

interface Reader { label: string; rp: ReadPath }
const readers: Reader[] = [{ label: 'inline', rp: await ReadPath.open(config({ mode: 'inline' })) }];
for (const p of POOLS) {
  const rp = await ReadPath.open(config(p === 'default' ? { mode: 'pool' } : { mode: 'pool', threads: Number(p) }));
  const label = `pool ×${rp.config.runtime.threads}${p === 'default' ? ' (default)' : ''}`;
  if (readers.some((r) => r.rp.config.runtime.mode === 'pool' && r.rp.config.runtime.threads === rp.config.runtime.threads)) {
    await rp.close();
    continue;
  }
  readers.push({ label, rp });
}

async function readGet(rp: ReadPath, key: string): Promise<void> {
  const o = await rp.get(key);
  if (o.body.byteLength !== SIZE || !o.verified) throw new Error(`get ${key}: ${o.body.byteLength} bytes, verified ${o.verified}`);
}
async function readStream(rp: ReadPath, key: string, verified = true): Promise<void> {
  const o = await rp.getStream(key);
  let n = 0;
  for await (const c of o.body) n += (c as Buffer).byteLength;
  if (n !== SIZE || (await o.verified) !== verified) throw new Error(`getStream ${key}: ${n} bytes, verified ${String(await o.verified)}`);
}

// What-if: the encrypted copy read with `verify_on_read: false` — no SHA-256, only each chunk's
// GCM tag, the nonce sequence and the exact plaintext length — against the plain copy verified.
const unhashed = WHAT_IF ? await ReadPath.open(config({ mode: 'inline' }, { integrity: { verify_on_read: false } })) : undefined;

// --- interleaved rounds ---------------------------------------------------------------------

interface Cell extends MeasuredCell {
  /** Per round: mean encrypted / mean plain. */
  roundRatios: number[];
}
const cells: Cell[] = [
  ...readers.map((r): Cell => ({ read: 'get (buffered, verified)', runtime: r.label, run: (k) => readGet(r.rp, k), ms: {}, cpu: {}, roundRatios: [] })),
  { read: 'getStream to the end (verified)', runtime: 'main thread (any mode)', run: (k) => readStream(readers[0]?.rp as ReadPath, k), ms: {}, cpu: {}, roundRatios: [] },
];
if (unhashed !== undefined) {
  cells.push({
    read: 'what-if: getStream, encrypted copy not SHA-256-checked (GCM tags + lengths only)', runtime: 'main thread (any mode)',
    run: (k) => (k === PLAIN_KEY ? readStream(readers[0]?.rp as ReadPath, k) : readStream(unhashed, k, false)), ms: {}, cpu: {}, roundRatios: [],
  });
}
const VARIANTS = [['plain', PLAIN_KEY], ['encrypted', ENC_KEY]] as const;

const load0 = os.loadavg()[0] ?? 0;
const t0 = performance.now();
for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
  const warm = round <= 0;
  for (const cell of cells) {
    // Two variants: rotating is alternating which goes first.
    const got = await measureRound(cell, rotated(VARIANTS, round + WARMUP), warm ? 1 : ITERATIONS, !warm);
    if (warm) continue;
    cell.roundRatios.push(mean(got['encrypted']?.ms ?? []) / mean(got['plain']?.ms ?? []));
  }
  if (!warm) log(`round ${round}/${ROUNDS}, encrypted/plain: ${cells.map((c) => `${c.read.split(' ')[0]} ${c.runtime.replace(/ \(.*\)$/, '')} ${fmt(c.roundRatios.at(-1) ?? NaN, 2)}×`).join(', ')}`);
}
const readSeconds = (performance.now() - t0) / 1000;
for (const r of readers) await r.rp.close();
await unhashed?.close();
await server.close();
await rm(tmp, { recursive: true, force: true });

// --- micro rows: where the time goes --------------------------------------------------------

log('micro rows…');
const plain = randomBytes(SIZE);
const row = encryptForRow(plain, { masterKey, chunkSize: CHUNK });
const cipher = row.body;
const PIECE = 64 * 1024; // what a socket typically hands on
const wire = CHUNK + SENC_CHUNK_OVERHEAD;
const body = new Uint8Array(SIZE);
const scratch = Buffer.allocUnsafe(wire);
const decryptor = (): ChunkDecryptor => new ChunkDecryptor({ dek: row.dek, baseNonce: row.baseNonce, header: true, take: SIZE, where: 'bench' });
let sink = 0;
const discard = (b: Buffer): void => {
  sink += b.byteLength;
};
// Each pass runs every row once (tinybench, `--micro-ms` each), the order rotated pass by pass;
// the median of all samples is reported: this VM's page faults and neighbours make means jumpy.
const microTasks: [string, () => void][] = [
  ['copy 64 KiB pieces into a body (Uint8Array.set)', () => {
    for (let at = 0; at < SIZE; at += PIECE) body.set(plain.subarray(at, at + PIECE), at);
  }],
  ['SHA-256 of the body (one update)', () => {
    createHash('sha256').update(plain).digest();
  }],
  ['plain get\'s work: copy pieces + SHA-256', () => {
    for (let at = 0; at < SIZE; at += PIECE) body.set(plain.subarray(at, at + PIECE), at);
    createHash('sha256').update(body).digest();
  }],
  ['bare AES-256-GCM open per chunk (node:crypto, no checks; chunk copied out first, as the decryptor does)', () => {
    for (let at = SENC_HEADER_SIZE; at < cipher.length; at += wire) {
      const n = cipher.copy(scratch, 0, at, Math.min(at + wire, cipher.length));
      const c = scratch.subarray(0, n);
      const d = createDecipheriv('aes-256-gcm', row.dek, c.subarray(0, 12), { authTagLength: 16 });
      d.setAuthTag(c.subarray(c.length - 16));
      sink += d.update(c.subarray(12, c.length - 16)).byteLength;
      d.final();
    }
  }],
  ['ChunkDecryptor, ciphertext fed whole (chunks decrypted in place from one 64 MiB buffer)', () => {
    const d = decryptor();
    d.push(cipher, discard);
    d.end(discard);
  }],
  ['ChunkDecryptor, fed 64 KiB pieces', () => {
    const d = decryptor();
    for (let at = 0; at < cipher.length; at += PIECE) d.push(cipher.subarray(at, at + PIECE), discard);
    d.end(discard);
  }],
  ['encrypted get\'s work: ChunkDecryptor (64 KiB pieces) + copy + SHA-256', () => {
    const d = decryptor();
    let pos = 0;
    const into = (b: Buffer): void => {
      body.set(b, pos);
      pos += b.byteLength;
    };
    for (let at = 0; at < cipher.length; at += PIECE) d.push(cipher.subarray(at, at + PIECE), into);
    d.end(into);
    createHash('sha256').update(body).digest();
  }],
  ['the same, SHA-256 fed each decrypted chunk (cache-hot)', () => {
    const d = decryptor();
    const h = createHash('sha256');
    let pos = 0;
    const into = (b: Buffer): void => {
      h.update(b);
      body.set(b, pos);
      pos += b.byteLength;
    };
    for (let at = 0; at < cipher.length; at += PIECE) d.push(cipher.subarray(at, at + PIECE), into);
    d.end(into);
    h.digest();
  }],
];
const microSamples = new Map<string, number[]>(microTasks.map(([name]) => [name, []]));
for (let pass = 0; pass < MICRO_PASSES; pass++) {
  const micro = new Bench({ time: MICRO_MS, warmup: true, warmupTime: 100, warmupIterations: 2, iterations: 5, retainSamples: true, throws: true });
  const shift = (pass * 3) % microTasks.length;
  for (const [name, fn] of [...microTasks.slice(shift), ...microTasks.slice(0, shift)]) micro.add(name, fn);
  await micro.run();
  for (const t of micro.tasks) {
    const r = t.result as unknown as { latency?: { samples?: number[] } };
    microSamples.get(t.name)?.push(...(r.latency?.samples ?? []));
  }
}
if (sink < 0) log('unreachable');

// --- report ---------------------------------------------------------------------------------

const load1 = os.loadavg()[0] ?? 0;
const cmd = `npm run bench:encryption -- ${process.argv.slice(2).join(' ')}`.trim();
const out: string[] = [];
out.push(`## Encryption (issue 15) — ${cmd}`, '');
out.push(`${os.availableParallelism()} cores (nproc), Node ${process.version}; ${SIZE / MiB} MiB plaintext, chunk size ${CHUNK} (ciphertext ${fmt(server.enc.sizeBytes)} B, +${fmt(((server.enc.sizeBytes - SIZE) / SIZE) * 100, 3)}%); `
  + `${ROUNDS} interleaved rounds × ${ITERATIONS} read(s) per variant per cell after ${WARMUP} warm-up round(s); one server process${server.niced ? ' at nice 10' : ''}; `
  + `load ${fmt(load0, 1)} → ${fmt(load1, 1)}; reads took ${fmt(readSeconds, 0)} s.`, '');
out.push('| read | runtime | plain ms/read | encrypted ms/read | **time ratio** | per-round ratios: min–max (median) | plain CPU ms/read | encrypted CPU ms/read | CPU ratio | plain MiB/s | encrypted MiB/s |');
out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const summary: Record<string, unknown>[] = [];
for (const c of cells) {
  const p = mean(c.ms['plain'] ?? []);
  const e = mean(c.ms['encrypted'] ?? []);
  const pc = mean(c.cpu['plain'] ?? []);
  const ec = mean(c.cpu['encrypted'] ?? []);
  const ratio = e / p;
  const rr = [...c.roundRatios].sort((a, b) => a - b);
  out.push(`| ${c.read} | ${c.runtime} | ${fmt(p, 1)} | ${fmt(e, 1)} | **${fmt(ratio, 2)}×** ${ratio <= TARGET ? '✅' : '❌'} | ${fmt(rr[0] ?? NaN, 2)}–${fmt(rr.at(-1) ?? NaN, 2)} (${fmt(rr[Math.floor((rr.length - 1) / 2)] ?? NaN, 2)}) | ${fmt(pc, 1)} | ${fmt(ec, 1)} | ${fmt(ec / pc, 2)}× | ${fmt(SIZE / MiB / (p / 1000))} | ${fmt(SIZE / MiB / (e / 1000))} |`);
  summary.push({ read: c.read, runtime: c.runtime, plainMs: p, encryptedMs: e, ratio, roundRatios: c.roundRatios, plainCpuMs: pc, encryptedCpuMs: ec, samples: { plain: c.ms['plain'], encrypted: c.ms['encrypted'] } });
}
out.push('', `Micro: ${SIZE / MiB} MiB in memory, this process (tinybench; ${MICRO_PASSES} passes × ${MICRO_MS} ms per row, median of all samples):`, '');
out.push('| work | median ms | MiB/s | mean ms |', '|---|---:|---:|---:|');
const microRows: Record<string, unknown>[] = [];
for (const [name] of microTasks) {
  const xs = [...(microSamples.get(name) ?? [])].sort((x, y) => x - y);
  const med = xs[Math.floor((xs.length - 1) / 2)] ?? NaN;
  out.push(`| ${name} | ${fmt(med, 1)} | ${fmt(SIZE / MiB / (med / 1000))} | ${fmt(mean(xs), 1)} |`);
  microRows.push({ task: name, medianMs: med, meanMs: mean(xs), samples: xs.length });
}
process.stdout.write(`${out.join('\n')}\n`);
if (JSON_OUT !== undefined) await writeFile(JSON_OUT, `${JSON.stringify({ size: SIZE, chunk: CHUNK, rounds: ROUNDS, iterations: ITERATIONS, cells: summary, micro: microRows }, null, 2)}\n`);
