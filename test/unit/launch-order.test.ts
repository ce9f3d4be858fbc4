/**
 * Launch order and staggering of broadcasts: the `fastest` order learned from earlier probes,
 * where it applies (only when every backend is probed anyway) and where it must not, and the
 * staggered launch that puts the first request on the wire before the others are built.
 * Latencies come from a fake clock; no wall-clock time is asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPathError, hasCode } from '../../src/errors.js';
import { createHedging } from '../../src/policies/hedging.js';
import type { Probe, ProbeResult } from '../../src/types.js';
import { loc, makeWorld, scriptedProbe } from '../helpers/core-world.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { flush } from '../helpers/gate.js';

const ok = (v: string): ProbeResult<string> => ({ size: v.length, value: v });

function world(names: string[], opts: Parameters<typeof makeWorld>[1] = {}) {
  const clock = new FakeClock();
  const w = makeWorld(names, { timers: clock, now: clock.now, parallelBroadcast: true, ...opts });
  w.store.setAvailable(false);
  return { ...w, clock };
}

/** One degraded read in which `winner` answers after `ms` of fake time; the others are cancelled. */
async function race(w: ReturnType<typeof world>, key: string, winner: string, ms: number): Promise<string[]> {
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', key, p.probe);
  await flush();
  const started = p.started();
  w.clock.t += ms;
  p.calls.find((c) => c.backendName === winner)?.gate.resolve(ok(winner));
  assert.equal((await read).backend, winner);
  await flush();
  for (const c of p.calls) if (c.backendName !== winner) c.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  return started;
}

test('fastest order: with no data the config order; then the backend that has been winning goes first', async () => {
  const w = world(['b1', 'b2', 'b3']);
  assert.deepEqual(await race(w, 'k1', 'b2', 10), ['b1', 'b2', 'b3'], 'nothing learned yet');
  assert.deepEqual(await race(w, 'k2', 'b2', 10), ['b2', 'b1', 'b3'], 'b2 won; the cancelled losers rank behind it');
  // b3 turns out faster than b2.
  assert.deepEqual(await race(w, 'k3', 'b3', 4), ['b2', 'b1', 'b3']);
  assert.deepEqual(await race(w, 'k4', 'b3', 4), ['b3', 'b2', 'b1'], 'b2 lost in 4 ms: now behind b3, still ahead of b1');
  const est = (b: string) => w.failover.speed?.estimate('GetObject', b);
  assert.equal(est('b3'), 4);
  assert.ok((est('b2') as number) > 4 && (est('b1') as number) > (est('b2') as number));
});

test("launchOrder 'config' keeps BackendOrder and learns nothing", async () => {
  const w = world(['b1', 'b2', 'b3'], { launchOrder: 'config' });
  await race(w, 'k1', 'b3', 1);
  assert.deepEqual(await race(w, 'k2', 'b3', 1), ['b1', 'b2', 'b3']);
  assert.equal(w.failover.speed, undefined);
});

test('a capped window, a sequential and a hedged broadcast follow BackendOrder whatever was learned', async () => {
  for (const opts of [{ degradedBroadcastParallelism: 2 }, { parallelBroadcast: false }]) {
    const w = world(['b1', 'b2', 'b3'], opts);
    for (const b of ['b1', 'b2']) w.failover.speed?.lost('GetObject', b, 50, 50);
    w.failover.speed?.succeeded('GetObject', 'b3', 1);
    const p = scriptedProbe();
    const read = w.failover.read('GetObject', 'k', p.probe);
    await flush();
    assert.equal(p.started()[0], 'b1', JSON.stringify(opts));
    p.calls[0]?.gate.resolve(ok('one'));
    await read;
    await flush();
    for (const c of p.calls.slice(1)) c.gate.reject(new ReadPathError('ABORTED', 'x'));
  }
  const clock = new FakeClock();
  let factory: ReturnType<typeof createHedging> | undefined;
  const w = makeWorld(['b1', 'b2', 'b3'], { timers: clock, now: clock.now, parallelBroadcast: true, hedgePolicy: (op, path) => factory?.(op, path) });
  factory = createHedging({ enabled: true, delayMs: 50, recorder: w.recorder });
  w.store.setAvailable(false);
  w.failover.speed?.succeeded('GetObject', 'b3', 1);
  const p = scriptedProbe({ b1: async () => ok('one') });
  assert.equal((await w.failover.read('GetObject', 'k', p.probe)).backend, 'b1');
  assert.deepEqual(p.started(), ['b1'], 'a hedged broadcast starts with the first in BackendOrder');
});

