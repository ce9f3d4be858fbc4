/**
 * Random failover scenarios for the property suite: a fleet, a store (up or down), a location
 * cache, a strategy, and a script saying how each probe call behaves and when (in ticks of a fake
 * clock). {@link runScenario} drives one read through a real {@link Failover} tick by tick and
 * records everything it can observe; {@link checkScenario} holds the recording against the
 * contract (API.md §2, issue 2) with a model computed from the event log.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { ReadPathError, UsageLimitSkipError } from '../../src/errors.js';
import { METRIC } from '../../src/telemetry/recorder.js';
import { Failover } from '../../src/engine/failover.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { createHedging } from '../../src/policies/hedging.js';
import type { Probe, ProbeRequest, ProbeResult } from '../../src/types.js';
import { loc, makeWorld } from './core-world.js';
import { deferred, flush, type Deferred } from './gate.js';
import { FakeClock } from './fake-clock.js';

/** How one probe call behaves. `at` is in ticks after its launch; 0 answers at once. */
export type BehaviourKind = 'ok' | 'fail' | 'skip' | 'notfound' | 'unavail' | 'hang' | 'late' | 'throw';
export interface Behaviour {
  kind: BehaviourKind;
  at: number;
}

/** How copies are tried. */
export type Strategy =
  | { kind: 'sequential' }
  | { kind: 'parallel'; cap: number }
  | { kind: 'hedged'; delay: number | 'auto'; cap: number; parallelFlag: boolean; maxExtraLoad: number; capacity: number; located: boolean };

/** One generated case. */
export interface Scenario {
  /** Configured backends b1..bN. */
  names: string[];
  /** backendOrder(): may name unconfigured backends. */
  order: string[];
  path: 'located' | 'degraded';
  /** Located path: rows in insertion order (createdAt may tie); may name unconfigured backends. */
  rows: { name: string; createdAt: number }[];
  /** Degraded path: what the location cache holds for the key. */
  cached: string | undefined;
  /** Per backend, the behaviour of its 1st, 2nd… probe call. */
  behaviours: Record<string, Behaviour[]>;
  strategy: Strategy;
  drainTicks: number;
  /** Pass a caller signal at all. */
  signal: boolean;
  /** Tick at which the caller aborts (with a signal). */
  abortAt: number | undefined;
  /** Probes read `req.signal` (and honour it) at launch; otherwise they never look at it. */
  eagerSignal: boolean;
}

const KINDS: readonly [BehaviourKind, number][] = [
  ['ok', 4], ['fail', 3], ['skip', 2], ['notfound', 3], ['unavail', 1], ['hang', 1], ['late', 2], ['throw', 1],
];

const behaviourArb: fc.Arbitrary<Behaviour> = fc.record({
  kind: fc.oneof(...KINDS.map(([k, w]) => ({ arbitrary: fc.constant(k), weight: w }))),
  at: fc.integer({ min: 0, max: 4 }),
});

const strategyArb: fc.Arbitrary<Strategy> = fc.oneof(
  fc.constant<Strategy>({ kind: 'sequential' }),
  fc.record({ kind: fc.constant<'parallel'>('parallel'), cap: fc.integer({ min: -1, max: 6 }) }),
  fc.record({
    kind: fc.constant<'hedged'>('hedged'),
    delay: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant<'auto'>('auto')),
    cap: fc.integer({ min: -1, max: 6 }),
    parallelFlag: fc.boolean(),
    maxExtraLoad: fc.constantFrom(0, 0.05, 0.5, 1),
    capacity: fc.integer({ min: 1, max: 10 }),
    located: fc.boolean(),
  }),
);

