/**
 * The pool over real HTTP: probe actors with S3Backend clients built in the workers from the
 * configuration, against s3rver backends behind fault proxies. A cancelled probe's S3 request
 * is aborted inside its worker (the proxy sees the connection go).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../../src/telemetry/recorder.js';
import { MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { loadConfig } from '../../src/config/load.js';
import type { ReadPathError } from '../../src/errors.js';
import { Failover } from '../../src/engine/failover.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { PoolExecutor } from '../../src/executors/pool/executor.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { Core, ObjectBackend, ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { until } from '../helpers/executor-world.js';

let fleet: S3Fleet;
let pool: PoolExecutor;
let failover: Failover;
let store: MemoryMetadataStore;
const recorder = new Recorder();
let t = 1;

async function seed(key: string, body: string, on: string[]): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(body);
  await fleet.seed(key, bytes, on);
  for (const name of on) {
    const l: ObjectLocation = { objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes) };
    store.add(l);
  }
  return bytes;
}

before(async () => {
  fleet = await startS3Fleet({ count: 2 });
  const config = await loadConfig({
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name) })),
    database: { driver: 'memory' },
    server: { backend_timeout: '5s' },
    runtime: { mode: 'pool', threads: 2, tasks_per_thread: 8 },
  });
  pool = PoolExecutor.fromConfig(config, { recorder });
  // The Core only needs names here: pooled probes use the clients in the workers.
  const backends = new Map<string, ObjectBackend>(config.backends.map((b) => [b.name, { name: b.name } as ObjectBackend]));
  const core: Core = { backends: () => backends, backendOrder: () => [...backends.keys()], acct: () => recorder };
  store = new MemoryMetadataStore();
  failover = new Failover({ core, stores: store, cache: new MemoryLocationCache() });
});

after(async () => {
  await pool?.close();
  await fleet?.close();
});

test('GET and HEAD through S3 clients in the workers: verified body, usage recorded on the main thread', async () => {
  const bytes = await seed('dir/a b.txt', 'alpha-bytes', ['b1', 'b2']);
  const g = await failover.read('GetObject', 'dir/a b.txt', pool.get('dir/a b.txt'));
  assert.equal(g.backend, 'b1');
  assert.deepEqual(g.value.body, bytes);
  assert.equal(g.value.verified, true);
  assert.equal(typeof g.value.etag, 'string');
  assert.ok(g.value.lastModified instanceof Date);
  const h = await failover.read('HeadObject', 'dir/a b.txt', pool.head('dir/a b.txt'));
  assert.equal(h.value.size, bytes.byteLength);
  assert.deepEqual(recorder.usage.usage('b1'), { apiRequests: 2, egressBytes: bytes.byteLength, ingressBytes: 0 });
});

test('a copy answering 503 or corrupted bytes moves the read on to the next copy', async () => {
  await seed('k2', 'second', ['b1', 'b2']);
  fleet.backend('b1').proxy.failNext(1, { kind: 'slowdown' }, { key: 'k2' });
  const a = await failover.read('GetObject', 'k2', pool.get('k2'));
  assert.equal(a.backend, 'b2');
  fleet.backend('b1').proxy.failNext(1, { kind: 'corrupt' }, { key: 'k2' });
  const b = await failover.read('GetObject', 'k2', pool.get('k2'));
  assert.equal(b.backend, 'b2');
  assert.equal(new TextDecoder().decode(b.value.body), 'second');
});

test('a caller abort reaches the S3 request inside the worker: its connection is closed', async () => {
  await seed('slow', 'x', ['b1']);
  const proxy = fleet.backend('b1').proxy;
  proxy.failNext(1, { kind: 'hang' }, { key: 'slow' });
  const seen = proxy.requestCount;
  const ac = new AbortController();
  const read = failover.read('GetObject', 'slow', pool.get('slow'), { signal: ac.signal });
  await until(() => proxy.requestCount > seen && proxy.openConnections > 0, 'the GET to reach the proxy');
  const open = proxy.openConnections;
  ac.abort();
  await assert.rejects(read, (e: ReadPathError) => e.code === 'ABORTED');
  await until(() => proxy.openConnections < open, 'the worker to close the hung connection');
  // The read rejected at once; the probe itself settles when the worker's ABORTED verdict arrives.
  await until(() => pool.stats().inFlight === 0, 'the cancelled probe to settle');
});
