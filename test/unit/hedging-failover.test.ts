/**
 * Hedged reads through the Failover, on a fake clock: probes are gates the test settles, time
 * moves only when the test advances it, so "exactly at the delay" is checked to the millisecond.
 */
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPathError, UsageLimitSkipError } from '../../src/errors.js';
import { backendBreaker } from '../../src/policies/backend-breaker.js';
import { createHedging, type HedgingOptions } from '../../src/policies/hedging.js';
import { makeWorld, scriptedProbe, loc } from '../helpers/core-world.js';
import { flush } from '../helpers/gate.js';
import { FakeClock } from '../helpers/fake-clock.js';

const ok = (v: string) => ({ size: v.length, value: v });
const boom = () => new ReadPathError('BACKEND_ERROR', 'scripted 500', { backendStatus: 500 });

function hedgedWorld(names: string[], hedging: Partial<HedgingOptions>, opts: Parameters<typeof makeWorld>[1] = {}) {
  const clock = new FakeClock();
  // The recorder is made by makeWorld, so the factory is built after it and looked up lazily.
  let factory: ReturnType<typeof createHedging> | undefined;
  const w = makeWorld(names, {
    timers: clock,
    now: clock.now,
    hedgePolicy: (op, path) => factory?.(op, path),
    ...opts,
  });
  factory = createHedging({ enabled: true, delayMs: 50, recorder: w.recorder, ...hedging });
  w.store.setAvailable(false);
  return { ...w, clock, hedging: factory };
}

const sent = (w: { recorder: { count(n: string, l?: Record<string, string>): number } }) => w.recorder.count('hedges_sent_total', { operation: 'GetObject' });

test('a hedge fires exactly at the delay, not a millisecond before; the hedge wins and the primary is cancelled', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(49);
  assert.deepEqual(p.started(), ['b1'], 'no hedge before the delay');
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'hedge at exactly 50 ms');
  assert.equal(sent(w), 1);
  p.calls[1]?.gate.resolve(ok('two'));
  const out = await read;
  assert.equal(out.backend, 'b2');
  assert.equal(out.degraded, true);
  await flush();
  assert.equal(p.calls[0]?.signal.aborted, true, 'the slow primary is cancelled');
  assert.equal(p.calls[1]?.signal.aborted, false, "the winner's signal is never aborted");
  assert.equal(w.recorder.count('hedges_won_total', { operation: 'GetObject' }), 1);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'no third probe after the win');
  p.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  await w.clock.advance(1000);
  assert.deepEqual(w.clock.pendingDue(), [], 'no timer left behind');
});

test('a primary that answers before the delay wins alone: no hedge, no timer left', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 50 });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(30);
  p.calls[0]?.gate.resolve(ok('one'));
  assert.equal((await read).backend, 'b1');
  await w.clock.advance(100);
  assert.deepEqual(p.started(), ['b1']);
  assert.equal(sent(w), 0);
  assert.equal(w.recorder.count('hedges_won_total'), 0);
  assert.deepEqual(w.clock.pendingDue(), []);
});

test('hedges keep coming one per delay up to the window cap, never beyond it', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3', 'b4'], { delayMs: 10 }, { degradedBroadcastParallelism: 3 });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(10);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  await w.clock.advance(9);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3']);
  await w.clock.advance(500);
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3'], 'the cap of 3 is never exceeded');
  assert.deepEqual(w.clock.pendingDue(), [], 'no hedge timer armed at the cap');
  assert.equal(sent(w), 2);
  p.calls[2]?.gate.resolve(ok('three'));
  assert.equal((await read).backend, 'b3');
  await flush();
  assert.equal(p.calls[0]?.signal.aborted, true);
  assert.equal(p.calls[1]?.signal.aborted, true);
});

test('a failure launches the next copy at once, without waiting for the delay, and is not a hedge', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(10);
  p.calls[0]?.gate.reject(boom());
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2'], 'b2 started at t=10 on the failure');
  assert.equal(sent(w), 0, 'a failover is not a hedge');
  // The delay restarts from b2's launch: the hedge to b3 is due at 10 + 50.
  await w.clock.advance(49);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3']);
  assert.equal(sent(w), 1);
  p.calls[1]?.gate.resolve(ok('two'));
  assert.equal((await read).backend, 'b2');
  await flush();
  assert.equal(p.calls[2]?.signal.aborted, true, 'the hedge lost and is cancelled');
  assert.equal(w.recorder.count('hedges_won_total'), 0);
});

