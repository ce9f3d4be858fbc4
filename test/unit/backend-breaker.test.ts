import { describe, it, test } from 'node:test';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { CircuitBreakerBackend, classifyBackendError, isBreakerRejection, type BreakerState } from '../../src/policies/backend-breaker.js';
import { ReadPathError, UsageLimitSkipError, hasCode } from '../../src/errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../../src/types.js';

type Outcome = 'ok' | 'fail' | '404' | 'abort' | 'skip' | 'timeout';

function errorFor(o: Exclude<Outcome, 'ok'>): Error {
  switch (o) {
    case 'fail':
      return new ReadPathError('BACKEND_ERROR', 'boom', { backendStatus: 503 });
    case '404':
      return new ReadPathError('BACKEND_ERROR', 'missing', { backendStatus: 404 });
    case 'abort':
      return new ReadPathError('ABORTED', 'cancelled');
    case 'skip':
      return new UsageLimitSkipError('b1');
    case 'timeout':
      return new ReadPathError('TIMEOUT', 'slow');
  }
}

interface Deferred {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** A backend whose answers the test scripts: a fixed outcome, or a gate the test settles. */
class ScriptedBackend implements ObjectBackend {
  readonly name = 'b1';
  calls = 0;
  next: Outcome = 'ok';
  gated = false;
  readonly gates: Deferred[] = [];

  async head(): Promise<HeadResult> {
    this.calls++;
    if (this.gated) {
      await new Promise<void>((resolve, reject) => this.gates.push({ resolve, reject }));
      return { size: 1 };
    }
    if (this.next !== 'ok') throw errorFor(this.next);
    return { size: 1 };
  }

  async get(): Promise<GetResult> {
    const h = await this.head();
    return { ...h, body: new PassThrough() };
  }
}

function setup(opts: { threshold?: number; openTimeoutMs?: number; enabled?: boolean } = {}) {
  let t = 1_000;
  const inner = new ScriptedBackend();
  const changes: string[] = [];
  const breaker = new CircuitBreakerBackend(inner, {
    failureThreshold: opts.threshold ?? 3,
    openTimeoutMs: opts.openTimeoutMs ?? 5_000,
    enabled: opts.enabled ?? true,
    now: () => t,
    onStateChange: ({ from, to }) => changes.push(`${from}->${to}`),
  });
  return {
    inner,
    breaker,
    changes,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function attempt(b: ObjectBackend, inner: ScriptedBackend, outcome: Outcome): Promise<unknown> {
  inner.next = outcome;
  try {
    await b.head('k');
    return undefined;
  } catch (err) {
    return err;
  }
}

const isUnavailable = (err: unknown): boolean => hasCode(err, 'BACKEND_UNAVAILABLE') && isBreakerRejection(err);

describe('CircuitBreakerBackend', () => {
  it('opens after failureThreshold consecutive failures and then answers BACKEND_UNAVAILABLE without calling the backend', async () => {
    const { breaker, inner, changes } = setup({ threshold: 3 });
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, 'timeout');
    assert.equal(breaker.state(), 'closed');
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'open');
    assert.deepEqual(changes, ['closed->open']);
    const calls = inner.calls;
    const err = await attempt(breaker, inner, 'ok');
    assert.ok(isUnavailable(err));
    assert.equal((err as ReadPathError).httpStatus, 502);
    assert.equal(inner.calls, calls, 'backend not called while open');
    await assert.rejects(breaker.get('k'), (e: unknown) => isUnavailable(e));
    assert.equal(inner.calls, calls);
  });

  it('a success resets the consecutive count', async () => {
    const { breaker, inner } = setup({ threshold: 3 });
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, 'ok');
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.stats().consecutiveFailures, 2);
  });

  for (const neutral of ['404', 'abort', 'skip'] as const) {
    it(`never counts ${neutral} as a failure`, async () => {
      const { breaker, inner } = setup({ threshold: 2 });
      for (let i = 0; i < 10; i++) await attempt(breaker, inner, neutral);
      assert.equal(breaker.state(), 'closed');
      await attempt(breaker, inner, 'fail');
      assert.equal(breaker.state(), 'closed', 'one real failure is still below the threshold');
    });
  }

