import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPathError, UsageLimitSkipError } from '../../src/errors.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { Failover } from '../../src/engine/failover.js';
import type { MetadataStore, ObjectLocation } from '../../src/types.js';
import { loc, makeCore, makeWorld, scriptedProbe } from '../helpers/core-world.js';
import { flush } from '../helpers/gate.js';

const ok = (v: string) => async () => ({ size: v.length, value: v });
const fail = (code: ConstructorParameters<typeof ReadPathError>[0], status?: number) => async () => {
  throw new ReadPathError(code, `${code} scripted`, status === undefined ? undefined : { backendStatus: status });
};

function storeThrowing(err: unknown): MetadataStore {
  return { getAllObjectLocations: async () => { throw err; } };
}

test('OBJECT_NOT_FOUND from the store is rethrown as is and no probe runs', async () => {
  const w = makeWorld(['b1']);
  const p = scriptedProbe();
  await assert.rejects(w.failover.read('GetObject', 'missing', p.probe), (e: unknown) => {
    assert.equal((e as ReadPathError).code, 'OBJECT_NOT_FOUND');
    assert.equal((e as ReadPathError).httpStatus, 404);
    return true;
  });
  assert.equal(p.calls.length, 0);
  const notFound = new ReadPathError('OBJECT_NOT_FOUND', 'exact');
  const f = new Failover({ core: makeCore(['b1']), stores: storeThrowing(notFound), cache: w.cache });
  await assert.rejects(f.read('GetObject', 'k', p.probe), (e: unknown) => e === notFound);
});

test('an empty location list is OBJECT_NOT_FOUND', async () => {
  const p = scriptedProbe();
  const f = new Failover({ core: makeCore(['b1']), stores: { getAllObjectLocations: async () => [] }, cache: makeWorld([]).cache });
  await assert.rejects(f.read('GetObject', 'k', p.probe), { code: 'OBJECT_NOT_FOUND' });
  assert.equal(p.calls.length, 0);
});

test('DB_UNAVAILABLE with degraded reads disabled is SERVICE_UNAVAILABLE (503) and no probe runs', async () => {
  const w = makeWorld(['b1'], { degradedReadsEnabled: false });
  w.store.setAvailable(false);
  const p = scriptedProbe({ b1: ok('x') });
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), (e: unknown) => {
    const err = e as ReadPathError;
    assert.equal(err.code, 'SERVICE_UNAVAILABLE');
    assert.equal(err.httpStatus, 503);
    assert.equal((err.cause as ReadPathError).code, 'DB_UNAVAILABLE');
    return true;
  });
  assert.equal(p.calls.length, 0);
});

test('any other store error becomes METADATA_ERROR with the original as cause', async () => {
  const boom = new Error('disk on fire');
  const p = scriptedProbe();
  const f = new Failover({ core: makeCore(['b1']), stores: storeThrowing(boom), cache: makeWorld([]).cache });
  await assert.rejects(f.read('GetObject', 'k', p.probe), (e: unknown) => {
    assert.equal((e as ReadPathError).code, 'METADATA_ERROR');
    assert.equal((e as ReadPathError).cause, boom);
    return true;
  });
  assert.equal(p.calls.length, 0);
});

test('a store that throws synchronously is still a rejected read, not a throw', async () => {
  const store: MetadataStore = { getAllObjectLocations: () => { throw new Error('sync'); } };
  const f = new Failover({ core: makeCore(['b1']), stores: store, cache: makeWorld([]).cache });
  await assert.rejects(f.read('GetObject', 'k', scriptedProbe().probe), { code: 'METADATA_ERROR' });
});

test('locations are tried in createdAt order whatever the insertion order; first success wins', async () => {
  const w = makeWorld(['b1', 'b2', 'b3']);
  w.store.add(loc('k', 'b3', 3000));
  w.store.add(loc('k', 'b1', 1000));
  w.store.add(loc('k', 'b2', 2000));
  const p = scriptedProbe({ b1: fail('BACKEND_ERROR', 500), b2: ok('from-b2'), b3: ok('from-b3') });
  const out = await w.failover.read('GetObject', 'k', p.probe);
  assert.deepEqual(p.started(), ['b1', 'b2']);
  assert.equal(out.backend, 'b2');
  assert.equal(out.value, 'from-b2');
  assert.equal(out.failover, true);
  assert.equal(out.degraded, false);
  assert.equal(out.cacheHit, false);
  assert.equal(p.calls[0]?.location?.backendName, 'b1', 'probe receives the location row');
});