test('no hedge when the budget is spent: the read waits for its probe and exhaustion is counted', async () => {
  // A burst allowance of one hedge, refilled at 5% per primary read.
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 20, maxExtraLoad: 0.05, budgetCapacity: 1 });
  const p1 = scriptedProbe();
  const r1 = w.failover.read('GetObject', 'k1', p1.probe);
  await w.clock.advance(20);
  assert.deepEqual(p1.started(), ['b1', 'b2'], 'the one token buys a hedge');
  p1.calls[1]?.gate.resolve(ok('two'));
  await r1;
  p1.calls[0]?.gate.reject(boom());

  const p2 = scriptedProbe();
  const r2 = w.failover.read('GetObject', 'k2', p2.probe);
  await w.clock.advance(20);
  assert.deepEqual(p2.started(), ['b1'], 'out of budget: no hedge');
  assert.equal(w.recorder.count('hedge_budget_exhausted_total', { operation: 'GetObject' }), 1);
  await w.clock.advance(1000);
  assert.deepEqual(p2.started(), ['b1'], 'and no retry of the hedge later');
  assert.deepEqual(w.clock.pendingDue(), []);
  p2.calls[0]?.gate.resolve(ok('one'));
  assert.equal((await r2).backend, 'b1');
  assert.equal(sent(w), 1);

  // Nineteen more primaries (each depositing 0.05) make up one token again.
  const before = w.hedging.snapshot().budgetTokens;
  assert.ok(before < 1);
  for (let i = 0; i < 19; i++) {
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', `fill${i}`, p.probe);
    await flush();
    p.calls[0]?.gate.resolve(ok('one'));
    await r;
  }
  const p3 = scriptedProbe();
  const r3 = w.failover.read('GetObject', 'k3', p3.probe);
  await w.clock.advance(20);
  assert.deepEqual(p3.started(), ['b1', 'b2'], 'the refilled token buys the next hedge');
  p3.calls[0]?.gate.resolve(ok('one'));
  await r3;
  p3.calls[1]?.gate.reject(boom());
  assert.equal(sent(w), 2);
});

const won = (w: { recorder: { count(n: string, l?: Record<string, string>): number } }) => w.recorder.count('hedges_won_total', { operation: 'GetObject' });

/** What dispatch answers for a backend over its usage limit: a skip, before anything is sent. */
const usageRefusal = () => Promise.reject(new UsageLimitSkipError('b2', { limit: 'api_requests' }));

/** What dispatch answers for a backend whose breaker is open: the breaker's own rejection. */
async function openBreakerRefusal(): Promise<() => Promise<never>> {
  const breaker = backendBreaker('b2', { failureThreshold: 1, openTimeoutMs: 3_600_000 });
  await breaker.execute(() => Promise.reject(boom())).catch(() => undefined);
  assert.equal(breaker.state(), 'open');
  return () => breaker.execute(() => Promise.reject(new Error('an open breaker never calls through')));
}

for (const [why, refusal] of [['a usage limit', async () => usageRefusal], ['an open breaker', openBreakerRefusal]] as const) {
  test(`a hedge ${why} refuses at dispatch is not sent: the next copy goes as the hedge, counted and paid once`, async () => {
    const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50, budgetCapacity: 2 });
    const p = scriptedProbe({ b2: await refusal() });
    const read = w.failover.read('GetObject', 'k', p.probe);
    await w.clock.advance(49);
    assert.deepEqual(p.started(), ['b1']);
    await w.clock.advance(1);
    assert.deepEqual(p.started(), ['b1', 'b2', 'b3'], 'b2 refused the hedge; b3 took its place at once');
    assert.equal(sent(w), 1, 'one hedge sent (b3), none for the refusal');
    assert.equal(w.hedging.snapshot().budgetTokens, 1, 'one token spent, for the one hedge sent');
    p.calls[2]?.gate.resolve(ok('three'));
    assert.equal((await read).backend, 'b3');
    assert.equal(won(w), 1, 'the copy launched in the refused hedge\'s place won as a hedge');
    p.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
    await w.clock.advance(1000);
    assert.deepEqual(w.clock.pendingDue(), []);
  });
}

