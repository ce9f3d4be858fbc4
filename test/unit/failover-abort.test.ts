import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { ReadPathError } from '../../src/errors.js';
import type { MetadataStore } from '../../src/types.js';
import { Failover } from '../../src/engine/failover.js';
import { loc, makeCore, makeWorld, scriptedProbe } from '../helpers/core-world.js';
import { deferred, flush } from '../helpers/gate.js';

const listeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

test('an already-aborted signal rejects with ABORTED and touches nothing', async () => {
  const w = makeWorld(['b1']);
  const ac = new AbortController();
  ac.abort();
  const p = scriptedProbe();
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal }), { code: 'ABORTED', httpStatus: 499 });
  assert.equal(w.store.calls, 0);
  assert.equal(p.calls.length, 0);
});

test('aborting a located read ends it with ABORTED even when the probe ignores its signal, and aborts the probe', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.add(loc('k', 'b1', 1));
  w.store.add(loc('k', 'b2', 2));
  const ac = new AbortController();
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  await flush();
  assert.equal(p.calls.length, 1);
  assert.equal(listeners(ac.signal), 1, 'one listener per read at most');
  ac.abort(new Error('user gave up'));
  await assert.rejects(r, (e: unknown) => {
    assert.equal((e as ReadPathError).code, 'ABORTED');
    return true;
  });
  assert.equal(p.calls[0]?.signal.aborted, true);
  assert.equal(listeners(ac.signal), 0);
  // The ignored probe settling later changes nothing and starts nothing.
  p.calls[0]?.gate.reject(new Error('late'));
  await flush();
  assert.deepEqual(p.started(), ['b1']);
});

test('aborting during the store lookup ends the read even if the store hangs', async () => {
  const hang = deferred<never>();
  const store: MetadataStore = { getAllObjectLocations: () => hang.promise };
  const f = new Failover({ core: makeCore(['b1']), stores: store, cache: makeWorld([]).cache });
  const ac = new AbortController();
  const r = f.read('GetObject', 'k', scriptedProbe().probe, { signal: ac.signal });
  ac.abort();
  await assert.rejects(r, { code: 'ABORTED' });
  assert.equal(listeners(ac.signal), 0);
});

test('aborting a parallel broadcast aborts every in-flight probe and launches no more', async () => {
  const w = makeWorld(['b1', 'b2', 'b3', 'b4'], { parallelBroadcast: true, degradedBroadcastParallelism: 2 });
  w.store.setAvailable(false);
  const ac = new AbortController();
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2']);
  ac.abort();
  await assert.rejects(r, { code: 'ABORTED' });
  assert.equal(p.calls[0]?.signal.aborted, true);
  assert.equal(p.calls[1]?.signal.aborted, true);
  p.calls[0]?.gate.reject(new Error('aborted'));
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2'], 'no new probe after the abort');
  assert.equal(listeners(ac.signal), 0);
  assert.equal(w.cache.get('k'), undefined);
  // The broadcast ended, in an error: one duration sample, as for any other broadcast.
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { operation: 'GetObject', outcome: 'error' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds'), 1);
});

test('aborting during a degraded cache-hit probe ends the read and never starts the broadcast', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.setAvailable(false);
  w.cache.set('k', 'b2');
  const ac = new AbortController();
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe, { signal: ac.signal });
  await flush();
  ac.abort();
  await assert.rejects(r, { code: 'ABORTED' });
  p.calls[0]?.gate.reject(new Error('late'));
  await flush();
  assert.deepEqual(p.started(), ['b2']);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { operation: 'GetObject', outcome: 'error' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds'), 1);
  assert.equal(w.recorder.count('degraded_reads_total'), 1);
});

test('successful and failed reads leave no listener on the caller signal', async () => {
  const w = makeWorld(['b1', 'b2'], { parallelBroadcast: true });
  w.store.add(loc('k', 'b1', 1));
  const ac = new AbortController();
  for (let i = 0; i < 3; i++) {
    await w.failover.read('GetObject', 'k', scriptedProbe({ b1: async () => ({ size: 1, value: 'v' }) }).probe, { signal: ac.signal });
    await assert.rejects(w.failover.read('GetObject', 'nope', scriptedProbe().probe, { signal: ac.signal }), { code: 'OBJECT_NOT_FOUND' });
  }
  w.store.setAvailable(false);
  await w.failover.read('GetObject', 'k', scriptedProbe({ b1: async () => ({ size: 1, value: 'v' }), b2: async () => ({ size: 1, value: 'w' }) }).probe, { signal: ac.signal });
  assert.equal(listeners(ac.signal), 0);
});
