/**
 * A worker that dies (process.exit, an uncaught exception) takes only the probes it was running
 * with it; piscina replaces it. Each of those probes is re-dispatched once to a live worker; a
 * probe whose second worker dies too fails that copy with WORKER_LOST, and the failover moves on
 * to the next copy.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadPathError } from '../../src/errors.js';
import type { PoolExecutor } from '../../src/executors/pool/executor.js';
import type { ObjectLocation, ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';
import { storedSize, type ScriptedBackendSpec } from '../helpers/scripted-backends.js';

const specs: ScriptedBackendSpec[] = [
  { name: 'b1', objects: { exit: 'x', uncaught: 'x', k: 'v1' }, keys: { exit: { kind: 'exit', code: 7 }, uncaught: { kind: 'uncaught' } }, default: { kind: 'gate' } },
  { name: 'b3', objects: { once: 'survived' }, keys: { once: { kind: 'exit', code: 9, once: true } } },
  { name: 'b2', objects: { exit: 'from-b2', uncaught: 'from-b2', k: 'v2' } },
];
const w = executorWorld('pool', specs);
const pool = w.executor as PoolExecutor;
after(() => w.close());

/** The row of the copy `backendName` holds at `key`, with its body's size (as upstream records it). */
const loc = (key: string, backendName: string, t: number): ObjectLocation =>
  ({ objectKey: key, backendName, sizeBytes: storedSize(specs, backendName, key) ?? 0, createdAt: new Date(t), encrypted: false });

// First, while both initial workers are ready (a replacement takes the balancer's tasks only once
// it has loaded): piscina's least-busy balancer spreads the gated probes over both.
test("a dead worker's in-flight probes are re-dispatched once to a live worker and complete", async () => {
  const req = (backendName: string): ProbeRequest => ({ backendName, signal: new AbortController().signal, location: null, backend: w.backends.get(backendName)! });
  const calls = w.fleet.calls('b1');
  // Gated probes spread over both workers by piscina's least-busy balancer.
  const gated = Array.from({ length: 8 }, () => w.executor.get('k')(req('b1')).then(
    (r) => ({ ok: true as const, body: new TextDecoder().decode(r.value.body) }),
    (e: ReadPathError) => ({ ok: false as const, e }),
  ));
  await until(() => w.fleet.calls('b1') - calls === 8, 'the gated probes to start');
  const threads = pool.threadIds();
  // Kills whichever worker runs it, once: its retry on a live worker answers.
  const crashOnce = await w.executor.get('once')(req('b3'));
  assert.equal(new TextDecoder().decode(crashOnce.value.body), 'survived');
  assert.equal(w.fleet.calls('b3'), 2, 'the probe ran twice: on the worker it killed, then on a live one');
  await until(() => w.fleet.calls('b1') - calls > 8, 'the dead worker\'s gated probes to be re-dispatched');
  w.fleet.open('b1');
  const results = await Promise.all(gated);
  for (const r of results) assert.deepEqual(r, { ok: true, body: 'v1' });
  await until(() => pool.threadIds().length === 2, 'the pool to replace the worker');
  assert.equal(pool.threadIds().filter((id) => threads.includes(id)).length, 1, 'one worker died, one served on');
  assert.deepEqual(w.executor.stats().inFlight, 0);
});

test('a probe whose worker dies twice fails that copy with WORKER_LOST', async () => {
  await until(() => pool.threadIds().length === 2, 'two live workers');
  const crash = w.executor.get('exit')({ backendName: 'b1', signal: new AbortController().signal, location: null, backend: w.backends.get('b1')! });
  await assert.rejects(crash, (e: ReadPathError) => {
    assert.equal(e.code, 'WORKER_LOST');
    assert.match(e.message, /b1: probe worker died twice: .*exited with code: 7/);
    return true;
  });
  await until(() => pool.threadIds().length === 2, 'the pool to replace the workers');
});

for (const key of ['exit', 'uncaught']) {
  test(`a worker dying mid-probe (${key}), twice, fails that copy with WORKER_LOST and the read completes from the next copy`, async () => {
    await w.executor.get('k')({ backendName: 'b2', signal: new AbortController().signal, location: null, backend: w.backends.get('b2')! });
    const before = pool.threadIds();
    assert.equal(before.length, 2);
    const { failover, store } = w.failover();
    store.add(loc(key, 'b1', 1));
    store.add(loc(key, 'b2', 2));
    const out = await failover.read('GetObject', key, w.executor.get(key));
    assert.equal(out.backend, 'b2');
    assert.equal(out.failover, true);
    assert.equal(new TextDecoder().decode(out.value.body), 'from-b2');
    await until(() => pool.threadIds().length === 2, 'the pool to replace the worker');
    const after = pool.threadIds();
    assert.equal(after.filter((id) => before.includes(id)).length, 0, 'the probe was dispatched once more and took a second worker with it');
  });
}

test('a lost attempt is billed as reserved: a retry the API limit has no room for is not sent (USAGE_LIMIT_SKIP)', async () => {
  const lone = executorWorld('pool', [{ name: 'b', objects: { k: 'v' }, keys: { k: { kind: 'exit', code: 5, once: true } } }]);
  try {
    lone.recorder.usage.setLimits('b', { apiRequests: 1 });
    const location = { objectKey: 'k', backendName: 'b', sizeBytes: 1, createdAt: new Date(0), encrypted: false };
    const probe = lone.executor.get('k')({ backendName: 'b', signal: new AbortController().signal, location, backend: lone.backends.get('b')! });
    await assert.rejects(probe, { code: 'USAGE_LIMIT_SKIP' });
    assert.equal(lone.fleet.calls('b'), 1, 'the request the dead worker may have sent was the last the limit allowed');
    assert.deepEqual(lone.recorder.usage.usage('b'), { apiRequests: 1, egressBytes: 1, ingressBytes: 0 });
    assert.deepEqual(lone.recorder.reservations.pending('b'), { api: 0, egress: 0 });
  } finally {
    await lone.close();
  }
});