test('a refused hedge with no copy left to replace it spends no budget and is not counted', async () => {
  // One token: were it spent on the refusal, the next read could not hedge.
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 20, budgetCapacity: 1 });
  const p1 = scriptedProbe({ b2: usageRefusal });
  const r1 = w.failover.read('GetObject', 'k1', p1.probe);
  await w.clock.advance(20);
  assert.deepEqual(p1.started(), ['b1', 'b2']);
  assert.equal(sent(w), 0, 'the refused hedge was never sent');
  assert.equal(w.hedging.snapshot().budgetTokens, 1, 'its token is back');
  p1.calls[0]?.gate.resolve(ok('one'));
  assert.equal((await r1).backend, 'b1');
  assert.equal(won(w), 0);

  const p2 = scriptedProbe();
  const r2 = w.failover.read('GetObject', 'k2', p2.probe);
  await w.clock.advance(20);
  assert.deepEqual(p2.started(), ['b1', 'b2'], 'the token still buys the next read\'s hedge');
  assert.equal(w.recorder.count('hedge_budget_exhausted_total'), 0);
  assert.equal(sent(w), 1);
  p2.calls[1]?.gate.resolve(ok('two'));
  assert.equal((await r2).backend, 'b2');
  assert.equal(won(w), 1);
  p2.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
});

test('a hedge that was sent and failed fast is counted as sent; the copy after it is a failover, not a hedge', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50, budgetCapacity: 2 });
  const p = scriptedProbe({ b2: () => Promise.reject(boom()) });
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(50);
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3']);
  assert.equal(sent(w), 1);
  assert.equal(w.hedging.snapshot().budgetTokens, 1);
  p.calls[2]?.gate.resolve(ok('three'));
  assert.equal((await read).backend, 'b3');
  assert.equal(won(w), 0, 'b3 replaced a failure');
  p.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
});

test('max_extra_load 0 never hedges, and every due hedge counts as budget exhaustion', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 5, maxExtraLoad: 0 });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(100);
  assert.deepEqual(p.started(), ['b1']);
  assert.equal(w.recorder.count('hedge_budget_exhausted_total'), 1);
  p.calls[0]?.gate.resolve(ok('one'));
  await read;
});

test('hedging turns a parallel broadcast into a hedged one: one probe first, the next after the delay', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 30 }, { parallelBroadcast: true });
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(29);
  assert.deepEqual(p.started(), ['b1']);
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  p.calls[0]?.gate.resolve(ok('one'));
  assert.equal((await read).backend, 'b1');
  await flush();
  assert.equal(p.calls[1]?.signal.aborted, true);
  assert.equal(w.recorder.count('hedges_won_total'), 0);
});

test('the auto delay starts at the fallback, then follows the chosen percentile of observed successes', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 'auto', percentile: 90, fallbackDelayMs: 40, minSamples: 10, maxExtraLoad: 1 });
  const p0 = scriptedProbe();
  const r0 = w.failover.read('GetObject', 'k0', p0.probe);
  await w.clock.advance(39);
  assert.deepEqual(p0.started(), ['b1']);
  await w.clock.advance(1);
  assert.deepEqual(p0.started(), ['b1', 'b2'], 'before enough samples: the fallback delay');
  p0.calls[0]?.gate.resolve(ok('one'));
  await r0; // sample: 40 ms
  p0.calls[1]?.gate.reject(boom());
  // Latencies 1..9 ms, then the 40 above: 10 samples; p90 (nearest rank 9 of 10) = 9 ms.
  for (let ms = 1; ms <= 9; ms++) {
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', `k${ms}`, p.probe);
    await w.clock.advance(ms);
    p.calls[0]?.gate.resolve(ok('one'));
    await r;
  }
  assert.equal(w.hedging.snapshot().operations['GetObject']?.delayMs, 9);
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'next', p.probe);
  await w.clock.advance(8);
  assert.deepEqual(p.started(), ['b1']);
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'the hedge now fires at the observed p90');
  p.calls[1]?.gate.resolve(ok('two'));
  assert.equal((await r).backend, 'b2');
  p.calls[0]?.gate.reject(boom());
});

