/**
 * A worker that dies (process.exit, an uncaught exception) fails only the probes it was
 * running, as BACKEND_ERROR, so the failover moves on to the next copy; piscina replaces it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadPathError } from '../../src/errors.js';
import type { PoolExecutor } from '../../src/executors/pool/executor.js';
import type { ObjectLocation, ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const w = executorWorld('pool', [
  { name: 'b1', objects: { exit: 'x', uncaught: 'x', k: 'v1' }, keys: { exit: { kind: 'exit', code: 7 }, uncaught: { kind: 'uncaught' } }, default: { kind: 'gate' } },
  { name: 'b2', objects: { exit: 'from-b2', uncaught: 'from-b2', k: 'v2' } },
]);
const pool = w.executor as PoolExecutor;
after(() => w.close());

const loc = (key: string, backendName: string, t: number): ObjectLocation =>
  ({ objectKey: key, backendName, sizeBytes: 1, createdAt: new Date(t), encrypted: false });

// First, while both initial workers are ready (a replacement takes the balancer's tasks only once
// it has loaded): piscina's least-busy balancer spreads the gated probes over both.
test('only the dead worker\'s in-flight probes fail; probes on the other worker complete', async () => {
  const req = (signal: AbortSignal): ProbeRequest => ({ backendName: 'b1', signal, location: null, backend: w.backends.get('b1')! });
  const calls = w.fleet.calls('b1');
  // Gated probes spread over both workers by piscina's least-busy balancer.
  const gated = Array.from({ length: 8 }, () => w.executor.get('k')(req(new AbortController().signal)).then(
    (r) => ({ ok: true as const, body: new TextDecoder().decode(r.value.body) }),
    (e: ReadPathError) => ({ ok: false as const, e }),
  ));
  await until(() => w.fleet.calls('b1') - calls === 8, 'the gated probes to start');
  const crash = w.executor.get('exit')(req(new AbortController().signal));
  await assert.rejects(crash, (e: ReadPathError) => {
    assert.equal(e.code, 'BACKEND_ERROR');
    assert.match(e.message, /b1: probe worker failed: .*exited with code: 7/);
    return true;
  });
  w.fleet.open('b1');
  const results = await Promise.all(gated);
  const failed = results.filter((r) => !r.ok);
  const served = results.filter((r) => r.ok);
  assert.ok(failed.length > 0 && served.length > 0, `some probes shared the dead worker, some did not (${failed.length} failed)`);
  for (const r of failed) assert.match(r.e.message, /probe worker failed/);
  for (const r of served) assert.equal(r.body, 'v1');
  await until(() => pool.threadIds().length === 2, 'the pool to replace the worker');
  assert.deepEqual(w.executor.stats().inFlight, 0);
});

for (const key of ['exit', 'uncaught']) {
  test(`a worker dying mid-probe (${key}) fails that copy with BACKEND_ERROR and the read completes from the next copy`, async () => {
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
    assert.equal(after.filter((id) => before.includes(id)).length, 1, 'one worker survived, one is new');
  });
}