test('located reads feed the estimates that order a later broadcast', async () => {
  const w = world(['b1', 'b2']);
  w.store.add(loc('k', 'b2', 1));
  w.store.setAvailable(true);
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  w.clock.t += 7;
  p.calls[0]?.gate.resolve(ok('two'));
  await read;
  assert.equal(w.failover.speed?.estimate('GetObject', 'b2'), 7);
  w.store.setAvailable(false);
  assert.deepEqual(await race(w, 'k2', 'b1', 3), ['b2', 'b1']);
});

/** A probe that, like an SDK call, builds its request over a few microtasks before "sending" it. */
function chainProbe(log: string[], answer: (name: string) => Promise<ProbeResult<string>>): Probe<string> {
  return async (req) => {
    log.push(`launch ${req.backendName}`);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    log.push(`sent ${req.backendName}`);
    return answer(req.backendName);
  };
}

test('staggered launch: the first request is built and sent before the others start; together they interleave', async () => {
  const never = () => new Promise<ProbeResult<string>>(() => {});
  for (const stagger of [true, false]) {
    const w = world(['b1', 'b2', 'b3'], { staggerLaunches: stagger });
    const log: string[] = [];
    const ac = new AbortController();
    const read = w.failover.read('GetObject', 'k', chainProbe(log, never), { signal: ac.signal });
    await flush();
    const firstSent = log.indexOf('sent b1');
    const secondLaunch = log.indexOf('launch b2');
    assert.ok(firstSent >= 0 && secondLaunch >= 0, log.join(', '));
    if (stagger) assert.ok(firstSent < secondLaunch, `staggered: ${log.join(', ')}`);
    else assert.ok(secondLaunch < firstSent, `together: ${log.join(', ')}`);
    ac.abort();
    await assert.rejects(read, (e: unknown) => hasCode(e, 'ABORTED'));
  }
});

test('staggered launch: an answer that arrives before the rest are launched wins alone; together, all three are probed', async () => {
  for (const stagger of [true, false]) {
    const w = world(['b1', 'b2', 'b3'], { staggerLaunches: stagger });
    const log: string[] = [];
    const out = await w.failover.read('GetObject', 'k', chainProbe(log, async (n) => ok(n)));
    assert.equal(out.backend, 'b1');
    await flush();
    const launched = log.filter((l) => l.startsWith('launch')).length;
    assert.equal(launched, stagger ? 1 : 3, log.join(', '));
  }
});

test('a caller abort while the rest of a staggered launch is pending launches nothing more', async () => {
  const w = world(['b1', 'b2', 'b3']);
  const p = scriptedProbe();
  const ac = new AbortController();
  const read = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  // The first probe is launched synchronously with the broadcast; the rest wait for the
  // microtasks to drain. Abort before that.
  await Promise.resolve();
  const before = p.started().length;
  ac.abort();
  await assert.rejects(read, (e: unknown) => hasCode(e, 'ABORTED'));
  await flush();
  assert.ok(before <= 1, `launched before the abort: ${before}`);
  assert.equal(p.started().length, before, 'nothing launched after the abort');
  for (const c of p.calls) assert.equal(c.signal.aborted, true);
});

test('an unknown launchOrder is INVALID_CONFIG', () => {
  assert.throws(() => makeWorld(['b1'], { launchOrder: 'random' as 'config' }), (e: unknown) => hasCode(e, 'INVALID_CONFIG'));
});
