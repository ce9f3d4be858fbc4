/**
 * The outage story end to end, on a real PostgreSQL and real S3 servers: the database stops
 * mid-run → the store breaker opens → the degraded broadcast (and its cache) serves reads →
 * the database returns → the breaker closes, the location cache is cleared, located reads
 * resume. Two readers sharing the database count usage into one total.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPath } from '../../src/read-path.js';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { PgCluster } from '../helpers/pg-cluster.js';

let fleet: S3Fleet;
let pgc: PgCluster;
let url: string;

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'postgres', url: `${url}?sslmode=disable`, statement_timeout: '2s' },
    circuit_breaker: { failure_threshold: 2, open_timeout: '50ms', parallel_broadcast: true },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
    ...extra,
  };
}

async function seed(store: PostgresMetadataStore, key: string, body: string, on: string[]): Promise<void> {
  const bytes = new TextEncoder().encode(body);
  for (const name of on) await fleet.seed(key, bytes, [name]);
  await store.addLocations(on.map((name, i) => ({
    objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(1_700_000_000_000 + i), encrypted: false, contentHash: sha256Hex(bytes),
  })));
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  pgc = await PgCluster.create();
  url = await pgc.createDatabase('readpath');
});

after(async () => {
  await fleet?.close();
  await pgc?.destroy();
});

async function until(cond: () => Promise<boolean>, tries = 400): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

test('database outage: breaker opens, degraded reads serve, recovery clears the cache and resumes located reads', async () => {
  const rp = await ReadPath.open(config());
  try {
    const store = rp.store as PostgresMetadataStore;
    await seed(store, 'pg/obj', 'outage-proof', ['b2', 'b3']);
    const located = await rp.get('pg/obj');
    assert.equal(located.degraded, false);
    assert.equal(located.backend, 'b2');
    assert.equal(located.verified, true);

    await pgc.stop();
    const d1 = await rp.get('pg/obj');
    assert.equal(d1.degraded, true);
    assert.equal(new TextDecoder().decode(d1.body), 'outage-proof');
    await rp.get('pg/obj');
    const metrics = await rp.metrics();
    assert.match(metrics, /readpath_circuit_breaker_state\{breaker="store",backend=""\} 2/, 'store breaker open');
    const hitsDuringOutage = rp.recorder.count('degraded_cache_hits_total');
    assert.ok(hitsDuringOutage >= 1, 'the location cache served during the outage');

    await pgc.start();
    assert.ok(await until(async () => !(await rp.get('pg/obj')).degraded), 'located reads resume');
    assert.match(await rp.metrics(), /readpath_circuit_breaker_state\{breaker="store",backend=""\} 0/);

    // The cache was cleared when the breaker closed: the next outage starts with a broadcast.
    await pgc.stop();
    const hitsBefore = rp.recorder.count('degraded_cache_hits_total');
    const d2 = await rp.get('pg/obj');
    assert.equal(d2.degraded, true);
    assert.equal(rp.recorder.count('degraded_cache_hits_total'), hitsBefore, 'first degraded read after recovery is no cache hit');
    await pgc.start();
  } finally {
    await rp.close();
  }
});

test('two readers sharing one PostgreSQL count usage into one exact total', async () => {
  const period = new Date().toISOString().slice(0, 7);
  // The outage test's broadcasts billed b1 too: count from what is stored now.
  const probe = await PostgresMetadataStore.open({ url: `${url}?sslmode=disable` });
  const before = (await probe.loadUsage(period)).get('b1') ?? { apiRequests: 0, egressBytes: 0, ingressBytes: 0 };
  await probe.close();
  const a = await ReadPath.open(config());
  const b = await ReadPath.open(config());
  try {
    await seed(a.store as PostgresMetadataStore, 'pg/usage', '12345', ['b1']);
    for (let i = 0; i < 7; i++) await a.get('pg/usage');
    for (let i = 0; i < 5; i++) await b.head('pg/usage');
  } finally {
    await a.close();
    await b.close();
  }
  const check = await PostgresMetadataStore.open({ url: `${url}?sslmode=disable` });
  try {
    const usage = (await check.loadUsage(period)).get('b1');
    assert.ok(usage);
    assert.equal(usage.apiRequests - before.apiRequests, 12, 'seven GETs from one reader and five HEADs from the other, flushed on close');
    assert.equal(usage.egressBytes - before.egressBytes, 7 * 5);
  } finally {
    await check.close();
  }
});

test('two readers flushing on a timer share one api_request_limit through PostgreSQL: each counts the other\'s flushed usage once, and the stored total is exact', async () => {
  const period = new Date().toISOString().slice(0, 7);
  const probe = await PostgresMetadataStore.open({ url: `${url}?sslmode=disable` });
  const stored = async (): Promise<number> => (await probe.loadUsage(period)).get('b2')?.apiRequests ?? 0;
  const base = await stored();
  // b2's monthly limit leaves 10 requests; b3 is unlimited.
  const limited = (): ReadPathConfig => config({
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name), ...(b.name === 'b2' ? { api_request_limit: base + 10 } : {}) })),
    usage: { flush_interval: '50ms' },
  });
  const a = await ReadPath.open(limited());
  const b = await ReadPath.open(limited());
  try {
    await seed(a.store as PostgresMetadataStore, 'pg/shared-limit', 'shared', ['b2', 'b3']);
    for (let i = 0; i < 6; i++) assert.equal((await a.get('pg/shared-limit')).backend, 'b2');
    // B learns of A's six from the database alone, on its own timer.
    assert.ok(await until(async () => b.recorder.usage.usageParts('b2').baseline.apiRequests === base + 6), 'B loaded A\'s flushed usage');
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push((await b.get('pg/shared-limit')).backend);
    assert.deepEqual(served, ['b2', 'b2', 'b2', 'b2', 'b3', 'b3'], 'B had the 4 requests A left');
    // Once both timers have run again, each counts the 10 requests exactly once.
    assert.ok(await until(async () => (await stored()) === base + 10 && [a, b].every((r) => r.recorder.usage.usage('b2').apiRequests === base + 10)),
      `stored ${await stored() - base}, A ${a.recorder.usage.usage('b2').apiRequests - base}, B ${b.recorder.usage.usage('b2').apiRequests - base}`);
    assert.equal((await a.get('pg/shared-limit')).backend, 'b3', 'A sees the limit B used up');
  } finally {
    await a.close();
    await b.close();
  }
  try {
    assert.equal(await stored() - base, 10, 'no request lost or counted twice');
  } finally {
    await probe.close();
  }
});

test('a database that is down at startup does not stop open(): reads are degraded until it returns', async () => {
  const seeded = await ReadPath.open(config());
  await seed(seeded.store as PostgresMetadataStore, 'pg/startup', 'boot', ['b1']);
  await seeded.close();
  await pgc.stop();
  const rp = await ReadPath.open(config());
  try {
    const g = await rp.get('pg/startup');
    assert.equal(g.degraded, true);
    assert.equal(new TextDecoder().decode(g.body), 'boot');
    await pgc.start();
    assert.ok(await until(async () => !(await rp.get('pg/startup')).degraded), 'located reads once the database is up');
  } finally {
    await pgc.start();
    await rp.close();
  }
});
