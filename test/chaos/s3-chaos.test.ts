/**
 * Seeded chaos over real HTTP, on both executors: three s3rver backends behind fault proxies
 * that misbehave per copy (latency, 503 SlowDown, hangs, resets, truncated, stalled and
 * corrupted bodies, invalid XML, missing copies, one-off 503s), location rows in a real
 * PostgreSQL that is stopped and started again in the middle of the batch, and — with the pool
 * executor — a worker thread killed while it holds probes in flight. Every key gets exactly
 * one outcome, bodies are checked against their seeded SHA-256, keys with a good copy are read.
 *
 * The kill is staged so that its victims are known: 16 keys (the batch's concurrency) whose
 * first copy is held at the proxy by a gate and whose second copy is good. Once all 16 are
 * waiting — the only reads in flight — a worker is terminated (and another, if the first held
 * none of them); each victim it held must fail over to its second copy and be served.
 *
 * Sized for CI: s3rver, the S3 client and the proxies share one process here and sustain about
 * 450 healthy GETs/s (~130 keys/s with these faults), and seeding costs ~6 ms per key, so the
 * default is 1,000 keys (READPATH_CHAOS_HTTP_KEYS=20000 for the full-size run); the 20,000-key
 * chaos runs over in-memory fault-injecting backends in memory-chaos.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPath } from '../../src/read-path.js';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { Fault } from '../helpers/fault-proxy.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { PgCluster } from '../helpers/pg-cluster.js';
import { deferred } from '../helpers/gate.js';
import { chaosPlan, copyFault, bodyOf, expectations, hashOf, keyName, mix, replicas, type CopyFault } from '../helpers/chaos-backends.js';
import { formatSummary, judgeChaos, runChaosBatch, type KeyTruth } from '../helpers/chaos-run.js';
import { installWorkerSpy, liveWorkers } from '../helpers/chaos-workers.js';

const KEYS = Number(process.env.READPATH_CHAOS_HTTP_KEYS ?? 1000);
const SEED = Number(process.env.READPATH_CHAOS_SEED ?? 0xc4a05);
/**
 * 16, not 64: in degraded mode every key probes all three backends, and 64 keys made ~190
 * requests in flight inside this one process (client, proxies and s3rver): each backend's 50
 * sockets filled, the event loop saturated, and healthy copies ran past the backend timeout
 * (measured: 3 runs in 6 failed that way at 64). At 16 throughput is the same (~130 keys/s
 * with these faults) and no request waits for a socket.
 */
const CONCURRENCY = 16;

let fleet: S3Fleet;
let pgc: PgCluster;
let url: string;
let seedMs = 0;
const plan = chaosPlan({ keys: KEYS, seed: SEED, maxBytes: 2048 });
const keys = Array.from({ length: plan.keys }, (_, i) => keyName(i));
const indexOfKey = new Map(keys.map((k, i) => [k, i]));

/** The proxy rule that plays a copy's fault over HTTP (`undefined`: serve it as it is). */
function httpFault(fault: CopyFault, i: number, b: number): { fault: Fault; times?: number } | undefined {
  const h = mix(plan.seed, i, 40 + b);
  switch (fault) {
    case 'latency':
      return { fault: { kind: 'latency', ms: 1 + (h % 20) } };
    case 'flaky':
      return { fault: { kind: 'slowdown' }, times: 1 };
    case 'status503':
      return { fault: h % 3 === 0 ? { kind: 'invalidXml', status: 503 } : { kind: 'slowdown' } };
    case 'reset':
      return { fault: { kind: 'reset' } };
    case 'hang':
      return { fault: h % 2 === 0 ? { kind: 'hang' } : { kind: 'stallBody' } };
    case 'truncate':
      return { fault: { kind: 'truncate' } };
    case 'corrupt':
      return { fault: { kind: 'corrupt' } };
    default:
      return undefined;
  }
}

/** Counts requests for `ks` held at a gate from now on (earlier tests' requests are in the logs too). */
function gateCounter(ks: readonly string[]): () => number {
  const base = fleet.backends.map((b) => b.proxy.requestCount);
  return () => fleet.backends.reduce((n, b, i) => n + b.proxy.requests().slice(base[i]).filter((q) => q.fault === 'gate' && ks.includes(q.key ?? '')).length, 0);
}

function truth(key: string): KeyTruth {
  const i = indexOfKey.get(key) as number;
  const e = expectations(plan, i);
  return { hash: hashOf(plan, i), good: e.good, hopeless: e.hopeless };
}

