import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { CircuitBreaker, type CircuitBreakerOptions, type FailureEffect, type Verdict } from '../../src/policies/circuit-breaker.js';
import { ReadPathError, hasCode } from '../../src/errors.js';

/** Errors the tests throw; their message is the verdict the test classifier gives them. */
class Outcome extends Error {
  constructor(readonly verdict: Verdict) {
    super(verdict);
  }
}

const fail = (): Promise<never> => Promise.reject(new Outcome('failure'));
const neutral = (): Promise<never> => Promise.reject(new Outcome('neutral'));
const ok = (): Promise<string> => Promise.resolve('ok');

interface Gate<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function gate<T = string>(): Gate<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(opts: Partial<CircuitBreakerOptions> = {}) {
  let t = 1_000;
  const changes: string[] = [];
  const rejections: string[] = [];
  const randoms: number[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    openTimeoutMs: 1_000,
    now: () => t,
    classify: (err, callerAborted) => (callerAborted ? 'neutral' : err instanceof Outcome ? err.verdict : 'failure'),
    rejection: (state) => {
      rejections.push(state);
      return new ReadPathError('BACKEND_UNAVAILABLE', `breaker ${state}`);
    },
    onStateChange: (to, from) => changes.push(`${from}->${to}`),
    ...opts,
    ...(opts.random === undefined ? {} : { random: () => {
      const r = opts.random?.() ?? 0;
      randoms.push(r);
      return r;
    } }),
  });
  return {
    breaker,
    changes,
    rejections,
    randoms,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function settled(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return err;
  }
}

const rejected = (err: unknown): boolean => hasCode(err, 'BACKEND_UNAVAILABLE');

/** Open a breaker built by setup() with the given threshold. */
async function trip(breaker: CircuitBreaker, threshold: number): Promise<void> {
  for (let i = 0; i < threshold; i++) await settled(breaker.execute(fail));
  assert.equal(breaker.state(), 'open');
}