test('fast failures are not latency samples', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 'auto', minSamples: 1, maxExtraLoad: 1 });
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(1);
  p.calls[0]?.gate.reject(boom());
  await w.clock.advance(25);
  p.calls[1]?.gate.resolve(ok('two'));
  await r;
  const snap = w.hedging.snapshot().operations['GetObject'];
  assert.equal(snap?.samples, 1);
  assert.equal(snap?.delayMs, 25, "only the winner's 25 ms was sampled, not the 1 ms failure");
});

test('located_reads: the second stored copy is tried after the delay, not only after a failure', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 20, locatedReads: true });
  w.store.setAvailable(true);
  w.store.add(loc('k', 'b2', 1));
  w.store.add(loc('k', 'b1', 2));
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(19);
  assert.deepEqual(p.started(), ['b2'], 'the first stored copy alone');
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b2', 'b1'], 'the second copy at the delay');
  assert.notEqual(p.calls[1]?.location, null, 'located probes carry their row');
  p.calls[1]?.gate.resolve(ok('one'));
  const out = await read;
  assert.equal(out.backend, 'b1');
  assert.equal(out.failover, true);
  assert.equal(out.degraded, false);
  await flush();
  assert.equal(p.calls[0]?.signal.aborted, true);
  assert.equal(w.recorder.count('hedges_won_total', { operation: 'GetObject' }), 1);
});

test('without located_reads the located path never hedges and does not spend budget', async () => {
  const calls: string[] = [];
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 20 });
  const inner = w.hedging;
  const spyWorld = makeWorld(['b1', 'b2'], {
    timers: w.clock,
    hedgePolicy: (op, path) => {
      calls.push(path);
      return inner(op, path);
    },
  });
  spyWorld.store.add(loc('k', 'b1', 1));
  spyWorld.store.add(loc('k', 'b2', 2));
  const tokens = inner.snapshot().budgetTokens;
  const p = scriptedProbe();
  const read = spyWorld.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(500);
  assert.deepEqual(p.started(), ['b1']);
  p.calls[0]?.gate.resolve(ok('one'));
  await read;
  assert.deepEqual(calls, ['located']);
  assert.equal(inner.snapshot().budgetTokens, tokens, 'no deposit for a path that is not hedged');
});

test('single-candidate runs (one stored copy, a cache hit on the only backend) do not ask the policy', async () => {
  const paths: string[] = [];
  const clock = new FakeClock();
  const w = makeWorld(['b1', 'b2'], { timers: clock, hedgePolicy: (_op, path) => { paths.push(path); return undefined; } });
  w.store.add(loc('one', 'b1', 1));
  const p = scriptedProbe({ b1: async () => ok('one'), b2: async () => ok('two') });
  assert.equal((await w.failover.read('GetObject', 'one', p.probe)).backend, 'b1');
  w.store.setAvailable(false);
  w.core.map.delete('b1');
  w.cache.set('k', 'b2');
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.cacheHit, true);
  assert.deepEqual(paths, [], 'a run that cannot hedge spends no budget');
});

test('a degraded cache hit that could be hedged asks the policy once, and a failed hit does not ask it again', async () => {
  const paths: string[] = [];
  const clock = new FakeClock();
  const w = makeWorld(['b1', 'b2'], { timers: clock, hedgePolicy: (_op, path) => { paths.push(path); return undefined; } });
  w.store.setAvailable(false);
  w.cache.set('k', 'b2');
  const p = scriptedProbe({ b1: async () => ok('one'), b2: async () => ok('two') });
  assert.equal((await w.failover.read('GetObject', 'k', p.probe)).cacheHit, true);
  assert.deepEqual(paths, ['degraded'], 'one primary request');
  const f = scriptedProbe({ b1: async () => ok('one'), b2: () => Promise.reject(boom()) });
  const out = await w.failover.read('GetObject', 'k', f.probe);
  assert.deepEqual([out.backend, out.cacheHit], ['b1', false]);
  assert.deepEqual(f.started(), ['b2', 'b1'], 'unhedged: the hit alone, then the broadcast');
  assert.deepEqual(paths, ['degraded', 'degraded'], 'one ask per read, not one for the hit and one for the broadcast');
});

