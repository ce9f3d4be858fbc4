/**
 * The peer benchmark's floor rows (`--floor-variant`): not a product, a measuring stick. A bare
 * Node program that does only what readpath's contract for `batch --out` cannot do without, in
 * as few steps as Node allows, so the rows say how far below rclone any Node implementation of
 * that contract would sit on this machine, and how far readpath is above that floor.
 *
 * - `contract`: per key, the key's rows from the SQLite `object_locations` file (its own
 *   read-only connection in each thread), the first copy by `created_at`, a GET signed with
 *   readpath's SigV4 signer (`src/backends/s3-signer.ts`, its key cached), the body's size and
 *   SHA-256 compared with the row's, then written to a temporary file beside its target and
 *   renamed over it. No failover, breakers, usage limits, deadlines, metrics, outcome lines or
 *   coordinator: work split round-robin over `threads` worker threads, each with its own
 *   connections per backend (readpath's own HTTP/1.1 client, src/backends/raw-http.ts, the
 *   body read straight into a buffer each lane reuses: cheaper than undici here),
 *   `inflight / threads` reads in flight each.
 * - `receive`: per key, an unsigned GET from the backends in turn, the body counted and
 *   dropped: what receiving the bytes alone costs Node here, with no lookup, signature, hash or
 *   file.
 *
 * The threads' work is floor-thread.ts, run in a piscina pool (one task per thread). Run as a child
 * process: `node floor-client.js PLAN.json`. Exits 0 after every key was read
 * (and, for `contract`, verified and written), printing `N objects, B bytes` on stdout; exits 1
 * at the first failure, naming the key.
 */
import { readFileSync } from 'node:fs';
import { Piscina } from 'piscina';
import { siblingModule } from '../../src/sibling-module.js';
import type { Done, ThreadData } from './floor-thread.js';

/** What the floor client is told to do (the JSON file it is given). */
export interface FloorPlan {
  mode: 'contract' | 'receive';
  /** The key file: one key per line. */
  keys: string;
  /** The SQLite file of `object_locations` (`contract` only). */
  db: string;
  /** The directory the bodies go under (`contract` only). */
  out: string;
  threads: number;
  /** Reads in flight in all, split over the threads. */
  inflight: number;
  backends: { name: string; endpoint: string; bucket: string }[];
  accessKeyId: string;
  secretAccessKey: string;
}

/** Split the plan's keys over its threads and wait for them all. */
async function runPlan(plan: FloorPlan): Promise<Done> {
  const keys = readFileSync(plan.keys, 'utf8').split('\n').filter((k) => k !== '');
  const threads = Math.max(1, plan.threads);
  const parts = Array.from({ length: threads }, (_, t) => keys.filter((_k, i) => i % threads === t));
  const pool = new Piscina<ThreadData, Done>({
    filename: siblingModule(import.meta.url, './floor-thread').href, minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1, atomics: 'disabled',
  });
  try {
    const results = await Promise.all(parts.map((part) => pool.run({ plan, keys: part })));
    const error = results.find((r) => r.error !== undefined)?.error;
    return { objects: results.reduce((n, r) => n + r.objects, 0), bytes: results.reduce((n, r) => n + r.bytes, 0), ...(error === undefined ? {} : { error }) };
  } finally {
    await pool.destroy();
  }
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: floor-client PLAN.json\n');
  process.exit(2);
}
const done = await runPlan(JSON.parse(readFileSync(file, 'utf8')) as FloorPlan);
process.stdout.write(`${done.objects} objects, ${done.bytes} bytes\n`);
if (done.error !== undefined) {
  process.stderr.write(`floor: ${done.error}\n`);
  process.exitCode = 1;
}
