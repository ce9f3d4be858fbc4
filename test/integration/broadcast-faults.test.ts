/**
 * Degraded broadcasts over real HTTP: three s3rver backends behind fault proxies, the metadata
 * store down, every broadcast strategy (sequential, parallel, a window of 2, hedged) against each
 * fault the proxy injects (a reset, a 5xx, SlowDown, a body cut, stalled or corrupted, a request
 * never answered, latency) on one and on two backends. The first verified success is what the
 * caller gets; cancelled losers leave no request open at a backend; the window holds (requests
 * counted while every answer is held at a gate); hedged, a location-cache backend held at a gate
 * is passed by the broadcast at the hedge delay and asked again once it failed; hedges stay
 * within their budget and skip what usage limits and open breakers refuse; a read where every backend fails names each
 * backend and what it answered; a caller's abort ends a read at once wherever it is; a
 * batch while the database is down pulls keys only as slots free.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { ReadPath } from '../../src/read-path.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { Fault } from '../helpers/fault-proxy.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { deferred, flush } from '../helpers/gate.js';
import { eventually } from '../helpers/handles.js';

const down = { getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'metadata store down (test)')) };

type Strategy = 'sequential' | 'parallel' | 'window2' | 'hedged';
const STRATEGIES: readonly Strategy[] = ['sequential', 'parallel', 'window2', 'hedged'];

const FAULTS: Record<string, Fault> = {
  reset: { kind: 'reset' },
  status500: { kind: 'status', status: 500, code: 'InternalError' },
  slowdown: { kind: 'slowdown' },
  truncate: { kind: 'truncate' },
  corrupt: { kind: 'corrupt' },
  stallBody: { kind: 'stallBody' },
  blackhole: { kind: 'hang' },
};

const BODY = Buffer.alloc(64 * 1024);
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 31 + 7) & 0xff;

let fleet: S3Fleet;
let keyNo = 0;

function strategyConfig(s: Strategy): Partial<ReadPathConfig> {
  switch (s) {
    case 'sequential':
      return { circuit_breaker: { parallel_broadcast: false } };
    case 'parallel':
      return { circuit_breaker: { parallel_broadcast: true } };
    case 'window2':
      return { circuit_breaker: { parallel_broadcast: true, degraded_broadcast_parallelism: 2 } };
    case 'hedged':
      // A fixed delay shorter than any fault's: the hedge goes out while the first copy is stuck.
      return { hedging: { enabled: true, delay: '5ms' } };
  }
}

function open(s: Strategy, backendTimeout: string, extra: Partial<ReadPathConfig> = {}, mode: 'inline' | 'pool' = 'inline'): Promise<ReadPath> {
  const base = strategyConfig(s);
  return ReadPath.open({
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name) })),
    database: { driver: 'memory' },
    server: { backend_timeout: backendTimeout },
    runtime: { mode, threads: 1 },
    // The key itself, not a listing first: every request a proxy sees is the object's GET.
    broadcast: { storage_keys: false, stagger: true },
    logging: { level: 'silent' },
    ...base,
    ...extra,
    circuit_breaker: { ...base.circuit_breaker, ...extra.circuit_breaker },
  }, { store: down });
}

/** A key of its own on every backend (no location-cache hit from an earlier read). */
async function freshKey(): Promise<string> {
  const key = `bf/${keyNo++}`;
  await fleet.seed(key, BODY);
  return key;
}

function clearFaults(): void {
  for (const b of fleet.backends) b.proxy.clear();
}

/** Requests each backend saw since `base` (from {@link counts}). */
function since(base: number[]): number[] {
  return fleet.backends.map((b, i) => b.proxy.requestCount - (base[i] as number));
}

const counts = (): number[] => fleet.backends.map((b) => b.proxy.requestCount);

/** No backend has a request still open: losers were cancelled and their sockets closed. */
function nothingPending(): Promise<boolean> {
  return eventually(() => fleet.backends.every((b) => b.proxy.pendingRequests === 0));
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
});

after(async () => {
  clearFaults();
  await fleet.close();
});

