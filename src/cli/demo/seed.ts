/**
 * Seeding the demo: deterministic objects PUT on their replicas, and their rows (with SHA-256
 * content hashes) written to the SQLite metadata database, as s3-orchestrator would have
 * recorded them after a write.
 *
 * The PUTs are plain unsigned HTTP requests, which s3rver accepts: seeding is not what the demo
 * shows, and skipping the SDK's request signing halves the time it takes on a small machine.
 */
import http from 'node:http';
import { sha256Hex } from '../../probe/probes.js';
import type { SqliteMetadataStore } from '../../stores/sqlite-store.js';
import type { ObjectLocation } from '../../types.js';

/** One seeded object. */
export interface DemoObject {
  key: string;
  /** Backends holding a copy, in stored (created_at) order: the first is tried first. */
  replicas: string[];
  size: number;
}

/** Where the seeder puts objects. */
export interface SeedTarget {
  name: string;
  endpoint: string;
}

/** Options of {@link seedDemo}. */
export interface SeedOptions {
  objects: number;
  /** Copies per object (<= backends). */
  replicas: number;
  backends: readonly SeedTarget[];
  bucket: string;
  store: SqliteMetadataStore;
  /** PUTs in flight. Default 24. */
  concurrency?: number;
  /** Stops seeding (rejecting with its reason). */
  signal?: AbortSignal;
}

/** The demo's key for object `i`. */
export function demoKey(i: number): string {
  return `demo/${String(Math.floor(i / 1000)).padStart(2, '0')}/object-${String(i).padStart(5, '0')}.txt`;
}

/** The demo's body for object `i`: a few hundred bytes to a few KiB, different per key. */
export function demoBody(i: number): Uint8Array {
  const line = `readpath demo object ${i}: replicated, verified, failed over.\n`;
  const repeats = 4 + ((i * 7919) % 40);
  return new TextEncoder().encode(line.repeat(repeats));
}

/**
 * Which backends hold object `i`: replicas rotate over the backends, so each backend is the
 * first copy of an equal share of the objects (and stopping one makes that share fail over).
 */
export function demoReplicas(i: number, backendNames: readonly string[], replicas: number): string[] {
  const n = backendNames.length;
  return Array.from({ length: Math.min(replicas, n) }, (_, r) => backendNames[(i + r) % n] as string);
}

function put(agent: http.Agent, endpoint: string, bucket: string, key: string, body: Uint8Array): Promise<void> {
  const url = new URL(`/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', agent, headers: { 'content-length': body.byteLength, 'content-type': 'text/plain' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) resolve();
        else reject(new Error(`seeding ${key} on ${endpoint}: HTTP ${String(res.statusCode)}`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Put every object on its replicas and record the locations; returns what was seeded. */
export async function seedDemo(opts: SeedOptions): Promise<DemoObject[]> {
  const names = opts.backends.map((b) => b.name);
  const endpoints = new Map(opts.backends.map((b) => [b.name, b.endpoint]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 24 });
  const seeded: DemoObject[] = [];
  const rows: ObjectLocation[] = [];
  const base = Date.UTC(2025, 0, 1);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        opts.signal?.throwIfAborted();
        const i = next++;
        if (i >= opts.objects) return;
        const key = demoKey(i);
        const body = demoBody(i);
        const hash = sha256Hex(body);
        const replicas = demoReplicas(i, names, opts.replicas);
        for (const [r, name] of replicas.entries()) {
          await put(agent, endpoints.get(name) as string, opts.bucket, key, body);
          // created_at orders the copies: the first replica is the one reads try first.
          rows.push({ objectKey: key, backendName: name, sizeBytes: body.byteLength, createdAt: new Date(base + i * 10 + r), encrypted: false, contentHash: hash });
        }
        seeded.push({ key, replicas, size: body.byteLength });
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 24 }, worker));
    await opts.store.addLocations(rows);
  } finally {
    agent.destroy();
  }
  seeded.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return seeded;
}