test('a slow cached backend under hedging: at exactly the delay the broadcast starts without it; another backend wins and replaces it in the cache', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  w.cache.set('k', 'b1');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(49);
  assert.deepEqual(p.started(), ['b1'], 'the cached backend alone until the delay');
  await w.clock.advance(1);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'at the delay the broadcast starts, passing over the cached b1 still in flight');
  assert.equal(sent(w), 1, 'the overlap\'s request is a hedge');
  p.calls[1]?.gate.resolve(ok('two'));
  const out = await read;
  assert.deepEqual([out.backend, out.cacheHit, out.degraded], ['b2', false, true]);
  assert.equal(w.cache.get('k'), 'b2', 'the winner is cached in the slow one\'s place');
  assert.equal(won(w), 1);
  assert.equal(w.recorder.count('degraded_cache_hits_total'), 0);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'success' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds'), 1, 'one broadcast');
  await flush();
  assert.equal(p.calls[0]?.signal.aborted, true, 'the held cached probe is cancelled');
  assert.equal(p.calls[1]?.signal.aborted, false);
  p.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  await w.clock.advance(1000);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'b3 never asked, b1 never asked twice');
  assert.deepEqual(w.clock.pendingDue(), []);
});

test('a hedged cache hit that answers before the delay costs one request: a cache hit, no hedge, no timer left', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  w.cache.set('k', 'b2');
  const setSpy = mock.method(w.cache, 'set');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(49);
  p.calls[0]?.gate.resolve(ok('two'));
  const out = await read;
  assert.deepEqual([out.backend, out.cacheHit, out.degraded], ['b2', true, true]);
  assert.deepEqual(p.started(), ['b2']);
  assert.equal(sent(w), 0);
  assert.equal(setSpy.mock.callCount(), 0, 'a hit does not re-set the cache');
  assert.equal(w.recorder.count('degraded_cache_hits_total', { operation: 'GetObject' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'cache_hit' }), 1);
  await w.clock.advance(1000);
  assert.deepEqual(p.started(), ['b2']);
  assert.deepEqual(w.clock.pendingDue(), [], 'the hedge timer is cleared');
});

test('the held cached probe winning the overlap is still the cache hit; the hedge is cancelled', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  w.cache.set('k', 'b2');
  const setSpy = mock.method(w.cache, 'set');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(50);
  assert.deepEqual(p.started(), ['b2', 'b1']);
  p.calls[0]?.gate.resolve(ok('two'));
  const out = await read;
  assert.deepEqual([out.backend, out.cacheHit], ['b2', true]);
  assert.equal(setSpy.mock.callCount(), 0);
  assert.equal(w.recorder.count('degraded_cache_hits_total', { operation: 'GetObject' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'cache_hit' }), 1);
  assert.equal(sent(w), 1);
  assert.equal(won(w), 0, 'the cached probe is not a hedge');
  await flush();
  assert.equal(p.calls[1]?.signal.aborted, true, 'the losing hedge is cancelled');
  p.calls[1]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  await w.clock.advance(1000);
  assert.deepEqual(w.clock.pendingDue(), []);
});

test('a cached probe failing in the overlap after its turn passed: its backend is probed again next, and its failure is not counted', async () => {
  // Cap 2: the held cached b1 and one hedge. b2 and b3 answer 404; so does b1 when asked again.
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 }, { degradedBroadcastParallelism: 2 });
  w.cache.set('k', 'b1');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(50);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'b1 is passed over: its first probe is its attempt');
  p.calls[1]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b2 404', { backendStatus: 404 }));
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3'], 'b2\'s failure launches b3, not b1 (still in flight)');
  p.calls[0]?.gate.reject(boom());
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3', 'b1'], 'the cached probe failed: b1\'s turn had passed, so it goes next');
  p.calls[2]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b3 404', { backendStatus: 404 }));
  p.calls[3]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b1 404', { backendStatus: 404 }));
  // Were the cached probe's 500 counted, this would be a mixed ALL_BACKENDS_FAILED.
  await assert.rejects(read, { code: 'OBJECT_NOT_FOUND' });
  assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total'), 0);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'not_found' }), 1);
  await w.clock.advance(1000);
  assert.deepEqual(w.clock.pendingDue(), []);
});