describe('every strategy against every fault: the first verified success is served', () => {
  for (const s of STRATEGIES) {
    it(`${s}: faults on b1, then on b1 and b2 — the good copy's bytes, nothing left pending`, async () => {
      const rp = await open(s, '300ms');
      try {
        for (const [name, fault] of Object.entries(FAULTS)) {
          for (const faulty of [['b1'], ['b1', 'b2']]) {
            const key = await freshKey();
            for (const b of faulty) fleet.backend(b).proxy.inject(fault, { match: { key } });
            const g = await rp.get(key);
            clearFaults();
            const what = `${s}, ${name} on ${faulty.join('+')}`;
            assert.ok(Buffer.from(g.body).equals(BODY), `${what}: the seeded bytes`);
            assert.ok(!faulty.includes(g.backend), `${what}: served by a good copy, not ${g.backend}`);
            assert.equal(g.degraded, true);
            assert.ok(await nothingPending(), `${what}: a request left open at ${fleet.backends.filter((b) => b.proxy.pendingRequests > 0).map((b) => b.name).join(', ')}`);
          }
        }
      } finally {
        clearFaults();
        await rp.close();
      }
    });
  }
});

describe('cancelled losers', () => {
  for (const s of ['parallel', 'window2', 'hedged'] as const) {
    for (const mode of ['inline', 'pool'] as const) {
      it(`${s}, ${mode}: a winner cancels the copies that hang or stall at once, long before the backend timeout`, async () => {
        // 60 s: a request closed within the test's few event-loop turns was cancelled, not timed out.
        const rp = await open(s, '60s', {}, mode);
        try {
          for (const fault of [FAULTS.blackhole, FAULTS.stallBody] as Fault[]) {
            const key = await freshKey();
            fleet.backend('b1').proxy.inject(fault, { match: { key } });
            // b2 answers only once b1 is stuck, so b1's request is in flight when b2 wins.
            const held = deferred();
            fleet.backend('b2').proxy.inject({ kind: 'gate', until: held.promise }, { match: { key } });
            fleet.backend('b3').proxy.inject(fault, { match: { key } });
            const base = counts();
            const p = rp.get(key);
            await fleet.backend('b2').proxy.waitForRequests((base[1] as number) + 1);
            await fleet.backend('b1').proxy.waitForRequests((base[0] as number) + 1);
            held.resolve();
            const g = await p;
            clearFaults();
            assert.equal(g.backend, 'b2');
            assert.ok(Buffer.from(g.body).equals(BODY));
            assert.ok(await nothingPending(), `${fault.kind}: a loser's request is still open`);
          }
        } finally {
          clearFaults();
          await rp.close();
        }
      });
    }
  }
});

describe('the window', () => {
  it('window of 2: the third backend is asked only once one of the first two failed, never while both are in flight', async () => {
    const rp = await open('window2', '60s');
    try {
      const key = await freshKey();
      const g1 = deferred();
      const g2 = deferred();
      fleet.backend('b1').proxy.inject({ kind: 'gate', until: g1.promise }, { match: { key } });
      fleet.backend('b2').proxy.inject({ kind: 'gate', until: g2.promise }, { match: { key } });
      // b1 answers 404 when its gate opens: its copy is deleted first.
      await fleet.remove(key, ['b1']);
      const base = counts();
      const p = rp.get(key);
      await fleet.backend('b1').proxy.waitForRequests((base[0] as number) + 1);
      await fleet.backend('b2').proxy.waitForRequests((base[1] as number) + 1);
      await flush(20);
      assert.deepEqual(since(base), [1, 1, 0], 'two in flight, b3 not asked');
      g1.resolve();
      await fleet.backend('b3').proxy.waitForRequests((base[2] as number) + 1);
      const g = await p;
      assert.equal(g.backend, 'b3');
      assert.deepEqual(since(base), [1, 1, 1]);
      g2.resolve();
      assert.ok(await nothingPending());
    } finally {
      clearFaults();
      await rp.close();
    }
  });

  it('hedged under a cap of 2: one hedge while the first copy is stuck, the third backend never asked', async () => {
    const rp = await open('hedged', '60s', { circuit_breaker: { degraded_broadcast_parallelism: 2 } });
    try {
      const key = await freshKey();
      const held = deferred();
      fleet.backend('b1').proxy.inject({ kind: 'gate', until: held.promise }, { match: { key } });
      fleet.backend('b2').proxy.inject({ kind: 'gate', until: held.promise }, { match: { key } });
      const base = counts();
      const p = rp.get(key);
      await fleet.backend('b2').proxy.waitForRequests((base[1] as number) + 1);
      await flush(20);
      assert.deepEqual(since(base), [1, 1, 0]);
      held.resolve();
      const g = await p;
      assert.ok(['b1', 'b2'].includes(g.backend));
      assert.ok(Buffer.from(g.body).equals(BODY));
      assert.equal(since(base)[2], 0, 'b3 never asked');
    } finally {
      clearFaults();
      await rp.close();
    }
  });
});

