/**
 * A batch whose reads settle without I/O must still let the event loop turn: otherwise the
 * whole batch is one macrotask and timers, sockets and metrics scrapes wait for its end
 * (DESIGN: the main event loop never blocks). `timeSliceMs` bounds the stretch; 0 forces a
 * turn before every outcome and Infinity never does, which makes both ends deterministic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runBatch, DEFAULT_TIME_SLICE_MS } from '../../src/engine/batch.js';
import { hasCode } from '../../src/errors.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

const KEYS = Array.from({ length: 200 }, (_, i) => `k/${i}`);
// Settles in microtasks only, like an in-memory part.
const instant = async (): Promise<{ v: number }> => ({ v: 1 });

/** Consume a batch; return how many outcomes were taken before a setImmediate queued at the start ran. */
async function outcomesBeforeImmediate(iter: AsyncIterable<unknown>): Promise<{ before: number; total: number }> {
  let taken = 0;
  let before = -1;
  setImmediate(() => {
    before = taken;
  });
  for await (const _ of iter) taken++;
  // The immediate may not have run at all when the batch never turned the loop.
  await new Promise<void>((resolve) => setImmediate(resolve));
  return { before, total: taken };
}

describe('batch time slices', () => {
  it('the default slice is 10 ms', () => {
    assert.equal(DEFAULT_TIME_SLICE_MS, 10);
  });

  it('timeSliceMs 0: the event loop turns before the second outcome', async () => {
    const r = await outcomesBeforeImmediate(runBatch(KEYS, instant, { concurrency: 8, timeSliceMs: 0 }));
    assert.equal(r.total, KEYS.length);
    assert.ok(r.before >= 0 && r.before <= 1, `immediate ran after ${r.before} outcomes`);
  });

  it('timeSliceMs Infinity: a microtask-only batch is one macrotask (what the slice prevents)', async () => {
    const r = await outcomesBeforeImmediate(runBatch(KEYS, instant, { concurrency: 8, timeSliceMs: Number.POSITIVE_INFINITY }));
    assert.equal(r.total, KEYS.length);
    assert.equal(r.before, KEYS.length, 'the immediate waited for the whole batch');
  });

  it('readMany passes timeSliceMs through, over in-memory parts', async () => {
    const m = await openMemoryReadPath(2);
    try {
      for (const k of KEYS) m.seed(k, `body of ${k}`);
      const r = await outcomesBeforeImmediate(m.rp.readMany(KEYS, { timeSliceMs: 0 }));
      assert.equal(r.total, KEYS.length);
      assert.ok(r.before >= 0 && r.before <= 1, `immediate ran after ${r.before} outcomes`);
    } finally {
      await m.rp.close();
    }
  });

  it('an abort that lands during a forced turn ends the batch with ABORTED', async () => {
    const ac = new AbortController();
    let taken = 0;
    setImmediate(() => ac.abort());
    await assert.rejects(async () => {
      for await (const _ of runBatch(KEYS, instant, { concurrency: 8, timeSliceMs: 0, signal: ac.signal })) taken++;
    }, (err: unknown) => hasCode(err, 'ABORTED'));
    assert.ok(taken < KEYS.length, `stopped after ${taken} outcomes`);
  });

  it('a negative, NaN or non-number slice is INVALID_CONFIG', async () => {
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
      await assert.rejects(async () => {
        for await (const _ of runBatch(KEYS, instant, { concurrency: 1, timeSliceMs: bad })) { /* drain */ }
      }, (err: unknown) => hasCode(err, 'INVALID_CONFIG') && /timeSliceMs/.test((err as Error).message));
    }
  });
});