describe('CircuitBreaker: closed and open', () => {
  it('opens after failureThreshold consecutive failures; open rejects without calling fn', async () => {
    const { breaker, changes, rejections } = setup({ failureThreshold: 3 });
    await settled(breaker.execute(fail));
    await settled(breaker.execute(fail));
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.stats().consecutiveFailures, 2);
    await settled(breaker.execute(fail));
    assert.equal(breaker.state(), 'open');
    assert.deepEqual(changes, ['closed->open']);
    let called = 0;
    const err = await settled(breaker.execute(async () => {
      called++;
      return 1;
    }));
    assert.ok(rejected(err));
    assert.equal(called, 0);
    assert.deepEqual(rejections, ['open']);
  });

  it('a success resets the count; neutral outcomes neither count nor reset', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    await settled(breaker.execute(fail));
    await settled(breaker.execute(fail));
    assert.equal(await breaker.execute(ok), 'ok');
    assert.equal(breaker.stats().consecutiveFailures, 0);
    await settled(breaker.execute(fail));
    for (let i = 0; i < 10; i++) await settled(breaker.execute(neutral));
    await settled(breaker.execute(fail));
    assert.equal(breaker.stats().consecutiveFailures, 2);
    assert.equal(breaker.state(), 'closed');
  });

  it('passes the caller signal to fn and tells the classifier when the caller aborted', async () => {
    const seen: boolean[] = [];
    const { breaker } = setup({
      failureThreshold: 1,
      classify: (_err, callerAborted) => {
        seen.push(callerAborted);
        return callerAborted ? 'neutral' : 'failure';
      },
    });
    const ac = new AbortController();
    const g = gate();
    let got: AbortSignal | undefined;
    const p = breaker.execute((signal) => {
      got = signal;
      return g.promise;
    }, ac.signal);
    ac.abort();
    g.reject(new Error('socket hang up'));
    await assert.rejects(p, /socket hang up/);
    assert.equal(got, ac.signal);
    assert.deepEqual(seen, [true]);
    assert.equal(breaker.state(), 'closed', 'a cancelled call is not a failure');
  });

  it('rejects an already-aborted call with ABORTED without calling fn', async () => {
    const { breaker } = setup();
    let called = 0;
    await assert.rejects(breaker.execute(async () => called++, AbortSignal.abort()), (e: unknown) => hasCode(e, 'ABORTED'));
    assert.equal(called, 0);
  });

  it('never throws synchronously: a fn that throws is a rejected, counted call', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const p = breaker.execute(() => {
      throw new Outcome('failure');
    });
    assert.ok(p instanceof Promise);
    await assert.rejects(p, Outcome);
    assert.equal(breaker.state(), 'open');
    const open = breaker.execute(ok);
    assert.ok(open instanceof Promise, 'an open rejection is a rejected promise too');
    assert.ok(rejected(await settled(open)));
  });

  it('a closed breaker adds no abort listener to the caller signal', async () => {
    const { breaker } = setup();
    const ac = new AbortController();
    const g = gate();
    const p = breaker.execute(() => g.promise, ac.signal);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    g.resolve('x');
    assert.equal(await p, 'x');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('maps a failure through failureError, telling it what the failure did', async () => {
    const effects: string[] = [];
    const { breaker, advance } = setup({
      failureThreshold: 2,
      failureError: (err: unknown, effect: FailureEffect, failures: number) => {
        effects.push(`${effect}:${failures}`);
        return new ReadPathError('DB_UNAVAILABLE', effect, { cause: err });
      },
    });
    await assert.rejects(breaker.execute(fail), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE') && (e as Error).cause instanceof Outcome);
    await settled(breaker.execute(fail));
    advance(1_000);
    await settled(breaker.execute(fail));
    await assert.rejects(breaker.execute(neutral), (e: unknown) => rejected(e), 'open again: a plain rejection, not mapped');
    advance(1_000);
    await assert.rejects(breaker.execute(neutral), Outcome, 'neutral errors are never mapped');
    assert.deepEqual(effects, ['counted:1', 'opened:2', 'reopened:3']);
  });

  it('validates its options with INVALID_CONFIG naming the setting', () => {
    const rejection = (): Error => new Error('x');
    const bad = (o: Partial<CircuitBreakerOptions>, field: RegExp): void => {
      assert.throws(() => new CircuitBreaker({ failureThreshold: 1, openTimeoutMs: 1, rejection, configPath: 'x_breaker', ...o }), (e: unknown) => hasCode(e, 'INVALID_CONFIG') && field.test((e as Error).message));
    };
    bad({ failureThreshold: 0 }, /x_breaker\.failure_threshold/);
    bad({ failureThreshold: 1.5 }, /failure_threshold/);
    bad({ openTimeoutMs: -1 }, /x_breaker\.open_timeout/);
    bad({ openTimeoutMs: Number.NaN }, /open_timeout/);
    bad({ jitterRatio: -0.1 }, /jitter/);
  });
});

describe('CircuitBreaker: half-open', () => {
  it('after the open period exactly one call is the probe; the others are rejected; its success closes', async () => {
    const { breaker, advance, changes, rejections } = setup({ failureThreshold: 1, openTimeoutMs: 1_000 });
    await trip(breaker, 1);
    advance(999);
    assert.ok(rejected(await settled(breaker.execute(ok))), 'still open 1 ms before the end');
    advance(1);
    const g = gate();
    let calls = 0;
    const probe = breaker.execute(() => {
      calls++;
      return g.promise;
    });
    assert.equal(breaker.state(), 'half-open');
    assert.equal(breaker.stats().probeInFlight, true);
    const others = await Promise.all(Array.from({ length: 5 }, () => settled(breaker.execute(async () => {
      calls++;
      return 'x';
    }))));
    for (const e of others) assert.ok(rejected(e));
    assert.equal(calls, 1, 'only the probe ran');
    assert.deepEqual(rejections, ['open', 'half-open', 'half-open', 'half-open', 'half-open', 'half-open']);
    g.resolve('probe');
    assert.equal(await probe, 'probe');
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.stats().probeInFlight, false);
    assert.equal(breaker.stats().consecutiveFailures, 0, 'rejections were never counted');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('a failed probe re-opens it for another full period', async () => {
    const { breaker, advance, changes } = setup({ failureThreshold: 2, openTimeoutMs: 500 });
    await trip(breaker, 2);
    advance(500);
    await settled(breaker.execute(fail));
    assert.equal(breaker.state(), 'open');
    assert.equal(breaker.stats().consecutiveFailures, 3, 'the count is kept while open');
    advance(499);
    assert.ok(rejected(await settled(breaker.execute(ok))));
    advance(1);
    assert.equal(await breaker.execute(ok), 'ok');
    assert.equal(breaker.state(), 'closed');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open', 'half-open->closed']);
  });

  it("'while-probing' (default): open until a call probes; an aborted probe re-opens with its period over, so the next call probes", async () => {
    const { breaker, advance, changes } = setup({ failureThreshold: 1, openTimeoutMs: 100 });
    await trip(breaker, 1);
    advance(100);
    assert.equal(breaker.state(), 'open', 'no call yet: nothing is probing');
    const ac = new AbortController();
    const g = gate();
    const probe = breaker.execute(() => g.promise, ac.signal);
    assert.equal(breaker.state(), 'half-open');
    ac.abort();
    g.reject(new Error('aborted'));
    await settled(probe);
    assert.equal(breaker.state(), 'open');
    assert.equal(breaker.stats().probeInFlight, false);
    let calls = 0;
    assert.equal(await breaker.execute(async () => {
      calls++;
      return 'ok';
    }), 'ok');
    assert.equal(calls, 1, 'the next call probed at once');
    assert.equal(breaker.state(), 'closed');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open', 'half-open->closed']);
  });

  it("'once-due': half-open as soon as the period is over; an aborted probe frees the slot without a state change", async () => {
    const { breaker, advance, changes } = setup({ failureThreshold: 1, openTimeoutMs: 100, halfOpen: 'once-due' });
    await trip(breaker, 1);
    advance(99);
    assert.equal(breaker.state(), 'open');
    advance(1);
    assert.equal(breaker.state(), 'half-open', 'due before any call');
    assert.deepEqual(changes, ['closed->open'], 'reported lazily: the change happens when the probe is admitted');
    await settled(breaker.execute(neutral));
    assert.equal(breaker.state(), 'half-open');
    assert.equal(breaker.stats().probeInFlight, false);
    const g = gate();
    const probe = breaker.execute(() => g.promise);
    assert.equal(breaker.stats().probeInFlight, true);
    assert.ok(rejected(await settled(breaker.execute(ok))), 'the slot is taken again');
    g.resolve('ok');
    await probe;
    assert.equal(breaker.state(), 'closed');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
  });
});

describe('CircuitBreaker: jitter', () => {
  for (const [r, openFor] of [[0, 10_000], [0.5, 12_500], [0.75, 13_750], [1 - Number.EPSILON, 15_000]] as const) {
    it(`random ${r} with jitterRatio 0.5 keeps a 10 s breaker open until ${openFor} ms`, async () => {
      const { breaker, advance, randoms } = setup({ failureThreshold: 1, openTimeoutMs: 10_000, jitterRatio: 0.5, random: () => r });
      await trip(breaker, 1);
      assert.deepEqual(randoms, [r], 'one draw per open period');
      advance(openFor - 1);
      assert.ok(rejected(await settled(breaker.execute(ok))));
      advance(1);
      assert.equal(await breaker.execute(ok), 'ok');
    });
  }

  it('a random source outside [0, 1) never shortens the period nor stretches it past the ratio', async () => {
    for (const [r, openFor] of [[-5, 1_000], [Number.NaN, 1_000], [7, 1_500]] as const) {
      const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 1_000, jitterRatio: 0.5, random: () => r });
      await trip(breaker, 1);
      advance(openFor - 1);
      assert.ok(rejected(await settled(breaker.execute(ok))), `random ${r}: still open`);
      advance(1);
      assert.equal(await breaker.execute(ok), 'ok', `random ${r}: probes at ${openFor}`);
    }
  });

  it('a failed probe draws a new jitter; no jitter ratio never calls random', async () => {
    const draws = [0, 1 - Number.EPSILON];
    const { breaker, advance, randoms } = setup({ failureThreshold: 1, openTimeoutMs: 1_000, jitterRatio: 1, random: () => draws.shift() ?? 0 });
    await trip(breaker, 1);
    advance(1_000);
    await settled(breaker.execute(fail));
    assert.equal(randoms.length, 2);
    advance(1_998);
    assert.ok(rejected(await settled(breaker.execute(ok))));

    let called = 0;
    const plain = setup({ failureThreshold: 1, random: () => {
      called++;
      return 0.5;
    } });
    await trip(plain.breaker, 1);
    assert.equal(called, 0);
  });
});