/**
 * The order in which backends get their first request from now on (each backend's first only):
 * a log filled as the proxies see them, across backends.
 */
function firstRequestOrder(base: number[]): string[] {
  const log: string[] = [];
  fleet.backends.forEach((b, i) => {
    void b.proxy.waitForRequests((base[i] as number) + 1).then(() => log.push(b.name));
  });
  return log;
}

/**
 * A key only b2 holds, read once so that the location cache names b2; then every backend holds
 * it, so any of them can serve the next read.
 */
async function cachedOnB2(rp: ReadPath): Promise<string> {
  const key = `bf/${keyNo++}`;
  await fleet.seed(key, BODY, ['b2']);
  const first = await rp.get(key);
  assert.equal(first.backend, 'b2', 'the seeding read is won by the only holder');
  await fleet.seed(key, BODY, ['b1', 'b3']);
  return key;
}

describe("hedged: a slow location-cache backend does not hold the broadcast past the hedge delay", () => {
  for (const mode of ['inline', 'pool'] as const) {
    it(`${mode}: the cached backend held at a gate — another backend serves while it is still held, and the held request is cancelled`, async () => {
      // The backend timeout only bounds a read that would wait for the held copy (so a regression
      // fails in seconds); nothing here depends on it passing. A cap of 2: the held cached probe
      // and one hedge, b1's.
      const rp = await open('hedged', '5s', { circuit_breaker: { degraded_broadcast_parallelism: 2 } }, mode);
      const held = deferred();
      try {
        const key = await cachedOnB2(rp);
        fleet.backend('b2').proxy.inject({ kind: 'gate', until: held.promise }, { match: { key } });
        const hits = rp.recorder.count('degraded_cache_hits_total');
        const won = rp.recorder.count('hedges_won_total');
        const base = counts();
        const order = firstRequestOrder(base);
        const p = rp.get(key);
        await fleet.backend('b1').proxy.waitForRequests((base[0] as number) + 1);
        assert.equal(fleet.backend('b2').proxy.pendingRequests, 1, 'b1 is asked while the cached b2 is still held');
        const g = await p;
        assert.equal(held.settled, false, 'served before the held copy was let go');
        assert.equal(g.backend, 'b1');
        assert.ok(Buffer.from(g.body).equals(BODY));
        assert.deepEqual(order, ['b2', 'b1'], 'the cached backend first, then the hedge');
        assert.deepEqual(since(base), [1, 1, 0], 'the cached backend asked once, b3 never');
        assert.equal(rp.recorder.count('hedges_won_total') - won, 1, 'b1 won as the hedge of the cached probe');
        assert.equal(rp.recorder.count('degraded_cache_hits_total'), hits);
        // The held request was cancelled by the win, not left waiting for its gate.
        assert.ok(await nothingPending(), 'the held cached request is still open');
        held.resolve();
        clearFaults();
        // The winner replaced b2 in the cache: the next read is b1's cache hit. b2 and b3 are
        // held, so only b1, as the cached backend's probe, can serve it.
        const others = deferred();
        for (const b of ['b2', 'b3']) fleet.backend(b).proxy.inject({ kind: 'gate', until: others.promise }, { match: { key } });
        try {
          const again = await rp.get(key);
          assert.equal(again.backend, 'b1');
          assert.ok(Buffer.from(again.body).equals(BODY));
          assert.equal(rp.recorder.count('degraded_cache_hits_total'), hits + 1, 'b1 served as the cache hit');
        } finally {
          others.resolve();
        }
        assert.ok(await nothingPending());
      } finally {
        held.resolve();
        clearFaults();
        await rp.close();
      }
    });
  }

  it('a cached backend that answers before the delay costs one request, even with every backend allowed at once', async () => {
    // A delay far longer than a loopback answer: the cached b2 answers first.
    const rp = await open('hedged', '60s', { hedging: { enabled: true, delay: '10s' }, circuit_breaker: { parallel_broadcast: true } });
    try {
      const key = await cachedOnB2(rp);
      const hits = rp.recorder.count('degraded_cache_hits_total');
      const base = counts();
      const g = await rp.get(key);
      assert.equal(g.backend, 'b2');
      assert.ok(Buffer.from(g.body).equals(BODY));
      assert.deepEqual(since(base), [0, 1, 0], 'one request, to the cached backend');
      assert.equal(rp.recorder.count('degraded_cache_hits_total') - hits, 1);
      assert.equal(rp.recorder.count('hedges_sent_total'), 0);
    } finally {
      await rp.close();
    }
  });

  it('a held cached backend that fails after the broadcast passed it over is asked again: every backend is probed, the cached one included', async () => {
    // Cap 2. Every copy is gone: b1 answers 404 at once, which launches b3 (404 too) while b2's
    // probe is still held; once let go, b2's 404 is outside the tally and b2 is asked again.
    // The backend timeout bounds a read that would wait for the held copy, as above.
    const rp = await open('hedged', '5s', { circuit_breaker: { degraded_broadcast_parallelism: 2 } });
    const held = deferred();
    try {
      const key = await cachedOnB2(rp);
      await fleet.remove(key, ['b1', 'b2', 'b3']);
      fleet.backend('b2').proxy.inject({ kind: 'gate', until: held.promise }, { match: { key }, times: 1 });
      const base = counts();
      const order = firstRequestOrder(base);
      const p = rp.get(key);
      p.catch(() => undefined); // Awaited below; not unhandled should an assertion fail first.
      await fleet.backend('b3').proxy.waitForRequests((base[2] as number) + 1);
      assert.equal(fleet.backend('b2').proxy.pendingRequests, 1, 'b2 still held');
      assert.deepEqual(order, ['b2', 'b1', 'b3'], 'b1 at the delay, b3 after b1\'s 404');
      assert.deepEqual(since(base), [1, 1, 1], 'b2 not asked twice while its first probe is held');
      held.resolve();
      await assert.rejects(p, (e: unknown) => {
        assert.equal((e as ReadPathError).code, 'OBJECT_NOT_FOUND');
        return true;
      });
      assert.deepEqual(since(base), [1, 2, 1], 'b2 asked again once its held probe failed');
      assert.equal(rp.recorder.count('degraded_broadcast_mixed_outcomes_total'), 0);
      assert.ok(await nothingPending());
    } finally {
      held.resolve();
      clearFaults();
      await rp.close();
    }
  });
});

