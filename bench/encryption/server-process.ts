/**
 * The encryption bench's S3 stand-in, in a process of its own (at nice 10 when allowed, so it
 * stands for a remote machine and its CPU is not the reader's): it makes one random plaintext
 * of `size` bytes and its encrypted form, and serves both from memory — `data/plain.bin` and
 * `data/enc.bin` — as a minimal S3-compatible GET/HEAD responder (path style, `Range:
 * bytes=a-b` / `a-` / `-n`, no signature check). A whole GET is one `res.end(buffer)`: the
 * server does no per-chunk work, so both objects cost it the same.
 *
 * {@link startEncryptionServer} forks this file and resolves with the URL and both rows' columns.
 * Given a directory, it also serves every file in it, read into memory at start, as
 * `data/<file name>` (the compression bench's objects).
 */
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encryptForRow } from './encode.js';
import { reportToBench } from '../child-report.js';

export const BUCKET = 'data';
export const PLAIN_KEY = 'plain.bin';
export const ENC_KEY = 'enc.bin';

/** What the server holds, as the rows describe it (bytes as hex: IPC is JSON). */
export interface ServedObjects {
  url: string;
  plain: { sizeBytes: number; contentHash: string };
  enc: { sizeBytes: number; plaintextSize: number; contentHash: string; encryptionKeyHex: string; keyId: string };
  /** The server process's niceness was raised. */
  niced: boolean;
}

/** The running server, seen from the bench. */
export interface EncryptionServer extends ServedObjects {
  /** CPU time (ms, user + system) the server process used so far. */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Fork the server: `size` plaintext bytes, encrypted under `masterKey` in chunks of `chunkSize`;
 * and the files in `filesDir`, when given.
 */
export async function startEncryptionServer(size: number, masterKey: Uint8Array, chunkSize: number, filesDir?: string): Promise<EncryptionServer> {
  const args = [String(size), Buffer.from(masterKey).toString('base64'), String(chunkSize), ...(filesDir === undefined ? [] : [filesDir])];
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let waiting: ((v: unknown) => void) | undefined;
  const ready = new Promise<ServedObjects>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServedObjects));
    child.once('exit', (code) => reject(new Error(`encryption server exited with ${code}`)));
  });
  const served = await ready;
  child.on('message', (m) => {
    const w = waiting;
    waiting = undefined;
    w?.(m);
  });
  return {
    ...served,
    cpuMs: () => new Promise<number>((resolve) => {
      waiting = (m) => resolve((m as { cpuMs: number }).cpuMs);
      child.send({ op: 'cpu' });
    }),
    close: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      await exited;
    },
  };
}

function parseRange(h: string | undefined, size: number): [number, number] | undefined | 'bad' {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  let a: number;
  let b: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'bad';
    a = Math.max(0, size - n);
    b = size - 1;
  } else {
    a = Number(m[1]);
    b = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return a >= size || b < a ? 'bad' : [a, b];
}

async function serve(size: number, masterKey: Buffer, chunkSize: number, filesDir: string | undefined): Promise<void> {
  const plain = randomBytes(size);
  const row = encryptForRow(plain, { masterKey, chunkSize });
  const md5 = (b: Buffer): string => `"${createHash('md5').update(b).digest('hex')}"`;
  const objects = new Map<string, { body: Buffer; etag: string }>([
    [`/${BUCKET}/${PLAIN_KEY}`, { body: plain, etag: md5(plain) }],
    [`/${BUCKET}/${ENC_KEY}`, { body: row.body, etag: md5(row.body) }],
  ]);
  for (const name of filesDir === undefined ? [] : readdirSync(filesDir)) {
    const body = readFileSync(path.join(filesDir ?? '', name));
    objects.set(`/${BUCKET}/${name}`, { body, etag: md5(body) });
  }
  const lastModified = new Date().toUTCString();
  const server = http.createServer((req, res) => {
    req.resume();
    const o = objects.get(decodeURIComponent((req.url ?? '').split('?', 1)[0] ?? ''));
    if (o === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      return;
    }
    const total = o.body.length;
    const r = parseRange(req.headers.range, total);
    if (r === 'bad') {
      res.writeHead(416, { 'content-type': 'application/xml', 'content-range': `bytes */${total}` }).end('<?xml version="1.0"?><Error><Code>InvalidRange</Code><Message>no</Message></Error>');
      return;
    }
    const [a, b] = r ?? [0, total - 1];
    res.writeHead(r === undefined ? 200 : 206, {
      'content-length': b - a + 1, 'content-type': 'application/octet-stream', etag: o.etag, 'last-modified': lastModified, 'accept-ranges': 'bytes',
      ...(r === undefined ? {} : { 'content-range': `bytes ${a}-${b}/${total}` }),
    });
    res.end(req.method === 'HEAD' ? undefined : o.body.subarray(a, b + 1));
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let niced = true;
  try {
    setPriority(10);
  } catch {
    niced = false; // not allowed here: the server competes at equal priority
  }
  const served: ServedObjects = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    plain: { sizeBytes: size, contentHash: row.contentHash },
    enc: { sizeBytes: row.sizeBytes, plaintextSize: row.plaintextSize, contentHash: row.contentHash, encryptionKeyHex: row.encryptionKey.toString('hex'), keyId: row.keyId },
    niced,
  };
  process.on('message', (m: { op: string }) => {
    if (m.op !== 'cpu') return;
    const u = process.cpuUsage();
    process.send?.({ cpuMs: (u.user + u.system) / 1000 });
  });
  listening = server;
  reportToBench(served);
}

/** The server, once it listens: the bench going away closes it. */
let listening: http.Server | undefined;

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  // Before the objects are made (seconds for large ones), so a bench stopped meanwhile is seen.
  process.on('disconnect', () => {
    if (listening === undefined) process.exit(0);
    listening.closeAllConnections();
    listening.close(() => process.exit(0));
  });
  const [size, key, cs, dir] = process.argv.slice(2);
  await serve(Number(size), Buffer.from(key ?? '', 'base64'), Number(cs), dir);
}