describe('CircuitBreaker: generations', () => {
  it('a success of a call admitted before the breaker opened does not close it', async () => {
    const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 100 });
    const g = gate();
    const slow = breaker.execute(() => g.promise);
    await settled(breaker.execute(fail));
    assert.equal(breaker.state(), 'open');
    g.resolve('late');
    assert.equal(await slow, 'late', 'the stale call still returns its value');
    assert.equal(breaker.state(), 'open');
    advance(100);
    assert.equal(breaker.state(), 'open');
  });

  it('a failure of a call admitted before the breaker closed again does not count', async () => {
    const effects: FailureEffect[] = [];
    const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 100, failureError: (err: unknown, effect: FailureEffect) => {
      effects.push(effect);
      return err;
    } });
    const g = gate();
    const slow = breaker.execute(() => g.promise); // admitted while closed
    await settled(breaker.execute(fail));
    advance(100);
    await breaker.execute(ok); // the probe closes it
    assert.equal(breaker.state(), 'closed');
    g.reject(new Outcome('failure'));
    await assert.rejects(slow, Outcome);
    assert.equal(breaker.state(), 'closed', 'threshold 1, yet the stale failure did not open it');
    assert.equal(breaker.stats().consecutiveFailures, 0);
    assert.deepEqual(effects, ['opened', 'stale']);
  });

  it('a neutral outcome of an earlier probe cannot free a later probe slot', async () => {
    const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 100, halfOpen: 'once-due' });
    await trip(breaker, 1);
    advance(100);
    let firstGeneration = -1;
    await settled(breaker.execute(async (_s, generation) => {
      firstGeneration = generation;
      throw new Outcome('neutral');
    }));
    const g = gate();
    const probe = breaker.execute(() => g.promise);
    breaker.report('neutral', firstGeneration);
    assert.equal(breaker.stats().probeInFlight, true);
    assert.ok(rejected(await settled(breaker.execute(ok))));
    g.resolve('ok');
    await probe;
    assert.equal(breaker.state(), 'closed');
  });
});