before(async () => {
  installWorkerSpy();
  fleet = await startS3Fleet({ count: 3 });
  pgc = await PgCluster.create();
  url = await pgc.createDatabase('chaos');
  const t0 = performance.now();
  // Seed every copy that exists (a `missing` copy is never uploaded), 32 keys at a time.
  for (let from = 0; from < plan.keys; from += 32) {
    await Promise.all(keys.slice(from, from + 32).map(async (key, j) => {
      const i = from + j;
      const on = replicas(plan, i).filter((b) => copyFault(plan, b, i) !== 'missing');
      // The seeder makes one attempt per PUT; a keep-alive socket the server is just closing
      // resets now and then over tens of thousands of PUTs: seeding retries, reading never does.
      for (let attempt = 1; on.length > 0; attempt++) {
        try {
          await fleet.seed(key, bodyOf(plan, i), on);
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    }));
  }
  const store = await PostgresMetadataStore.open({ url: `${url}?sslmode=disable` });
  try {
    const rows = keys.flatMap((key, i) => replicas(plan, i).map((b, j) => ({
      objectKey: key, backendName: b, sizeBytes: bodyOf(plan, i).length, createdAt: new Date(1_700_000_000_000 + j), encrypted: false, contentHash: hashOf(plan, i),
    })));
    for (let from = 0; from < rows.length; from += 1000) await store.addLocations(rows.slice(from, from + 1000));
  } finally {
    await store.close();
  }
  keys.forEach((key, i) => replicas(plan, i).forEach((b) => {
    const f = httpFault(copyFault(plan, b, i), i, plan.names.indexOf(b));
    if (f !== undefined) fleet.backend(b).proxy.inject(f.fault, { match: { key }, ...(f.times === undefined ? {} : { times: f.times }) });
  }));
  seedMs = performance.now() - t0;
});

after(async () => {
  await fleet?.close();
  await pgc?.destroy();
});

for (const kind of ['inline', 'pool'] as const) {
  test(`chaos over HTTP (${kind} executor): ${KEYS} keys on s3rver behind fault proxies, PostgreSQL stopped and restarted mid-batch${kind === 'pool' ? ', a worker killed mid-probe' : ''}`, async () => {
    const config: ReadPathConfig = {
      backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
      database: { driver: 'postgres', url: `${url}?sslmode=disable`, statement_timeout: '2s' },
      circuit_breaker: { failure_threshold: 3, open_timeout: '100ms', parallel_broadcast: true },
      server: { backend_timeout: '2s' },
      runtime: kind === 'pool' ? { mode: 'pool', threads: 2 } : { mode: 'inline' },
      logging: { level: 'silent' },
    };
    // The victims: first copy clean (so the gate is the only rule that applies), second copy good.
    const victims = keys.filter((_, i) => {
      const r = replicas(plan, i);
      return r.length >= 2 && copyFault(plan, r[0] as string, i) === 'none' && ['none', 'latency'].includes(copyFault(plan, r[1] as string, i));
    }).slice(-CONCURRENCY);
    assert.equal(victims.length, CONCURRENCY);
    const order = [...keys.filter((k) => !victims.includes(k)), ...victims];
    const gate = deferred<void>();
    for (const v of victims) {
      const first = replicas(plan, indexOfKey.get(v) as number)[0] as string;
      fleet.backend(first).proxy.inject({ kind: 'gate', until: gate.promise }, { times: 1, match: { key: v, method: 'GET' } });
    }
    const gated = gateCounter(victims);
    const base = fleet.backends.map((b) => b.proxy.requestCount);
    /** GETs of the victims' second copies since this test started: failovers from a killed worker. */
    const secondCopies = (): number => victims.reduce((n, v) => {
      const second = replicas(plan, indexOfKey.get(v) as number)[1] as string;
      const i = plan.names.indexOf(second);
      return n + fleet.backend(second).proxy.requests().slice(base[i]).filter((q) => q.key === v && q.method === 'GET').length;
    }, 0);

    const rp = await ReadPath.open(config);
    let killed = 0;
    try {
      // PostgreSQL goes away at 30% and comes back at 55%, while reads keep going; by 80% the
      // reader is back on the located path (the consumer waits there, so nothing new starts).
      const transitions: Promise<void>[] = [];
      const stopAt = Math.floor(plan.keys * 0.3);
      const startAt = Math.floor(plan.keys * 0.55);
      const settleAt = Math.floor(plan.keys * 0.8);
      // The kill: once every victim waits at its gate, terminate the workers, then open the gate.
      // Polling starts when the batch nears its end (the victims come last), so that big runs
      // (READPATH_CHAOS_HTTP_KEYS) do not run out the deadline while earlier keys are read.
      const nearEnd = deferred<void>();
      const killer = (async () => {
        await nearEnd.promise;
        const deadline = Date.now() + 60_000;
        while (gated() < victims.length) {
          if (Date.now() > deadline) throw new Error(`only ${gated()} of ${victims.length} victims reached their gate`);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (kind !== 'pool') return;
        // Kill one worker; if it held none of the victims (no second copy gets asked for),
        // kill the next. Killing every worker at once would be a different test: a victim's
        // failover could be dispatched to a worker that is itself being terminated.
        for (const w of liveWorkers()) {
          await w.terminate();
          killed++;
          const until = Date.now() + 3000;
          while (secondCopies() === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
          if (secondCopies() > 0) break;
        }
      })().finally(() => gate.resolve());
      const r = await runChaosBatch(rp, order, {
        concurrency: CONCURRENCY,
        onProgress: async (done) => {
          if (done >= order.length - 2 * CONCURRENCY) nearEnd.resolve();
          if (done === stopAt) transitions.push(pgc.stop());
          if (done === startAt) transitions.push(Promise.all(transitions).then(() => pgc.start()));
          if (done === settleAt) {
            await Promise.all(transitions);
            for (let i = 0; i < 400 && (await rp.head(keys[0] as string).catch(() => ({ degraded: true }))).degraded; i++) {
              await new Promise((res) => setTimeout(res, 25));
            }
          }
        },
      });
      nearEnd.resolve();
      await killer;
      const s = judgeChaos(order, truth, r);
      console.log(`${formatSummary(`HTTP chaos (${kind})`, s)}; seeding ${(seedMs / 1000).toFixed(1)}s; workers killed ${killed}`);
      assert.ok(s.degraded > 0, 'the database outage sent reads down the degraded path');
      for (const v of victims) {
        const o = r.outcomes.get(v);
        assert.ok(o?.ok === true && !o.degraded, `victim ${v} was served: ${JSON.stringify(o?.ok ? o.backend : o?.error)}`);
      }
      if (kind === 'pool') {
        assert.ok(killed >= 1, 'a worker thread was killed mid-probe');
        const failedOver = victims.filter((v) => { const o = r.outcomes.get(v); return o?.ok === true && o.failover; });
        assert.ok(failedOver.length > 0, 'victims on the killed worker failed over to their second copy');
        console.log(`HTTP chaos (pool): ${killed} worker(s) killed with victims in flight; ${failedOver.length} of ${victims.length} victims served by their second copy`);
      }
      // The same reader keeps working on the located path.
      const good = order.find((k) => truth(k).good) as string;
      const g = await rp.get(good);
      assert.equal(g.verified, true);
    } finally {
      gate.resolve();
      await rp.close();
    }
  });
}

for (const kind of ['inline', 'pool'] as const) {
  test(`chaos over HTTP (${kind} executor): an abort while 16 requests hang ends the batch at once; the reader keeps working`, async () => {
    const rp = await ReadPath.open({
      backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
      database: { driver: 'postgres', url: `${url}?sslmode=disable`, statement_timeout: '2s' },
      server: { backend_timeout: '30s' },
      runtime: kind === 'pool' ? { mode: 'pool', threads: 2 } : { mode: 'inline' },
      logging: { level: 'silent' },
    });
    // 16 keys with a clean first copy, held at the proxy until the end of the test.
    const held = keys.filter((_, i) => {
      const r = replicas(plan, i);
      return i >= 100 && copyFault(plan, r[0] as string, i) === 'none';
    }).slice(0, CONCURRENCY);
    const gate = deferred<void>();
    for (const k of held) {
      fleet.backend(replicas(plan, indexOfKey.get(k) as number)[0] as string).proxy.inject({ kind: 'gate', until: gate.promise }, { times: 1, match: { key: k, method: 'GET' } });
    }
    const heldNow = gateCounter(held);
    try {
      const clean = keys.filter((k, i) => !held.includes(k) && replicas(plan, i).every((b) => copyFault(plan, b, i) === 'none')).slice(0, 50);
      const ac = new AbortController();
      let abortedAt = 0;
      let yielded = 0;
      const batch = runChaosBatch(rp, [...clean, ...held], { concurrency: CONCURRENCY, signal: ac.signal, onProgress: (n) => { yielded = n; } });
      const deadline = Date.now() + 60_000;
      while (heldNow() < held.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(heldNow(), held.length, 'every held request reached its gate');
      abortedAt = performance.now();
      ac.abort(new Error('operator pressed ^C'));
      await assert.rejects(batch, { code: 'ABORTED' });
      const latencyMs = performance.now() - abortedAt;
      assert.equal(gate.settled, false, 'the batch ended while every held request was still held');
      console.log(`HTTP chaos abort (${kind}): batch ended ${latencyMs.toFixed(1)} ms after the abort, ${held.length} requests held, ${yielded} outcomes before it`);
      const g = await rp.get(clean[0] as string);
      assert.equal(g.verified, true, 'the reader keeps working');
    } finally {
      gate.resolve();
      await rp.close();
    }
  });
}
