/**
 * S3Backend loads the AWS SDK on first need (src/backends/s3-sdk.ts). A backend built before the
 * SDK has loaded must work the same from its first call. Runs in a child process, where
 * nothing has loaded the SDK yet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runTsChild } from '../helpers/run-ts-child.js';

const CHILD = fileURLToPath(new URL('../helpers/s3-lazy-child.ts', import.meta.url));

describe('S3Backend before the SDK has loaded', () => {
  it('builds its client on the first call; HEAD and GET answer as usual; a closed backend refuses calls', async () => {
    const out = await runTsChild(CHILD);
    const r = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(r['loadedBefore'], false, 'the SDK was not loaded when the backend was built');
    assert.equal(r['loadedAfter'], true);
    assert.equal(r['size'], 5);
    assert.equal(r['etag'], '"5d41402abc4b2a76b9719d911017c592"');
    assert.equal(r['body'], 'hello');
    assert.match(String(r['closedError']), /backend closed/);
  });
});
