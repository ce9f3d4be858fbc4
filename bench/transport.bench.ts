/**
 * S3 transports side by side: GETs/s and client CPU per GET for
 *
 * - `raw node:http`: a keep-alive `http.Agent` GET + SHA-256 of the body, no signing — the
 *   ceiling a Node client reaches on this machine;
 * - `raw undici`: undici's Pool GET + SHA-256, no signing: what the lean transport sends on to
 *   TLS endpoints (and, before 2026-12-06, to every endpoint);
 * - `raw onread`: keep-alive `net` sockets that each read into one reused buffer (`onread`), a
 *   minimal HTTP/1.1 response parser (Content-Length bodies only: enough for this stub) + SHA-256
 *   of the body straight from that buffer — what a body path without a fresh ArrayBuffer per
 *   socket read (Node's and undici's way) would cost; not a transport;
 * - `lean`: readpath's LeanS3Backend (its own SigV4 signer over node:crypto, its own HTTP/1.1
 *   connections reading with `onread` into windows it allocates) + readBody + SHA-256;
 * - `lean into`: the same backend given a reused buffer per GET to read into
 *   (`BackendGetOptions.into`), SHA-256 of
 *   the bytes where they landed — the gateway's and the batch's path for bodies up to 1 MiB;
 * - `sdk`: readpath's S3Backend (@aws-sdk/client-s3) + readBody + SHA-256;
 *
 * against a fast local GET stub (objects in memory, no signature check) running in a child
 * process at nice 10, so its CPU is not the client's. 64 GETs in flight (closed loop, 64
 * sockets per client), for 4 KiB and 1 MiB objects. Variants run round-robin in one process,
 * each round a warm-up then a timed window; the table shows the median round and the range.
 *
 *   npm run bench:transport [-- --seconds N] [-- --rounds N] [-- --json FILE] [-- --quick]
 *                           [-- --only node:http,undici,onread,lean,'lean into',sdk] [-- --sizes 4KiB,1MiB]
 *   (= npm run build && node dist/bench/transport.bench.js ...)
 */
import { messageOf } from '../src/errors.js';
import { readFlags, type Flags } from './flags.js';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadavg, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { LeanS3Backend } from '../src/backends/lean-s3-backend.js';
import { S3Backend, type S3BackendOptions } from '../src/backends/s3-backend.js';
import { readBody } from '../src/backends/body.js';
import type { ObjectBackend } from '../src/types.js';
import { guardBenchProcess } from './process-guard.js';
import { reportToBench } from './child-report.js';

const BUCKET = 'bench';
const IN_FLIGHT = 64;
const KEYS = 64;

// --- the stub (child process) ---------------------------------------------------------------

interface StubReady { port: number; sizes: Record<string, string[]> }

async function runStub(sizes: number[]): Promise<void> {
  // Before the objects are made: a bench stopped meanwhile is seen, not missed.
  process.on('disconnect', () => process.exit(0));
  const objects = new Map<string, { body: Buffer; etag: string }>();
  const hashes: Record<string, string[]> = {};
  for (const size of sizes) {
    hashes[size] = [];
    for (let i = 0; i < KEYS; i++) {
      const body = randomBytes(size);
      const key = `obj-${size}/${i}`;
      objects.set(`/${BUCKET}/${key}`, { body, etag: `"${createHash('md5').update(body).digest('hex')}"` });
      hashes[size]?.push(createHash('sha256').update(body).digest('hex'));
    }
  }
  const lastModified = new Date().toUTCString();
  const server = http.createServer((req, res) => {
    const o = objects.get((req.url ?? '').split('?', 1)[0] ?? '');
    if (o === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      return;
    }
    res.writeHead(200, { 'content-length': o.body.byteLength, 'content-type': 'application/octet-stream', etag: o.etag, 'last-modified': lastModified });
    res.end(req.method === 'HEAD' ? undefined : o.body);
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    setPriority(10);
  } catch {
    // Not allowed here: the stub competes at equal priority.
  }
  reportToBench({ port: (server.address() as AddressInfo).port, sizes: hashes } satisfies StubReady);
}

// --- the clients ----------------------------------------------------------------------------

/** One GET + SHA-256 of the body; resolves with the hex digest. */
type Getter = (key: string) => Promise<string>;

interface Variant {
  name: string;
  get: Getter;
  close(): Promise<void>;
}

function rawHttp(port: number): Variant {
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  return {
    name: 'raw node:http',
    get: (key) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: `/${BUCKET}/${key}`, agent }, (res) => {
          const hash = createHash('sha256');
          res.on('data', (c: Buffer) => hash.update(c));
          res.on('end', () => (res.statusCode === 200 ? resolve(hash.digest('hex')) : reject(new Error(`HTTP ${res.statusCode}`))));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }),
    close: async () => agent.destroy(),
  };
}

