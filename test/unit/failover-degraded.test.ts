import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPathError, UsageLimitSkipError } from '../../src/errors.js';
import type { ProbeResult } from '../../src/types.js';
import { loc, makeWorld, scriptedProbe } from '../helpers/core-world.js';
import { createHedging } from '../../src/policies/hedging.js';
import { flush } from '../helpers/gate.js';
import { classifyBroadcastFailure } from '../../src/engine/verdicts.js';

const ok = (v: string) => async () => ({ size: v.length, value: v });
const err = (code: ConstructorParameters<typeof ReadPathError>[0], status?: number) => async (): Promise<ProbeResult<string>> => {
  throw new ReadPathError(code, `${code} scripted`, status === undefined ? undefined : { backendStatus: status });
};
const notFound = err('BACKEND_ERROR', 404);

function degradedWorld(names: string[], opts: Parameters<typeof makeWorld>[1] = {}) {
  const w = makeWorld(names, opts);
  w.store.setAvailable(false);
  return w;
}

test('DB_UNAVAILABLE enters degraded mode: sequential broadcast in backendOrder, winner cached', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3']);
  const p = scriptedProbe({ b1: err('BACKEND_ERROR', 500), b2: ok('two'), b3: ok('three') });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.backend, 'b2');
  assert.equal(out.degraded, true);
  assert.equal(out.failover, false);
  assert.equal(out.cacheHit, false);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  assert.equal(p.calls[0]?.location, null, 'degraded probes get no location');
  assert.equal(w.cache.get('k'), 'b2');
  assert.equal(w.recorder.count('degraded_reads_total', { operation: 'GetObject' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { operation: 'GetObject', outcome: 'success' }), 1);
});

test('a cache hit on a configured backend is probed alone and served with cacheHit, without re-setting the cache', async () => {
  const w = degradedWorld(['b1', 'b2']);
  w.cache.set('k', 'b2');
  const setSpy = mock.method(w.cache, 'set');
  const p = scriptedProbe({ b1: ok('one'), b2: ok('two') });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.backend, 'b2');
  assert.equal(out.cacheHit, true);
  assert.equal(out.degraded, true);
  assert.deepEqual(p.started(), ['b2']);
  assert.equal(setSpy.mock.callCount(), 0);
  assert.equal(w.recorder.count('degraded_cache_hits_total', { operation: 'GetObject' }), 1);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'cache_hit' }), 1);
});

test('a cache entry naming an unconfigured backend is ignored: straight to the broadcast', async () => {
  const w = degradedWorld(['b1']);
  w.cache.set('k', 'gone');
  const p = scriptedProbe({ b1: ok('one') });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.cacheHit, false);
  assert.deepEqual(p.started(), ['b1']);
});

test('a failed cache hit falls through to a broadcast that probes the cached backend again, outside the tally', async () => {
  const w = degradedWorld(['b1', 'b2']);
  w.cache.set('k', 'b2');
  let b2calls = 0;
  const p = scriptedProbe({
    b1: notFound,
    // The cached probe fails with a 500; in the broadcast b2 answers 404.
    b2: async () => { b2calls++; if (b2calls === 1) throw new ReadPathError('BACKEND_ERROR', 'b2 500', { backendStatus: 500 }); throw new ReadPathError('BACKEND_ERROR', 'b2 404', { backendStatus: 404 }); },
  });
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), (e: unknown) => {
    // If the failed hit counted, this would be a mixed ALL_BACKENDS_FAILED.
    assert.equal((e as ReadPathError).code, 'OBJECT_NOT_FOUND');
    return true;
  });
  assert.deepEqual(p.started(), ['b2', 'b1', 'b2']);
  assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total'), 0);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'not_found' }), 1);
});

