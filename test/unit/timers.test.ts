/**
 * deferUntilDrained: callbacks queued for one tick run isolated, so a throwing one neither drops
 * the others nor swallows its error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as immediate } from 'node:timers/promises';
import { deferUntilDrained, cancelDeferred } from '../../src/engine/timers.js';

/**
 * Run `fn` with this test's own 'uncaughtException' listener in place of the runner's (which
 * would fail the test on the rethrow this test expects), and return what reached it.
 */
async function catchingUncaught(fn: () => Promise<void>): Promise<unknown[]> {
  const theirs = process.listeners('uncaughtException');
  const caught: unknown[] = [];
  const mine = (err: unknown): void => {
    caught.push(err);
  };
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', mine);
  try {
    await fn();
  } finally {
    process.off('uncaughtException', mine);
    for (const l of theirs) process.on('uncaughtException', l);
  }
  return caught;
}

test('a callback that throws does not drop the others queued for the same tick; its error still surfaces', async () => {
  const ran: string[] = [];
  const first = new Error('first');
  const second = new Error('second');
  const caught = await catchingUncaught(async () => {
    deferUntilDrained(() => ran.push('a'));
    deferUntilDrained(() => {
      ran.push('b');
      throw first;
    });
    deferUntilDrained(() => ran.push('c'));
    deferUntilDrained(() => {
      ran.push('d');
      throw second;
    });
    deferUntilDrained(() => ran.push('e'));
    // A macrotask hop: every tick queued meanwhile, the rethrows' too, has run.
    await immediate();
    await immediate();
  });
  assert.deepEqual(ran, ['a', 'b', 'c', 'd', 'e'], 'every callback of the tick ran, in order');
  assert.deepEqual(caught, [first, second], 'each thrown error reached uncaughtException once, as thrown');
});

test('after a throwing tick, later callbacks are queued and run as usual, and cancelDeferred still cancels', async () => {
  const caught = await catchingUncaught(async () => {
    deferUntilDrained(() => {
      throw new Error('boom');
    });
    await immediate();
  });
  assert.equal(caught.length, 1);
  const ran: string[] = [];
  const cancelled = (): void => {
    ran.push('cancelled');
  };
  deferUntilDrained(() => ran.push('x'));
  deferUntilDrained(cancelled);
  cancelDeferred(cancelled);
  await immediate();
  assert.deepEqual(ran, ['x']);
});
