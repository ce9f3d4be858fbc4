/**
 * The `s3` world: s3rver backends behind latency proxies, run in a child process (see
 * s3-fleet-process.ts), read over the real S3 protocol with readpath's S3Backend, and a plain
 * @aws-sdk/client-s3 client for the `direct:NAME` baseline.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ReadPathError } from '../../src/errors.js';
import { S3Backend, type S3BackendOptions } from '../../src/backends/s3-backend.js';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';
import type { BackendModel } from './latency-spec.js';
import type { FleetReply, FleetRequest } from './s3-fleet-process.js';

const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';
const BUCKET = 'bench';

/** A running s3 world. */
export interface S3World {
  readonly names: readonly string[];
  /** readpath backends, b1..bN, through the latency proxies. */
  readonly backends: readonly S3Backend[];
  /** Backend options (for executors that build their own clients, e.g. a worker pool). */
  readonly backendOptions: readonly S3BackendOptions[];
  /** Requests each backend's proxy has received so far. */
  requestCounts(): Promise<number[]>;
  /** A plain SDK GET of `key` from backend `name`, body read in full; resolves with its size. */
  directGet(name: string, key: string): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link startS3World}. */
export interface S3WorldOptions {
  models: readonly BackendModel[];
  seed: number;
  /** Every key the bench will read (seeded on every backend). */
  keys: readonly string[];
  objectSize: number;
}

function childEntry(): { file: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./s3-fleet-process.js', import.meta.url));
  // Run from dist, the .js exists; run through tsx from src, only the .ts does (and tsx's
  // --import flag, inherited through execArgv, loads it).
  const file = existsSync(js) ? js : js.replace(/\.js$/, '.ts');
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));
  return { file, execArgv };
}

class FleetChild {
  readonly #child: ChildProcess;
  #waiting: { type: FleetReply['type']; resolve: (m: FleetReply) => void; reject: (e: unknown) => void } | undefined;
  #exited = false;

  constructor() {
    const { file, execArgv } = childEntry();
    this.#child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (m: FleetReply) => {
      const w = this.#waiting;
      if (w === undefined) return;
      this.#waiting = undefined;
      if (m.type === 'error') w.reject(new ReadPathError('BACKEND_ERROR', `s3 bench world: ${m.message}`));
      else w.resolve(m);
    });
    this.#child.on('exit', (code) => {
      this.#exited = true;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(new ReadPathError('BACKEND_ERROR', `s3 bench world: fleet process exited (${code ?? 'signal'})`));
    });
  }

  ask<K extends FleetReply['type']>(req: FleetRequest, type: K): Promise<Extract<FleetReply, { type: K }>> {
    if (this.#exited) return Promise.reject(new ReadPathError('BACKEND_ERROR', 's3 bench world: fleet process is gone'));
    return new Promise((resolve, reject) => {
      this.#waiting = { type, resolve: resolve as (m: FleetReply) => void, reject };
      this.#child.send(req);
    });
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    try {
      await this.ask({ type: 'close' }, 'closed');
    } catch {
      // Already going away.
    }
    if (!this.#exited) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Start the fleet, seed `keys` on every backend, and connect clients. */
export async function startS3World(opts: S3WorldOptions): Promise<S3World> {
  const child = new FleetChild();
  let endpoints: string[];
  try {
    const ready = await child.ask(
      { type: 'start', models: [...opts.models], seed: opts.seed, bucket: BUCKET, keys: [...opts.keys], objectSize: opts.objectSize, accessKey: ACCESS_KEY, secretKey: SECRET_KEY },
      'ready',
    );
    endpoints = ready.endpoints;
  } catch (err) {
    await child.close();
    throw err;
  }
  const names = opts.models.map((m) => m.name);
  const backendOptions: S3BackendOptions[] = names.map((name, i) => ({
    name,
    endpoint: endpoints[i] as string,
    region: 'us-east-1',
    bucket: BUCKET,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    forcePathStyle: true,
  }));
  await S3Backend.preload();
  const backends = backendOptions.map((o) => new S3Backend(o));
  const direct = new Map<string, { client: S3Client; agent: http.Agent }>();
  const directClient = (name: string): S3Client => {
    let d = direct.get(name);
    if (d === undefined) {
      const i = names.indexOf(name);
      if (i < 0) throw new ReadPathError('INVALID_CONFIG', `no backend ${name}`);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
      // The same client settings readpath's S3Backend uses: the baseline differs only by readpath.
      const client = withoutSdkNodeVersionWarning(
        () =>
          new S3Client({
            endpoint: endpoints[i],
            region: 'us-east-1',
            forcePathStyle: true,
            credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
            maxAttempts: 1,
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
            cacheMiddleware: true,
            requestHandler: new NodeHttpHandler({ httpAgent: agent }),
          }),
      );
      d = { client, agent };
      direct.set(name, d);
    }
    return d.client;
  };
  let closed = false;
  return {
    names,
    backends,
    backendOptions,
    async requestCounts() {
      return (await child.ask({ type: 'counts' }, 'counts')).counts;
    },
    async directGet(name, key) {
      const out = await directClient(name).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const bytes = await out.Body?.transformToByteArray();
      return bytes?.byteLength ?? 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const d of direct.values()) {
        d.client.destroy();
        d.agent.destroy();
      }
      await Promise.all(backends.map((b) => b.close()));
      await child.close();
    },
  };
}