describe('hedges, budgets, usage limits and breakers', () => {
  it('hedges stay within max_extra_load plus the burst, and each is one request', async () => {
    const reads = 30;
    const rp = await open('hedged', '60s', { hedging: { enabled: true, delay: '2ms', max_extra_load: 0.1 } });
    try {
      const keys: string[] = [];
      for (let i = 0; i < reads; i++) keys.push(await freshKey());
      // b1 always slower than the hedge delay.
      fleet.backend('b1').proxy.inject({ kind: 'latency', ms: 40 });
      const base = counts();
      for (const key of keys) assert.ok(Buffer.from((await rp.get(key)).body).equals(BODY));
      clearFaults();
      const hedges = rp.recorder.count('hedges_sent_total');
      const [r1, r2, r3] = since(base);
      assert.equal(r1, reads, 'every read asks b1 first');
      assert.equal((r2 as number) + (r3 as number), hedges, 'one request per hedge, none besides');
      // The budget: a burst of 10 plus 0.1 per read.
      assert.ok(hedges <= 10 + Math.ceil(reads * 0.1), `${hedges} hedges`);
      assert.ok(hedges >= 10, `the burst was spent (${hedges} hedges)`);
      assert.equal(rp.recorder.count('hedge_budget_exhausted_total') > 0, true);
    } finally {
      clearFaults();
      await rp.close();
    }
  });

  it('a hedge or broadcast sends nothing a usage limit has no room for, nor to a backend whose breaker is open', async () => {
    const limited = await ReadPath.open({
      backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name), ...(b.name === 'b2' ? { api_request_limit: 2 } : {}) })),
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      broadcast: { storage_keys: false },
      circuit_breaker: { parallel_broadcast: true },
      logging: { level: 'silent' },
    }, { store: down });
    try {
      const base = counts();
      for (let i = 0; i < 5; i++) assert.ok(Buffer.from((await limited.get(await freshKey())).body).equals(BODY));
      const r2 = since(base)[1] as number;
      assert.ok(r2 >= 1 && r2 <= 2, `b2: at most its two requests (${r2})`);
    } finally {
      await limited.close();
    }
    const rp = await open('hedged', '60s', { backend_circuit_breaker: { enabled: true, failure_threshold: 1, open_timeout: '1h' } });
    try {
      fleet.backend('b1').proxy.inject({ kind: 'latency', ms: 40 });
      fleet.backend('b2').proxy.failNext(1, FAULTS.status500 as Fault);
      const base = counts();
      for (let i = 0; i < 4; i++) assert.ok(Buffer.from((await rp.get(await freshKey())).body).equals(BODY));
      assert.equal(since(base)[1], 1, 'b2 asked once: its failure opened its breaker');
      assert.equal(rp.breakerStates().backends.b2, 'open');
    } finally {
      clearFaults();
      await rp.close();
    }
  });
});

