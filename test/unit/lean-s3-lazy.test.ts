/**
 * The lean S3 transport loads undici (its Pool, by the Pool's own file) only for a TLS origin,
 * on first need (plain HTTP goes on readpath's own HTTP/1.1 client), the AWS credential
 * providers only for a backend without keys, and never the AWS SDK client nor
 * @smithy/signature-v4 (the signer derives its keys over node:crypto). A backend built before
 * its dependencies have loaded works from its first call. In a fresh child process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadedBySteps } from '../helpers/package-steps.js';
import { runTsChild } from '../helpers/run-ts-child.js';
import { selfSigned } from '../helpers/self-signed.js';

const CHILD = fileURLToPath(new URL('../helpers/lean-lazy-child.ts', import.meta.url));

describe('lean S3 transport loading', () => {
  it('loads undici on first use over TLS only, the credential providers only without keys, never the SDK client or signer package', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readpath-lean-lazy-'));
    const log = join(dir, 'packages.log');
    const tls = await selfSigned('lean-lazy');
    try {
      const env: NodeJS.ProcessEnv = {
        ...process.env, READPATH_PACKAGE_LOG: log, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'envsecret',
        READPATH_TLS_KEY: tls.keyFile, READPATH_TLS_CERT: tls.certFile, NODE_EXTRA_CA_CERTS: tls.certFile,
      };
      for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE']) delete env[k];
      const out = await runTsChild(CHILD, { env });
      const r = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
      const steps = loadedBySteps(readFileSync(log, 'utf8'));
      const at = (s: string): Set<string> => {
        const v = steps.get(s);
        assert.ok(v !== undefined, `step ${s} logged`);
        return v;
      };
      for (const pkg of ['undici', '@smithy/signature-v4', '@aws-sdk/credential-providers', '@aws-sdk/client-s3']) {
        assert.ok(!at('imported').has(pkg), `${pkg} not loaded by importing the backend modules`);
      }
      assert.equal(r['loadedBefore'], false);
      assert.ok(!at('used').has('undici'), 'plain HTTP needs no undici');
      assert.ok(!at('preload-http').has('undici'), 'nor does preloading a plain-HTTP backend load it');
      assert.equal(r['tlsLoadedBefore'], false);
      assert.ok(at('tls-used').has('undici'), 'loaded by a TLS backend\'s first call');
      assert.equal(r['tlsSize'], 5);
      assert.equal(r['tlsBody'], 'hello');
      assert.ok(!at('preload-lean').has('@smithy/signature-v4'), 'SigV4 needs no package: keys are derived over node:crypto');
      assert.ok(!at('preload-lean').has('@aws-sdk/credential-providers'), 'static keys need no credential providers');
      assert.ok(at('preload-chain').has('@aws-sdk/credential-providers'), 'a backend without keys preloads them');
      assert.ok(!at('chain').has('@aws-sdk/client-s3'), 'the lean transport never loads the SDK client');
      assert.equal(r['size'], 5);
      assert.equal(r['body'], 'hello');
      assert.deepEqual(r['credentials'], ['STATICKEY', 'STATICKEY', 'TLSKEY', 'TLSKEY', 'ENVKEY'], 'the default chain found the environment keys');
      assert.match(String(r['closedError']), /backend closed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