/** undici's Pool with no signing, no deadline, no readpath: the transport's own floor. */
function rawUndici(port: number): Variant {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: IN_FLIGHT, headersTimeout: 0, bodyTimeout: 0 });
  return {
    name: 'raw undici',
    get: async (key) => {
      const res = await pool.request({ method: 'GET', path: `/${BUCKET}/${key}` });
      const hash = createHash('sha256');
      for await (const c of res.body) hash.update(c as Buffer);
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      return hash.digest('hex');
    },
    close: () => pool.destroy(),
  };
}

/** One keep-alive socket reading into its own reused buffer; one GET at a time. */
class OnreadConnection {
  readonly #socket: net.Socket;
  readonly #connected: Promise<void>;
  #head = '';
  #inBody = false;
  #remaining = 0;
  #hash = createHash('sha256');
  #status = 0;
  #done: ((err: Error | undefined, digest: string) => void) | undefined;

  constructor(port: number) {
    const buffer = Buffer.allocUnsafe(256 * 1024);
    this.#socket = net.connect({ host: '127.0.0.1', port, onread: { buffer, callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf as Buffer) } });
    this.#connected = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    this.#socket.on('error', (err) => this.#finish(err));
  }

  async get(path: string): Promise<string> {
    await this.#connected;
    return new Promise<string>((resolve, reject) => {
      this.#done = (err, digest) => (err === undefined ? resolve(digest) : reject(err));
      this.#hash = createHash('sha256');
      this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
  }

  /** onread's callback; true keeps reading. */
  #onRead(n: number, buf: Buffer): boolean {
    this.#consume(n, buf);
    return true;
  }

  #consume(n: number, buf: Buffer): void {
    let at = 0;
    while (at < n && this.#done !== undefined) {
      if (!this.#inBody) {
        const text = this.#head + buf.toString('latin1', at, n);
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) {
          this.#head = text;
          return;
        }
        const head = text.slice(0, end);
        this.#status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (length === null) {
          this.#finish(new Error('no content-length'));
          return;
        }
        at += end + 4 - this.#head.length;
        this.#head = '';
        this.#remaining = Number(length[1]);
        this.#inBody = true;
      }
      const take = Math.min(this.#remaining, n - at);
      // The bytes are only valid until this callback returns: hashed here, never kept.
      this.#hash.update(buf.subarray(at, at + take));
      at += take;
      this.#remaining -= take;
      if (this.#remaining === 0) {
        this.#inBody = false;
        this.#finish(this.#status === 200 ? undefined : new Error(`HTTP ${this.#status}`));
      }
    }
  }

  #finish(err: Error | undefined): void {
    const done = this.#done;
    this.#done = undefined;
    done?.(err, err === undefined ? this.#hash.digest('hex') : '');
  }

  close(): void {
    this.#socket.destroy();
  }
}

function rawOnread(port: number): Variant {
  const idle = Array.from({ length: IN_FLIGHT }, () => new OnreadConnection(port));
  const all = [...idle];
  return {
    name: 'raw onread',
    get: async (key) => {
      // The closed loop never has more than IN_FLIGHT GETs out, so one is always idle.
      const c = idle.pop() as OnreadConnection;
      try {
        return await c.get(`/${BUCKET}/${key}`);
      } finally {
        idle.push(c);
      }
    },
    close: async () => {
      for (const c of all) c.close();
    },
  };
}

/** The lean backend reading each body into one of IN_FLIGHT reused buffers. */
function leanIntoVariant(b: LeanS3Backend, size: number): Variant {
  const free: Buffer[] = Array.from({ length: IN_FLIGHT }, () => Buffer.allocUnsafeSlow(size));
  return {
    name: 'lean into',
    get: async (key) => {
      const into = free.pop() as Buffer;
      try {
        const r = await b.get(key, { into });
        let n = 0;
        for await (const c of r.body) n += (c as Buffer).byteLength;
        return createHash('sha256').update(into.subarray(0, n)).digest('hex');
      } finally {
        free.push(into);
      }
    },
    close: () => b.close(),
  };
}

function backendVariant(name: string, b: ObjectBackend & { close(): Promise<void> }): Variant {
  return {
    name,
    get: async (key) => {
      const r = await b.get(key);
      return createHash('sha256').update(await readBody(r)).digest('hex');
    },
    close: () => b.close(),
  };
}

interface Sample { getsPerSec: number; cpuMsPerGet: number; mibPerSec: number; gets: number }