describe('every backend failing', () => {
  for (const s of STRATEGIES) {
    it(`${s}: ALL_BACKENDS_FAILED names each backend and what it answered`, async () => {
      const rp = await open(s, '60s');
      try {
        const key = await freshKey();
        fleet.backend('b1').proxy.inject(FAULTS.slowdown as Fault, { match: { key } });
        fleet.backend('b2').proxy.inject(FAULTS.status500 as Fault, { match: { key } });
        fleet.backend('b3').proxy.inject(FAULTS.truncate as Fault, { match: { key } });
        const err = await rp.get(key).then(() => assert.fail('served'), (e: unknown) => e as ReadPathError);
        assert.equal(err.code, 'ALL_BACKENDS_FAILED');
        assert.equal(err.httpStatus, 502);
        assert.match(err.message, /b1: [^;]*SlowDown/, err.message);
        assert.match(err.message, /b2: [^;]*InternalError/, err.message);
        assert.match(err.message, /b3: [^;]*(closed|aborted|terminated|ended|length)/i, err.message);
        // The cause is still the last error to arrive (API.md §1).
        assert.ok(err.cause instanceof Error && err.message.includes(`last error: `));
        const outcomes = [];
        for await (const o of rp.readMany([key])) outcomes.push(o);
        const o = outcomes[0];
        assert.ok(o !== undefined && !o.ok);
        for (const b of ['b1', 'b2', 'b3']) assert.ok(o.error.message.includes(`${b}: `), `the batch outcome names ${b}: ${o.error.message}`);
      } finally {
        clearFaults();
        await rp.close();
      }
    });
  }
});

describe("the caller's abort", () => {
  for (const s of STRATEGIES) {
    it(`${s}: ends the read at once wherever it is, leaving no request open and no listener`, async () => {
      const rp = await open(s, '60s');
      try {
        for (const fault of [FAULTS.blackhole, FAULTS.stallBody] as Fault[]) {
          const key = await freshKey();
          for (const b of fleet.backends) b.proxy.inject(fault, { match: { key } });
          const ac = new AbortController();
          const base = counts();
          const p = rp.get(key, { signal: ac.signal });
          // Sequential: abort while b1 is in flight; the others: once every allowed probe is.
          await fleet.backend('b1').proxy.waitForRequests((base[0] as number) + 1);
          if (s === 'parallel') await fleet.backend('b3').proxy.waitForRequests((base[2] as number) + 1);
          if (s === 'window2' || s === 'hedged') await fleet.backend('b2').proxy.waitForRequests((base[1] as number) + 1);
          ac.abort();
          await assert.rejects(p, (e: unknown) => hasCode(e, 'ABORTED'));
          clearFaults();
          assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
          assert.ok(await nothingPending(), `${fault.kind}: a request is still open after the abort`);
        }
      } finally {
        clearFaults();
        await rp.close();
      }
    });
  }
});

describe('readMany while the database is down', () => {
  it('pulls keys only as slots free and keeps at most concurrency × window requests in flight; every key read once', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 40; i++) keys.push(await freshKey());
    const rp = await open('window2', '60s');
    try {
      const held = deferred();
      for (const b of fleet.backends) b.proxy.inject({ kind: 'gate', until: held.promise });
      let pulled = 0;
      const source = (function* () {
        for (const k of keys) {
          pulled++;
          yield k;
        }
      })();
      const base = counts();
      const seen = new Map<string, number>();
      const done = (async () => {
        for await (const o of rp.readMany(source, { concurrency: 4 })) {
          assert.ok(o.ok, o.ok ? '' : o.error.message);
          seen.set(o.key, (seen.get(o.key) ?? 0) + 1);
        }
      })();
      // Nothing can finish while every request is held: what is in flight now is all there will be.
      await fleet.backend('b2').proxy.waitForRequests((base[1] as number) + 4);
      await flush(50);
      assert.deepEqual(since(base), [4, 4, 0], 'four keys, two probes each, b3 in no window');
      assert.equal(pulled, 4, 'no key pulled beyond the concurrency');
      held.resolve();
      await done;
      assert.equal(seen.size, keys.length);
      assert.ok([...seen.values()].every((n) => n === 1));
      const [r1, r2, r3] = since(base);
      assert.equal(r3, 0, 'b3 never needed');
      assert.ok((r1 as number) <= keys.length && (r2 as number) <= keys.length);
    } finally {
      clearFaults();
      await rp.close();
    }
  });
});
