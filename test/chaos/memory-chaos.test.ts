/**
 * Seeded chaos over in-memory fault-injecting backends (chaos-backends.ts): 20,000 keys by
 * default (READPATH_CHAOS_KEYS=100000 for the big run, READPATH_CHAOS_SEED=n for another
 * world) through one ReadPath, while the metadata store goes away and comes back twice and,
 * with the pool executor, a worker dies mid-probe. Every key gets exactly one outcome, no body
 * that fails its hash is served (degraded reads included: a damaged copy contradicts its MD5
 * ETag), and every key with a good copy is read.
 *
 * Then an abort in the middle of a batch whose probes hang and ignore their signals: the batch
 * ends with ABORTED without waiting for them, and the same reader keeps working.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import {
  ChaosCounters, bodyOf, chaosPlan, copyFault, expectations, hashOf, keyName, replicas, type ChaosPlan,
} from '../helpers/chaos-backends.js';
import { formatSummary, judgeChaos, runChaosBatch, type KeyTruth } from '../helpers/chaos-run.js';
import { chaosExecutors, openChaosReader } from '../helpers/chaos-reader.js';

const KEYS = Number(process.env.READPATH_CHAOS_KEYS ?? 20_000);
const SEED = Number(process.env.READPATH_CHAOS_SEED ?? 0xc4a05);

function seedStore(plan: ChaosPlan): MemoryMetadataStore {
  const store = new MemoryMetadataStore();
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < plan.keys; i++) {
    const hash = hashOf(plan, i);
    const key = keyName(i);
    replicas(plan, i).forEach((b, j) => store.add({
      objectKey: key, backendName: b, sizeBytes: bodyOf(plan, i).byteLength, createdAt: new Date(t0 + j), encrypted: false, contentHash: hash,
    }));
  }
  return store;
}

function truthOf(plan: ChaosPlan): (key: string) => KeyTruth {
  const byKey = new Map<string, number>();
  for (let i = 0; i < plan.keys; i++) byKey.set(keyName(i), i);
  return (key) => {
    const i = byKey.get(key) as number;
    const e = expectations(plan, i);
    return { hash: hashOf(plan, i), good: e.good, hopeless: e.hopeless };
  };
}

/** How degraded broadcasts (and, hedged, located reads too) try copies. */
type Strategy = 'parallel' | 'sequential' | 'hedged';

const STRATEGIES: Record<Strategy, Pick<ReadPathConfig, 'circuit_breaker' | 'hedging'>> = {
  parallel: { circuit_breaker: { parallel_broadcast: true, degraded_broadcast_parallelism: 2 } },
  sequential: { circuit_breaker: { parallel_broadcast: false } },
  // Hedge after 2 ms, located reads too: latency faults (1-3 ms) and hangs (25 ms) trigger hedges.
  hedged: { circuit_breaker: { parallel_broadcast: false }, hedging: { enabled: true, delay: '2ms', max_extra_load: 0.5, located_reads: true } },
};

const config = (plan: ChaosPlan, strategy: Strategy): ReadPathConfig => ({
  backends: plan.names.map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
  database: { driver: 'memory' },
  ...STRATEGIES[strategy],
  circuit_breaker: { failure_threshold: 3, open_timeout: '20ms', ...STRATEGIES[strategy].circuit_breaker },
  logging: { level: 'silent' },
});

/** The runs: 20,000 keys (READPATH_CHAOS_KEYS) on each executor, smaller ones for the other strategies. */
const RUNS: { kind: 'inline' | 'pool'; strategy: Strategy; keys: number }[] = chaosExecutors().flatMap((kind) => [
  { kind, strategy: 'parallel' as const, keys: KEYS },
  ...(kind === 'inline' ? [{ kind, strategy: 'sequential' as const, keys: Math.min(KEYS, 5000) }] : []),
  { kind, strategy: 'hedged' as const, keys: Math.min(KEYS, 5000) },
]);

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.splice(0)) await c();
});

