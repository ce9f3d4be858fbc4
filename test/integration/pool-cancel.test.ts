/**
 * Cancellation in the pool is cooperative: a cancelled probe aborts its backend call inside the
 * worker, and the worker thread lives on (piscina's own abort would terminate it).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { ReadPathError } from '../../src/errors.js';
import type { PoolExecutor } from '../../src/executors/pool/executor.js';
import type { ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const w = executorWorld('pool', [
  { name: 'h', objects: { k: 'v' }, default: { kind: 'hang' } },
  { name: 'ok', objects: { k: 'v' } },
]);
const pool = w.executor as PoolExecutor;
after(() => w.close());

function request(backendName: string, signal: AbortSignal): ProbeRequest {
  return { backendName, signal, location: null, backend: w.backends.get(backendName)! };
}

test('the same worker threads survive hundreds of cancelled probes, and keep serving', async () => {
  await w.executor.head('k')(request('ok', new AbortController().signal));
  const threads = pool.threadIds().sort();
  assert.equal(threads.length, 2);
  const ROUNDS = 10;
  const PER_ROUND = 30;
  for (let round = 0; round < ROUNDS; round++) {
    const acs = Array.from({ length: PER_ROUND }, () => new AbortController());
    const called = w.fleet.calls('h');
    const probes = acs.map((ac) => w.executor.get('k')(request('h', ac.signal)).then(
      () => assert.fail('a hanging probe cannot succeed'),
      (e: ReadPathError) => e,
    ));
    // Half are cancelled at once (most before their worker starts them), half once running.
    for (const ac of acs.slice(0, PER_ROUND / 2)) ac.abort();
    await until(() => w.fleet.calls('h') - called >= PER_ROUND / 2, 'the running half to reach the backend');
    for (const ac of acs.slice(PER_ROUND / 2)) ac.abort();
    for (const e of await Promise.all(probes)) assert.equal(e.code, 'ABORTED');
    for (const ac of acs) assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on a settled probe');
  }
  await until(() => w.fleet.active('h') === 0, 'every hanging call to end');
  assert.equal(w.fleet.aborts('h'), w.fleet.calls('h'), 'every call that started saw its abort');
  assert.ok(w.fleet.calls('h') >= (ROUNDS * PER_ROUND) / 2);
  assert.deepEqual(pool.threadIds().sort(), threads, 'no worker was terminated or replaced');
  assert.deepEqual(w.executor.stats(), { kind: 'pool', inFlight: 0, queued: 0, maxInFlight: 32, threads: 2 });
  const r = await w.executor.get('k')(request('ok', new AbortController().signal));
  assert.equal(new TextDecoder().decode(r.value.body), 'v');
  assert.ok(threads.includes(w.fleet.lastThread('ok')), 'served by one of the original threads');
});

test('an ABORTED verdict carries the probe signal\'s reason as cause', async () => {
  const ac = new AbortController();
  const calls = w.fleet.calls('h');
  const p = w.executor.head('k')(request('h', ac.signal));
  await until(() => w.fleet.calls('h') > calls, 'the call to start');
  const reason = new Error('loser');
  ac.abort(reason);
  await assert.rejects(p, (e: ReadPathError) => {
    assert.equal(e.code, 'ABORTED');
    assert.equal(e.cause, reason);
    return true;
  });
});

test('a probe whose signal is already aborted is not dispatched', async () => {
  const ac = new AbortController();
  ac.abort();
  const calls = w.fleet.calls('ok');
  await assert.rejects(w.executor.get('k')(request('ok', ac.signal)), { code: 'ABORTED' });
  assert.equal(w.fleet.calls('ok'), calls);
});
