/**
 * The child-process side of the peer benchmark's S3 stub (see stub-fleet.ts): generates one
 * data set in memory, serves it from one HTTP server per backend (each with its own bucket) on
 * 127.0.0.1, and reports the endpoints and every object's key, size and SHA-256 over IPC.
 * Exits when the parent disconnects or sends `{ type: 'stop' }`.
 */
import { createHash, randomFillSync } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { createS3Stub, type StubObject } from './s3-stub.js';
import type { StubReply, StubRequest } from './stub-fleet.js';
import { reportToBench } from '../child-report.js';

const servers: http.Server[] = [];

const send = (msg: StubReply): void => reportToBench(msg);

/** Key of object `i` of a data set: 100 directories, so every tool creates a few. */
function objectKey(set: string, i: number): string {
  return `${set}/${String(i % 100).padStart(2, '0')}/${String(i).padStart(6, '0')}.bin`;
}

async function start(req: StubRequest): Promise<void> {
  if (req.nice !== undefined && req.nice !== 0) os.setPriority(req.nice);
  // One allocation for the whole set; each object is a view of it.
  const all = Buffer.allocUnsafeSlow(req.count * req.size);
  randomFillSync(all);
  const objects: StubObject[] = [];
  const listed: StubReply & { type: 'ready' } = { type: 'ready', endpoints: [], objects: [] };
  for (let i = 0; i < req.count; i++) {
    const body = all.subarray(i * req.size, (i + 1) * req.size);
    const key = objectKey(req.set, i);
    objects.push({ key, body });
    listed.objects.push({ key, size: req.size, sha256: createHash('sha256').update(body).digest('hex') });
  }
  for (const bucket of req.buckets) {
    const server = http.createServer({ keepAliveTimeout: 60_000 }, createS3Stub(bucket, objects));
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    servers.push(server);
    listed.endpoints.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  }
  send(listed);
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  process.exit(0);
}

process.on('SIGINT', () => {});
process.on('disconnect', stop);
process.on('message', (m: unknown) => {
  const msg = m as { type?: string };
  if (msg.type === 'stop') return stop();
  if (msg.type === 'start') {
    start(m as StubRequest).catch((err: unknown) => {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exit(1);
    });
  }
});
