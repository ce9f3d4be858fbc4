/**
 * Proxy environment variables: neither S3 transport uses them (test/integration/s3-tls-endpoints
 * shows requests going straight to the endpoint), so a process whose environment names a proxy
 * for a backend is told once, through the reader's warning hook (its logger: a `readpath: warn:`
 * line in the CLI), which backends are reached directly — unless NO_PROXY exempts them or they
 * are on loopback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { proxyEnvironmentWarning } from '../../src/backends/s3-options.js';
import { baseConfig } from './config-helpers.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/program.js';
import { ReadPath } from '../../src/read-path.js';
import { captured } from '../helpers/captured-io.js';

const b = (name: string, endpoint: string): { name: string; endpoint: string } => ({ name, endpoint });
const S3 = b('b1', 'https://s3.eu.example.com');
const MINIO = b('b2', 'http://10.1.2.3:9000');

describe('proxy environment variables', () => {
  it('no proxy variable, or none for the scheme: nothing to say', () => {
    assert.equal(proxyEnvironmentWarning([S3, MINIO], {}), undefined);
    assert.equal(proxyEnvironmentWarning([S3], { HTTP_PROXY: 'http://proxy:3128' }), undefined);
    assert.equal(proxyEnvironmentWarning([MINIO], { HTTPS_PROXY: 'http://proxy:3128' }), undefined);
  });

  it('names each backend a proxy variable covers, and the variables', () => {
    const w = proxyEnvironmentWarning([S3, MINIO], { https_proxy: 'http://proxy:3128', HTTP_PROXY: 'http://proxy:3128' });
    assert.ok(w !== undefined);
    assert.match(w, /^https_proxy and HTTP_PROXY are set, but readpath connects to S3 backends directly/);
    assert.match(w, /b1 \(s3\.eu\.example\.com\), b2 \(10\.1\.2\.3:9000\)/);
    assert.match(w, /NO_PROXY/);
  });

  it('loopback endpoints are never concerned', () => {
    const env = { HTTP_PROXY: 'http://proxy:3128', HTTPS_PROXY: 'http://proxy:3128' };
    assert.equal(proxyEnvironmentWarning([b('l1', 'http://127.0.0.1:9000'), b('l2', 'https://localhost:8443'), b('l3', 'http://[::1]:9000')], env), undefined);
  });

  it('NO_PROXY: *, host and domain suffixes, ports, IP addresses and CIDR blocks', () => {
    const env = (noProxy: string): NodeJS.ProcessEnv => ({ HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
    const exempt = (noProxy: string, ...backends: { name: string; endpoint: string }[]): boolean => proxyEnvironmentWarning(backends, env(noProxy)) === undefined;
    assert.equal(exempt('*', S3, MINIO), true);
    assert.equal(exempt('example.com,10.1.2.3', S3, MINIO), true);
    assert.equal(exempt('.example.com', S3), true);
    assert.equal(exempt('*.example.com', S3), true);
    assert.equal(exempt('s3.eu.example.com:443', S3), true);
    assert.equal(exempt('s3.eu.example.com:8443', S3), false);
    assert.equal(exempt('ample.com', S3), false, 'a suffix matches at a dot');
    assert.equal(exempt('10.0.0.0/8', MINIO), true);
    assert.equal(exempt('192.168.0.0/16', MINIO), false);
    assert.equal(exempt('fd00::/8', b('v6', 'http://[fd00::5]:9000')), true);
    assert.equal(exempt('[fd00::5]:9000', b('v6', 'http://[fd00::5]:9000')), true);
    assert.equal(exempt(' other.org , EXAMPLE.COM ', S3), true, 'entries trimmed, case-insensitive');
    assert.equal(proxyEnvironmentWarning([S3], { ...env('example.com'), no_proxy: 'other.org' }) !== undefined, true, 'no_proxy before NO_PROXY');
  });

  it("the warning is the reader's own: a CLI run prints a `readpath: warn:` line, once per process, and no process warning", async () => {
    const processWarnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if ((w as { code?: string }).code === 'READPATH_PROXY_ENV_IGNORED') processWarnings.push(w);
    };
    process.on('warning', onWarning);
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy, NO_PROXY: process.env.NO_PROXY, no_proxy: process.env.no_proxy };
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-proxy-env-'));
    try {
      for (const k of Object.keys(saved)) delete process.env[k];
      process.env.HTTP_PROXY = 'http://proxy.internal:3128';
      const c = { ...baseConfig(), database: { driver: 'memory' }, runtime: { mode: 'inline' } };
      (c.backends[0] as Record<string, unknown>)['endpoint'] = 'http://minio.internal:9000';
      const file = path.join(tmp, 'readpath.yaml');
      await writeFile(file, JSON.stringify(c));
      const io = captured();
      await runCli(['head', 'k', '-c', file], { stdin: new PassThrough(), stdout: io.stdout, stderr: io.stderr, env: {} });
      const lines = io.err().split('\n').filter((l) => l.includes('HTTP_PROXY'));
      assert.equal(lines.length, 1, io.err());
      assert.match(lines[0] ?? '', /^readpath: warn: HTTP_PROXY is set, but readpath connects to S3 backends directly.*\(minio\.internal:9000\)/);
      // Another reader in the same process (a library user's, with its own hook) is not told again.
      const told: string[] = [];
      const rp = await ReadPath.open(c as never, { warn: (m) => told.push(m) });
      await rp.close();
      assert.deepEqual(told, []);
      // Process warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(processWarnings, [], 'no process warning besides the logged line');
    } finally {
      process.off('warning', onWarning);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