describe('CircuitBreaker: outcomes reported after execute resolved', () => {
  it('a late failure report counts while its generation is current', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    let generation = -1;
    await breaker.execute(async (_s, gen) => {
      generation = gen;
      return 'headers';
    });
    breaker.report('failure', generation);
    assert.equal(breaker.stats().consecutiveFailures, 1);
    breaker.report('failure', generation);
    assert.equal(breaker.state(), 'open');
  });

  it('a late report from an older generation is ignored', async () => {
    const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 100 });
    let generation = -1;
    await breaker.execute(async (_s, gen) => {
      generation = gen;
      return 'headers';
    });
    await settled(breaker.execute(fail));
    advance(100);
    await breaker.execute(ok);
    assert.equal(breaker.state(), 'closed');
    breaker.report('failure', generation);
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.stats().consecutiveFailures, 0);
  });

  it('late success and neutral reports keep a closed breaker closed; success resets the count', async () => {
    const { breaker } = setup({ failureThreshold: 3 });
    const generation = breaker.stats().generation;
    await settled(breaker.execute(fail));
    breaker.report('neutral', generation);
    assert.equal(breaker.stats().consecutiveFailures, 1);
    breaker.report('success', generation);
    assert.equal(breaker.stats().consecutiveFailures, 0);
    assert.equal(breaker.state(), 'closed');
  });
});

describe('CircuitBreaker: observers', () => {
  it('an observer that throws changes nothing', async () => {
    const { breaker, advance } = setup({ failureThreshold: 1, openTimeoutMs: 10, onStateChange: () => {
      throw new Error('observer bug');
    } });
    await assert.rejects(breaker.execute(fail), Outcome);
    assert.equal(breaker.state(), 'open');
    advance(10);
    assert.equal(await breaker.execute(ok), 'ok');
    assert.equal(breaker.state(), 'closed');
  });
});
