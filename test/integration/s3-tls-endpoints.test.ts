/**
 * Endpoints as deployments give them, for both transports alike: HTTPS signed by a private CA
 * (trusted through NODE_EXTRA_CA_CERTS; AWS_CA_BUNDLE is not read, by either transport or by
 * s3-orchestrator's backends), IPv6 literals, a path prefix a gateway strips, a certificate no
 * trusted CA signed (a coded error at once, not a hang or a timeout), and proxy variables in the
 * environment, which neither transport uses: every request goes straight to the endpoint. In a
 * child process (test/helpers/tls-endpoints-child.ts), which the CA must be given at its start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runTsChild } from '../helpers/run-ts-child.js';

const CHILD = fileURLToPath(new URL('../helpers/tls-endpoints-child.ts', import.meta.url));
const openssl = (args: string[]): Promise<unknown> => promisify(execFile)('openssl', args);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, a server certificate it signed, and a self-signed one from a CA nobody trusts. */
async function certificates(dir: string): Promise<void> {
  const f = (name: string): string => join(dir, name);
  await openssl(['req', '-x509', ...EC, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=readpath test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  await openssl(['req', ...EC, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(f('ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext')]);
  await openssl(['req', '-x509', ...EC, '-keyout', f('other.key'), '-out', f('other.pem'), '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
}

describe('TLS, IPv6, path-prefixed and proxied endpoints', () => {
  it('lean and sdk: a private CA, IPv6, a path prefix read alike; an untrusted certificate is a coded error; proxy variables unused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'readpath-tls-endpoints-'));
    try {
      await certificates(dir);
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), READPATH_CA_DIR: dir, AWS_CA_BUNDLE: join(dir, 'other.pem') };
      const out = await runTsChild(CHILD, { env, timeoutMs: 120_000 });
      const r = JSON.parse(out.trim().split('\n').pop() as string) as { results: Record<string, Record<string, string>>; proxied: number };
      for (const client of ['lean', 'sdk']) {
        assert.deepEqual(r.results[client], {
          'https, custom CA': 'hello [dir/a key]',
          'https, IPv6': 'hello [dir/a key]',
          'https, path prefix': 'hello [dir/a key]',
          'http, IPv6, path prefix': 'hello [dir/a key]',
          'https, untrusted CA': 'BACKEND_ERROR DEPTH_ZERO_SELF_SIGNED_CERT',
        }, client);
      }
      assert.equal(r.proxied, 0, 'no request went to the proxy the environment names');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
