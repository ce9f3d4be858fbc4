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

test('handOver: with the body covered the scope lives until it ends; uncovered it ends now, or throws a failure that came first', async () => {
  const covered = new AbortController();
  const a = CallDeadline.start(covered.signal, 0, () => 'covered');
  const body = new PassThrough();
  a.handOver(body, true);
  covered.abort();
  assert.ok(hasCode(a.failure, 'ABORTED'), 'the caller still reaches a covered body');
  assert.equal(body.destroyed, true);

  const free = new AbortController();
  const b = CallDeadline.start(free.signal, 0, () => 'free');
  const own = new PassThrough();
  b.handOver(own, false);
  free.abort();
  assert.equal(b.failure, undefined, 'the scope ended at the headers');
  assert.equal(own.destroyed, false, 'the body is left to its reader');

  const late = new AbortController();
  const c = CallDeadline.start(late.signal, 0, () => 'late');
  late.abort();
  assert.throws(() => c.handOver(new PassThrough(), false), (err: unknown) => hasCode(err, 'ABORTED'));
});
