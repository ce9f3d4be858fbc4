/**
 * A child process for exit.test.ts: opens a ReadPath, works it hard (reads, failovers, an
 * aborted batch with probes that never answer, a metadata outage), calls close() and then simply
 * falls off the end. It must exit by itself: any socket, timer, worker, port or database handle
 * left behind keeps it alive, and the parent fails the test when it has to kill it.
 *
 *   READPATH_EXIT_MODE=memory|sqlite-fleet|postgres READPATH_EXIT_CONFIG='{…}' node --import tsx test/soak/exit-child.ts
 *
 * Prints `closed` once close() resolved; 3 s later (if still alive) it prints what is keeping
 * it alive, through an unref'd timer that cannot itself hold the process.
 */
import assert from 'node:assert/strict';
import { ReadPath, type BatchOutcome } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import type { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { GetResult, HeadResult, ObjectLocation } from '../../src/types.js';
import { installWorkerSpy, liveWorkers } from '../helpers/chaos-workers.js';

/** What the parent hands over. */
export interface ExitChildConfig {
  config: ReadPathConfig;
  /** Pool runs: terminate a worker thread in the middle of the first batch. */
  killWorker?: boolean;
  /** Keys the parent seeded on the fleet (sqlite-fleet, postgres): key → backends holding it. */
  seeded?: Record<string, string[]>;
  /** Keys whose first copy hangs (the parent told the proxy). */
  hanging?: string[];
}

const mode = process.env.READPATH_EXIT_MODE ?? 'memory';
const input = JSON.parse(process.env.READPATH_EXIT_CONFIG ?? '{}') as ExitChildConfig;
if (input.killWorker === true) installWorkerSpy();
const log = (m: string): void => {
  process.stdout.write(`${m}\n`);
};

/** A backend whose every call hangs and ignores its signal. */
class BlackHole extends MemoryBackend {
  override head(): Promise<HeadResult> {
    return new Promise<never>(() => {});
  }

  override get(): Promise<GetResult> {
    return new Promise<never>(() => {});
  }
}

async function drain(it: AsyncIterable<BatchOutcome>, killAt = -1): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for await (const o of it) {
    out.push(o);
    if (out.length === killAt) {
      const w = liveWorkers()[0];
      assert.ok(w !== undefined, 'a pool worker to kill');
      await w.terminate();
    }
  }
  return out;
}

/** Abort a batch after its first outcome, while probes are stuck; expect ABORTED. */
async function abortedBatch(rp: ReadPath, keys: string[]): Promise<void> {
  const ac = new AbortController();
  let n = 0;
  await assert.rejects((async () => {
    for await (const _ of rp.readMany(keys, { signal: ac.signal, concurrency: 8 })) if (++n === 1) ac.abort(new Error('enough'));
  })(), { code: 'ABORTED' });
}

/** Ask the parent to do something (stop/start the database) and wait for its answer. */
function ask(t: string): Promise<void> {
  return new Promise((resolve) => {
    process.once('message', () => resolve());
    process.send?.({ t });
  });
}

async function memory(): Promise<void> {
  const backends = [new MemoryBackend('b1'), new MemoryBackend('b2'), new BlackHole('b3')];
  const rp = await ReadPath.open(input.config, { backends });
  const store = rp.store as MemoryMetadataStore;
  const rows = (key: string, on: string[], bytes: Uint8Array): ObjectLocation[] =>
    on.map((b, j) => ({ objectKey: key, backendName: b, sizeBytes: bytes.length, createdAt: new Date(1_700_000_000_000 + j), encrypted: false, contentHash: sha256Hex(bytes) }));
  const keys: string[] = [];
  for (let i = 0; i < 300; i++) {
    const key = `k/${i}`;
    const bytes = new TextEncoder().encode(`body ${i}`);
    keys.push(key);
    backends[0]?.put(key, bytes);
    backends[1]?.put(key, bytes);
    if (i % 5 === 0) backends[0]?.delete(key); // failover
    for (const r of rows(key, ['b1', 'b2'], bytes)) store.add(r);
  }
  for (let i = 0; i < 20; i++) for (const r of rows(`hang/${i}`, ['b3', 'b1'], new Uint8Array(1))) store.add(r);
  const all = await drain(rp.readMany(keys));
  assert.equal(all.filter((o) => o.ok).length, keys.length);
  await abortedBatch(rp, [...keys.slice(0, 10), ...Array.from({ length: 20 }, (_, i) => `hang/${i}`)]);
  store.setAvailable(false);
  const degraded = await drain(rp.readMany(keys.slice(0, 50), { op: 'head' }));
  assert.ok(degraded.every((o) => o.ok && o.degraded), 'degraded reads during the outage');
  store.setAvailable(true);
  await rp.close();
}