test('a failed cache hit then a broadcast winner re-caches the new winner', async () => {
  const w = degradedWorld(['b1', 'b2']);
  w.cache.set('k', 'b2');
  let b2 = 0;
  const p = scriptedProbe({ b1: ok('one'), b2: async () => { b2++; throw new ReadPathError('BACKEND_ERROR', `b2 #${b2}`); } });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.backend, 'b1');
  assert.equal(out.cacheHit, false);
  assert.equal(w.cache.get('k'), 'b1');
});

test('backendOrder names that are not configured are skipped; none eligible is OBJECT_NOT_FOUND', async () => {
  const w = degradedWorld(['b1']);
  w.core.map.clear();
  const p = scriptedProbe();
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), { code: 'OBJECT_NOT_FOUND' });
  assert.equal(p.calls.length, 0);
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'not_found' }), 1);
});

test('parallelBroadcast false stays sequential; true with fewer than two eligible too', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3']);
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  assert.deepEqual(p.started(), ['b1']);
  p.calls[0]?.gate.resolve({ size: 1, value: 'x' });
  await r;

  const w2 = degradedWorld(['b1', 'ghost'], { parallelBroadcast: true });
  w2.core.map.delete('ghost');
  const p2 = scriptedProbe();
  const r2 = w2.failover.read('GetObject', 'k', p2.probe);
  await flush();
  assert.deepEqual(p2.started(), ['b1']);
  p2.calls[0]?.gate.resolve({ size: 1, value: 'x' });
  assert.equal((await r2).backend, 'b1');
});

test('window cap 2 with 5 blocking probes starts exactly two; each failure launches the next in order', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3', 'b4', 'b5'], { parallelBroadcast: true, degradedBroadcastParallelism: 2 });
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2']);
  p.calls[1]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b2 down'));
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3']);
  p.calls[0]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b1 down'));
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3', 'b4']);
  p.calls[3]?.gate.resolve({ size: 4, value: 'four' });
  const out = await r;
  assert.equal(out.backend, 'b4');
  assert.equal(p.calls[2]?.signal.aborted, true, 'loser b3 aborted');
  assert.equal(p.calls[3]?.signal.aborted, false, 'winner never aborted');
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3', 'b4'], 'b5 never probed');
  p.calls[2]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
});

test('cap 1 with two failing then one succeeding picks the third', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3'], { parallelBroadcast: true, degradedBroadcastParallelism: 1 });
  const p = scriptedProbe({ b1: err('BACKEND_ERROR'), b2: err('TIMEOUT'), b3: ok('three') });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.equal(out.backend, 'b3');
  assert.deepEqual(p.started(), ['b1', 'b2', 'b3']);
});

test('parallelism 0 or above the eligible count launches every backend at once', async () => {
  for (const parallelism of [0, -1, 99]) {
    const w = degradedWorld(['b1', 'b2', 'b3'], { parallelBroadcast: true, degradedBroadcastParallelism: parallelism });
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', 'k', p.probe);
    await flush();
    assert.deepEqual(p.started(), ['b1', 'b2', 'b3'], `parallelism ${parallelism}`);
    p.calls[2]?.gate.resolve({ size: 1, value: 'c' });
    assert.equal((await r).backend, 'b3');
    assert.equal(p.calls[0]?.signal.aborted, true);
    assert.equal(p.calls[1]?.signal.aborted, true);
    p.calls[0]?.gate.reject(new Error('x'));
    p.calls[1]?.gate.reject(new Error('x'));
  }
});

test('the winner\'s cleanup runs exactly once when declared; a late loser\'s cleanup runs; the winner signal stays live', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3'], { parallelBroadcast: true });
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  let winnerCleanups = 0;
  let loserCleanups = 0;
  p.calls[1]?.gate.resolve({ size: 1, value: 'two', cleanup: () => { winnerCleanups++; } });
  const out = await r;
  assert.equal(out.backend, 'b2');
  assert.equal(winnerCleanups, 1);
  assert.equal(p.calls[1]?.signal.aborted, false);
  p.calls[0]?.gate.resolve({ size: 1, value: 'late', cleanup: () => { loserCleanups++; } });
  p.calls[2]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  await flush();
  assert.equal(loserCleanups, 1);
  assert.equal(winnerCleanups, 1);
  assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total'), 0);
});

