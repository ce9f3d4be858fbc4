/**
 * ReadPath with its default runtime: probe actors in the piscina pool, over s3rver backends
 * and a SQLite file. The same product behaviours as inline, plus what only the pool needs:
 * per-backend breakers gating pooled probes, transforms running in the workers, and close()
 * releasing every thread.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';

let fleet: S3Fleet;
let dir: string;
let t = Date.parse('2026-02-01T00:00:00Z');

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    server: { backend_timeout: '2s' },
    runtime: { mode: 'pool', threads: 2, tasks_per_thread: 8 },
    logging: { level: 'silent' },
    ...extra,
  };
}

async function seed(rp: ReadPath, key: string, body: Uint8Array | string, on: string[]): Promise<void> {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  for (const name of on) await fleet.seed(key, bytes, [name]);
  await (rp.store as SqliteMetadataStore).addLocations(on.map((name) => ({
    objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes),
  })));
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-pool-'));
});

after(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

test('pool runtime: verified get, head, failover on corruption, and a batch', async () => {
  const rp = await ReadPath.open(config());
  try {
    await seed(rp, 'p/one', 'pooled bytes', ['b1', 'b2']);
    const g = await rp.get('p/one');
    assert.equal(new TextDecoder().decode(g.body), 'pooled bytes');
    assert.equal(g.verified, true);
    assert.equal((await rp.head('p/one')).size, 12);
    fleet.backend('b1').proxy.failNext(1, { kind: 'corrupt' }, { key: 'p/one' });
    const f = await rp.get('p/one');
    assert.equal(f.backend, 'b2');
    assert.equal(new TextDecoder().decode(f.body), 'pooled bytes');
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) {
      await seed(rp, `p/batch/${i}`, `v${i}`, ['b2', 'b3']);
      keys.push(`p/batch/${i}`);
    }
    let ok = 0;
    for await (const o of rp.readMany([...keys, ''], { concurrency: 16 })) if (o.ok) ok++;
    assert.equal(ok, 30);
    assert.equal(rp.recorder.usage.usage('b2').apiRequests >= 30, true, 'usage recorded on the main thread from worker verdicts');
  } finally {
    await rp.close();
  }
});

test('pool runtime: an open backend breaker answers BACKEND_UNAVAILABLE without dispatching to the backend', async () => {
  const rp = await ReadPath.open(config({ backend_circuit_breaker: { enabled: true, failure_threshold: 1, open_timeout: '1h' } }));
  try {
    await seed(rp, 'p/breaker', 'x', ['b3', 'b1']);
    fleet.backend('b3').proxy.failNext(1, { kind: 'status', status: 500, code: 'InternalError' }, { key: 'p/breaker' });
    assert.equal((await rp.get('p/breaker')).backend, 'b1', 'b3 failed once: threshold reached');
    const seen = fleet.backend('b3').proxy.requestCount;
    const g = await rp.get('p/breaker');
    assert.equal(g.backend, 'b1');
    assert.equal(g.failover, true);
    assert.equal(fleet.backend('b3').proxy.requestCount, seen, 'breaker open: b3 not called');
    assert.match(await rp.metrics(), /readpath_circuit_breaker_state\{breaker="backend",backend="b3"\} 2/);
  } finally {
    await rp.close();
  }
});

test('pool runtime: a transform runs on the verified body and the main thread gets records', async () => {
  const rp = await ReadPath.open(config());
  try {
    const ndjson = '{"n":1}\n{"n":2}\n\n{"n":3}\n';
    await seed(rp, 'logs/day.ndjson.gz', gzipSync(ndjson), ['b1']);
    const transform = new URL('../../examples/transforms/gunzip-ndjson.mjs', import.meta.url);
    const out = await rp.get<{ n: number }[]>('logs/day.ndjson.gz', { transform });
    assert.deepEqual(out.value, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.equal(out.verified, true);
    await seed(rp, 'logs/bad.ndjson', '{"n":1}\nnot json\n', ['b1']);
    await assert.rejects(rp.get('logs/bad.ndjson', { transform }), (e: unknown) => {
      assert.match((e as Error).message, /NDJSON line 2/);
      return true;
    });
    const records = [];
    for await (const o of rp.readMany(['logs/day.ndjson.gz'], { transform })) records.push(o);
    assert.ok(records[0]?.ok && 'value' in records[0]);
  } finally {
    await rp.close();
  }
});

test('pool runtime with a backend module: custom backends built inside the workers, through ReadPath', async () => {
  const { ScriptedFleet, SCRIPTED_BACKENDS_MODULE } = await import('../helpers/scripted-backends.js');
  const { MemoryMetadataStore } = await import('../../src/stores/memory-store.js');
  const sf = new ScriptedFleet([{ name: 's1', objects: {} }, { name: 's2', objects: { 'mod/k': 'from a worker' } }]);
  const store = new MemoryMetadataStore();
  store.add({ objectKey: 'mod/k', backendName: 's1', sizeBytes: 13, createdAt: new Date(1), encrypted: false });
  store.add({ objectKey: 'mod/k', backendName: 's2', sizeBytes: 13, createdAt: new Date(2), encrypted: false });
  const rp = await ReadPath.open({
    backends: ['s1', 's2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'a', secret_access_key: 's' })),
    database: { driver: 'memory' },
    runtime: { mode: 'pool', threads: 1 },
    logging: { level: 'silent' },
  }, { store, backendModule: SCRIPTED_BACKENDS_MODULE, backendData: sf.data });
  try {
    const g = await rp.get('mod/k');
    assert.equal(new TextDecoder().decode(g.body), 'from a worker');
    assert.equal(g.backend, 's2');
    assert.equal(g.failover, true, 's1 (empty) answered 404 in the worker');
    assert.equal(sf.calls('s1'), 1);
    assert.equal(sf.calls('s2'), 1);
  } finally {
    await rp.close();
  }
});

test('pool runtime with a backend module: server.backend_timeout bounds a probe on a backend that never answers; the next copy serves', async () => {
  const { ScriptedFleet, SCRIPTED_BACKENDS_MODULE } = await import('../helpers/scripted-backends.js');
  const { MemoryMetadataStore } = await import('../../src/stores/memory-store.js');
  const sf = new ScriptedFleet([
    { name: 's1', objects: { 'slow/k': 'never sent' }, keys: { 'slow/k': { kind: 'hang' } } },
    { name: 's2', objects: { 'slow/k': 'from s2' } },
  ]);
  const store = new MemoryMetadataStore();
  store.add({ objectKey: 'slow/k', backendName: 's1', sizeBytes: 7, createdAt: new Date(1), encrypted: false });
  store.add({ objectKey: 'slow/k', backendName: 's2', sizeBytes: 7, createdAt: new Date(2), encrypted: false });
  const rp = await ReadPath.open({
    backends: ['s1', 's2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'a', secret_access_key: 's' })),
    database: { driver: 'memory' },
    server: { backend_timeout: '100ms' },
    runtime: { mode: 'pool', threads: 1 },
    logging: { level: 'silent' },
  }, { store, backendModule: SCRIPTED_BACKENDS_MODULE, backendData: sf.data });
  try {
    const g = await rp.get('slow/k');
    assert.equal(new TextDecoder().decode(g.body), 'from s2');
    assert.equal(g.failover, true);
    assert.equal(sf.calls('s1'), 1);
    assert.equal(sf.aborts('s1'), 1, 's1 was told to stop (TIMEOUT)');
    assert.equal(rp.recorder.usage.usage('s1').apiRequests, 1, 'the timed-out request is billed');
  } finally {
    await rp.close();
  }
});
