/**
 * The child process of the s3 bench world: s3rver instances, each behind a LatencyProxy, seeded
 * with the bench objects. It runs in its own process so the servers' CPU does not share the
 * measured client's event loop (real backends live on other machines). Driven over IPC by
 * s3-world.ts; exits when its parent disconnects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';
import { LatencyProxy } from './latency-proxy.js';
import type { BackendModel } from './latency-spec.js';
import { reportToBench } from '../child-report.js';

/** Messages from the parent. */
export type FleetRequest =
  | { type: 'start'; models: BackendModel[]; seed: number; bucket: string; keys: string[]; objectSize: number; accessKey: string; secretKey: string }
  | { type: 'counts' }
  | { type: 'close' };

/** Messages to the parent. */
export type FleetReply =
  | { type: 'ready'; endpoints: string[] }
  | { type: 'counts'; counts: number[] }
  | { type: 'closed' }
  | { type: 'error'; message: string };

interface Member {
  server: { close(): Promise<void>; httpServer?: http.Server };
  proxy: LatencyProxy;
  directory: string;
}

const members: Member[] = [];

function reply(m: FleetReply): void {
  reportToBench(m);
}

async function start(req: Extract<FleetRequest, { type: 'start' }>): Promise<void> {
  let S3rver: typeof import('s3rver');
  try {
    S3rver = (await import('s3rver')).default;
  } catch (err) {
    throw new Error(`the s3 bench world needs the s3rver package (npm install s3rver): ${(err as Error).message}`, { cause: err });
  }
  for (const [index, model] of req.models.entries()) {
    const directory = await mkdtemp(path.join(os.tmpdir(), `readpath-bench-${model.name}-`));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: req.bucket }] });
    const addr = await server.run();
    const proxy = await LatencyProxy.start({ upstreamPort: addr.port, model, index, seed: req.seed });
    members.push({ server, proxy, directory });
    await seed(addr.port, req);
  }
  reply({ type: 'ready', endpoints: members.map((m) => m.proxy.url) });
}

async function seed(port: number, req: Extract<FleetRequest, { type: 'start' }>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const client = withoutSdkNodeVersionWarning(
    () =>
      new S3Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: req.accessKey, secretAccessKey: req.secretKey },
        maxAttempts: 1,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: new NodeHttpHandler({ httpAgent: agent }),
      }),
  );
  const body = Buffer.alloc(req.objectSize, 0x61);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < req.keys.length) {
      const key = req.keys[next++] as string;
      await client.send(new PutObjectCommand({ Bucket: req.bucket, Key: key, Body: body }));
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    client.destroy();
    agent.destroy();
  }
}

async function close(): Promise<void> {
  for (const m of members.splice(0)) {
    await m.proxy.close();
    const closed = m.server.close();
    m.server.httpServer?.closeAllConnections();
    await closed;
    await rm(m.directory, { recursive: true, force: true });
  }
}

process.on('message', (msg: FleetRequest) => {
  const run = async (): Promise<void> => {
    switch (msg.type) {
      case 'start':
        await start(msg);
        return;
      case 'counts':
        reply({ type: 'counts', counts: members.map((m) => m.proxy.requests) });
        return;
      case 'close':
        await close();
        reply({ type: 'closed' });
        process.disconnect?.();
        return;
    }
  };
  run().catch((err: unknown) => reply({ type: 'error', message: (err as Error)?.message ?? String(err) }));
});

// Ctrl-C reaches the whole foreground process group: dying of it here would leave the s3rver
// directories behind. The bench's own exit closes the channel, and then the fleet cleans up.
process.on('SIGINT', () => {});

// An orphaned fleet must not outlive the bench.
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
