/**
 * s3rver is a devDependency (issue 17): a project that installed readpath as a library has it
 * only if it added it, so the demo checks for it before it starts anything and says how to get
 * it. test/package/packaging.test.ts runs `readpath demo` where it is really missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EXIT, exitCodeFor, UsageError } from '../../src/cli/errors.js';
import { S3RVER_PACKAGE, requireS3rver } from '../../src/cli/demo/local-s3.js';

test('the demo names the s3rver it is developed with, and asks for it when it cannot be resolved', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>; devDependencies: Record<string, string>;
  };
  assert.equal(S3RVER_PACKAGE, `s3rver@${pkg.devDependencies.s3rver}`);
  assert.ok(!('s3rver' in pkg.dependencies), 's3rver is not installed for library users');

  assert.doesNotThrow(() => requireS3rver(), 'installed here by npm ci');
  const missing = (): string => {
    throw Object.assign(new Error("Cannot find module 's3rver'"), { code: 'MODULE_NOT_FOUND' });
  };
  assert.throws(() => requireS3rver(missing), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(exitCodeFor(err), EXIT.USAGE);
    assert.ok(err.message.includes(`npm install --save-dev ${S3RVER_PACKAGE}`), err.message);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
});
