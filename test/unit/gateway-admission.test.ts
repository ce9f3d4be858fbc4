/**
 * The gateway's admission control: slots, first-come-first-served waiting up to admission_wait
 * (on mocked timers), waiters that leave, load shedding on an injected random source, and
 * settings read live (a reload that raises the limit lets waiters in).
 */
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Admission, type AdmissionSettings } from '../../src/gateway/admission.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Admission', () => {
  it('unlimited (limit 0): every request is admitted', () => {
    const a = new Admission(() => ({ limit: 0, waitMs: 0, shedThreshold: 0 }));
    for (let i = 0; i < 1000; i++) assert.equal(a.tryAdmit(), true);
  });

  it('at the limit: refused at once without admission_wait; a release makes room', () => {
    const a = new Admission(() => ({ limit: 2, waitMs: 0, shedThreshold: 0 }));
    assert.deepEqual([a.tryAdmit(), a.tryAdmit(), a.tryAdmit()], [true, true, 'full']);
    a.release();
    assert.equal(a.tryAdmit(), true);
    assert.equal(a.admitted, 2);
  });

  it('with admission_wait: waiters get freed slots in arrival order; the rest are refused when their wait runs out', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const a = new Admission(() => ({ limit: 1, waitMs: 1000, shedThreshold: 0 }));
      assert.equal(a.tryAdmit(), true);
      assert.equal(a.tryAdmit(), undefined, 'full, but worth waiting');
      const order: string[] = [];
      const w1 = a.wait(new AbortController().signal).then((r) => { order.push(`first:${String(r)}`); });
      mock.timers.tick(400);
      const w2 = a.wait(new AbortController().signal).then((r) => { order.push(`second:${String(r)}`); });
      const w3 = a.wait(new AbortController().signal).then((r) => { order.push(`third:${String(r)}`); });
      // A newcomer does not jump the queue even when a slot is free for an instant.
      a.release();
      await flush();
      assert.deepEqual(order, ['first:true']);
      assert.equal(a.tryAdmit(), undefined, 'waiters first');
      mock.timers.tick(999);
      await flush();
      assert.deepEqual(order, ['first:true'], 'the others still wait: 999 of their 1000 ms');
      a.release();
      await flush();
      assert.deepEqual(order, ['first:true', 'second:true']);
      mock.timers.tick(1);
      await Promise.all([w1, w2, w3]);
      assert.deepEqual(order, ['first:true', 'second:true', 'third:full']);
      assert.equal(a.waiting, 0);
      assert.equal(a.admitted, 1);
    } finally {
      mock.timers.reset();
    }
  });

  it('a waiter whose client goes away leaves the queue without taking a slot', async () => {
    const a = new Admission(() => ({ limit: 1, waitMs: 60_000, shedThreshold: 0 }));
    a.tryAdmit();
    const ac = new AbortController();
    const gone = a.wait(ac.signal);
    const next = a.wait(new AbortController().signal);
    ac.abort();
    assert.equal(await gone, 'gone');
    assert.equal(a.waiting, 1);
    a.release();
    assert.equal(await next, true, 'the slot went to the one still waiting');
    const aborted = new AbortController();
    aborted.abort();
    assert.equal(await a.wait(aborted.signal), 'gone');
  });

  it('load shedding: none below the threshold, then a chance that grows linearly to certainty at the limit', () => {
    let r = 0.5;
    const a = new Admission(() => ({ limit: 10, waitMs: 0, shedThreshold: 0.6 }), { random: () => r });
    for (let i = 0; i < 6; i++) assert.equal(a.tryAdmit(), true, `below the threshold (${i} in use)`);
    // 6 in use: p = 0/4, never shed.
    r = 0;
    assert.equal(a.tryAdmit(), true);
    // 7 in use: p = 1/4.
    r = 0.24;
    assert.equal(a.tryAdmit(), 'shed');
    r = 0.25;
    assert.equal(a.tryAdmit(), true);
    // 8 in use: p = 2/4.
    r = 0.49;
    assert.equal(a.tryAdmit(), 'shed');
    r = 0.99;
    assert.equal(a.tryAdmit(), true);
    assert.equal(a.tryAdmit(), true);
    // 10 in use: p = 1.
    r = 0.999_999;
    assert.equal(a.tryAdmit(), 'shed');
  });

  it('settings are read live: a raised limit lets waiters in on the next release or wait', async () => {
    const s: AdmissionSettings = { limit: 1, waitMs: 60_000, shedThreshold: 0 };
    const a = new Admission(() => s);
    a.tryAdmit();
    const w = a.wait(new AbortController().signal);
    s.limit = 3;
    const w2 = a.wait(new AbortController().signal);
    assert.deepEqual(await Promise.all([w, w2]), [true, true]);
    assert.equal(a.admitted, 3);
  });
});
