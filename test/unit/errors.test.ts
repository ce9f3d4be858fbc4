import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HTTP_STATUS, ReadPathError, UsageLimitSkipError, deserializeError, hasCode, httpStatusOf, serializeError, type ErrorCode,
} from '../../src/errors.js';

test('every code maps to its API.md status', () => {
  const expected: Record<ErrorCode, number> = {
    OBJECT_NOT_FOUND: 404, DB_UNAVAILABLE: 503, SERVICE_UNAVAILABLE: 503, USAGE_LIMIT_EXCEEDED: 429,
    USAGE_LIMIT_SKIP: 502, ALL_BACKENDS_FAILED: 502, BACKEND_NOT_FOUND: 502, BACKEND_UNAVAILABLE: 502,
    BACKEND_ERROR: 502, INTEGRITY_MISMATCH: 502, TIMEOUT: 504, ABORTED: 499, INVALID_KEY: 400,
    INVALID_CONFIG: 400, METADATA_ERROR: 502,
    EXECUTOR_CLOSED: 503, EXECUTOR_SATURATED: 503, WORKER_LOST: 502, TRANSFORM_FAILED: 502, WRITE_FAILED: 500,
    OBJECT_TOO_LARGE: 413, RANGE_NOT_SATISFIABLE: 416, DECRYPTION_FAILED: 502, DECOMPRESSION_FAILED: 502,
  };
  assert.deepEqual({ ...HTTP_STATUS }, expected);
  for (const [code, status] of Object.entries(expected)) {
    const e = new ReadPathError(code as ErrorCode, 'm');
    assert.equal(e.httpStatus, status);
    assert.equal(e.code, code);
    assert.equal(e.name, 'ReadPathError');
    assert.ok(e instanceof Error);
  }
});

test('cause and backendStatus are kept', () => {
  const root = new Error('root');
  const e = new ReadPathError('BACKEND_ERROR', 'x', { cause: root, backendStatus: 404 });
  assert.equal(e.cause, root);
  assert.equal(e.backendStatus, 404);
});

test('UsageLimitSkipError is a USAGE_LIMIT_SKIP naming its backend', () => {
  const e = new UsageLimitSkipError('b7', { cause: 'c' });
  assert.equal(e.code, 'USAGE_LIMIT_SKIP');
  assert.equal(e.httpStatus, 502);
  assert.equal(e.backendName, 'b7');
  assert.match(e.message, /b7/);
  assert.ok(e instanceof ReadPathError);
});

test('hasCode walks the cause chain, including plain-object errors from other threads', () => {
  const inner = { code: 'USAGE_LIMIT_SKIP', httpStatus: 502, message: 'from a worker' };
  const mid = new Error('mid', { cause: inner });
  const outer = new ReadPathError('BACKEND_ERROR', 'outer', { cause: mid });
  assert.equal(hasCode(outer, 'USAGE_LIMIT_SKIP'), true);
  assert.equal(hasCode(outer, 'BACKEND_ERROR'), true);
  assert.equal(hasCode(outer, 'TIMEOUT'), false);
  assert.equal(hasCode(null, 'TIMEOUT'), false);
  assert.equal(hasCode('TIMEOUT', 'TIMEOUT'), false);
  const cyclic: { code: string; cause?: unknown } = { code: 'X' };
  cyclic.cause = cyclic;
  assert.equal(hasCode(cyclic, 'TIMEOUT'), false, 'a cyclic chain terminates');
});

test('httpStatusOf returns the first status on the chain, else 502', () => {
  const wrapped = new Error('plain', { cause: new ReadPathError('SERVICE_UNAVAILABLE', 'x') });
  assert.equal(httpStatusOf(wrapped), 503);
  assert.equal(httpStatusOf(new Error('nothing')), 502);
  assert.equal(httpStatusOf(undefined), 502);
  assert.equal(httpStatusOf({ code: 'TIMEOUT', httpStatus: 504 }), 504, 'recognised by shape');
  assert.equal(httpStatusOf({ code: 'NOT_A_CODE', httpStatus: 418 }), 502, 'unknown codes are not ours');
});

test('a wrapped 503 stays 503: ALL_BACKENDS_FAILED over SERVICE_UNAVAILABLE', () => {
  const e = new ReadPathError('ALL_BACKENDS_FAILED', 'all', { cause: new ReadPathError('BACKEND_ERROR', 'b', { cause: new ReadPathError('SERVICE_UNAVAILABLE', 's') }) });
  assert.equal(e.httpStatus, 503);
  assert.equal(new ReadPathError('ALL_BACKENDS_FAILED', 'all', { cause: new ReadPathError('TIMEOUT', 't') }).httpStatus, 502);
});

test('serialize/deserialize round-trips code, status and backendStatus', () => {
  const e = new ReadPathError('ALL_BACKENDS_FAILED', 'all', { cause: new ReadPathError('SERVICE_UNAVAILABLE', 's') });
  const back = deserializeError(serializeError(e));
  assert.equal(back.code, 'ALL_BACKENDS_FAILED');
  assert.equal(back.httpStatus, 503);
  const nf = deserializeError(serializeError(new ReadPathError('BACKEND_ERROR', 'nf', { backendStatus: 404 })));
  assert.equal(nf.backendStatus, 404);
  assert.deepEqual(serializeError(new TypeError('boom')), { code: 'BACKEND_ERROR', message: 'boom', httpStatus: 502 });
});

test('requirePositiveInt names the field and the value', async () => {
  const { requirePositiveInt } = await import('../../src/errors.js');
  assert.equal(requirePositiveInt(3, 'runtime.threads'), 3);
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60, '3', undefined]) {
    assert.throws(() => requirePositiveInt(bad, 'runtime.threads'), (e: unknown) => {
      assert.equal((e as ReadPathError).code, 'INVALID_CONFIG');
      assert.match((e as Error).message, /^runtime\.threads: must be a positive integer, got /);
      return true;
    });
  }
  assert.throws(() => requirePositiveInt('3', 'x'), /got "3"/);
});