  it('a 404 proves the backend alive: it resets the count', async () => {
    const { breaker, inner } = setup({ threshold: 2 });
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, '404');
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'closed');
  });

  it("never counts an error that arrives after the caller's signal aborted (a cancelled loser)", async () => {
    const { breaker, inner } = setup({ threshold: 1 });
    inner.gated = true;
    const ac = new AbortController();
    const p = breaker.head('k', { signal: ac.signal });
    await Promise.resolve();
    ac.abort();
    inner.gates.shift()?.reject(new ReadPathError('BACKEND_ERROR', 'socket hang up'));
    await assert.rejects(p, (e: unknown) => hasCode(e, 'BACKEND_ERROR'));
    assert.equal(breaker.state(), 'closed');
  });

  it('rejects an already-aborted call with ABORTED without calling the backend', async () => {
    const { breaker, inner } = setup();
    await assert.rejects(breaker.head('k', { signal: AbortSignal.abort() }), (e: unknown) => hasCode(e, 'ABORTED'));
    assert.equal(inner.calls, 0);
  });

  it('lets exactly one probe through after openTimeoutMs; a successful probe closes it', async () => {
    const { breaker, inner, advance, changes } = setup({ threshold: 1, openTimeoutMs: 5_000 });
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'open');
    advance(4_999);
    assert.ok(isUnavailable(await attempt(breaker, inner, 'ok')), 'still open just before the timeout');
    advance(1);
    assert.equal(breaker.state(), 'half-open');

    inner.gated = true;
    const calls = inner.calls;
    const probe = breaker.head('k');
    const others = await Promise.all(Array.from({ length: 5 }, () => attempt(breaker, inner, 'ok')));
    assert.equal(inner.calls, calls + 1, 'only the probe reached the backend');
    for (const e of others) assert.ok(isUnavailable(e), 'others rejected while the probe is in flight');
    assert.equal(breaker.stats().probeInFlight, true);

    inner.gates.shift()?.resolve();
    await probe;
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.stats().consecutiveFailures, 0, 'half-open rejections were not counted');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('half-open rejections never count: a failure right after closing does not re-open a threshold-2 breaker', async () => {
    const { breaker, inner, advance } = setup({ threshold: 2, openTimeoutMs: 100 });
    await attempt(breaker, inner, 'fail');
    await attempt(breaker, inner, 'fail');
    advance(100);
    inner.gated = true;
    const probe = breaker.head('k');
    for (let i = 0; i < 50; i++) assert.ok(isUnavailable(await attempt(breaker, inner, 'ok')));
    assert.equal(breaker.state(), 'half-open', 'its own rejections did not re-open it');
    assert.equal(breaker.stats().consecutiveFailures, 2);
    inner.gates.shift()?.resolve();
    await probe;
    inner.gated = false;
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'closed');
  });

  it('a failed probe re-opens it for another full openTimeoutMs', async () => {
    const { breaker, inner, advance } = setup({ threshold: 1, openTimeoutMs: 1_000 });
    await attempt(breaker, inner, 'fail');
    advance(1_000);
    await attempt(breaker, inner, 'fail');
    assert.equal(breaker.state(), 'open');
    advance(999);
    const calls = inner.calls;
    assert.ok(isUnavailable(await attempt(breaker, inner, 'ok')));
    assert.equal(inner.calls, calls);
    advance(1);
    assert.equal(await attempt(breaker, inner, 'ok'), undefined);
    assert.equal(breaker.state(), 'closed');
  });

  it('an aborted probe frees the probe slot without a verdict: the next call probes', async () => {
    const { breaker, inner, advance } = setup({ threshold: 1, openTimeoutMs: 10 });
    await attempt(breaker, inner, 'fail');
    advance(10);
    await attempt(breaker, inner, 'abort');
    assert.equal(breaker.state(), 'half-open');
    assert.equal(breaker.stats().probeInFlight, false);
    await attempt(breaker, inner, 'skip');
    assert.equal(breaker.state(), 'half-open');
    const calls = inner.calls;
    assert.equal(await attempt(breaker, inner, 'ok'), undefined);
    assert.equal(inner.calls, calls + 1);
    assert.equal(breaker.state(), 'closed');
  });

  it('a 404 probe closes it: the backend answered', async () => {
    const { breaker, inner, advance } = setup({ threshold: 1, openTimeoutMs: 10 });
    await attempt(breaker, inner, 'fail');
    advance(10);
    await attempt(breaker, inner, '404');
    assert.equal(breaker.state(), 'closed');
  });

  it("an inner breaker's rejection does not count in an outer one", async () => {
    const { breaker: innerBreaker, inner } = setup({ threshold: 1, openTimeoutMs: 1e9 });
    await attempt(innerBreaker, inner, 'fail');
    const outer = new CircuitBreakerBackend(innerBreaker, { failureThreshold: 1 });
    for (let i = 0; i < 5; i++) await assert.rejects(outer.head('k'), (e: unknown) => isUnavailable(e));
    assert.equal(outer.state(), 'closed');
  });

  it('a GET body that fails after get() resolved counts; one destroyed as a cancelled loser does not', async () => {
    const { breaker, inner } = setup({ threshold: 1 });
    inner.next = 'ok';
    const loser = await breaker.get('k');
    loser.body.destroy(new ReadPathError('ABORTED', 'loser'));
    await new Promise((resolve) => loser.body.once('close', resolve));
    assert.equal(breaker.state(), 'closed');

    const r = await breaker.get('k');
    r.body.destroy(new ReadPathError('BACKEND_ERROR', 'body truncated'));
    await new Promise((resolve) => r.body.once('close', resolve));
    assert.equal(breaker.state(), 'open');
  });

  it('when disabled, passes everything through and stays closed', async () => {
    const { breaker, inner } = setup({ threshold: 1, enabled: false });
    for (let i = 0; i < 5; i++) assert.ok(hasCode(await attempt(breaker, inner, 'fail'), 'BACKEND_ERROR'));
    assert.equal(inner.calls, 5);
    assert.equal(breaker.state(), 'closed');
  });

  it('rejects bad options with INVALID_CONFIG naming the field', () => {
    const inner = new ScriptedBackend();
    assert.throws(() => new CircuitBreakerBackend(inner, { failureThreshold: 0 }), (e: unknown) => hasCode(e, 'INVALID_CONFIG') && /failure_threshold/.test((e as Error).message));
    assert.throws(() => new CircuitBreakerBackend(inner, { openTimeoutMs: -1 }), (e: unknown) => hasCode(e, 'INVALID_CONFIG') && /open_timeout/.test((e as Error).message));
  });

  it('classifies outcomes', () => {
    const cases: [unknown, boolean, ReturnType<typeof classifyBackendError>][] = [
      [errorFor('fail'), false, 'failure'],
      [errorFor('timeout'), false, 'failure'],
      [new Error('ECONNRESET'), false, 'failure'],
      [errorFor('404'), false, 'success'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: PreconditionFailed', { backendStatus: 412 }), false, 'success'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: InvalidArgument', { backendStatus: 400 }), false, 'success'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: AccessDenied', { backendStatus: 403 }), false, 'failure'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: InvalidAccessKeyId', { backendStatus: 401 }), false, 'failure'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: SlowDown', { backendStatus: 429 }), false, 'failure'],
      [new ReadPathError('BACKEND_ERROR', 'b1: k: InternalError', { backendStatus: 500 }), false, 'failure'],
      [errorFor('abort'), false, 'neutral'],
      [errorFor('skip'), false, 'neutral'],
      [errorFor('fail'), true, 'neutral'],
      [new ReadPathError('BACKEND_ERROR', 'wrapped', { cause: errorFor('abort') }), false, 'neutral'],
    ];
    for (const [err, aborted, verdict] of cases) assert.equal(classifyBackendError(err, aborted), verdict, (err as Error).message);
    const states: BreakerState[] = ['closed', 'open', 'half-open'];
    assert.equal(states.length, 3);
  });
});