/** Scenarios with 1..maxBackends configured backends. */
export function scenarioArb(opts: { strategies?: Strategy['kind'][]; maxBackends?: number } = {}): fc.Arbitrary<Scenario> {
  const kinds = opts.strategies;
  const strat = kinds === undefined ? strategyArb : strategyArb.filter((s) => kinds.includes(s.kind));
  return fc.integer({ min: 1, max: opts.maxBackends ?? 5 }).chain((n) => {
    const names = Array.from({ length: n }, (_, i) => `b${i + 1}`);
    const behaviours = fc.record(Object.fromEntries(names.map((nm) => [nm, fc.array(behaviourArb, { minLength: 2, maxLength: 2 })])));
    return fc.record({
      names: fc.constant(names),
      order: fc.shuffledSubarray([...names, 'ghost'], { minLength: 0 }),
      path: fc.constantFrom<'located' | 'degraded'>('located', 'degraded'),
      rows: fc.shuffledSubarray([...names, 'gone'], { minLength: 0 }).chain((rowNames) =>
        fc.tuple(...rowNames.map(() => fc.integer({ min: 0, max: 3 }))).map((ts) => rowNames.map((name, i) => ({ name, createdAt: ts[i] as number })))),
      cached: fc.option(fc.constantFrom(...names, 'ghost'), { nil: undefined }),
      behaviours,
      strategy: strat,
      drainTicks: fc.integer({ min: 1, max: 6 }),
      signal: fc.boolean(),
      abortAt: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
      eagerSignal: fc.boolean(),
    });
  });
}

/** One probe call as the driver saw it. */
export interface ProbeEntry {
  id: number;
  backend: string;
  call: number;
  behaviour: Behaviour;
  /**
   * The degraded path's probe of the cached backend. Hedged, it is the broadcast's lead: alone
   * until the hedge delay, then one of its racers.
   */
  cacheProbe: boolean;
  launchTick: number;
  launchSeq: number;
  req: ProbeRequest;
  /**
   * In flight (launched, not settled) for the read when this one launched, itself included. A
   * cache probe not hedged has settled before the broadcast starts; a hedged one may still run.
   */
  inflightAtLaunch: number;
  dueTick: number | undefined;
  settled: { tick: number; seq: number; how: 'ok' | 'fail' | 'abort'; error?: unknown } | undefined;
  cleanups: number;
  gate: Deferred<ProbeResult<string>> | undefined;
  /** Probes launched after the read had settled (must be none). */
  afterRead: boolean;
}

/** What one read did. */
export interface Recording {
  entries: ProbeEntry[];
  read: { seq: number; tick: number; ok: boolean; value?: Awaited<ReturnType<Failover['read']>>; error?: unknown } | undefined;
  /** At the moment the read settled: which entries were aborted, settled, and the caller's listeners. */
  atRead: { aborted: Map<number, boolean>; listeners: number } | undefined;
  abort: { seq: number; tick: number; readPending: boolean } | undefined;
  listenersAtEnd: number;
  timersAtEnd: number;
  drainTimeouts: number;
  storeCalls: number;
  /** Sorted candidate names of the located path. */
  candidates: string[];
  window: number;
  eligible: string[];
  hedged: boolean;
}

const HONOURS: ReadonlySet<BehaviourKind> = new Set(['ok', 'fail', 'skip', 'notfound', 'unavail']);

function failureOf(kind: BehaviourKind, name: string, id: number): Error {
  switch (kind) {
    case 'skip':
      return new UsageLimitSkipError(name);
    case 'notfound':
      return new ReadPathError('BACKEND_ERROR', `${name}#${id}: NoSuchKey`, { backendStatus: 404 });
    case 'unavail':
      return new ReadPathError('SERVICE_UNAVAILABLE', `${name}#${id}: encrypted copy`);
    case 'throw':
      return new ReadPathError('BACKEND_ERROR', `${name}#${id}: thrown synchronously`);
    default:
      return new ReadPathError('BACKEND_ERROR', `${name}#${id}: HTTP 503`, { backendStatus: 503 });
  }
}

/** Sorted located candidates: stable by createdAt, as the store orders them. */
export function sortedRows(s: Scenario): string[] {
  return s.rows.map((r, i) => ({ ...r, i })).sort((a, b) => a.createdAt - b.createdAt || a.i - b.i).map((r) => r.name);
}

