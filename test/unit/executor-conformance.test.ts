/**
 * The core failover behaviours, run unchanged against both executors over the same scripted
 * fleet: the policy and the scheduler must not notice where probes run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type { ReadPathError } from '../../src/errors.js';
import { sha256Hex, type FetchedObject } from '../../src/probe/probes.js';
import type { ObjectLocation } from '../../src/types.js';
import { backendBreaker } from '../../src/policies/backend-breaker.js';
import { executorWorld, until, type ExecutorKind, type ExecutorWorld } from '../helpers/executor-world.js';
import { storedSize, type ScriptedBackendSpec } from '../helpers/scripted-backends.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const GUNZIP_NDJSON = fileURLToPath(new URL('../../examples/transforms/gunzip-ndjson.mjs', import.meta.url));
const UPPER = new URL('../helpers/transforms/upper.mjs', import.meta.url);
const NOT_A_FUNCTION = new URL('../helpers/transforms/not-a-function.mjs', import.meta.url);

const records = [{ id: 1, msg: 'a' }, { id: 2, msg: 'b', tags: ['x'] }];
const gz = gzipSync(Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n'));

function specs(): ScriptedBackendSpec[] {
  const md5 = `"${createHash('md5').update('payload-m').digest('hex')}"`;
  const common = { obj: 'payload', md5obj: { body: 'payload-m', etag: md5 }, corrupt: 'payload-c', hang: 'x', throw: 'from-throw', gz: new Uint8Array(gz), badgz: 'not json\n' };
  return [
    { name: 'b1', objects: { ...common, order: 'from-b1', mixed: 'x' }, keys: { order: { kind: 'fail', status: 500 }, corrupt: { kind: 'corrupt' }, md5obj: { kind: 'corrupt' }, hang: { kind: 'hang' }, throw: { kind: 'throw', message: 'socket hang up' }, mixed: { kind: 'fail', status: 404 } } },
    { name: 'b2', objects: { ...common, order: 'from-b2', missing1: 'from-b2', mixed: 'x' }, keys: { mixed: { kind: 'fail', status: 500 } } },
    { name: 'b3', objects: { ...common, order: 'from-b3', missing1: 'from-b3' } },
    { name: 'u1', objects: { obj: 'payload' } },
    { name: 'u2', objects: { obj: 'payload' } },
    ...['w1', 'w2', 'w3', 'w4'].map((name) => ({ name, objects: { obj: `from-${name}` }, default: { kind: 'gate' as const } })),
    { name: 'c1', objects: { obj: 'c1' }, default: { kind: 'hang' } },
    { name: 'c2', objects: { obj: 'c2' } },
    { name: 'c3', objects: { obj: 'c3' }, default: { kind: 'hang' } },
  ];
}

/** The one-backend fleet the breaker test reads from. */
const Z: ScriptedBackendSpec[] = [{ name: 'z', objects: { k: 'v', bad: 'v', fail: 'v' }, keys: { bad: { kind: 'corrupt' }, fail: { kind: 'fail', status: 503 } } }];
const FLEET = [...specs(), ...Z];

/**
 * A row for the copy `backendName` holds at `key`: its size is the stored body's, as upstream
 * records it (a whole GET answering another size is refused); 1 for a copy the fleet lacks.
 */
function loc(key: string, backendName: string, createdAtMs: number, extra: Partial<ObjectLocation> = {}): ObjectLocation {
  const sizeBytes = storedSize(FLEET, backendName, key) ?? 1;
  return { objectKey: key, backendName, sizeBytes, createdAt: new Date(createdAtMs), encrypted: false, ...extra };
}

