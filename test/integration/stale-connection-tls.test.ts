/**
 * A kept HTTPS connection the server closes just as a request goes out on it: both transports
 * (the lean one on undici's pool, the SDK one on its https agent) send the request once more on
 * a new connection, once only, and never a request whose new connection failed. Plain HTTP is
 * held to the same in the conformance suite (test/helpers/s3-backend-conformance.ts). In a child
 * process, so that NODE_EXTRA_CA_CERTS makes both trust the self-signed server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runTsChild } from '../helpers/run-ts-child.js';
import { selfSigned } from '../helpers/self-signed.js';

const CHILD = fileURLToPath(new URL('../helpers/stale-tls-child.ts', import.meta.url));

describe('stale kept HTTPS connections', () => {
  it('lean and sdk: a kept connection dying under a request is retried once on a new one; a new connection failing is not', async () => {
    const tls = await selfSigned('stale-tls');
    try {
      const out = await runTsChild(CHILD, {
        env: { ...process.env, READPATH_TLS_KEY: tls.keyFile, READPATH_TLS_CERT: tls.certFile, NODE_EXTRA_CA_CERTS: tls.certFile },
      });
      const r = JSON.parse(out.trim().split('\n').pop() as string) as Record<string, Record<string, { reads: string[]; connections: number }>>;
      for (const client of ['lean', 'sdk']) {
        assert.deepEqual(r[client], {
          'reused dropped': { reads: ['ok', 'ok'], connections: 2 },
          'reused and new dropped': { reads: ['ok', 'error BACKEND_ERROR'], connections: 2 },
          'new dropped': { reads: ['error BACKEND_ERROR'], connections: 1 },
        }, client);
      }
    } finally {
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
