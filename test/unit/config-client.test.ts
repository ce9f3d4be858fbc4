/**
 * `backends[].client` (lean | sdk): validated, resolved, carried into the S3 backend options
 * the main thread and pool workers build from, and turned into the chosen transport.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { LeanS3Backend } from '../../src/backends/lean-s3-backend.js';
import { S3Backend } from '../../src/backends/s3-backend.js';
import { DEFAULT_S3_CLIENT, createS3Backend, s3OptionsFromConfig } from '../../src/backends/s3-options.js';
import { baseConfig, expectInvalid } from './config-helpers.js';

describe('backends[].client', () => {
  it('accepts lean and sdk, keeps them resolved and in the backend options', async () => {
    for (const client of ['lean', 'sdk'] as const) {
      const c = baseConfig();
      (c.backends[0] as Record<string, unknown>)['client'] = client;
      const r = await loadConfig(c as never, { env: {} });
      assert.equal(r.backends[0]?.client, client);
      assert.equal(s3OptionsFromConfig(r)[0]?.client, client);
    }
  });

  it('unset: absent from the resolved config and options (the default applies at build time)', async () => {
    const r = await loadConfig(baseConfig() as never, { env: {} });
    assert.equal('client' in (r.backends[0] ?? {}), false);
    assert.equal(s3OptionsFromConfig(r)[0]?.client, undefined);
  });

  for (const bad of ['fast', 'LEAN', '', 5, true]) {
    it(`rejects ${JSON.stringify(bad)} with INVALID_CONFIG naming backends[i].client`, async () => {
      const c = baseConfig();
      c.backends.push({ ...c.backends[0], name: 'b2', client: bad });
      const err = await expectInvalid(c);
      assert.equal(err.issues[0]?.path, 'backends[1].client');
      assert.match(err.message, /^backends\[1\]\.client: expected one of lean, sdk/);
    });
  }

  it('createS3Backend builds the chosen transport; unset means the default', async () => {
    const base = { name: 'b', endpoint: 'http://127.0.0.1:9', bucket: 'd', accessKeyId: 'k', secretAccessKey: 's' };
    const lean = createS3Backend({ ...base, client: 'lean' });
    const sdk = createS3Backend({ ...base, client: 'sdk' });
    const dflt = createS3Backend(base);
    try {
      assert.ok(lean instanceof LeanS3Backend);
      assert.ok(sdk instanceof S3Backend);
      assert.ok(DEFAULT_S3_CLIENT === 'lean' ? dflt instanceof LeanS3Backend : dflt instanceof S3Backend);
      assert.throws(() => createS3Backend({ ...base, client: 'other' as never }), /backends\[\]\.client \(backend b\): must be lean or sdk/);
    } finally {
      await Promise.all([lean.close(), sdk.close(), dflt.close()]);
    }
  });
});

describe('S3 backend options shared by both transports', () => {
  it('a bucket name that is not well-formed Unicode is INVALID_CONFIG on either transport (no request could name it)', () => {
    for (const client of ['lean', 'sdk'] as const) {
      assert.throws(
        () => createS3Backend({ name: 'b', endpoint: 'http://127.0.0.1:9', bucket: 'x\ud800', accessKeyId: 'k', secretAccessKey: 's', client }),
        (err: unknown) => (err as { code?: string }).code === 'INVALID_CONFIG' && /bucket \(backend b\): must be well-formed Unicode/.test((err as Error).message),
      );
    }
  });
});
