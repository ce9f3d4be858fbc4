/**
 * With the pool, the main thread keeps backend names, order and breaker state only: the S3
 * clients, and the AWS SDK they need, live in the workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runTsChild } from '../helpers/run-ts-child.js';

const CHILD = fileURLToPath(new URL('../helpers/pool-main-child.ts', import.meta.url));

test('a pooled reader reads over S3 without loading an S3 transport on its main thread', async () => {
  const out = JSON.parse(await runTsChild(CHILD)) as { body: string; size: number; sdkOnMain: boolean; leanOnMain: boolean };
  assert.equal(out.body, 'hello', 'the workers made the S3 calls');
  assert.equal(out.size, 5);
  assert.equal(out.sdkOnMain, false, 'the main thread never loaded the SDK');
  assert.equal(out.leanOnMain, false, 'nor the lean transport');
});
