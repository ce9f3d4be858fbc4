/**
 * A fleet of local S3 servers for integration tests: N s3rver instances (each its own temp
 * directory and port) on 127.0.0.1, each behind a {@link FaultProxy}. Clients use the proxy's
 * URL (`endpoint`); `directEndpoint` bypasses the faults (the fleet seeds through it).
 *
 *   const fleet = await startS3Fleet({ count: 3 });
 *   await fleet.seed('k', bytes, ['b1', 'b2']);
 *   fleet.backend('b1').proxy.failNext(1, { kind: 'slowdown' });
 *   await fleet.stop('b2');  // connections now refused; fleet.start('b2') brings it back
 *   await fleet.close();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import http from 'node:http';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';
import type { S3BackendOptions } from '../../src/backends/s3-backend.js';
import { FaultProxy } from './fault-proxy.js';

/** s3rver's built-in credentials. */
export const S3RVER_ACCESS_KEY = 'S3RVER';
export const S3RVER_SECRET_KEY = 'S3RVER';
const HOST = '127.0.0.1';
const REGION = 'us-east-1';

/** One backend of the fleet. */
export interface FleetBackend {
  name: string;
  /** The fault proxy's URL: what clients should use. */
  endpoint: string;
  /** The s3rver's own URL, bypassing the proxy. */
  directEndpoint: string;
  proxy: FaultProxy;
  /** The s3rver's storage directory. */
  directory: string;
}

/** A backend entry in API.md's `backends[]` config shape. */
export interface FleetBackendConfig {
  name: string;
  endpoint: string;
  region: string;
  bucket: string;
  access_key_id: string;
  secret_access_key: string;
  force_path_style: boolean;
}

/** Options for {@link startS3Fleet}. */
export interface S3FleetOptions {
  /** Number of backends, named b1..bN; ignored when `names` is given. Default 3. */
  count?: number;
  names?: string[];
  /** Bucket created on every backend. Default `data`. */
  bucket?: string;
}

/** A running fleet. */
export interface S3Fleet {
  readonly bucket: string;
  readonly backends: readonly FleetBackend[];
  backend(name: string): FleetBackend;
  /** The backend in API.md config shape (snake_case keys). */
  backendConfig(name: string): FleetBackendConfig;
  /** The backend as {@link S3BackendOptions}, with `extra` merged in. */
  backendOptions(name: string, extra?: Partial<S3BackendOptions>): S3BackendOptions;
  /** Put `bytes` under `key` on the named backends (default: all). */
  seed(key: string, bytes: Uint8Array | string, backends?: readonly string[]): Promise<void>;
  /** Delete `key` from the named backends (default: all). */
  remove(key: string, backends?: readonly string[]): Promise<void>;
  /** Take a backend down: its proxy stops listening (ECONNREFUSED) and its s3rver stops. */
  stop(name: string): Promise<void>;
  /** Bring a stopped backend back on the same ports with the same data. */
  start(name: string): Promise<void>;
  /** Stop everything and remove the temp directories. Idempotent. */
  close(): Promise<void>;
}

interface Member extends FleetBackend {
  server: S3rver | undefined;
  serverPort: number;
  seeder: S3Client;
  seederAgent: http.Agent;
}

async function runServer(directory: string, port: number, bucket: string): Promise<{ server: S3rver; port: number }> {
  const server = new S3rver({
    address: HOST,
    port,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const addr = await server.run();
  return { server, port: addr.port };
}

async function stopServer(server: S3rver): Promise<void> {
  const closed = server.close();
  server.httpServer?.closeAllConnections();
  await closed;
}

/** Start a fleet of s3rver backends behind fault proxies. */
export async function startS3Fleet(options: S3FleetOptions = {}): Promise<S3Fleet> {
  const bucket = options.bucket ?? 'data';
  const names = options.names ?? Array.from({ length: options.count ?? 3 }, (_, i) => `b${i + 1}`);
  const members: Member[] = [];
  let closed = false;

  const startMember = async (name: string): Promise<Member> => {
    const directory = await mkdtemp(path.join(os.tmpdir(), `readpath-s3rver-${name}-`));
    const { server, port } = await runServer(directory, 0, bucket);
    const proxy = await FaultProxy.start({ upstreamPort: port });
    const directEndpoint = `http://${HOST}:${port}`;
    const seederAgent = new http.Agent({ keepAlive: true });
    const seeder = withoutSdkNodeVersionWarning(
      () =>
        new S3Client({
          endpoint: directEndpoint,
          region: REGION,
          forcePathStyle: true,
          credentials: { accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY },
          maxAttempts: 1,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          requestHandler: new NodeHttpHandler({ httpAgent: seederAgent }),
        }),
    );
    return { name, endpoint: proxy.url, directEndpoint, proxy, directory, server, serverPort: port, seeder, seederAgent };
  };

  const closeMember = async (m: Member): Promise<void> => {
    m.seeder.destroy();
    m.seederAgent.destroy();
    await m.proxy.close();
    if (m.server !== undefined) await stopServer(m.server);
    m.server = undefined;
    await rm(m.directory, { recursive: true, force: true });
  };

  try {
    members.push(...(await Promise.all(names.map(startMember))));
  } catch (err) {
    await Promise.allSettled(members.map(closeMember));
    throw err;
  }

  const member = (name: string): Member => {
    const m = members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no fleet backend named ${name}`);
    return m;
  };
  const pick = (list: readonly string[] | undefined): Member[] => (list ?? names).map(member);

  return {
    bucket,
    backends: members,
    backend: member,
    backendConfig(name) {
      const m = member(name);
      return {
        name,
        endpoint: m.endpoint,
        region: REGION,
        bucket,
        access_key_id: S3RVER_ACCESS_KEY,
        secret_access_key: S3RVER_SECRET_KEY,
        force_path_style: true,
      };
    },
    backendOptions(name, extra = {}) {
      const m = member(name);
      return {
        name,
        endpoint: m.endpoint,
        region: REGION,
        bucket,
        accessKeyId: S3RVER_ACCESS_KEY,
        secretAccessKey: S3RVER_SECRET_KEY,
        forcePathStyle: true,
        ...extra,
      };
    },
    async seed(key, bytes, backends) {
      const body = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      await Promise.all(pick(backends).map(async (m) => {
        await m.seeder.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        // s3rver answers a PUT once the body has passed through it, not once its file is written
        // (filesystem store: it resolves on the hashing transform's 'finish'), and serves the
        // file's current size: a GET right after can read a short or empty object. Wait until
        // the file is whole (its size is what HEAD reports).
        for (let i = 0; ; i++) {
          const h = await m.seeder.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          if (h.ContentLength === body.byteLength) break;
          if (i >= 2000) throw new Error(`seed ${m.name}/${key}: s3rver still holds ${String(h.ContentLength)} of ${body.byteLength} bytes`);
          await new Promise((r) => setTimeout(r, 2));
        }
      }));
    },
    async remove(key, backends) {
      await Promise.all(pick(backends).map((m) => m.seeder.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))));
    },
    async stop(name) {
      const m = member(name);
      await m.proxy.stop();
      // The seeder's idle sockets would otherwise meet the restarted server as resets.
      m.seederAgent.destroy();
      if (m.server !== undefined) await stopServer(m.server);
      m.server = undefined;
    },
    async start(name) {
      const m = member(name);
      if (m.server === undefined) m.server = (await runServer(m.directory, m.serverPort, bucket)).server;
      await m.proxy.start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled(members.map(closeMember));
    },
  };
}
