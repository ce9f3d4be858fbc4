/**
 * Backpressure: the pool dispatches at most `maxInFlight` probes; more wait inside the executor
 * (bounded by `maxWaiting`), and `saturated()`/`whenCapacity()` tell a coordinator to hold back.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadPathError } from '../../src/errors.js';
import type { ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const w = executorWorld('pool', [{ name: 'b', objects: { k: 'v', g: 'gated' }, keys: { g: { kind: 'gate' } } }], {
  threads: 1, tasksPerThread: 2, maxInFlight: 4, maxWaiting: 2,
});
after(() => w.close());

const req = (signal = new AbortController().signal): ProbeRequest => ({ backendName: 'b', signal, location: null, backend: w.backends.get('b')! });
const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e: ReadPathError) => e.code);

test('beyond maxInFlight probes wait in the executor, are never dispatched when aborted, and whenCapacity() tracks room', async () => {
  await w.executor.get('k')(req());
  assert.equal(w.executor.saturated(), false);
  await w.executor.whenCapacity();
  const dispatched = Array.from({ length: 4 }, () => settle(w.executor.get('g')(req())));
  assert.equal(w.executor.saturated(), true);
  const ac = new AbortController();
  const waiting = [settle(w.executor.get('g')(req(ac.signal))), settle(w.executor.get('g')(req()))];
  assert.deepEqual(w.executor.stats(), { kind: 'pool', inFlight: 4, queued: 2, maxInFlight: 4, threads: 1 });
  const refused = await settle(w.executor.get('g')(req()));
  assert.equal(refused, 'EXECUTOR_SATURATED', 'maxWaiting reached: refused, not queued without limit');
  let capacity = false;
  const room = w.executor.whenCapacity().then(() => { capacity = true; });
  ac.abort();
  assert.equal(await waiting[0], 'ABORTED');
  assert.equal(w.executor.stats().queued, 1);
  await until(() => w.fleet.calls('b') === 1 + 2, 'the worker to run its 2 concurrent tasks');
  assert.equal(capacity, false, 'still saturated: 4 in flight + 1 waiting');
  w.fleet.open('b');
  assert.deepEqual(await Promise.all([...dispatched, waiting[1]]), ['ok', 'ok', 'ok', 'ok', 'ok']);
  await room;
  assert.equal(w.fleet.calls('b'), 1 + 5, 'the aborted waiting probe never reached the backend');
  assert.deepEqual(w.executor.stats(), { kind: 'pool', inFlight: 0, queued: 0, maxInFlight: 4, threads: 1 });
});

test('bad pool sizes are INVALID_CONFIG naming the runtime field', async () => {
  const { PoolExecutor } = await import('../../src/executors/pool/executor.js');
  assert.throws(() => new PoolExecutor({ recorder: w.recorder, backendModule: 'x.mjs', threads: 0 }), { code: 'INVALID_CONFIG', message: /runtime\.threads/ });
  assert.throws(() => new PoolExecutor({ recorder: w.recorder, backendModule: 'x.mjs', tasksPerThread: 1.5 }), { code: 'INVALID_CONFIG', message: /runtime\.tasks_per_thread/ });
  assert.throws(() => new PoolExecutor({ recorder: w.recorder }), { code: 'INVALID_CONFIG', message: /backends/ });
});