function conformance(kind: ExecutorKind): void {
  describe(`executor conformance: ${kind}`, () => {
    let w: ExecutorWorld;
    before(async () => {
      w = executorWorld(kind, specs());
      // Warm up: worker startup is not what these tests measure.
      const { failover, store } = w.failover();
      store.add(loc('obj', 'b3', 1));
      await failover.read('GetObject', 'obj', w.executor.get('obj'));
    });
    after(async () => {
      await w.close();
    });

    test('copies are tried in stored (createdAt) order; a failure moves on to the next copy', async () => {
      const { failover, store } = w.failover();
      store.add(loc('order', 'b3', 3000));
      store.add(loc('order', 'b1', 1000));
      store.add(loc('order', 'b2', 2000));
      const before = ['b1', 'b2', 'b3'].map((n) => w.fleet.calls(n));
      const out = await failover.read('GetObject', 'order', w.executor.get('order'));
      assert.equal(out.backend, 'b2');
      assert.equal(out.failover, true);
      assert.equal(dec(out.value.body), 'from-b2');
      assert.equal(out.size, 7);
      assert.deepEqual(['b1', 'b2', 'b3'].map((n, i) => w.fleet.calls(n) - (before[i] as number)), [1, 1, 0]);
    });

    test('a GET value carries the HEAD fields, the body and whether it was verified', async () => {
      const { failover, store } = w.failover();
      store.add(loc('obj', 'b1', 1, { contentHash: sha256Hex(enc('payload')) }));
      const out = await failover.read('GetObject', 'obj', w.executor.get('obj'));
      const v: FetchedObject = out.value;
      // Last-Modified is the row's created_at (upstream's rule), whatever the backend said; with no
      // row ETag, the ETag is derived from the row's hash (the same whichever copy serves).
      assert.deepEqual({ ...v, body: dec(v.body) }, { size: 7, etag: `"${sha256Hex(enc('payload')).slice(0, 32)}-1"`, lastModified: new Date(1), body: 'payload', verified: true });
      assert.ok(v.body instanceof Uint8Array);
      const unverified = await failover.read('GetObject', 'obj', w.executor.get('obj', { verify: false }));
      assert.equal(unverified.value.verified, false);
    });

    test('HEAD and ranged GET', async () => {
      const { failover, store } = w.failover();
      store.add(loc('obj', 'b2', 1, { contentHash: sha256Hex(enc('payload')) }));
      const h = await failover.read('HeadObject', 'obj', w.executor.head('obj'));
      assert.deepEqual(h.value, { size: 7, etag: `"${sha256Hex(enc('payload')).slice(0, 32)}-1"`, lastModified: new Date(1) });
      const r = await failover.read('GetObject', 'obj', w.executor.get('obj', { range: 'bytes=0-2' }));
      assert.equal(dec(r.value.body), 'pay');
      assert.equal(r.value.verified, false, 'a range is never checked against the whole object hash');
      assert.equal(r.size, 3);
    });

    test('an encrypted copy: GET is SERVICE_UNAVAILABLE without a backend call; HEAD reports the plaintext size', async () => {
      const { failover, store } = w.failover();
      store.add(loc('obj', 'b3', 1, { encrypted: true, plaintextSize: 5 }));
      const calls = w.fleet.calls('b3');
      await assert.rejects(failover.read('GetObject', 'obj', w.executor.get('obj')), (e: ReadPathError) => {
        assert.equal(e.code, 'SERVICE_UNAVAILABLE');
        assert.equal(e.httpStatus, 503);
        return true;
      });
      assert.equal(w.fleet.calls('b3'), calls);
      const h = await failover.read('HeadObject', 'obj', w.executor.head('obj'));
      assert.equal(h.value.size, 5);
      assert.equal(h.size, 5);
    });

    test('a located copy answering 404 is a failure of that copy; every copy 404 keeps the 404 status', async () => {
      const { failover, store } = w.failover();
      store.add(loc('missing1', 'b1', 1));
      store.add(loc('missing1', 'b2', 2));
      const out = await failover.read('GetObject', 'missing1', w.executor.get('missing1'));
      assert.equal(out.backend, 'b2');
      store.add(loc('gone', 'b1', 1));
      store.add(loc('gone', 'b2', 2));
      await assert.rejects(failover.read('GetObject', 'gone', w.executor.get('gone')), (e: ReadPathError) => {
        assert.equal(e.code, 'BACKEND_ERROR');
        assert.equal(e.backendStatus, 404);
        assert.match(e.message, /b2/);
        return true;
      });
    });

    test('a failure that is not a readpath error is a BACKEND_ERROR of that copy', async () => {
      const { failover, store } = w.failover();
      store.add(loc('throw', 'b1', 1));
      store.add(loc('throw', 'b2', 2));
      const out = await failover.read('GetObject', 'throw', w.executor.get('throw'));
      assert.equal(out.backend, 'b2');
      const only = w.failover();
      only.store.add(loc('throw', 'b1', 1));
      await assert.rejects(only.failover.read('GetObject', 'throw', w.executor.get('throw')), (e: ReadPathError) => {
        assert.equal(e.code, 'BACKEND_ERROR');
        assert.match(e.message, /socket hang up/);
        return true;
      });
    });

    test('degraded: every backend 404 is OBJECT_NOT_FOUND; 404 mixed with errors is ALL_BACKENDS_FAILED', async () => {
      const { failover, store } = w.failover({ names: ['b1', 'b2', 'b3'] });
      store.setAvailable(false);
      await assert.rejects(failover.read('GetObject', 'gone', w.executor.get('gone')), (e: ReadPathError) => {
        assert.equal(e.code, 'OBJECT_NOT_FOUND');
        assert.equal(e.httpStatus, 404);
        return true;
      });
      const mixedBefore = w.recorder.count('degraded_broadcast_mixed_outcomes_total');
      await assert.rejects(failover.read('GetObject', 'mixed', w.executor.get('mixed')), (e: ReadPathError) => {
        assert.equal(e.code, 'ALL_BACKENDS_FAILED');
        assert.equal(e.httpStatus, 502);
        return true;
      });
      assert.equal(w.recorder.count('degraded_broadcast_mixed_outcomes_total') - mixedBefore, 1);
    });

    test('every copy over its usage limit is USAGE_LIMIT_EXCEEDED (429) and no backend is called', async () => {
      const { failover, store } = w.failover();
      store.add(loc('obj', 'u1', 1));
      store.add(loc('obj', 'u2', 2));
      for (const n of ['u1', 'u2']) {
        w.recorder.record(n, 1, 0, 0);
        w.recorder.usage.setLimits(n, { apiRequests: w.recorder.usage.usage(n).apiRequests });
      }
      try {
        const calls = w.fleet.calls('u1') + w.fleet.calls('u2');
        await assert.rejects(failover.read('GetObject', 'obj', w.executor.get('obj')), (e: ReadPathError) => {
          assert.equal(e.code, 'USAGE_LIMIT_EXCEEDED');
          assert.equal(e.httpStatus, 429);
          return true;
        });
        await assert.rejects(failover.read('HeadObject', 'obj', w.executor.head('obj')), { code: 'USAGE_LIMIT_EXCEEDED' });
        assert.equal(w.fleet.calls('u1') + w.fleet.calls('u2'), calls, 'skipped before any call');
      } finally {
        for (const n of ['u1', 'u2']) w.recorder.usage.setLimits(n, {});
      }
    });

    test('usage is recorded per call; an over-egress copy is declined before its request, for the size its row gives or the length of its range, and the next copy serves', async () => {
      const { failover, store } = w.failover();
      store.add(loc('obj', 'u1', 1));
      store.add(loc('obj', 'u2', 2));
      const u1 = w.recorder.usage.usage('u1');
      const u2 = w.recorder.usage.usage('u2');
      w.recorder.usage.setLimits('u1', { egressBytes: u1.egressBytes + 3 });
      try {
        const out = await failover.read('GetObject', 'obj', w.executor.get('obj'));
        assert.equal(out.backend, 'u2');
        assert.deepEqual(w.recorder.usage.usage('u1'), u1, 'u1: the row says 7 bytes, over its limit: no GET was made');
        assert.deepEqual(w.recorder.usage.usage('u2'), { ...u2, apiRequests: u2.apiRequests + 1, egressBytes: u2.egressBytes + 7 });
        const ranged = await failover.read('GetObject', 'obj', w.executor.get('obj', { range: 'bytes=0-5' }));
        assert.equal(ranged.backend, 'u2');
        assert.deepEqual(w.recorder.usage.usage('u1'), u1, 'u1: the range asks for 6 bytes, over its limit: no GET was made');
        assert.deepEqual(w.recorder.usage.usage('u2'), { ...u2, apiRequests: u2.apiRequests + 2, egressBytes: u2.egressBytes + 7 + 6 });
      } finally {
        w.recorder.usage.setLimits('u1', {});
      }
    });

    test('integrity mismatch fails that copy and the next one serves a verified body', async () => {
      const { failover, store } = w.failover();
      const hash = sha256Hex(enc('payload-c'));
      store.add(loc('corrupt', 'b1', 1, { contentHash: hash }));
      store.add(loc('corrupt', 'b2', 2, { contentHash: hash }));
      const out = await failover.read('GetObject', 'corrupt', w.executor.get('corrupt'));
      assert.equal(out.backend, 'b2');
      assert.equal(out.value.verified, true);
      assert.equal(dec(out.value.body), 'payload-c');
      const only = w.failover();
      only.store.add(loc('corrupt', 'b1', 1, { contentHash: hash }));
      await assert.rejects(only.failover.read('GetObject', 'corrupt', w.executor.get('corrupt')), { code: 'INTEGRITY_MISMATCH' });
    });

    test('without a content_hash (degraded), a body that does not match its plain-MD5 ETag fails that copy', async () => {
      const { failover, store } = w.failover({ names: ['b1', 'b2'] });
      store.setAvailable(false);
      const out = await failover.read('GetObject', 'md5obj', w.executor.get('md5obj'));
      assert.equal(out.backend, 'b2', 'b1 served corrupted bytes under the original ETag');
      assert.equal(dec(out.value.body), 'payload-m');
      assert.equal(out.value.verified, false, 'verified speaks of content_hash only');
      const unchecked = w.failover({ names: ['b1', 'b2'] });
      unchecked.store.setAvailable(false);
      const raw = await unchecked.failover.read('GetObject', 'md5obj', w.executor.get('md5obj', { verifyEtag: false }));
      assert.equal(raw.backend, 'b1');
    });

    test('a parallel broadcast keeps at most the window in flight; the first success cancels the losers', async () => {
      const { failover, store } = w.failover({ names: ['w1', 'w2', 'w3', 'w4'], parallelBroadcast: true, degradedBroadcastParallelism: 2 });
      store.setAvailable(false);
      const read = failover.read('GetObject', 'obj', w.executor.get('obj'));
      await until(() => w.fleet.active('w1') + w.fleet.active('w2') === 2, 'w1 and w2 to be called');
      assert.equal(w.fleet.calls('w3') + w.fleet.calls('w4'), 0, 'the window is full: nothing else launched');
      w.fleet.open('w2');
      const out = await read;
      assert.equal(out.backend, 'w2');
      assert.equal(dec(out.value.body), 'from-w2');
      await until(() => w.fleet.aborts('w1') === 1, 'the loser w1 to see its abort');
      assert.equal(w.fleet.calls('w3') + w.fleet.calls('w4'), 0);
      assert.equal(w.fleet.maxActive('w1') + w.fleet.maxActive('w2') + w.fleet.maxActive('w3') + w.fleet.maxActive('w4'), 2);
    });

    test('an uncapped broadcast launches every backend and cancels all losers once one wins', async () => {
      const { failover, store, cache } = w.failover({ names: ['c1', 'c2', 'c3'], parallelBroadcast: true });
      store.setAvailable(false);
      const out = await failover.read('GetObject', 'obj', w.executor.get('obj'));
      assert.equal(out.backend, 'c2');
      assert.equal(cache.get('obj'), 'c2');
      await until(() => w.fleet.finished('c1') + w.fleet.finished('c3') === w.fleet.calls('c1') + w.fleet.calls('c3'), 'losers to settle');
      // A pooled loser may be cancelled before its worker starts it: then no call is made at all.
      for (const n of ['c1', 'c3']) assert.equal(w.fleet.aborts(n), w.fleet.calls(n), `every ${n} call saw its abort`);
      assert.equal(w.fleet.active('c1') + w.fleet.active('c3'), 0);
    });

    test('a caller abort rejects the read with ABORTED and reaches the backend call', async () => {
      const { failover, store } = w.failover();
      store.add(loc('hang', 'b1', 1));
      const ac = new AbortController();
      const aborts = w.fleet.aborts('b1');
      const read = failover.read('GetObject', 'hang', w.executor.get('hang'), { signal: ac.signal });
      await until(() => w.fleet.active('b1') === 1, 'b1 to be called');
      ac.abort(new Error('caller gave up'));
      await assert.rejects(read, (e: ReadPathError) => {
        assert.equal(e.code, 'ABORTED');
        assert.equal(e.httpStatus, 499);
        return true;
      });
      await until(() => w.fleet.aborts('b1') === aborts + 1, 'the backend call to be aborted');
    });

    test('many reads at once all complete with their own bodies', async () => {
      const { failover, store } = w.failover();
      store.add(loc('order', 'b2', 1));
      store.add(loc('missing1', 'b3', 1));
      const outs = await Promise.all(Array.from({ length: 64 }, (_, i) => {
        const key = i % 2 === 0 ? 'order' : 'missing1';
        return failover.read('GetObject', key, w.executor.get(key));
      }));
      for (const [i, o] of outs.entries()) assert.equal(dec(o.value.body), i % 2 === 0 ? 'from-b2' : 'from-b3');
    });

    test('a transform turns the verified body into records (gunzip + NDJSON example)', async () => {
      const { failover, store } = w.failover();
      store.add(loc('gz', 'b1', 1, { contentHash: sha256Hex(gz) }));
      const out = await failover.read('GetObject', 'gz', w.executor.get('gz', { transform: GUNZIP_NDJSON }));
      assert.deepEqual(out.value.value, records);
      assert.equal(out.value.verified, true);
      assert.equal(out.value.size, gz.byteLength);
      assert.equal(out.size, gz.byteLength);
      const upper = await failover.read('GetObject', 'gz', w.executor.get('gz', { transform: UPPER }));
      assert.ok(upper.value.value instanceof Uint8Array, 'a bytes result stays bytes');
      assert.equal((upper.value.value).byteLength, gz.byteLength);
    });

    test("a transform's error is the read's TRANSFORM_FAILED with the module's message; a bad module is INVALID_CONFIG", async () => {
      const { failover, store } = w.failover();
      store.add(loc('badgz', 'b1', 1));
      store.add(loc('badgz', 'b2', 2));
      const before = w.fleet.calls('b2');
      await assert.rejects(failover.read('GetObject', 'badgz', w.executor.get('badgz', { transform: GUNZIP_NDJSON })), (e: ReadPathError) => {
        assert.equal(e.code, 'TRANSFORM_FAILED');
        assert.match(e.message, /gunzip-ndjson\.mjs failed on b2: "badgz": badgz: NDJSON line 1: /);
        return true;
      });
      assert.equal(w.fleet.calls('b2') - before, 1, 'the next copy was tried');
      await assert.rejects(failover.read('GetObject', 'badgz', w.executor.get('badgz', { transform: NOT_A_FUNCTION })), (e: ReadPathError) => {
        assert.equal(e.code, 'INVALID_CONFIG');
        assert.match(e.message, /no default export function/);
        return true;
      });
      await assert.rejects(failover.read('GetObject', 'badgz', w.executor.get('badgz', { transform: '' })), { code: 'INVALID_CONFIG' });
    });

    test('a backend breaker applies at dispatch: 404s and damaged bytes are answers, failures open it, then nothing is dispatched', async () => {
      const breaker = backendBreaker('z', { failureThreshold: 2, openTimeoutMs: 3_600_000 });
      const bw = executorWorld(kind, Z, { threads: 1, breakers: new Map([['z', breaker]]) });
      try {
        const { failover, store } = bw.failover();
        store.add(loc('nope', 'z', 1));
        store.add(loc('bad', 'z', 1, { contentHash: sha256Hex(enc('v')) }));
        store.add(loc('fail', 'z', 1));
        store.add(loc('k', 'z', 1));
        for (let i = 0; i < 3; i++) {
          await assert.rejects(failover.read('GetObject', 'nope', bw.executor.get('nope')), (e: ReadPathError) => e.backendStatus === 404);
          await assert.rejects(failover.read('GetObject', 'bad', bw.executor.get('bad')), { code: 'INTEGRITY_MISMATCH' });
        }
        assert.equal(breaker.state(), 'closed', 'a missing copy and a damaged one are the backend answering');
        for (let i = 0; i < 2; i++) await assert.rejects(failover.read('GetObject', 'fail', bw.executor.get('fail')), { code: 'BACKEND_ERROR' });
        assert.equal(breaker.state(), 'open');
        const calls = bw.fleet.calls('z');
        await assert.rejects(failover.read('GetObject', 'k', bw.executor.get('k')), { code: 'BACKEND_UNAVAILABLE' });
        assert.equal(bw.fleet.calls('z'), calls, 'an open breaker dispatches nothing');
      } finally {
        await bw.close();
      }
    });

    test('after close(), new probes reject with EXECUTOR_CLOSED', async () => {
      const other = executorWorld(kind, [{ name: 'z', objects: { k: 'v' } }], { threads: 1 });
      await other.close();
      await other.close();
      const { failover, store } = other.failover();
      store.add(loc('k', 'z', 1));
      await assert.rejects(failover.read('GetObject', 'k', other.executor.get('k')), (e: ReadPathError) => {
        assert.equal(e.code, 'EXECUTOR_CLOSED');
        assert.match(e.message, /closed/);
        return true;
      });
    });
  });
}

conformance('inline');
conformance('pool');
