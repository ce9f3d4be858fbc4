/** The tests' bounded wait (test/helpers/within.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../helpers/within.js';

test('within: the value when it comes first, the text saying what was awaited when it does not', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  assert.equal(await within(Promise.resolve(7), 1000, 'seven'), 7);
  const never = within(new Promise<number>(() => {}), 1000, 'the gateway to exit');
  t.mock.timers.tick(1000);
  assert.equal(await never, 'still waiting for the gateway to exit after 1000 ms');
});