function windowFor(s: Scenario, eligible: number, hedged: boolean): number {
  const parallel = s.strategy.kind === 'parallel' || (s.strategy.kind === 'hedged' && s.strategy.parallelFlag);
  if ((!parallel && !hedged) || eligible < 2) return 1;
  const cap = s.strategy.kind === 'sequential' ? 0 : s.strategy.cap;
  return cap <= 0 || cap > eligible ? eligible : cap;
}

const MAX_TICKS = 150;

/** Drive one read of scenario `s` to its end and record what happened. */
export async function runScenario(s: Scenario): Promise<Recording> {
  const clock = new FakeClock();
  const st = s.strategy;
  const hedgePolicy = st.kind === 'hedged'
    ? createHedging({ enabled: true, delayMs: st.delay, locatedReads: st.located, maxExtraLoad: st.maxExtraLoad, budgetCapacity: st.capacity, minSamples: 1 })
    : undefined;
  const w = makeWorld(s.order, {
    parallelBroadcast: st.kind === 'parallel' || (st.kind === 'hedged' && st.parallelFlag),
    degradedBroadcastParallelism: st.kind === 'sequential' ? 0 : st.cap,
    drainTimeoutMs: s.drainTicks,
    timers: clock,
    now: clock.now,
    ...(hedgePolicy === undefined ? {} : { hedgePolicy }),
  });
  // makeWorld configures every name of `order`; the fleet is `names`, so drop the others.
  for (const n of [...w.core.map.keys()]) if (!s.names.includes(n)) w.core.map.delete(n);
  for (const n of s.names) if (!w.core.map.has(n)) w.core.map.set(n, new MemoryBackend(n));

  const key = 'k';
  s.rows.forEach((r) => w.store.add(loc(key, r.name, r.createdAt)));
  if (s.path === 'degraded') w.store.setAvailable(false);
  if (s.cached !== undefined) w.cache.set(key, s.cached);

  const candidates = sortedRows(s);
  const eligible = s.order.filter((n) => s.names.includes(n));
  let hedged: boolean;
  let window: number;
  if (s.path === 'located') {
    hedged = st.kind === 'hedged' && st.located && candidates.length >= 2;
    window = hedged ? candidates.length : 1;
  } else {
    hedged = st.kind === 'hedged' && eligible.length >= 2;
    window = windowFor(s, eligible.length, hedged);
  }

  let seq = 0;
  let tick = 0;
  const entries: ProbeEntry[] = [];
  const calls = new Map<string, number>();
  const rec: Recording = {
    entries, read: undefined, atRead: undefined, abort: undefined, listenersAtEnd: 0, timersAtEnd: 0, drainTimeouts: 0,
    storeCalls: 0, candidates, window, eligible, hedged,
  };
  const cacheProbeExpected = s.path === 'degraded' && s.cached !== undefined && s.names.includes(s.cached);

  const settle = (e: ProbeEntry, how: 'ok' | 'fail' | 'abort'): void => {
    if (e.settled !== undefined) return;
    const id = e.id;
    if (how === 'ok') {
      e.settled = { tick, seq: ++seq, how };
      e.gate?.resolve({ size: 1, value: `${e.backend}#${e.call}`, cleanup: () => { e.cleanups++; } });
      return;
    }
    const error = how === 'abort' ? new ReadPathError('ABORTED', `${e.backend}#${id}: aborted`) : failureOf(e.behaviour.kind, e.backend, id);
    e.settled = { tick, seq: ++seq, how, error };
    e.gate?.reject(error);
  };

  const probe: Probe<string> = (req) => {
    const name = req.backendName;
    const call = calls.get(name) ?? 0;
    calls.set(name, call + 1);
    const behaviour = s.behaviours[name]?.[call] ?? { kind: 'ok', at: 1 };
    const isCache = cacheProbeExpected && entries.length === 0;
    const sameRun = entries.filter((x) => x.settled === undefined).length;
    const e: ProbeEntry = {
      id: entries.length, backend: name, call, behaviour, cacheProbe: isCache, launchTick: tick, launchSeq: ++seq, req,
      inflightAtLaunch: sameRun + 1, dueTick: undefined, settled: undefined, cleanups: 0, gate: undefined, afterRead: rec.read !== undefined,
    };
    entries.push(e);
    if (behaviour.kind === 'throw') {
      settle(e, 'fail');
      throw e.settled?.error;
    }
    e.gate = deferred<ProbeResult<string>>();
    e.gate.promise.catch(() => {});
    if (s.eagerSignal && HONOURS.has(behaviour.kind)) {
      req.signal.addEventListener('abort', () => settle(e, 'abort'), { once: true });
    }
    if (behaviour.kind !== 'hang') {
      if (behaviour.at === 0) settle(e, behaviour.kind === 'ok' || behaviour.kind === 'late' ? 'ok' : 'fail');
      else e.dueTick = tick + behaviour.at;
    }
    return e.gate.promise;
  };

  const ac = s.signal ? new AbortController() : undefined;
  const listeners = (): number => (ac === undefined ? 0 : getEventListeners(ac.signal, 'abort').length);
  const p = w.failover.read('GetObject', key, probe, ac === undefined ? undefined : { signal: ac.signal });
  const onRead = (ok: boolean, v: unknown): void => {
    rec.read = ok
      ? { seq: ++seq, tick, ok, value: v as NonNullable<Recording['read']>['value'] }
      : { seq: ++seq, tick, ok, error: v };
    const aborted = new Map<number, boolean>();
    for (const e of entries) aborted.set(e.id, e.req.signal.aborted);
    rec.atRead = { aborted, listeners: listeners() };
  };
  p.then((v) => onRead(true, v), (err: unknown) => onRead(false, err));
  const abort = (): void => {
    rec.abort = { seq: ++seq, tick, readPending: rec.read === undefined };
    ac?.abort(new Error('caller gave up'));
  };
  // Tick 0 aborts in the same synchronous turn as the call: during the store lookup. Later aborts
  // come after the previous tick drained every microtask, so `readPending` is exact.
  if (ac !== undefined && s.abortAt === 0) abort();

  let quietSince = -1;
  for (tick = 0; tick <= MAX_TICKS; tick++) {
    await clock.advanceTo(tick);
    for (const e of entries) {
      if (e.settled === undefined && e.dueTick === tick) settle(e, e.behaviour.kind === 'ok' || e.behaviour.kind === 'late' ? 'ok' : 'fail');
    }
    if (ac !== undefined && s.abortAt === tick && tick > 0) abort();
    await flush(2);
    const due = entries.some((e) => e.settled === undefined && e.dueTick !== undefined);
    const abortLeft = ac !== undefined && s.abortAt !== undefined && s.abortAt > tick;
    if (!due && !abortLeft && clock.pendingCount === 0) {
      // Two quiet ticks: nothing can happen any more without a hang settling.
      if (quietSince < 0) quietSince = tick;
      else if (tick - quietSince >= 1) break;
    } else {
      quietSince = -1;
    }
  }
  rec.listenersAtEnd = listeners();
  rec.timersAtEnd = clock.pendingCount;
  rec.drainTimeouts = w.recorder.count(METRIC.drainTimeouts);
  rec.storeCalls = w.store.calls;
  return rec;
}