test('a hung loser makes the drain time out; it is counted, and a success after that is not cleaned by us', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const w = degradedWorld(['b1', 'b2'], { parallelBroadcast: true, drainTimeoutMs: 500 });
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', 'k', p.probe);
    await flush();
    p.calls[0]?.gate.resolve({ size: 1, value: 'one' });
    assert.equal((await r).backend, 'b1');
    assert.equal(p.calls[1]?.signal.aborted, true);
    mock.timers.tick(499);
    assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total'), 0);
    mock.timers.tick(1);
    assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total', { operation: 'GetObject' }), 1);
    let cleaned = 0;
    p.calls[1]?.gate.resolve({ size: 1, value: 'late', cleanup: () => { cleaned++; } });
    await flush();
    assert.equal(cleaned, 0);
  } finally {
    mock.timers.reset();
  }
});

test('a located read\'s hedged loser that outlives the drain is not counted as a degraded broadcast\'s', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const hedging = createHedging({ enabled: true, delayMs: 10, locatedReads: true });
    const w = makeWorld(['b1', 'b2'], { drainTimeoutMs: 500, hedgePolicy: (op, path) => hedging(op, path) });
    w.store.add(loc('k', 'b1', 1));
    w.store.add(loc('k', 'b2', 2));
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', 'k', p.probe);
    await flush();
    mock.timers.tick(10);
    await flush();
    assert.deepEqual(p.started(), ['b1', 'b2'], 'the hedge went out');
    p.calls[1]?.gate.resolve({ size: 1, value: 'two' });
    assert.equal((await r).degraded, false);
    assert.equal(p.calls[0]?.signal.aborted, true, 'the primary is the loser');
    mock.timers.tick(500);
    await flush();
    assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total'), 0, 'no broadcast ran');
    p.calls[0]?.gate.reject(new ReadPathError('ABORTED', 'cancelled'));
  } finally {
    mock.timers.reset();
  }
});

test('drainTimeoutMs <= 0 means the default (30 s)', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const w = degradedWorld(['b1', 'b2'], { parallelBroadcast: true, drainTimeoutMs: 0 });
    const p = scriptedProbe();
    const r = w.failover.read('GetObject', 'k', p.probe);
    await flush();
    p.calls[0]?.gate.resolve({ size: 1, value: 'one' });
    await r;
    mock.timers.tick(29_999);
    assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total'), 0);
    mock.timers.tick(1);
    assert.equal(w.recorder.count('degraded_broadcast_drain_timeout_total'), 1);
  } finally {
    mock.timers.reset();
  }
});

test('every probe failing is ALL_BACKENDS_FAILED (502) with the last error to arrive as cause', async () => {
  const w = degradedWorld(['b1', 'b2', 'b3'], { parallelBroadcast: true });
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  const lastToArrive = new ReadPathError('TIMEOUT', 'b1 timed out');
  p.calls[2]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b3'));
  p.calls[1]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b2'));
  await flush();
  p.calls[0]?.gate.reject(lastToArrive);
  await assert.rejects(r, (e: unknown) => {
    const err = e as ReadPathError;
    assert.equal(err.code, 'ALL_BACKENDS_FAILED');
    assert.equal(err.httpStatus, 502);
    assert.equal(err.cause, lastToArrive);
    // Every backend by name, the cause first, the others in arrival order.
    assert.equal(err.message, 'all backends failed for k; last error: b1: b1 timed out; other failures: b3: b3; b2: b2');
    return true;
  });
  assert.equal(w.recorder.count('degraded_broadcast_duration_seconds', { outcome: 'error' }), 1);
});