/** Run `get` closed-loop with IN_FLIGHT workers for `ms`; check every digest. */
async function window(get: Getter, size: number, expected: string[], ms: number): Promise<Sample> {
  let gets = 0;
  let failed: unknown;
  const stopAt = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (w: number): Promise<void> => {
    let i = w;
    while (performance.now() < stopAt && failed === undefined) {
      const k = i % KEYS;
      i += IN_FLIGHT;
      try {
        const digest = await get(`obj-${size}/${k}`);
        if (digest !== expected[k]) throw new Error(`wrong body for obj-${size}/${k}`);
        gets++;
      } catch (err) {
        failed = err;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error(messageOf(failed));
  return {
    gets,
    getsPerSec: gets / elapsed,
    cpuMsPerGet: (cpu.user + cpu.system) / 1000 / gets,
    mibPerSec: (gets * size) / elapsed / (1024 * 1024),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** The command line, read before {@link main} (the stub child has its own). */
let flags: Flags;

async function main(): Promise<void> {
  const quick = flags.has('quick');
  const seconds = flags.num('seconds', quick ? 0.5 : 3);
  const rounds = flags.num('rounds', quick ? 1 : 3);
  const jsonFile = flags.text('json');
  const sizeFilter = flags.list('sizes');
  const sizes = [{ label: '4 KiB', size: 4 * 1024 }, { label: '1 MiB', size: 1024 * 1024 }]
    .filter((s) => sizeFilter === undefined || sizeFilter.includes(s.label.replace(' ', '')));

  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--stub', ...sizes.map((s) => String(s.size))], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<StubReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as StubReady));
    child.once('exit', (code) => reject(new Error(`stub exited with ${code}`)));
  });
  const opts: S3BackendOptions = {
    name: 'stub', endpoint: `http://127.0.0.1:${ready.port}`, bucket: BUCKET, region: 'us-east-1',
    accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret', forcePathStyle: true, maxSockets: IN_FLIGHT, timeoutMs: 30_000,
  };
  await Promise.all([LeanS3Backend.preload(), S3Backend.preload()]);
  const only = flags.list('only');
  const variants: Variant[] = [rawHttp(ready.port), rawUndici(ready.port), rawOnread(ready.port), backendVariant('lean', new LeanS3Backend(opts)), leanIntoVariant(new LeanS3Backend(opts), Math.max(...sizes.map((s) => s.size))), backendVariant('sdk', new S3Backend(opts))]
    .filter((v) => only === undefined || only.includes(v.name.replace('raw ', '')) || only.includes(v.name));

  const results: Record<string, unknown>[] = [];
  const load0 = loadavg()[0] ?? 0;
  try {
    for (const { label, size } of sizes) {
      const expected = ready.sizes[size] ?? [];
      const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
      for (let r = 0; r < rounds; r++) {
        for (const v of variants) {
          await window(v.get, size, expected, Math.min(500, seconds * 250)); // warm-up: sockets, JIT
          samples.get(v.name)?.push(await window(v.get, size, expected, seconds * 1000));
        }
      }
      for (const v of variants) {
        const s = samples.get(v.name) ?? [];
        const gps = s.map((x) => x.getsPerSec);
        results.push({
          size: label, client: v.name, rounds: s.length,
          getsPerSec: median(gps), getsPerSecMin: Math.min(...gps), getsPerSecMax: Math.max(...gps),
          cpuMsPerGet: median(s.map((x) => x.cpuMsPerGet)), mibPerSec: median(s.map((x) => x.mibPerSec)),
          gets: s.reduce((a, x) => a + x.gets, 0),
        });
      }
    }
  } finally {
    for (const v of variants) await v.close();
    child.disconnect();
  }

  console.log(`\nS3 transports, ${IN_FLIGHT} GETs in flight, ${rounds} round(s) of ${seconds} s each, SHA-256 of every body checked (load ${fmt(load0, 1)} → ${fmt(loadavg()[0] ?? 0, 1)})\n`);
  console.log('| size | client | GETs/s (median) | range | MiB/s | client CPU ms/GET |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${String(r['size'])} | ${String(r['client'])} | ${fmt(r['getsPerSec'] as number)} | ${fmt(r['getsPerSecMin'] as number)}–${fmt(r['getsPerSecMax'] as number)} | ${fmt(r['mibPerSec'] as number, 1)} | ${fmt(r['cpuMsPerGet'] as number, 3)} |`);
  }
  if (jsonFile !== undefined) writeFileSync(jsonFile, `${JSON.stringify({ inFlight: IN_FLIGHT, seconds, rounds, results }, null, 2)}\n`);
}

if (process.argv[2] === '--stub') await runStub(process.argv.slice(3).map(Number));
else {
  guardBenchProcess(import.meta.url);
  flags = readFlags('bench:transport', {
    quick: 'flag', seconds: 'positive', rounds: 'whole', json: 'text', sizes: { oneOf: ['4KiB', '1MiB'] },
    only: { oneOf: ['node:http', 'undici', 'onread', 'lean', 'lean into', 'sdk', 'raw node:http', 'raw undici', 'raw onread'] },
  });
  await main();
}