test('the first stored location winning is not a failover', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.add(loc('k', 'b2', 2));
  w.store.add(loc('k', 'b1', 1));
  const out = await w.failover.read('GetObject', 'k', scriptedProbe({ b1: ok('a') }).probe);
  assert.equal(out.backend, 'b1');
  assert.equal(out.failover, false);
  assert.equal(w.recorder.count('operation_duration_seconds', { operation: 'GetObject', backend: 'b1' }), 1);
});

test('a location naming an unconfigured backend records BACKEND_NOT_FOUND, runs no probe and is no usage skip', async () => {
  const w = makeWorld(['b1']);
  w.store.add(loc('k', 'b1', 1));
  w.store.add(loc('k', 'ghost', 2));
  const p = scriptedProbe({ b1: async () => { throw new UsageLimitSkipError('b1'); } });
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), (e: unknown) => {
    // One of two locations was a skip, the other not configured: not 429, the last error.
    assert.equal((e as ReadPathError).code, 'BACKEND_NOT_FOUND');
    return true;
  });
  assert.deepEqual(p.started(), ['b1']);
  assert.equal(w.recorder.count('usage_limit_rejections_total'), 0);
});

test('every location a usage skip is USAGE_LIMIT_EXCEEDED (429), counted', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.add(loc('k', 'b1', 1));
  w.store.add(loc('k', 'b2', 2));
  const wrapped = new ReadPathError('BACKEND_ERROR', 'wrapper', { cause: new UsageLimitSkipError('b2') });
  const p = scriptedProbe({ b1: async () => { throw new UsageLimitSkipError('b1'); }, b2: async () => { throw wrapped; } });
  await assert.rejects(w.failover.read('HeadObject', 'k', p.probe), (e: unknown) => {
    assert.equal((e as ReadPathError).code, 'USAGE_LIMIT_EXCEEDED');
    assert.equal((e as ReadPathError).httpStatus, 429);
    return true;
  });
  assert.equal(w.recorder.count('usage_limit_rejections_total', { operation: 'HeadObject', direction: 'read' }), 1);
});

test('when every location fails for mixed reasons the last location\'s error is returned unchanged', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.add(loc('k', 'b1', 1));
  w.store.add(loc('k', 'b2', 2));
  const last = new ReadPathError('TIMEOUT', 'b2 slow');
  const p = scriptedProbe({ b1: async () => { throw new UsageLimitSkipError('b1'); }, b2: async () => { throw last; } });
  await assert.rejects(w.failover.read('GetObject', 'k', p.probe), (e: unknown) => e === last);
});

test('a probe that throws synchronously is a failure of that copy, and failover moves on', async () => {
  const w = makeWorld(['b1', 'b2']);
  w.store.add(loc('k', 'b1', 1));
  w.store.add(loc('k', 'b2', 2));
  const out = await w.failover.read('GetObject', 'k', (req) => {
    if (req.backendName === 'b1') throw new Error('sync boom');
    return Promise.resolve({ size: 1, value: 'ok' });
  });
  assert.equal(out.backend, 'b2');
});

test('located reads are sequential: the next copy starts only after the previous failed', async () => {
  const w = makeWorld(['b1', 'b2', 'b3']);
  for (const [i, b] of ['b1', 'b2', 'b3'].entries()) w.store.add(loc('k', b, i));
  const p = scriptedProbe();
  const read = w.failover.read('GetObject', 'k', p.probe);
  await flush();
  assert.deepEqual(p.started(), ['b1']);
  p.calls[0]?.gate.reject(new ReadPathError('BACKEND_ERROR', 'x'));
  await flush();
  assert.deepEqual(p.started(), ['b1', 'b2']);
  p.calls[1]?.gate.resolve({ size: 2, value: 'v2' });
  const out = await read;
  assert.equal(out.backend, 'b2');
  assert.deepEqual(p.started(), ['b1', 'b2'], 'b3 never probed');
});

test('the memory store orders rows even when inserted newest first', async () => {
  const s = new MemoryMetadataStore();
  const rows: ObjectLocation[] = [loc('k', 'c', 30), loc('k', 'a', 10), loc('k', 'b', 20)];
  for (const r of rows) s.add(r);
  assert.deepEqual((await s.getAllObjectLocations('k')).map((r) => r.backendName), ['a', 'b', 'c']);
});