for (const { kind, strategy, keys: n } of RUNS) {
  test(`chaos (${kind} executor, ${strategy}): ${n} keys, faulty copies, two store outages${kind === 'pool' ? ', a worker killed' : ''}`, async () => {
    const plan = chaosPlan({ keys: n, seed: SEED });
    const store = seedStore(plan);
    const rp = await openChaosReader(kind, config(plan, strategy), plan, store);
    closers.push(() => rp.close());
    const counters = new ChaosCounters(plan);
    const keys = Array.from({ length: plan.keys }, (_, i) => keyName(i));
    // Outages over 25–40% and 65–75% of the batch; a worker death at 50% (pool).
    const schedule = (done: number): void => {
      const f = done / plan.keys;
      store.setAvailable(!((f >= 0.25 && f < 0.4) || (f >= 0.65 && f < 0.75)));
      if (kind === 'pool' && done === Math.floor(plan.keys / 2)) counters.requestKill(1);
    };
    const r = await runChaosBatch(rp, keys, { concurrency: 64, onProgress: schedule });
    store.setAvailable(true);
    const s = judgeChaos(keys, truthOf(plan), r, {
      // A probe lost with the dying worker (running, or dispatched to it and not yet begun):
      // its key may fail whatever its copies.
      excused: (key) => {
        const i = keys.indexOf(key);
        return counters.starts(i) > counters.ends(i) || rp.workerDeaths?.has(key) === true;
      },
    });
    console.log(formatSummary(`memory chaos (${kind}, ${strategy})`, s));
    assert.ok(s.degraded > 0, 'the outages sent reads down the degraded path');
    assert.ok(s.byCode.OK !== undefined && s.ok >= s.mustSucceed - s.excused, 'every key with a good copy succeeded');
    if (kind === 'pool') {
      assert.equal(counters.killed, 1, 'a worker died mid-run');
      // Its probes were dispatched once more, to a live worker: none was lost with it.
      assert.equal(rp.workerDeaths?.size ?? 0, 0, 'no probe was lost with it');
      assert.ok(s.excused <= (rp.workerDeaths?.size ?? 0), 'only keys whose probe died with the worker are excused');
    }
  });

}

for (const kind of chaosExecutors()) {
  test(`chaos (${kind} executor): an abort mid-batch ends it without waiting for probes that ignore their signals; the reader keeps working`, async () => {
    // 2% of copies never answer and ignore their signal.
    const plan = chaosPlan({ keys: 4000, seed: SEED + 1, faultRate: 0.02, faults: [['blackhole', 1]] });
    const store = seedStore(plan);
    const rp = await openChaosReader(kind, config(plan, 'parallel'), plan, store);
    closers.push(() => rp.close());
    const counters = new ChaosCounters(plan);
    const truth = truthOf(plan);
    const keys = Array.from({ length: plan.keys }, (_, i) => keyName(i));
    const ac = new AbortController();
    let abortedAt = 0;
    let yielded = 0;
    await assert.rejects(runChaosBatch(rp, keys, {
      concurrency: 64,
      signal: ac.signal,
      onProgress: async (done) => {
        yielded = done;
        // Abort once a quarter is done and at least one probe is stuck in a black hole.
        if (done === 1000) {
          assert.ok(counters.blackholes > 0, 'some probes are stuck when the abort comes');
          abortedAt = performance.now();
          ac.abort(new Error('operator pressed ^C'));
        }
      },
    }), { code: 'ABORTED' });
    const abortLatencyMs = performance.now() - abortedAt;
    console.log(`memory chaos abort (${kind}): batch ended ${abortLatencyMs.toFixed(1)} ms after the abort with ${counters.blackholes} probes still stuck; ${yielded} outcomes before it`);
    assert.ok(counters.blackholes > 0, 'the stuck probes are still stuck: the batch did not wait for them');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the caller signal');
    assert.ok(yielded >= 1000 && yielded < plan.keys);

    // The same reader keeps working: every key with a good copy, read again.
    const clean = (i: number): boolean => replicas(plan, i).every((b) => copyFault(plan, b, i) === 'none');
    const good = keys.filter((_, i) => clean(i)).slice(0, 500);
    const again = await runChaosBatch(rp, good, { concurrency: 64 });
    const s = judgeChaos(good, truth, again);
    assert.equal(s.ok, good.length, 'after the abort every good key reads');
    const caller = new AbortController();
    const one = await rp.get(good[0] as string, { signal: caller.signal });
    assert.equal(one.verified, true);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0, 'a finished read leaves no listener');
  });
}
