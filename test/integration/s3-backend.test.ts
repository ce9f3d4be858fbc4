import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { S3Backend } from '../../src/backends/s3-backend.js';
import { CircuitBreakerBackend } from '../../src/policies/backend-breaker.js';
import { discardBody, readBody } from '../../src/backends/body.js';
import { hasCode, type ErrorCode } from '../../src/errors.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { eventually, settleTcpHandles } from '../helpers/handles.js';

const KEY = 'dir with space/ünïcode-object.bin';
const BYTES = Uint8Array.from({ length: 64 * 1024 + 3 }, (_, i) => (i * 31 + 7) & 0xff);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Resolves on 'close' whatever errors the stream emitted before it. */
function closed(s: Readable): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

function isCode(code: ErrorCode, backendStatus?: number): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(hasCode(err, code), `expected ${code}, got ${String((err as { code?: unknown }).code)}: ${String((err as Error).message)}`);
    if (backendStatus !== undefined) assert.equal((err as { backendStatus?: number }).backendStatus, backendStatus);
    return true;
  };
}

describe('S3Backend against s3rver', () => {
  let fleet: S3Fleet;
  const backends: S3Backend[] = [];
  const make = (name: string, extra: Parameters<S3Fleet['backendOptions']>[1] = {}): S3Backend => {
    const b = new S3Backend(fleet.backendOptions(name, { timeoutMs: 2_000, ...extra }));
    backends.push(b);
    return b;
  };

  before(async () => {
    fleet = await startS3Fleet({ count: 2 });
    await fleet.seed(KEY, BYTES, ['b1', 'b2']);
    await fleet.seed('small', 'hello world', ['b1']);
  });

  after(async () => {
    for (const b of backends) await b.close();
    await fleet.close();
    assert.deepEqual(await settleTcpHandles(), [], 'no TCP handles left after closing backends and fleet');
  });

  it('heads an object: size, etag, last-modified', async () => {
    const b = make('b1');
    const h = await b.head(KEY);
    assert.equal(h.size, BYTES.byteLength);
    assert.match(h.etag ?? '', /^"[0-9a-f]{32}"$/);
    assert.ok(h.lastModified instanceof Date);
  });

  it('gets a whole object and a byte range', async () => {
    const b = make('b1');
    const whole = await b.get(KEY);
    assert.equal(whole.size, BYTES.byteLength);
    assert.equal(sha(await readBody(whole)), sha(BYTES));
    const part = await b.get('small', { range: 'bytes=6-10' });
    assert.equal(part.size, 5);
    assert.equal(Buffer.from(await readBody(part)).toString(), 'world');
    assert.equal(b.sockets().active, 0, 'read bodies give their sockets back');
    assert.ok(b.sockets().free >= 1, 'sockets are kept alive for reuse');
  });

  it('reports a missing copy as BACKEND_ERROR with backendStatus 404 (HEAD and GET)', async () => {
    const b = make('b2');
    await assert.rejects(b.head('small'), isCode('BACKEND_ERROR', 404));
    await assert.rejects(b.get('small'), isCode('BACKEND_ERROR', 404));
  });

  it('reports an unsatisfiable range with its status', async () => {
    const b = make('b1');
    await assert.rejects(b.get('small', { range: 'bytes=100-200' }), isCode('BACKEND_ERROR', 416));
  });

  it('maps 503 SlowDown to BACKEND_ERROR with backendStatus 503', async () => {
    const b = make('b1');
    fleet.backend('b1').proxy.failNext(2, { kind: 'slowdown' });
    await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', 503));
    await assert.rejects(b.head(KEY), isCode('BACKEND_ERROR', 503));
    assert.equal((await b.head(KEY)).size, BYTES.byteLength, 'next request passes');
  });

  it('maps an error answer with an unparseable XML body to BACKEND_ERROR with its status', async () => {
    const b = make('b1');
    fleet.backend('b1').proxy.failNext(1, { kind: 'invalidXml', status: 500 });
    await assert.rejects(b.get(KEY), (err: unknown) => {
      isCode('BACKEND_ERROR', 500)(err);
      assert.equal((err as { backendStatus?: number }).backendStatus, 500);
      return true;
    });
  });

  it('maps a connection reset to BACKEND_ERROR without backendStatus', async () => {
    const b = make('b1');
    fleet.backend('b1').proxy.failNext(1, { kind: 'reset' });
    await assert.rejects(b.get(KEY), (err: unknown) => {
      assert.ok(hasCode(err, 'BACKEND_ERROR'));
      assert.equal((err as { backendStatus?: number }).backendStatus, undefined);
      assert.ok(!hasCode(err, 'TIMEOUT'), 'an SDK "TimeoutError" for ECONNRESET is not our TIMEOUT');
      return true;
    });
  });

  it('maps a refused connection to BACKEND_ERROR, and works again once the backend is back', async () => {
    const b = make('b2');
    await fleet.stop('b2');
    try {
      await assert.rejects(b.head(KEY), (err: unknown) => {
        assert.ok(hasCode(err, 'BACKEND_ERROR'));
        assert.match((err as Error).message, /ECONNREFUSED/);
        return true;
      });
    } finally {
      await fleet.start('b2');
    }
    assert.equal((await b.head(KEY)).size, BYTES.byteLength);
  });

  // The backend timeout runs on mocked timers: ticking past it is deterministic however
  // slow the machine is (the SDK's own timers are seconds long and never reached).
  const withMockedTimers = async (fn: () => Promise<void>): Promise<void> => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      await fn();
    } finally {
      mock.timers.reset();
    }
  };

  it('ends a hanging request with TIMEOUT after timeoutMs', () =>
    withMockedTimers(async () => {
      const b = make('b1', { timeoutMs: 200 });
      const proxy = fleet.backend('b1').proxy;
      proxy.failNext(1, { kind: 'hang' });
      const seen = proxy.requestCount;
      const p = b.head(KEY);
      await proxy.waitForRequests(seen + 1);
      mock.timers.tick(200);
      await assert.rejects(p, isCode('TIMEOUT'));
      assert.ok(await eventually(() => b.sockets().active === 0, 100), 'the hung socket was given up');
    }));

  it('bounds the body by the timeout too: a stalled body ends with TIMEOUT', () =>
    withMockedTimers(async () => {
      const b = make('b1', { timeoutMs: 200 });
      fleet.backend('b1').proxy.failNext(1, { kind: 'stallBody', keepBytes: 1000 }, { method: 'GET' });
      const r = await b.get(KEY);
      const read = readBody(r);
      mock.timers.tick(200);
      await assert.rejects(read, isCode('TIMEOUT'));
      assert.ok(r.body.destroyed);
    }));

  it('destroys an unread body when the timeout passes, so its socket is freed', () =>
    withMockedTimers(async () => {
      const b = make('b1', { timeoutMs: 200 });
      fleet.backend('b1').proxy.failNext(1, { kind: 'stallBody', keepBytes: 10 }, { method: 'GET' });
      const r = await b.get(KEY);
      assert.equal(b.sockets().active, 1);
      mock.timers.tick(199);
      assert.equal(r.body.destroyed, false, 'not before the timeout');
      mock.timers.tick(1);
      assert.equal(r.body.destroyed, true);
      await closed(r.body);
      assert.ok(await eventually(() => b.sockets().active === 0, 100));
      await assert.rejects(readBody(r), isCode('TIMEOUT'));
    }));

  it('with timeoutCoversBody: false the body outlives the timeout (the caller bounds it)', () =>
    withMockedTimers(async () => {
      const b = make('b1', { timeoutMs: 200, timeoutCoversBody: false });
      fleet.backend('b1').proxy.failNext(1, { kind: 'stallBody', keepBytes: 10 }, { method: 'GET' });
      const r = await b.get(KEY);
      mock.timers.tick(1_000);
      assert.equal(r.body.destroyed, false);
      const ac = new AbortController();
      const read = readBody(r, ac.signal);
      ac.abort();
      await assert.rejects(read, isCode('ABORTED'));
      assert.ok(await eventually(() => b.sockets().active === 0, 100));
    }));

  it("ends with ABORTED when the caller's signal aborts mid-request, and leaves no listener", async () => {
    const b = make('b1');
    const proxy = fleet.backend('b1').proxy;
    proxy.failNext(1, { kind: 'hang' });
    const ac = new AbortController();
    const seen = proxy.requestCount;
    const p = b.get(KEY, { signal: ac.signal });
    await proxy.waitForRequests(seen + 1);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'one listener while in flight');
    ac.abort(new Error('loser'));
    await assert.rejects(p, isCode('ABORTED'));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('rejects at once with ABORTED when the signal is already aborted', async () => {
    const b = make('b1');
    const proxy = fleet.backend('b1').proxy;
    const seen = proxy.requestCount;
    await assert.rejects(b.head(KEY, { signal: AbortSignal.abort() }), isCode('ABORTED'));
    assert.equal(proxy.requestCount, seen, 'no request sent');
  });

  it('an abort after the headers destroys the body with ABORTED and frees the socket', async () => {
    const b = make('b1');
    const ac = new AbortController();
    const r = await b.get(KEY, { signal: ac.signal });
    assert.equal(b.sockets().active, 1);
    ac.abort();
    assert.ok(r.body.destroyed, 'destroyed synchronously on abort');
    await assert.rejects(readBody(r), isCode('ABORTED'));
    assert.ok(await eventually(() => b.sockets().active === 0));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('releases the signal listener (and with it the timer) once the body has been read', async () => {
    const b = make('b1');
    const ac = new AbortController();
    const r = await b.get(KEY, { signal: ac.signal });
    await readBody(r, ac.signal);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    ac.abort();
  });

  it('reports a truncated body as BACKEND_ERROR', async () => {
    const b = make('b1');
    fleet.backend('b1').proxy.failNext(1, { kind: 'truncate' }, { method: 'GET' });
    const r = await b.get(KEY);
    assert.equal(r.size, BYTES.byteLength, 'headers announce the full length');
    await assert.rejects(readBody(r), isCode('BACKEND_ERROR'));
  });

  it('passes a corrupted body through unchanged in length (catching it is the hash check)', async () => {
    const b = make('b1');
    fleet.backend('b1').proxy.failNext(1, { kind: 'corrupt' }, { method: 'GET' });
    const bytes = await readBody(await b.get(KEY));
    assert.equal(bytes.byteLength, BYTES.byteLength);
    assert.notEqual(sha(bytes), sha(BYTES));
  });

  it('discardBody frees the socket of a body that will not be read', async () => {
    const b = make('b1');
    const r = await b.get(KEY);
    assert.equal(b.sockets().active, 1);
    discardBody(r);
    await closed(r.body);
    assert.ok(await eventually(() => b.sockets().active === 0));
  });

  it('close() destroys idle keep-alive sockets and is idempotent', async () => {
    const before = (await settleTcpHandles(Number.POSITIVE_INFINITY)).length;
    const b = make('b2');
    await b.head(KEY);
    await readBody(await b.get(KEY));
    assert.ok(b.sockets().free >= 1);
    await b.close();
    await b.close();
    assert.deepEqual(b.sockets(), { active: 0, free: 0, queued: 0 });
    // Our socket and the proxy's side of it both go away.
    const left = await settleTcpHandles(before);
    assert.ok(left.length <= before, `TCP handles: ${left.length} now, ${before} before`);
    await assert.rejects(b.head(KEY), isCode('BACKEND_ERROR'));
  });

  it('behind a CircuitBreakerBackend: a down backend opens it, a missing copy never does, one probe closes it', async () => {
    let t = 0;
    const s3 = make('b2', { timeoutMs: 500 });
    const breaker = new CircuitBreakerBackend(s3, { failureThreshold: 2, openTimeoutMs: 1_000, now: () => t });
    const proxy = fleet.backend('b2').proxy;
    for (let i = 0; i < 5; i++) await assert.rejects(breaker.head('small'), isCode('BACKEND_ERROR', 404));
    assert.equal(breaker.state(), 'closed', '404s are answers, not failures');
    proxy.inject({ kind: 'slowdown' });
    try {
      await assert.rejects(breaker.get(KEY), isCode('BACKEND_ERROR', 503));
      await assert.rejects(breaker.get(KEY), isCode('BACKEND_ERROR', 503));
      assert.equal(breaker.state(), 'open');
      const seen = proxy.requestCount;
      await assert.rejects(breaker.get(KEY), isCode('BACKEND_UNAVAILABLE'));
      assert.equal(proxy.requestCount, seen, 'no request while open');
    } finally {
      proxy.clear();
    }
    t += 1_000;
    assert.equal(sha(await readBody(await breaker.get(KEY))), sha(BYTES));
    assert.equal(breaker.state(), 'closed');
  });

  it('serves many concurrent reads through a small socket pool', async () => {
    const b = make('b1', { maxSockets: 2 });
    const results = await Promise.all(Array.from({ length: 12 }, async () => sha(await readBody(await b.get(KEY)))));
    assert.deepEqual(new Set(results), new Set([sha(BYTES)]));
    assert.ok(b.sockets().free <= 2);
  });
});
