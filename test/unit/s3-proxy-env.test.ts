/**
 * Proxy environment variables: neither S3 transport uses them (test/integration/s3-tls-endpoints
 * shows requests going straight to the endpoint), so a process whose environment names a proxy
 * for a backend is told once, by a process warning, which backends are reached directly — unless
 * NO_PROXY exempts them or they are on loopback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { proxyEnvironmentWarning, s3OptionsFromConfig } from '../../src/backends/s3-options.js';
import { baseConfig } from './config-helpers.js';

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

  it('building the backend options warns once per process, with a code', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      if ((w as { code?: string }).code === 'READPATH_PROXY_ENV_IGNORED') warnings.push(w);
    };
    process.on('warning', onWarning);
    const saved = process.env.HTTP_PROXY;
    try {
      const c = baseConfig();
      (c.backends[0] as Record<string, unknown>)['endpoint'] = 'http://minio.internal:9000';
      const r = await loadConfig(c as never, { env: {} });
      process.env.HTTP_PROXY = 'http://proxy.internal:3128';
      s3OptionsFromConfig(r);
      s3OptionsFromConfig(r);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]?.message ?? '', /HTTP_PROXY is set, but readpath connects to S3 backends directly.*\(minio\.internal:9000\)/);
    } finally {
      process.off('warning', onWarning);
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    }
  });
});