async function sqliteFleet(): Promise<void> {
  const rp = await ReadPath.open(input.config);
  const store = rp.store as SqliteMetadataStore;
  const seeded = input.seeded ?? {};
  await store.addLocations(Object.entries(seeded).flatMap(([key, on]) => on.map((b, j) => ({
    objectKey: key, backendName: b, sizeBytes: Buffer.byteLength(`bytes of ${key}`), createdAt: new Date(1_700_000_000_000 + j), encrypted: false,
  }))));
  const keys = Object.keys(seeded).filter((k) => !(input.hanging ?? []).includes(k));
  const all = await drain(rp.readMany(keys, { concurrency: 16 }));
  assert.equal(all.filter((o) => o.ok).length, keys.length, JSON.stringify(all.find((o) => !o.ok)));
  await abortedBatch(rp, [...keys.slice(0, 4), ...(input.hanging ?? [])]);
  await drain(rp.readMany(keys, { op: 'head', concurrency: 16 }));
  await rp.close();
}

async function postgres(): Promise<void> {
  const rp = await ReadPath.open(input.config);
  const store = rp.store as PostgresMetadataStore;
  const seeded = input.seeded ?? {};
  await store.addLocations(Object.entries(seeded).flatMap(([key, on]) => on.map((b, j) => ({
    objectKey: key, backendName: b, sizeBytes: Buffer.byteLength(`bytes of ${key}`), createdAt: new Date(1_700_000_000_000 + j), encrypted: false,
  }))));
  const keys = Object.keys(seeded).filter((k) => !(input.hanging ?? []).includes(k));
  // With killWorker, a worker dies mid-batch: its probes fail over to the other copy.
  const first = await drain(rp.readMany(keys, { concurrency: 16 }), input.killWorker === true ? 5 : -1);
  // A key whose only good copy was being read on the dying worker may fail, with that reason.
  const lost = (o: BatchOutcome): boolean => !o.ok && input.killWorker === true && /probe worker failed/.test(o.error.message);
  assert.ok(first.every((o) => o.ok || lost(o)), JSON.stringify(first.find((o) => !o.ok && !lost(o))));
  await abortedBatch(rp, [...keys.slice(0, 4), ...(input.hanging ?? [])]);
  await ask('stop-db');
  const during = await drain(rp.readMany(keys, { concurrency: 16 }));
  assert.ok(during.every((o) => o.ok), JSON.stringify(during.find((o) => !o.ok)));
  assert.ok(during.some((o) => o.ok && o.degraded), 'degraded reads during the outage');
  await abortedBatch(rp, [...keys.slice(0, 4), ...(input.hanging ?? [])]);
  await ask('start-db');
  let located = false;
  for (let i = 0; i < 400 && !located; i++) {
    located = !(await rp.head(keys[0] as string)).degraded;
    if (!located) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(located, 'located reads resume');
  // The IPC channel is the test's, not readpath's: let the parent close it.
  await ask('release');
  await rp.close();
}

const modes: Record<string, () => Promise<void>> = { memory, 'sqlite-fleet': sqliteFleet, postgres };
const run = modes[mode];
if (run === undefined) throw new Error(`unknown READPATH_EXIT_MODE ${mode}`);
await run();
log('closed');
setTimeout(() => {
  process.stderr.write(`still alive 3 s after close(): ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
}, 3000).unref();
