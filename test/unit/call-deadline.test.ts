import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { hasCode } from '../../src/errors.js';
import { CallDeadline } from '../../src/backends/call-deadline.js';

const describe = () => 'b1: GET "k"';

test('a caller abort decides the call at once; the transport is torn down at the next check phase', async () => {
  const caller = new AbortController();
  const call = CallDeadline.start(caller.signal, 0, describe);
  const order: string[] = [];
  call.signal.addEventListener('abort', () => order.push('transport aborted'));
  caller.abort();
  order.push('abort returned');
  assert.ok(hasCode(call.failure, 'ABORTED'), 'the outcome is known synchronously');
  assert.equal(call.signal.aborted, false, 'the teardown has not run yet');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(call.signal.aborted, true);
  assert.equal(call.signal.reason, call.failure, 'the transport sees the coded error');
  assert.deepEqual(order, ['abort returned', 'transport aborted']);
});

test('an attached body is destroyed with the coded error at once, before the transport teardown', async () => {
  const caller = new AbortController();
  const call = CallDeadline.start(caller.signal, 0, describe);
  const body = new PassThrough();
  call.attachBody(body);
  const errors: unknown[] = [];
  body.on('error', (e) => errors.push(e));
  caller.abort();
  assert.equal(body.destroyed, true);
  assert.equal(call.signal.aborted, false);
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(errors.length, 1);
  assert.ok(hasCode(errors[0], 'ABORTED'));
  assert.equal(call.signal.aborted, true);
});

test('a call released before the abort is not torn down, and its timer is gone', async () => {
  const caller = new AbortController();
  const call = CallDeadline.start(caller.signal, 60_000, describe);
  call.release();
  caller.abort();
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(call.failure, undefined);
  assert.equal(call.signal.aborted, false);
});

test('an already aborted caller starts the call ended', async () => {
  const caller = new AbortController();
  caller.abort();
  const call = CallDeadline.start(caller.signal, 0, describe);
  assert.ok(hasCode(call.failure, 'ABORTED'));
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(call.signal.aborted, true);
});