test('guard: calls made elsewhere (a worker\'s client) open and close the same breaker', async () => {
  let now = 0;
  const inner = new MemoryBackend('g1');
  const b = new CircuitBreakerBackend(inner, { failureThreshold: 2, openTimeoutMs: 100, now: () => now });
  const boom = () => Promise.reject(new ReadPathError('BACKEND_ERROR', 'worker saw a 500', { backendStatus: 500 }));
  await assert.rejects(b.guard(undefined, boom), { code: 'BACKEND_ERROR' });
  await assert.rejects(b.guard(undefined, boom), { code: 'BACKEND_ERROR' });
  assert.equal(b.state(), 'open');
  let called = 0;
  await assert.rejects(b.guard(undefined, async () => { called++; return 1; }), { code: 'BACKEND_UNAVAILABLE' });
  assert.equal(called, 0, 'open: the call is never made');
  await assert.rejects(b.guard(undefined, () => Promise.reject(new ReadPathError('SERVICE_UNAVAILABLE', 'encrypted'))), { code: 'BACKEND_UNAVAILABLE' });
  now = 100;
  assert.equal(await b.guard(undefined, async () => 7), 7);
  assert.equal(b.state(), 'closed');
  await assert.rejects(b.guard(undefined, () => Promise.reject(new ReadPathError('SERVICE_UNAVAILABLE', 'encrypted'))));
  await assert.rejects(b.guard(undefined, () => Promise.reject(new ReadPathError('SERVICE_UNAVAILABLE', 'encrypted'))));
  assert.equal(b.state(), 'closed', 'declined encrypted copies are not backend failures');
});
