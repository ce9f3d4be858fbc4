/**
 * Heavy optional dependencies load only when used: the AWS SDK with S3 backends, pg with the
 * PostgreSQL store, prom-client at the first metrics render, yaml with YAML configs, the
 * OpenTelemetry API once a tracer provider is registered (test/unit/tracing.test.ts reads with one). Each keeps
 * its code on the JS heap for good, and V8 sizes its old generation as a multiple of the live
 * heap, so a reader that does not use them would pay for them several times over in resident
 * memory (bench/RESULTS.md, Soak). Runs a reader's life in a child process whose module hooks
 * log every package resolved.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/metrics.js';
import { loadedBySteps } from '../helpers/package-steps.js';
import { runTsChild } from '../helpers/run-ts-child.js';

const CHILD = fileURLToPath(new URL('../helpers/lazy-deps-child.ts', import.meta.url));

describe('lazily loaded dependencies', () => {
  it('the AWS SDK, pg, prom-client, yaml and the OpenTelemetry API load only when a reader uses them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readpath-lazy-'));
    const log = join(dir, 'packages.log');
    try {
      await runTsChild(CHILD, { env: { ...process.env, READPATH_PACKAGE_LOG: log } });
      const steps = loadedBySteps(readFileSync(log, 'utf8'));
      const at = (step: string): Set<string> => {
        const s = steps.get(step);
        assert.ok(s !== undefined, `step ${step} logged`);
        return s;
      };
      assert.ok(at('imported').has('zod'), 'the hooks see packages (zod validates configs)');
      for (const pkg of ['@aws-sdk/client-s3', '@smithy/node-http-handler', 'pg', 'prom-client', 'yaml', '@opentelemetry/api']) {
        assert.ok(!at('read').has(pkg), `${pkg} not loaded by importing readpath and reading over in-memory parts`);
      }
      assert.ok(at('metrics').has('prom-client'), 'prom-client loads at the first metrics render');
      assert.ok(!at('metrics').has('@aws-sdk/client-s3'));
      // The default transport is the lean one (issue 13): our SigV4 signer and HTTP/1.1 client
      // (undici for TLS endpoints), not the SDK.
      assert.ok(!at('s3-open').has('undici'), 'plain-HTTP backends need no transport package');
      assert.ok(at('s3-tls-open').has('undici'), 'opening a reader with TLS backends loads undici');
      assert.ok(!at('s3-open').has('@smithy/signature-v4'), 'the lean signer derives its keys over node:crypto');
      assert.ok(!at('s3-open').has('@aws-sdk/client-s3'), 'the SDK only with client: sdk');
      assert.ok(!at('s3-open').has('pg'), 'pg only with the PostgreSQL store');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the exporter's content type is prom-client's", () => {
    assert.equal(PROMETHEUS_CONTENT_TYPE, Registry.PROMETHEUS_CONTENT_TYPE);
    assert.equal(PROMETHEUS_CONTENT_TYPE, new Registry().contentType);
  });
});
