/**
 * Transforms in the pool run inside the worker; their results must cross threads, and one that
 * cannot is that read's error — never a dead worker.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import type { ReadPathError } from '../../src/errors.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { PoolExecutor } from '../../src/executors/pool/executor.js';
import type { ObjectLocation, ProbeRequest } from '../../src/types.js';
import { executorWorld } from '../helpers/executor-world.js';

const w = executorWorld('pool', [{ name: 'b', objects: { k: { body: 'hello', contentType: 'text/plain', metadata: { m: '1' } } } }]);
const pool = w.executor as PoolExecutor;
after(() => w.close());

const loc: ObjectLocation = { objectKey: 'k', backendName: 'b', sizeBytes: 5, createdAt: new Date(0), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode('hello')) };
const req = (location: ObjectLocation | null = loc): ProbeRequest => ({ backendName: 'b', signal: new AbortController().signal, location, backend: w.backends.get('b')! });

test('the transform runs in a worker thread and is told about the body it got', async () => {
  const r = await w.executor.get('k', { transform: new URL('../helpers/transforms/thread-id.mjs', import.meta.url) })(req());
  const v = r.value.value as { threadId: number; nice: number; bytes: number; info: Record<string, unknown> };
  assert.notEqual(v.threadId, threadId);
  assert.ok(pool.threadIds().includes(v.threadId));
  assert.equal(v.bytes, 5);
  // Last-Modified is the row's created_at (upstream's rule), whatever the backend said; with no
  // row ETag, the ETag is derived from the row's hash.
  assert.deepEqual(v.info, { key: 'k', backend: 'b', size: 5, etag: `"${(loc.contentHash as string).slice(0, 32)}-1"`, contentType: 'text/plain', lastModified: new Date(0), metadata: { m: '1' }, verified: true });
  assert.equal(r.value.contentType, 'text/plain');
});

test('a result that cannot cross threads is a TRANSFORM_FAILED of that read, and the worker lives on', async () => {
  const threads = pool.threadIds().sort();
  await assert.rejects(w.executor.get('k', { transform: new URL('../helpers/transforms/uncloneable.mjs', import.meta.url) })(req()), (e: ReadPathError) => {
    assert.equal(e.code, 'TRANSFORM_FAILED');
    assert.match(e.message, /cannot be sent to the main thread/);
    return true;
  });
  assert.deepEqual(pool.threadIds().sort(), threads);
  const ok = await w.executor.get('k')(req());
  assert.equal(new TextDecoder().decode(ok.value.body), 'hello');
});

test('a missing transform module is INVALID_CONFIG naming it', async () => {
  await assert.rejects(w.executor.get('k', { transform: '/nonexistent/transform.mjs' })(req()), (e: ReadPathError) => {
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.match(e.message, /nonexistent\/transform\.mjs: cannot load/);
    return true;
  });
});

test('workerNice lowers the worker threads\' priority, not the main thread\'s', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux-only' }, async () => {
  const { getPriority } = await import('node:os');
  const mainNice = getPriority();
  const niced = executorWorld('pool', [{ name: 'b', objects: { k: 'x' } }], { threads: 1, workerNice: Math.min(19, mainNice + 7) });
  try {
    const r = await niced.executor.get('k', { transform: new URL('../helpers/transforms/thread-id.mjs', import.meta.url) })(
      { backendName: 'b', signal: new AbortController().signal, location: null, backend: niced.backends.get('b')! });
    assert.equal((r.value.value as { nice: number }).nice, Math.min(19, mainNice + 7));
    assert.equal(getPriority(), mainNice);
  } finally {
    await niced.close();
  }
  assert.throws(() => executorWorld('pool', [{ name: 'b' }], { workerNice: 20 }), { code: 'INVALID_CONFIG', message: /worker_nice/ });
});