function describe(e: ProbeEntry): string {
  return `#${e.id} ${e.backend} call ${e.call} ${e.behaviour.kind}@${e.behaviour.at}${e.cacheProbe ? ' (cache)' : ''}`;
}

/** Hold a recording against the contract. Throws an assertion error naming the broken rule. */
export function checkScenario(s: Scenario, r: Recording): void {
  const { entries } = r;
  const main = entries.filter((e) => !e.cacheProbe);
  const cache = entries.filter((e) => e.cacheProbe);

  // Window: never more probes in flight for one key than the strategy allows.
  for (const e of cache) assert.ok(e.inflightAtLaunch <= 1, `cache probe ${describe(e)} overlapped another`);
  for (const e of main) assert.ok(e.inflightAtLaunch <= r.window, `${describe(e)}: ${e.inflightAtLaunch} in flight > window ${r.window}`);
  assert.ok(cache.length <= 1, 'at most one cache probe');
  const c = cache[0];
  if (c !== undefined) {
    const cacheSettled = c.settled?.seq ?? Number.POSITIVE_INFINITY;
    if (!r.hedged) {
      for (const e of main) assert.ok(e.launchSeq > cacheSettled, 'the broadcast starts after the cache probe failed');
    } else {
      // Hedged: the broadcast may start while the cache probe runs, but not before the delay,
      // and never with a second probe of the cached backend while the first still runs.
      const overlap = main.filter((e) => e.launchSeq < cacheSettled);
      const st = s.strategy;
      const delay = st.kind === 'hedged' && st.delay !== 'auto' ? st.delay : 0;
      for (const e of overlap) {
        assert.notEqual(e.backend, c.backend, `${describe(e)}: the cached backend probed again while its cache probe ran`);
        assert.ok(e.launchTick >= c.launchTick + delay, `${describe(e)} launched before the hedge delay`);
      }
    }
    // The cached backend's broadcast probe comes in its place in BackendOrder, or, if its turn
    // came while the cache probe still ran (passed over), right after the cache probe failed.
    const m = main.find((e) => e.backend === c.backend);
    if (m !== undefined) {
      assert.ok(m.launchSeq > cacheSettled, `${describe(m)}: the cached backend probed again before its cache probe failed`);
      const before = main.filter((e) => e.launchSeq < m.launchSeq);
      const turn = r.eligible.indexOf(c.backend);
      assert.ok(before.length >= turn, `${describe(m)} launched before its turn`);
      if (before.length > turn) {
        for (const e of before.slice(turn)) assert.ok(e.launchSeq < cacheSettled, `${describe(m)} passed over, yet ${describe(e)} launched after the cache probe failed`);
      }
    }
  }

  // No probe launches once the read has settled; nothing is probed twice in one run.
  for (const e of entries) assert.equal(e.afterRead, false, `${describe(e)} launched after the read settled`);
  const mainNames = main.map((e) => e.backend);
  assert.equal(new Set(mainNames).size, mainNames.length, `a backend was probed twice in one run: ${mainNames.join(',')}`);
  if (s.path === 'located') {
    assert.equal(cache.length, 0);
    const probed = r.candidates.filter((n) => s.names.includes(n));
    for (const n of mainNames) assert.ok(probed.includes(n), `located read probed ${n}, not a configured location`);
    // Candidates are launched in stored order.
    const order = probed.filter((n) => mainNames.includes(n));
    assert.deepEqual(mainNames, order, 'located probes follow the stored order');
  } else {
    for (const n of mainNames) assert.ok(r.eligible.includes(n), `broadcast probed ${n}, not eligible`);
    // In BackendOrder, but for the cached backend when it was passed over (checked above).
    const passed = c === undefined ? undefined : c.backend;
    const others = mainNames.filter((n) => n !== passed);
    assert.deepEqual(others, r.eligible.filter((n) => n !== passed).slice(0, others.length), 'broadcast probes follow backendOrder');
    if (!r.hedged) assert.deepEqual(mainNames, r.eligible.slice(0, mainNames.length), 'broadcast probes follow backendOrder');
  }

  const abortedPending = r.abort !== undefined && r.abort.readPending;
  const settledEvents = entries.filter((e) => e.settled !== undefined).sort((a, b) => (a.settled?.seq ?? 0) - (b.settled?.seq ?? 0));
  const firstOk = settledEvents.find((e) => e.settled?.how === 'ok');

  if (r.read === undefined) {
    // Only a probe that never answers (and ignores its signal) may leave a read pending.
    assert.ok(!abortedPending && r.abort === undefined, 'a caller abort must end the read');
    assert.ok(firstOk === undefined, 'a success must end the read');
    assert.ok(entries.some((e) => e.settled === undefined && (e.behaviour.kind === 'hang')), 'read pending without a hung probe');
    return;
  }

  // Exactly one result, and the right one.
  const read = r.read;
  if (s.path === 'located' && s.rows.length === 0) {
    assert.equal(read.ok, false);
    assert.equal((read.error as ReadPathError).code, abortedPending && r.abort!.seq < read.seq ? 'ABORTED' : 'OBJECT_NOT_FOUND');
    assert.equal(entries.length, 0, 'no probe without locations');
  } else if (abortedPending) {
    assert.equal(read.ok, false, 'a read aborted while pending must reject');
    const err = read.error as ReadPathError;
    assert.equal(err.code, 'ABORTED');
    assert.equal(err.httpStatus, 499);
  } else if (firstOk !== undefined && (firstOk.settled?.seq ?? 0) < read.seq) {
    assert.equal(read.ok, true, `first success ${describe(firstOk)} must win, got ${String((read.error as Error | undefined)?.message)}`);
    const v = read.value!;
    assert.equal(v.value, `${firstOk.backend}#${firstOk.call}`, 'the first success wins');
    assert.equal(v.backend, firstOk.backend);
    assert.equal(v.degraded, s.path === 'degraded');
    assert.equal(v.cacheHit, firstOk.cacheProbe);
    if (s.path === 'located') assert.equal(v.failover, r.candidates.indexOf(firstOk.backend) !== 0, 'failover flag');
    else assert.equal(v.failover, false);
  } else {
    assert.equal(read.ok, false, 'no success: the read must fail');
    checkFailure(s, r, main, read.error);
  }

  // At the moment the read settled: the winner's signal untouched, every other probe either
  // already answered on its own or cancelled; the caller's signal carries no listener.
  const at = r.atRead!;
  assert.equal(at.listeners, 0, 'no listener left on the caller signal when the read settles');
  assert.equal(r.listenersAtEnd, 0, 'no listener left on the caller signal');
  const winner = read.ok ? firstOk : undefined;
  for (const e of entries) {
    if (e === winner) {
      assert.equal(at.aborted.get(e.id), false, `winner ${describe(e)} had its signal aborted`);
      assert.equal(e.req.signal.aborted, false, `winner ${describe(e)} aborted later`);
      continue;
    }
    const answered = e.settled !== undefined && e.settled.how !== 'abort' && e.settled.seq < read.seq;
    assert.ok(answered || at.aborted.get(e.id) === true, `loser ${describe(e)} neither answered nor aborted when the read settled`);
  }

  // Cleanups: the winner's exactly once; a late success's once while the drain waits, never after.
  const deadline = read.tick + s.drainTicks;
  for (const e of entries) {
    if (e === winner) {
      assert.equal(e.cleanups, 1, `winner ${describe(e)} cleanup ran ${e.cleanups} times`);
      continue;
    }
    assert.ok(e.cleanups <= 1, `${describe(e)} cleanup ran ${e.cleanups} times`);
    if (e.settled?.how === 'ok') {
      const expected = e.settled.tick < deadline ? 1 : 0;
      assert.equal(e.cleanups, expected, `late success ${describe(e)} at tick ${e.settled.tick}, drain deadline ${deadline}: cleanup ${e.cleanups}`);
    }
  }

  // The drain: counted once when a degraded broadcast's cancelled loser was still out at its
  // deadline, else never (degraded_broadcast_drain_timeout_total: a located read's losers are not
  // a broadcast's, though they are drained alike).
  const outAtDeadline = entries.some((e) => e !== winner && at.aborted.get(e.id) === true &&
    (e.settled === undefined || (e.settled.seq > read.seq && e.settled.tick >= deadline)));
  assert.equal(r.drainTimeouts, outAtDeadline && s.path === 'degraded' ? 1 : 0, 'drain timeout counted iff a degraded broadcast\'s loser outlived the drain');
  assert.equal(r.timersAtEnd, 0, 'no timer left behind');

  // Nothing left running un-cancelled.
  for (const e of entries) {
    if (e === winner) continue;
    assert.ok(e.settled !== undefined || e.req.signal.aborted, `${describe(e)} left pending and not cancelled`);
  }
}

