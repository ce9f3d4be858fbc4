import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../../src/telemetry/recorder.js';
import { LatencyWindow } from '../../src/policies/latency-window.js';
import { HedgeBudget } from '../../src/policies/hedge-budget.js';
import { createHedging, type HedgingOptions } from '../../src/policies/hedging.js';
import type { ReadPathError } from '../../src/errors.js';

test('LatencyWindow reports nothing before minSamples, then the nearest-rank percentile', () => {
  const w = new LatencyWindow({ percentile: 95, minSamples: 20, refreshEvery: 1 });
  for (let i = 1; i <= 19; i++) w.add(i);
  assert.equal(w.value(), undefined);
  w.add(20);
  assert.equal(w.value(), 19, 'p95 of 1..20 is the 19th value');
  for (let i = 21; i <= 100; i++) w.add(i);
  assert.equal(w.value(), 95);
});

test('LatencyWindow slides: memory is bounded and old samples stop counting', () => {
  const w = new LatencyWindow({ percentile: 50, capacity: 10, minSamples: 5, refreshEvery: 1 });
  for (let i = 0; i < 10; i++) w.add(100);
  assert.equal(w.value(), 100);
  for (let i = 0; i < 10; i++) w.add(1);
  assert.equal(w.size, 10);
  assert.equal(w.value(), 1, 'the ten old 100 ms samples were evicted');
});

test('LatencyWindow refreshes every few samples, not on every add; ignores junk', () => {
  const w = new LatencyWindow({ percentile: 100, minSamples: 1, refreshEvery: 4 });
  w.add(5);
  assert.equal(w.value(), 5, 'first value as soon as there are enough samples');
  w.add(50);
  w.add(60);
  w.add(70);
  assert.equal(w.value(), 5, 'not yet refreshed: three new samples');
  w.add(80);
  assert.equal(w.value(), 80, 'refreshed at the fourth');
  w.add(NaN);
  w.add(-1);
  w.add(Infinity);
  assert.equal(w.size, 5);
});

test('HedgeBudget: each primary deposits the ratio, each hedge takes one token, capped at capacity', () => {
  const b = new HedgeBudget({ ratio: 0.05, capacity: 2, initial: 0 });
  assert.equal(b.tryWithdraw(), false);
  for (let i = 0; i < 19; i++) b.deposit();
  assert.equal(b.tryWithdraw(), false, '19 × 0.05 is under one token');
  b.deposit();
  assert.equal(b.tryWithdraw(), true, '20 × 0.05 makes one token despite float rounding');
  assert.equal(b.tryWithdraw(), false);
  for (let i = 0; i < 1000; i++) b.deposit();
  assert.equal(b.tokens, 2);
  assert.equal(b.tryWithdraw(), true);
  assert.equal(b.tryWithdraw(), true);
  assert.equal(b.tryWithdraw(), false, 'the burst is bounded by the capacity');
});

test('HedgeBudget.refund gives back a token taken for a hedge not sent, never above the capacity', () => {
  const b = new HedgeBudget({ ratio: 0.05, capacity: 1 });
  assert.equal(b.tryWithdraw(), true);
  assert.equal(b.tryWithdraw(), false);
  b.refund();
  assert.equal(b.tokens, 1);
  b.refund();
  assert.equal(b.tokens, 1, 'capped');
  assert.equal(b.tryWithdraw(), true);
  const none = new HedgeBudget({ ratio: 0 });
  none.refund();
  assert.equal(none.tryWithdraw(), false, 'a zero ratio still allows nothing');
});

test('HedgeBudget starts full by default, and a zero ratio allows nothing ever', () => {
  const full = new HedgeBudget({ ratio: 0.1, capacity: 3 });
  assert.equal(full.tokens, 3);
  const none = new HedgeBudget({ ratio: 0 });
  for (let i = 0; i < 100; i++) none.deposit();
  assert.equal(none.tryWithdraw(), false);
});

test('createHedging: disabled, or located reads without located_reads, gives no policy', () => {
  const off = createHedging({ enabled: false, delayMs: 10 });
  assert.equal(off('GetObject', 'degraded'), undefined);
  const on = createHedging({ enabled: true, delayMs: 10 });
  assert.equal(on('GetObject', 'located'), undefined);
  assert.equal(on('GetObject', 'degraded')?.delayMs(), 10);
  const located = createHedging({ enabled: true, delayMs: 10, locatedReads: true });
  assert.equal(located('GetObject', 'located')?.delayMs(), 10);
});

test('createHedging: latency windows are per operation; the auto delay has a floor', () => {
  const h = createHedging({ enabled: true, delayMs: 'auto', minSamples: 3, minDelayMs: 2, fallbackDelayMs: 40 });
  const get = h('GetObject', 'degraded');
  const head = h('HeadObject', 'degraded');
  assert.ok(get && head);
  for (const ms of [0.1, 0.2, 0.3]) get.observe?.(ms);
  for (const ms of [30, 31, 32]) head.observe?.(ms);
  assert.equal(get.delayMs(), 2, 'sub-floor latencies give the floor');
  assert.equal(head.delayMs(), 32);
  assert.equal(h('ListObjects', 'degraded')?.delayMs(), 40, 'a fresh operation uses the fallback');
  assert.deepEqual(Object.keys(h.snapshot().operations).sort(), ['GetObject', 'HeadObject', 'ListObjects']);
});

test('createHedging records the hedge metrics per operation through the Recorder', () => {
  const recorder = new Recorder();
  const h = createHedging({ enabled: true, delayMs: 5, recorder });
  const p = h('GetObject', 'degraded');
  p?.onHedgeSent?.();
  p?.onHedgeSent?.();
  p?.onHedgeWon?.();
  h('HeadObject', 'degraded')?.onBudgetExhausted?.();
  assert.equal(recorder.count('hedges_sent_total', { operation: 'GetObject' }), 2);
  assert.equal(recorder.count('hedges_won_total', { operation: 'GetObject' }), 1);
  assert.equal(recorder.count('hedge_budget_exhausted_total', { operation: 'HeadObject' }), 1);
  assert.equal(recorder.count('hedge_budget_exhausted_total', { operation: 'GetObject' }), 0);
});

test('createHedging rejects bad options with INVALID_CONFIG naming the field', () => {
  const bad: Array<[Partial<HedgingOptions>, string]> = [
    [{ delayMs: -1 }, 'hedging.delay'],
    [{ delayMs: 'soon' as unknown as number }, 'hedging.delay'],
    [{ percentile: 0 }, 'hedging.percentile'],
    [{ percentile: 101 }, 'hedging.percentile'],
    [{ maxExtraLoad: 1.5 }, 'hedging.max_extra_load'],
    [{ locatedReads: 'yes' as unknown as boolean }, 'hedging.located_reads'],
    [{ enabled: 1 as unknown as boolean }, 'hedging.enabled'],
  ];
  for (const [opts, field] of bad) {
    assert.throws(() => createHedging({ enabled: true, delayMs: 10, ...opts }), (e: unknown) => {
      assert.equal((e as ReadPathError).code, 'INVALID_CONFIG');
      assert.match((e as Error).message, new RegExp(`^${field.replace('.', '\\.')}:`));
      return true;
    });
  }
});