test('a cached probe failing in the overlap before its turn: its backend is probed again in its place in BackendOrder', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 50 });
  w.cache.set('k', 'b3');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(50);
  assert.deepEqual(p.started(), ['b3', 'b1']);
  p.calls[0]?.gate.reject(boom());
  await flush();
  assert.deepEqual(p.started(), ['b3', 'b1', 'b2'], 'the failure launches the next in order, b2');
  await w.clock.advance(50);
  assert.deepEqual(p.started(), ['b3', 'b1', 'b2', 'b3'], 'then b3 in its own place, as a hedge');
  p.calls[3]?.gate.resolve(ok('three'));
  const out = await read;
  assert.deepEqual([out.backend, out.cacheHit], ['b3', false], 'the broadcast\'s probe of b3 won: not the cache hit');
  assert.equal(w.recorder.count('degraded_cache_hits_total'), 0);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'success' }), 1);
  for (const c of p.calls.slice(1, 3)) c.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
});

test('a hedged cached probe failing before the delay: the broadcast probes every backend, the cached one included, and the failure is not counted', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 50 });
  w.cache.set('k', 'b2');
  const p = scriptedProbe({ b1: async () => { throw new ReadPathError('BACKEND_ERROR', 'b1 404', { backendStatus: 404 }); } });
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(10);
  p.calls[0]?.gate.reject(boom());
  await flush();
  assert.deepEqual(p.started(), ['b2', 'b1', 'b2'], 'b1 at once on the failure, b2 again after b1\'s 404');
  assert.equal(sent(w), 0, 'no hedge: each launch replaced a failure');
  p.calls[2]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b2 404', { backendStatus: 404 }));
  await assert.rejects(read, { code: 'OBJECT_NOT_FOUND' });
  assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total'), 0);
  assert.deepEqual(w.clock.pendingDue(), []);
});

test('no budget for the overlap: the read waits for the cached probe as before, and exhaustion is counted', async () => {
  const w = hedgedWorld(['b1', 'b2'], { delayMs: 20, maxExtraLoad: 0 });
  w.cache.set('k', 'b2');
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await w.clock.advance(1000);
  assert.deepEqual(p.started(), ['b2'], 'no hedge without budget');
  assert.equal(w.recorder.count('hedge_budget_exhausted_total', { operation: 'GetObject' }), 1);
  assert.deepEqual(w.clock.pendingDue(), []);
  p.calls[0]?.gate.resolve(ok('two'));
  const out = await read;
  assert.deepEqual([out.backend, out.cacheHit], ['b2', true]);
  assert.equal(sent(w), 0);
});

test('a caller abort during the overlap cancels the held cached probe and the hedge', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 10 });
  w.cache.set('k', 'b2');
  const p = scriptedProbe();
  const ac = new AbortController();
  const read = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  await w.clock.advance(10);
  assert.deepEqual(p.started(), ['b2', 'b1']);
  ac.abort();
  await assert.rejects(read, { code: 'ABORTED' });
  await flush();
  assert.ok(p.calls.every((c) => c.signal.aborted));
  for (const c of p.calls) c.gate.reject(new ReadPathError('ABORTED', 'x'));
  await w.clock.advance(1000);
  assert.deepEqual(p.started(), ['b2', 'b1']);
  assert.deepEqual(w.clock.pendingDue(), []);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'error' }), 1);
});

test('a caller abort during a hedged read cancels every probe and leaves no timer', async () => {
  const w = hedgedWorld(['b1', 'b2', 'b3'], { delayMs: 10 });
  const p = scriptedProbe();
  const ac = new AbortController();
  const read = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  await w.clock.advance(10);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  ac.abort();
  await assert.rejects(read, (e: unknown) => (e as ReadPathError).code === 'ABORTED');
  await flush();
  assert.ok(p.calls.every((c) => c.signal.aborted));
  for (const c of p.calls) c.gate.reject(new ReadPathError('ABORTED', 'x'));
  await w.clock.advance(1000);
  assert.deepEqual(p.started(), ['b1', 'b2'], 'no hedge after the abort');
  assert.deepEqual(w.clock.pendingDue(), []);
});
