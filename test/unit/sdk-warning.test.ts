import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isSdkNodeVersionWarning, withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SDK_WARNS = Number(process.versions.node.split('.')[0]) < 22;
const SDK_TEXT = 'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after ...';

function runNode(args: string[]): Promise<{ stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 20_000 }, (err, _stdout, stderr) => {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- execFile's error is an Error
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ stderr, code: err === null ? 0 : (err.code as number) });
    });
  });
}

describe('SDK Node-version warning suppression', () => {
  it('recognises only the SDK warning', () => {
    assert.equal(isSdkNodeVersionWarning(SDK_TEXT), true);
    assert.equal(isSdkNodeVersionWarning(new Error(SDK_TEXT)), true);
    assert.equal(isSdkNodeVersionWarning('NodeVersionSupportWarning: something else'), false);
    assert.equal(isSdkNodeVersionWarning('DeprecationWarning: Buffer() is deprecated'), false);
    assert.equal(isSdkNodeVersionWarning(undefined), false);
  });

  it('drops the SDK warning, forwards every other warning, and restores process.emitWarning', () => {
    const seen: unknown[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be put back as it was
    const original = process.emitWarning;
    const spy = ((w: string | Error) => {
      seen.push(w);
    }) as typeof process.emitWarning;
    process.emitWarning = spy;
    try {
      const out = withoutSdkNodeVersionWarning(() => {
        process.emitWarning(SDK_TEXT);
        process.emitWarning('other', 'DeprecationWarning');
        return 42;
      });
      assert.equal(out, 42);
      assert.deepEqual(seen, ['other']);
      // eslint-disable-next-line @typescript-eslint/unbound-method -- compared, not called
      assert.equal(process.emitWarning, spy, 'restored');
      assert.throws(() =>
        withoutSdkNodeVersionWarning(() => {
          throw new Error('x');
        }),
      );
      // eslint-disable-next-line @typescript-eslint/unbound-method -- compared, not called
      assert.equal(process.emitWarning, spy, 'restored after a throw');
    } finally {
      process.emitWarning = original;
    }
  });

  it('keeps the warning off stderr when an S3Backend is built (and the bare SDK does print it)', async () => {
    const [bare, ours] = await Promise.all([
      runNode(['--input-type=module', '-e', "import { S3Client } from '@aws-sdk/client-s3'; new S3Client({ region: 'us-east-1' }).destroy();"]),
      runNode([
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "import { S3Backend } from './src/backends/s3-backend.ts';" +
          "await S3Backend.preload();" +
          "const b = new S3Backend({ name: 'x', endpoint: 'http://127.0.0.1:9', bucket: 'd' });" +
          "process.emitWarning('unrelated-warning'); await b.close();",
      ]),
    ]);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal(bare.stderr.includes('NodeVersionSupportWarning'), SDK_WARNS, 'the bare SDK warns on Node < 22');
    assert.doesNotMatch(ours.stderr, /NodeVersionSupportWarning/);
    assert.match(ours.stderr, /unrelated-warning/, 'other warnings still print');
  });
});