test('ALL_BACKENDS_FAILED is 503 when the last error\'s chain holds SERVICE_UNAVAILABLE', async () => {
  const w = degradedWorld(['b1']);
  const p = scriptedProbe({ b1: async () => { throw new ReadPathError('BACKEND_ERROR', 'wrap', { cause: new ReadPathError('SERVICE_UNAVAILABLE', 'encrypted') }); } });
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), { code: 'ALL_BACKENDS_FAILED', httpStatus: 503 });
});

test('a copy refused as encrypted (SERVICE_UNAVAILABLE) is the cause, and the status 503, even when another error arrives after it', async () => {
  // API.md §1 names the last error as the cause; a refusal of an encrypted copy takes its place
  // because it, not a later 404 or 500, is why the read cannot be served without the database.
  const w = degradedWorld(['b1', 'b2'], { parallelBroadcast: true });
  const p = scriptedProbe();
  const r = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  const refused = new ReadPathError('SERVICE_UNAVAILABLE', 'b1: encrypted copy without its row');
  p.calls[0]?.gate.reject(refused);
  await flush();
  p.calls[1]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'b2: HTTP 500', { backendStatus: 500 }));
  await assert.rejects(r, (e: unknown) => {
    const err = e as ReadPathError;
    assert.equal(err.code, 'ALL_BACKENDS_FAILED');
    assert.equal(err.httpStatus, 503);
    assert.equal(err.cause, refused);
    // The refusal is named first, then what every other backend answered.
    assert.equal(err.message, 'all backends failed for k; refused: b1: encrypted copy without its row; other failures: b2: HTTP 500');
    return true;
  });
});

test('every probed backend declining for usage is USAGE_LIMIT_EXCEEDED (429), counted', async () => {
  const w = degradedWorld(['b1', 'b2'], { parallelBroadcast: true });
  const skip = (n: string) => async (): Promise<ProbeResult<string>> => { throw new UsageLimitSkipError(n); };
  await assert.rejects(w.failover.read('GetObject', 'k', scriptedProbe({ b1: skip('b1'), b2: skip('b2') }).probe), { code: 'USAGE_LIMIT_EXCEEDED', httpStatus: 429 });
  assert.equal(w.recorder.count('usage_limit_rejections_total', { operation: 'GetObject', direction: 'read' }), 1);
});

test('every probed backend answering 404 is OBJECT_NOT_FOUND; a 404/other mix is ALL_BACKENDS_FAILED and counted as mixed', async () => {
  const w = degradedWorld(['b1', 'b2']);
  await assert.rejects(w.failover.read('GetObject', 'k', scriptedProbe({ b1: notFound, b2: notFound }).probe), { code: 'OBJECT_NOT_FOUND', httpStatus: 404 });
  assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total'), 0);
  await assert.rejects(w.failover.read('GetObject', 'k', scriptedProbe({ b1: notFound, b2: err('BACKEND_ERROR', 503) }).probe), { code: 'ALL_BACKENDS_FAILED' });
  assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total', { operation: 'GetObject' }), 1);
});

test('ALL_BACKENDS_FAILED lists at most ten other failures by name, then how many more', () => {
  const failures = Array.from({ length: 13 }, (_, i) => ({ index: i, backendName: `b${i + 1}`, error: new ReadPathError('BACKEND_ERROR', i === 4 ? 'b5: HTTP 503' : `failure ${i + 1}`) }));
  const v = classifyBroadcastFailure('k', failures);
  assert.equal(v.error.code, 'ALL_BACKENDS_FAILED');
  assert.equal(v.error.cause, failures[12]?.error);
  // A message that already starts with its backend's name is not prefixed twice.
  assert.equal(v.error.message, 'all backends failed for k; last error: b13: failure 13; other failures: b1: failure 1; b2: failure 2; b3: failure 3; b4: failure 4; b5: HTTP 503; b6: failure 6; b7: failure 7; b8: failure 8; b9: failure 9; b10: failure 10; and 2 more');
});
