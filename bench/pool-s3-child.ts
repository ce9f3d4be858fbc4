/**
 * The S3 side of bench/pool.bench.ts, in its own process so the servers' CPU stays off the
 * measured event loop, seeded with random objects of the requested sizes:
 * - `s3rver`: s3rver instances (no proxy). s3rver spends several ms of CPU per GET (Koa, disk,
 *   signature checks), so on a small machine it, not the client, bounds throughput;
 * - `stub`: a minimal S3-compatible GET/HEAD responder serving the objects from memory (~0.1 ms
 *   per request), so throughput is bound by the client — what the executors are compared on.
 * Driven over IPC; exits when the parent disconnects.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { withoutSdkNodeVersionWarning } from '../src/backends/sdk-warning.js';
import { reportToBench } from './child-report.js';

/** Parent → child. */
export interface StartRequest { type: 'start'; kind: 's3rver' | 'stub'; backends: string[]; bucket: string; objects: { key: string; size: number }[] }
/** Child → parent. */
export type ChildReply = { type: 'ready'; endpoints: string[]; hashes: Record<string, string> } | { type: 'error'; message: string };

const servers: { server: S3rver; directory: string }[] = [];
const stubs: http.Server[] = [];

/** Answer GET/HEAD `/bucket/key` from memory with the headers the SDK reads. */
async function startStub(bucket: string, bodies: Map<string, { body: Buffer; etag: string }>): Promise<string> {
  const lastModified = new Date().toUTCString();
  const server = http.createServer((req, res) => {
    const prefix = `/${bucket}/`;
    const path = (req.url ?? '').split('?')[0] ?? '';
    const o = path.startsWith(prefix) ? bodies.get(decodeURIComponent(path.slice(prefix.length))) : undefined;
    if (o === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
      return;
    }
    res.writeHead(200, { 'content-length': o.body.byteLength, 'content-type': 'application/octet-stream', etag: o.etag, 'last-modified': lastModified });
    res.end(req.method === 'HEAD' ? undefined : o.body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stubs.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function start(req: StartRequest): Promise<void> {
  const endpoints: string[] = [];
  const bodies = req.objects.map((o) => ({ key: o.key, body: randomBytes(o.size) }));
  const hashes: Record<string, string> = {};
  for (const b of bodies) hashes[b.key] = createHash('sha256').update(b.body).digest('hex');
  if (req.kind === 'stub') {
    const map = new Map(bodies.map((b) => [b.key, { body: b.body, etag: `"${(hashes[b.key] as string).slice(0, 32)}"` }]));
    for (const _ of req.backends) endpoints.push(await startStub(req.bucket, map));
    reportToBench({ type: 'ready', endpoints, hashes } satisfies ChildReply);
    return;
  }
  for (const name of req.backends) {
    const directory = await mkdtemp(path.join(os.tmpdir(), `readpath-poolbench-${name}-`));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: req.bucket }] });
    const { port } = await server.run();
    servers.push({ server, directory });
    const endpoint = `http://127.0.0.1:${port}`;
    endpoints.push(endpoint);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const client = withoutSdkNodeVersionWarning(() => new S3Client({
      endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    }));
    let next = 0;
    const put = async (): Promise<void> => {
      while (next < bodies.length) {
        const b = bodies[next++] as { key: string; body: Buffer };
        await client.send(new PutObjectCommand({ Bucket: req.bucket, Key: b.key, Body: b.body }));
      }
    };
    await Promise.all(Array.from({ length: 8 }, put));
    client.destroy();
    agent.destroy();
  }
  reportToBench({ type: 'ready', endpoints, hashes } satisfies ChildReply);
}

async function close(): Promise<void> {
  for (const s of stubs.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  for (const s of servers.splice(0)) {
    const closed = s.server.close();
    s.server.httpServer?.closeAllConnections();
    await closed;
    await rm(s.directory, { recursive: true, force: true });
  }
}

process.on('message', (m: StartRequest) => {
  start(m).catch((err: unknown) => reportToBench({ type: 'error', message: String((err as Error)?.stack ?? err) } satisfies ChildReply));
});
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