function checkFailure(s: Scenario, r: Recording, main: ProbeEntry[], error: unknown): void {
  const err = error as ReadPathError;
  assert.ok(err instanceof ReadPathError, `failure is a ReadPathError: ${String(error)}`);
  const failures = main.filter((e) => e.settled?.how === 'fail').sort((a, b) => (a.settled?.seq ?? 0) - (b.settled?.seq ?? 0));
  const last = failures[failures.length - 1];
  if (s.path === 'located') {
    const cands = r.candidates;
    const allSkips = cands.length > 0 && cands.every((n) => main.some((e) => e.backend === n && e.behaviour.kind === 'skip' && e.settled?.how === 'fail'));
    if (allSkips) {
      assert.equal(err.code, 'USAGE_LIMIT_EXCEEDED', 'every location a usage skip → 429');
      assert.equal(err.httpStatus, 429);
      return;
    }
    assert.notEqual(err.code, 'USAGE_LIMIT_EXCEEDED', '429 only when every location skipped');
    if (r.window === 1) {
      // Sequential: the last stored location's error, unchanged.
      const lastName = cands[cands.length - 1] as string;
      if (!s.names.includes(lastName)) {
        assert.equal(err.code, 'BACKEND_NOT_FOUND');
        assert.ok(err.message.includes(lastName), `names ${lastName}: ${err.message}`);
      } else {
        assert.equal(err, main.find((e) => e.backend === lastName)?.settled?.error, 'the last location\'s error, unchanged');
      }
      return;
    }
    // Hedged: the last error to arrive (a probe's, or an unconfigured location recorded after it).
    assert.ok(err === last?.settled?.error || err.code === 'BACKEND_NOT_FOUND', `the last error to arrive, got ${err.code}: ${err.message}`);
    return;
  }
  if (r.eligible.length === 0) {
    assert.equal(err.code, 'OBJECT_NOT_FOUND', 'no eligible backend → 404');
    assert.equal(main.length, 0);
    return;
  }
  assert.equal(failures.length, r.eligible.length, 'every eligible backend was probed before the broadcast failed');
  const kinds = failures.map((e) => e.behaviour.kind);
  if (kinds.every((k) => k === 'skip')) {
    assert.equal(err.code, 'USAGE_LIMIT_EXCEEDED', 'every probe skipped → 429');
    assert.equal(err.httpStatus, 429);
  } else if (kinds.every((k) => k === 'notfound')) {
    assert.equal(err.code, 'OBJECT_NOT_FOUND', 'every probe 404 → 404');
    assert.equal(err.httpStatus, 404);
  } else {
    assert.equal(err.code, 'ALL_BACKENDS_FAILED', `mixed failures ${kinds.join(',')} → ALL_BACKENDS_FAILED`);
    // A copy refused as encrypted (503) is why the read cannot be served: the first such refusal
    // to arrive is the cause; otherwise the last error to arrive.
    const refused = failures.find((e) => e.behaviour.kind === 'unavail');
    const cause = refused ?? last;
    assert.equal(err.cause, cause?.settled?.error, refused === undefined ? 'cause = the last error to arrive' : 'cause = the first refusal to arrive');
    assert.equal(err.httpStatus, refused !== undefined ? 503 : 502, 'a refused copy makes it a 503');
  }
}
