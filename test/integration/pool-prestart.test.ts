/**
 * Probe workers started before the configuration is known (src/executors/pool/prestart.ts, the
 * CLI's head start): a reader whose configuration gives the same pool shape adopts them and its
 * reads run there; one of another shape starts its own pool and leaves them to be discarded.
 * Real parts: s3rver backends and a SQLite file.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { defaultWorkerFilename } from '../../src/executors/pool/options.js';
import { defaultPoolShape, discardPrestartedPool, hasPrestartedPool, prestartProbePool, type PoolShape } from '../../src/executors/pool/prestart.js';
import { poolThreadsFor } from '../../src/cli/early-start.js';
import { batchThreads, defaultThreads } from '../../src/config/runtime-defaults.js';
import { isReadyMessage } from '../../src/executors/pool/protocol.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { eventually } from '../helpers/handles.js';

let fleet: S3Fleet;
let dir: string;
let db = 0;

/** One worker running 8 probes: the shape of `runtime: { threads: 1, tasks_per_thread: 8 }`. */
const SHAPE: PoolShape = { filename: defaultWorkerFilename(), threads: 1, perThread: 8, maxQueue: 8 };

function config(threads: number): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: join(dir, `meta-${db++}.db`) },
    server: { backend_timeout: '5s' },
    runtime: { mode: 'pool', threads, tasks_per_thread: 8 },
    logging: { level: 'silent' },
  };
}

async function seed(rp: ReadPath, key: string, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await fleet.seed(key, bytes, ['b1']);
  await (rp.store as SqliteMetadataStore).addLocations([{
    objectKey: key, backendName: 'b1', sizeBytes: bytes.byteLength, createdAt: new Date(), encrypted: false, contentHash: sha256Hex(bytes),
  }]);
}

/** Resolves once a worker of `pool` has loaded and listens for its configuration. */
async function workerReady(pool: NodeJS.EventEmitter): Promise<void> {
  for (;;) {
    const [m] = (await once(pool, 'message')) as [unknown];
    if (isReadyMessage(m)) return;
  }
}

before(async () => {
  fleet = await startS3Fleet({ count: 1 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-prestart-'));
});

afterEach(() => discardPrestartedPool());

after(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a reader of the same pool shape adopts the prestarted workers, configured by message once they were ready', async () => {
  const pool = prestartProbePool(SHAPE);
  assert.ok(hasPrestartedPool());
  // The worker has loaded and said so before any executor exists: its init must still reach it.
  await workerReady(pool);
  const rp = await ReadPath.open(config(1));
  try {
    assert.equal(hasPrestartedPool(), false, 'the reader took the pool');
    await seed(rp, 'pre/one', 'read by a worker started early');
    const got = await rp.get('pre/one');
    assert.equal(new TextDecoder().decode(got.body), 'read by a worker started early');
    assert.equal(got.verified, true);
    // The verdict travels apart from the piscina task's own completion, which may land a little later.
    assert.ok(await eventually(() => pool.completed >= 1), `the prestarted pool ran the probe (completed ${pool.completed})`);
    assert.equal(pool.threads.length, 1);
  } finally {
    await rp.close();
  }
  assert.equal(pool.threads.length, 0, 'closing the reader stopped the adopted workers');
});

test('a reader of another shape starts its own pool; the prestarted one is left to be discarded', async () => {
  const pool = prestartProbePool(SHAPE);
  const rp = await ReadPath.open(config(2));
  try {
    assert.equal(hasPrestartedPool(), true, 'two threads is not the prestarted shape');
    await seed(rp, 'pre/two', 'read by the reader’s own pool');
    assert.equal(new TextDecoder().decode((await rp.get('pre/two')).body), 'read by the reader’s own pool');
    assert.equal(pool.completed, 0, 'nothing ran on the prestarted pool');
  } finally {
    await rp.close();
  }
  assert.equal(pool.threads.length, 1, 'the reader did not stop workers it did not own');
  await discardPrestartedPool();
  assert.equal(hasPrestartedPool(), false);
  assert.equal(pool.threads.length, 0, 'discarding stopped them');
});

test('prestarting twice keeps the first pool; discarding with none is a no-op', async () => {
  const first = prestartProbePool(SHAPE);
  assert.equal(prestartProbePool(SHAPE), first);
  await discardPrestartedPool();
  await discardPrestartedPool();
  assert.equal(hasPrestartedPool(), false);
});

test('the CLI prestarts the shape its batch and serve readers open with, so each adopts its workers', async () => {
  const cases = [
    [['batch', '-c', 'readpath.yaml'], batchThreads(), { defaultThreads: batchThreads() }],
    [['batch', '--threads', '3', '-c', 'readpath.yaml'], 3, { defaultThreads: batchThreads(), threads: 3 }],
    [['serve', '-c', 'readpath.yaml'], defaultThreads(), {}],
  ] as const;
  for (const [args, threads, defaults] of cases) {
    const command = args.join(' ');
    assert.equal(poolThreadsFor(args), threads, command);
    const pool = prestartProbePool(defaultPoolShape(poolThreadsFor(args)));
    const c = config(1);
    // No thread or task count: the defaults decide, as in a configuration without them.
    c.runtime = { mode: 'pool' };
    const rp = await ReadPath.open(c, defaults);
    try {
      assert.equal(hasPrestartedPool(), false, `${command}: the reader took the prestarted pool`);
      assert.equal(rp.config.runtime.threads, threads, command);
      const key = `pre/${args[0]}-${threads}`;
      await seed(rp, key, `read by ${command}'s prestarted workers`);
      assert.equal(new TextDecoder().decode((await rp.get(key)).body), `read by ${command}'s prestarted workers`);
      assert.equal(pool.threads.length, threads, command);
    } finally {
      await rp.close();
    }
  }
});
