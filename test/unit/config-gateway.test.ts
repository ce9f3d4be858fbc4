// The gateway's configuration (`server.*` and `buckets:`): every valid shape resolves to the
// ResolvedConfig['gateway'] `readpath serve` uses, every mistake is an INVALID_CONFIG issue
// naming its field (all of them in one pass), and no message carries a secret or a value.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseListenAddr } from '../../src/config/listen-addr.js';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_DEFAULTS } from '../../src/config/resolve.js';
import type { ResolvedConfig, ResolvedGatewayConfig } from '../../src/config/types.js';
import { baseConfig, expectInvalid, writeTestTlsFiles } from './config-helpers.js';

const DIR = mkdtempSync(join(tmpdir(), 'readpath-config-gateway-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

// The server's certificate and key (self-signed) and a client CA; then another key (does not
// match server.pem), the server key passphrase-protected and in the traditional EC format, and an
// RSA key too small for OpenSSL's default security level.
const { cert: SERVER_CERT, key: SERVER_KEY, ca: CA_CERT } = writeTestTlsFiles(DIR);
function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: DIR, stdio: 'ignore' });
}
openssl('genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'other.key');
openssl('pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:readpath', '-out', 'encrypted.key');
openssl('ec', '-in', 'server.key', '-out', 'traditional.key');
openssl('req', '-x509', '-newkey', 'rsa:512', '-nodes', '-keyout', 'small.key', '-out', 'small.pem', '-days', '2', '-subj', '/CN=small');

const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');
writeFileSync(join(DIR, 'chain.pem'), `# the server's certificate, then a CA\n${SERVER_CERT}${CA_CERT}`);
writeFileSync(join(DIR, 'key-with-params.pem'), `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${read('traditional.key')}`);
writeFileSync(join(DIR, 'not-pem.txt'), 'hello\n');
writeFileSync(join(DIR, 'bad-key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
writeFileSync(join(DIR, 'bad-cert.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
mkdirSync(join(DIR, 'a-directory'));

const SECRET = 'Gw-S3CR3T-secret-access-key';
const SECRET2 = 'Gw-S3CR3T-second-secret';

/** The base config with `server` and/or `buckets` set. */
function withGateway(gw: { server?: unknown; buckets?: unknown }): Record<string, unknown> {
  const cfg = baseConfig();
  if (gw.server !== undefined) cfg['server'] = gw.server;
  if (gw.buckets !== undefined) cfg['buckets'] = gw.buckets;
  return cfg;
}

async function load(gw: { server?: unknown; buckets?: unknown }, env: Record<string, string> = {}): Promise<ResolvedConfig['gateway']> {
  return (await loadConfig(withGateway(gw) as never, { env, baseDir: DIR })).gateway;
}

const PHOTOS = { name: 'photos', credentials: [{ access_key_id: 'AKPHOTOS', secret_access_key: SECRET }] };

const DEFAULTS: ResolvedGatewayConfig = {
  listenAddr: '127.0.0.1:9000', host: '127.0.0.1', port: 9000, tls: null, maxConcurrentReads: 0, maxConcurrentRequests: 0, admissionWaitMs: 0, loadShedThreshold: 0,
  readHeaderTimeoutMs: 10_000, idleTimeoutMs: 120_000, shutdownDelayMs: 0, shutdownTimeoutMs: 60_000, maxHeaderBytes: 65_536, processes: 1, bodyBuffers: 64,
  region: 'us-east-1', metricsPath: '/metrics', healthPath: '/health', virtualHostDomains: [], buckets: [],
        rateLimit: { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 },
};

describe('config gateway: defaults', () => {
  it('no server keys and no buckets: the defaults, no buckets', async () => {
    assert.deepEqual((await loadConfig(baseConfig() as never, { env: {} })).gateway, DEFAULTS);
    assert.deepEqual(await load({ server: {} }), DEFAULTS);
    assert.deepEqual(await load({ server: { backend_timeout: '5s' }, buckets: [] }), DEFAULTS);
  });

  it('CONFIG_DEFAULTS holds them', () => {
    const D = CONFIG_DEFAULTS;
    assert.deepEqual(
      [D.listenAddr, D.maxConcurrentReads, D.readHeaderTimeoutMs, D.idleTimeoutMs, D.shutdownDelayMs, D.maxHeaderBytes, D.gatewayRegion, D.metricsPath, D.healthPath],
      ['127.0.0.1:9000', 0, 10_000, 120_000, 0, 64 * 1024, 'us-east-1', '/metrics', '/health'],
    );
  });
});

describe('config gateway: buckets', () => {
  it('a bucket and its SigV4 credentials', async () => {
    const g = await load({ buckets: [PHOTOS] });
    assert.deepEqual(g.buckets, [{ name: 'photos', credentials: [{ accessKeyId: 'AKPHOTOS', secretAccessKey: SECRET }] }]);
  });

  it('several buckets and credentials, in order; token-only credentials are accepted but not kept', async () => {
    const g = await load({
      buckets: [
        {
          name: 'photos',
          credentials: [
            { access_key_id: 'AK1', secret_access_key: SECRET },
            { token: 'legacy-token' },
            { access_key_id: 'AK2', secret_access_key: SECRET2, token: 'also-a-token' },
          ],
          max_multipart_uploads: 10,
        },
        { name: 'only-tokens', credentials: [{ token: 't' }] },
        { name: 'My_Bucket.v2', credentials: [{ access_key_id: 'AK3', secret_access_key: 's3' }] },
      ],
    });
    assert.deepEqual(g.buckets, [
      { name: 'photos', credentials: [{ accessKeyId: 'AK1', secretAccessKey: SECRET }, { accessKeyId: 'AK2', secretAccessKey: SECRET2 }] },
      { name: 'only-tokens', credentials: [] },
      { name: 'My_Bucket.v2', credentials: [{ accessKeyId: 'AK3', secretAccessKey: 's3' }] },
    ]);
    assert.ok(!JSON.stringify(g).includes('legacy-token') && !JSON.stringify(g).includes('also-a-token'), 'tokens are not kept');
  });

  it('as upstream, any name without \'/\' will do (no S3 naming rules)', async () => {
    for (const name of ['a', 'UPPER', 'with space', 'x'.repeat(100), 'dots..and--dashes', 'é']) {
      assert.equal((await load({ buckets: [{ ...PHOTOS, name }] })).buckets[0]?.name, name);
    }
  });

  it('max_multipart_uploads and a credential\'s token are upstream\'s: any value, no ${VAR} expansion', async () => {
    const g = await load({
      buckets: [{ name: 'b', credentials: [{ token: '${LEGACY_TOKEN_UNSET}' }, { access_key_id: 'AK', secret_access_key: 'sk', token: '${T2_UNSET}' }], max_multipart_uploads: '${MPU_UNSET}' }],
    });
    assert.deepEqual(g.buckets, [{ name: 'b', credentials: [{ accessKeyId: 'AK', secretAccessKey: 'sk' }] }]);
    assert.deepEqual((await load({ buckets: [{ ...PHOTOS, max_multipart_uploads: { weird: [1] } }] })).buckets.length, 1);
  });

  it('a bucket\'s cors rules are upstream\'s (browser CORS): accepted as written, unexpanded, and ignored', async () => {
    const cors = [
      { allowed_origins: ['https://app.example.com', '${ORIGIN_UNSET}'], allowed_methods: ['GET', 'PUT'], allowed_headers: ['content-type', 'x-amz-*'], expose_headers: ['ETag'], max_age: 3600 },
    ];
    const g = await load({ buckets: [{ ...PHOTOS, cors }] });
    assert.deepEqual(g.buckets, [{ name: 'photos', credentials: [{ accessKeyId: 'AKPHOTOS', secretAccessKey: SECRET }] }]);
    // A key upstream does not define is still refused, with the nearest one suggested.
    const err = await expectInvalid(withGateway({ buckets: [{ ...PHOTOS, corss: [{ allowed_origins: ['*'], allowed_methods: ['GET'] }] }] }), { env: {}, baseDir: DIR });
    assert.deepEqual(err.issues, [{ path: 'buckets[0].corss', message: 'unknown key (did you mean cors?)' }]);
  });

  it('a top-level admin: section is refused: upstream\'s config defines none (its admin credential is auth.root)', async () => {
    const err = await expectInvalid({ ...baseConfig(), admin: { token: 'x' } });
    assert.deepEqual(err.issues.map((i) => [i.path, i.message]), [['admin', 'unknown key']]);
    // auth: (auth.root, the admin credential upstream does define) is accepted and ignored.
    await loadConfig({ ...baseConfig(), auth: { root: { access_key_id: 'AKROOT', secret_access_key: '${ROOT_SECRET_UNSET}' } } } as never, { env: {} });
  });

  it('${VAR} expansion in names and keys', async () => {
    const g = await load(
      { buckets: [{ name: '${BUCKET}', credentials: [{ access_key_id: '${CLIENT_KEY}', secret_access_key: '${CLIENT_SECRET}' }] }] },
      { BUCKET: 'photos', CLIENT_KEY: 'AKENV', CLIENT_SECRET: SECRET },
    );
    assert.deepEqual(g.buckets, [{ name: 'photos', credentials: [{ accessKeyId: 'AKENV', secretAccessKey: SECRET }] }]);
  });

  it('null values are unset (YAML `key:` with nothing after it)', async () => {
    const g = await load({ buckets: [{ name: 'b', credentials: [{ access_key_id: 'AK', secret_access_key: 'sk', token: null }], max_multipart_uploads: null }] });
    assert.equal(g.buckets[0]?.credentials.length, 1);
  });
});

describe('config gateway: server keys', () => {
  it('every key', async () => {
    const g = await load({
      server: {
        listen_addr: '0.0.0.0:8443', max_concurrent_reads: 64, read_header_timeout: '5s', idle_timeout: '1m',
        shutdown_delay: '15s', shutdown_timeout: '90s', max_header_bytes: '1MiB', region: 'eu-central-1', metrics_path: '/_readpath/metrics',
        health_path: '/_readpath/health', virtual_host_domains: ['S3.Example.com', 'gw.internal.', 's3.example.com'],
        max_concurrent_requests: 500, admission_wait: '250ms', load_shed_threshold: 0.8, processes: 3, body_buffers: 16,
        // upstream's keys readpath still ignores:
        read_timeout: '5m', write_timeout: 'whatever', spill_dir: 5,
      },
      buckets: [PHOTOS],
    });
    assert.deepEqual(g, {
      listenAddr: '0.0.0.0:8443', host: '0.0.0.0', port: 8443, tls: null, maxConcurrentReads: 64, maxConcurrentRequests: 500, admissionWaitMs: 250, loadShedThreshold: 0.8,
      readHeaderTimeoutMs: 5000, idleTimeoutMs: 60_000, shutdownDelayMs: 15_000, shutdownTimeoutMs: 90_000, maxHeaderBytes: 2 ** 20, processes: 3, bodyBuffers: 16,
      region: 'eu-central-1', metricsPath: '/_readpath/metrics', healthPath: '/_readpath/health',
      virtualHostDomains: ['s3.example.com', 'gw.internal'],
      buckets: [{ name: 'photos', credentials: [{ accessKeyId: 'AKPHOTOS', secretAccessKey: SECRET }] }],
      rateLimit: { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 },
    });
  });

  const addrs: [string, string, number][] = [
    ['127.0.0.1:9000', '127.0.0.1', 9000],
    ['0.0.0.0:80', '0.0.0.0', 80],
    [':9000', '', 9000],
    ['localhost:8080', 'localhost', 8080],
    ['gateway.internal.example.com:65535', 'gateway.internal.example.com', 65535],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['[::1]:9000', '::1', 9000],
    ['[::]:9000', '::', 9000],
    ['[fe80::1%eth0]:9000', 'fe80::1%eth0', 9000],
    ['[::ffff:127.0.0.1]:9000', '::ffff:127.0.0.1', 9000],
  ];
  for (const [listen_addr, host, port] of addrs) {
    it(`listen_addr ${listen_addr}`, async () => {
      const g = await load({ server: { listen_addr } });
      assert.deepEqual([g.listenAddr, g.host, g.port], [listen_addr, host, port]);
    });
  }

  it('max_concurrent_reads: 0 is unlimited; max_header_bytes as bytes or a size', async () => {
    assert.equal((await load({ server: { max_concurrent_reads: 0 } })).maxConcurrentReads, 0);
    assert.equal((await load({ server: { max_header_bytes: 1024 } })).maxHeaderBytes, 1024);
    assert.equal((await load({ server: { max_header_bytes: '16MiB' } })).maxHeaderBytes, 16 * 2 ** 20);
    assert.equal((await load({ server: { shutdown_delay: 0 } })).shutdownDelayMs, 0);
    await assert.rejects(load({ server: { shutdown_timeout: '0s' } }), /server\.shutdown_timeout/);
  });

  it('processes: a count, 0 = one per core, and refused when negative, fractional or over the cap', async () => {
    assert.equal((await load({ server: { processes: 2 } })).processes, 2);
    assert.equal((await load({ server: { processes: 0 } })).processes, availableParallelism());
    for (const bad of [-1, 1.5, 257, 'many']) {
      await assert.rejects(load({ server: { processes: bad } }), (err: Error) => /server\.processes/.test(err.message), `processes: ${String(bad)}`);
    }
  });

  it('body_buffers: a count (0 = none kept), default 64, refused when negative, fractional or over the cap', async () => {
    assert.equal((await load({})).bodyBuffers, 64);
    assert.equal((await load({ server: { body_buffers: 0 } })).bodyBuffers, 0);
    assert.equal((await load({ server: { body_buffers: '8' } })).bodyBuffers, 8);
    for (const bad of [-1, 2.5, 4097, 'lots']) {
      await assert.rejects(load({ server: { body_buffers: bad } }), (err: Error) => /server\.body_buffers/.test(err.message), `body_buffers: ${String(bad)}`);
    }
  });

  it('a bucket may be named like a path segment once that path moved', async () => {
    const g = await load({ server: { metrics_path: '/-/metrics', health_path: '/-/health' }, buckets: [{ ...PHOTOS, name: 'metrics' }, { name: 'health', credentials: [{ token: 't' }] }] });
    assert.deepEqual(g.buckets.map((b) => b.name), ['metrics', 'health']);
  });

  it('${VAR} expansion: the address, numbers, durations, sizes, paths and the TLS settings come in as strings', async () => {
    const g = await load(
      {
        server: {
          listen_addr: '${LISTEN}', max_concurrent_reads: '${READS}', read_header_timeout: '${RHT}', idle_timeout: '${IDLE}',
          shutdown_delay: '${DELAY:-2s}', max_header_bytes: '${MHB}', region: '${REGION}', metrics_path: '${METRICS}',
          health_path: '${HEALTH:-/healthz}', processes: '${PROCS}', body_buffers: '${BUFS}',
          tls: { cert_file: '${CERT}', key_file: '${KEY}', min_version: '${TLS_MIN}', client_ca_file: '${CLIENT_CA:-}' },
        },
      },
      { LISTEN: '[::1]:0', READS: '12', RHT: '3s', IDLE: '30s', MHB: '32KiB', PROCS: '4', BUFS: '32', REGION: 'ap-south-1', METRICS: '/prom', CERT: 'server.pem', KEY: 'server.key', TLS_MIN: '1.3' },
    );
    assert.deepEqual(g, {
      listenAddr: '[::1]:0', host: '::1', port: 0, tls: { cert: SERVER_CERT, key: SERVER_KEY, minVersion: 'TLSv1.3', clientCa: null },
      maxConcurrentReads: 12, maxConcurrentRequests: 0, admissionWaitMs: 0, loadShedThreshold: 0, readHeaderTimeoutMs: 3000, idleTimeoutMs: 30_000, shutdownDelayMs: 2000, shutdownTimeoutMs: 60_000, maxHeaderBytes: 32 * 1024, processes: 4, bodyBuffers: 32,
      region: 'ap-south-1', metricsPath: '/prom', healthPath: '/healthz', virtualHostDomains: [], buckets: [],
      rateLimit: { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 },
    });
  });
});

describe('config gateway: TLS', () => {
  it('cert_file and key_file: PEM texts read at load (relative to the config directory), TLS 1.2 by default', async () => {
    const g = await load({ server: { tls: { cert_file: 'server.pem', key_file: 'server.key' } } });
    assert.deepEqual(g.tls, { cert: SERVER_CERT, key: SERVER_KEY, minVersion: 'TLSv1.2', clientCa: null });
    const abs = await load({ server: { tls: { cert_file: join(DIR, 'server.pem'), key_file: join(DIR, 'server.key') } } });
    assert.deepEqual(abs.tls, g.tls);
  });

  it('min_version "1.2" / "1.3", or unquoted (YAML reads a number), or "" (the default)', async () => {
    const files = { cert_file: 'server.pem', key_file: 'server.key' };
    for (const [min_version, expected] of [['1.2', 'TLSv1.2'], ['1.3', 'TLSv1.3'], [1.2, 'TLSv1.2'], [1.3, 'TLSv1.3'], ['', 'TLSv1.2']] as const) {
      assert.equal((await load({ server: { tls: { ...files, min_version } } })).tls?.minVersion, expected, String(min_version));
    }
  });

  it('client_ca_file: the CA PEM, for mTLS', async () => {
    const g = await load({ server: { tls: { cert_file: 'server.pem', key_file: 'server.key', client_ca_file: 'ca.pem' } } });
    assert.equal(g.tls?.clientCa, CA_CERT);
  });

  it('a certificate with its chain; a traditional EC key, with an EC PARAMETERS block before it', async () => {
    const chain = await load({ server: { tls: { cert_file: 'chain.pem', key_file: 'server.key' } } });
    assert.equal(chain.tls?.cert, `${SERVER_CERT}${CA_CERT}`, 'the certificates, without the comment');
    const trad = await load({ server: { tls: { cert_file: 'server.pem', key_file: 'traditional.key' } } });
    assert.match(trad.tls?.key ?? '', /^-----BEGIN EC PRIVATE KEY-----\n[\s\S]+-----END EC PRIVATE KEY-----\n$/);
    const params = await load({ server: { tls: { cert_file: 'server.pem', key_file: 'key-with-params.pem' } } });
    assert.equal(params.tls?.key, trad.tls?.key, 'only the key block is kept');
  });

  it('no files, or empty strings (upstream\'s "not set"): plain HTTP', async () => {
    for (const tls of [{}, { cert_file: '', key_file: '' }, { cert_file: '', key_file: '', min_version: '1.3', client_ca_file: '' }]) {
      assert.equal((await load({ server: { tls } })).tls, null, JSON.stringify(tls));
    }
  });

  it('a YAML file: the files resolve against the file\'s directory', async () => {
    const file = join(DIR, 'gateway.yaml');
    writeFileSync(file, [
      'backends: [{ name: b1, endpoint: "http://127.0.0.1:9000", bucket: d, access_key_id: a, secret_access_key: s }]',
      'server:',
      '  listen_addr: "[::1]:9443"',
      '  tls:',
      '    cert_file: server.pem',
      '    key_file: server.key',
      '    min_version: 1.3',
      '    client_ca_file: ca.pem',
      'buckets:',
      '  - name: photos',
      '    credentials:',
      '      - access_key_id: "${CLIENT_KEY}"',
      '        secret_access_key: "${CLIENT_SECRET}"',
      '',
    ].join('\n'));
    const g = (await loadConfig(file, { env: { CLIENT_KEY: 'AKYAML', CLIENT_SECRET: SECRET } })).gateway;
    assert.deepEqual(g.tls, { cert: SERVER_CERT, key: SERVER_KEY, minVersion: 'TLSv1.3', clientCa: CA_CERT });
    assert.deepEqual([g.host, g.port], ['::1', 9443]);
    assert.deepEqual(g.buckets, [{ name: 'photos', credentials: [{ accessKeyId: 'AKYAML', secretAccessKey: SECRET }] }]);
  });
});

describe('parseListenAddr', () => {
  it('splits and checks HOST:PORT (for --listen too)', () => {
    assert.deepEqual(parseListenAddr('[::1]:0'), { ok: true, host: '::1', port: 0 });
    assert.deepEqual(parseListenAddr(':1'), { ok: true, host: '', port: 1 });
    assert.equal(parseListenAddr('localhost').ok, false);
  });
});

interface Case {
  name: string;
  server?: unknown;
  buckets?: unknown;
  /** every issue, path: message */
  issues: [string, RegExp][];
  env?: Record<string, string>;
}

const TLS_FILES = { cert_file: 'server.pem', key_file: 'server.key' };
const cred = (id: string) => ({ access_key_id: id, secret_access_key: SECRET });

const cases: Case[] = [
  // buckets
  { name: 'buckets not a list', buckets: { photos: {} }, issues: [['buckets', /^expected an array \(list\), got object$/]] },
  { name: 'bucket not a mapping', buckets: ['photos'], issues: [['buckets[0]', /^expected an object \(mapping\), got string$/]] },
  { name: 'bucket without a name', buckets: [{ credentials: [cred('AK')] }], issues: [['buckets[0].name', /^required$/]] },
  { name: 'bucket with an empty name', buckets: [{ name: '', credentials: [cred('AK')] }], issues: [['buckets[0].name', /^must not be empty$/]] },
  { name: 'bucket name with \'/\'', buckets: [{ name: 'a/b', credentials: [cred('AK')] }], issues: [['buckets[0].name', /^must not contain '\/'$/]] },
  { name: 'bucket name not a string', buckets: [{ name: 7, credentials: [cred('AK')] }], issues: [['buckets[0].name', /^expected a string, got number$/]] },
  {
    name: 'duplicate bucket names', buckets: [PHOTOS, { name: 'x', credentials: [cred('AKX')] }, { name: 'photos', credentials: [cred('AKP2')] }],
    issues: [['buckets[2].name', /^duplicate bucket name \(same as buckets\[0\]\)$/]],
  },
  { name: 'bucket without credentials', buckets: [{ name: 'photos' }], issues: [['buckets[0].credentials', /^at least one credential is required$/]] },
  { name: 'bucket with no credentials', buckets: [{ name: 'photos', credentials: [] }], issues: [['buckets[0].credentials', /^at least one credential is required$/]] },
  { name: 'credentials not a list', buckets: [{ name: 'photos', credentials: cred('AK') }], issues: [['buckets[0].credentials', /^expected an array \(list\), got object$/]] },
  { name: 'an empty credential', buckets: [{ name: 'photos', credentials: [{}] }], issues: [['buckets[0].credentials[0]', /^set access_key_id and secret_access_key \(SigV4\), or token$/]] },
  { name: 'a credential of empty strings', buckets: [{ name: 'photos', credentials: [{ access_key_id: '', secret_access_key: '', token: '' }] }], issues: [['buckets[0].credentials[0]', /^set access_key_id and secret_access_key/]] },
  { name: 'access_key_id without a secret', buckets: [{ name: 'photos', credentials: [{ access_key_id: 'AK' }] }], issues: [['buckets[0].credentials[0].secret_access_key', /^required with access_key_id \(SigV4\), or set token$/]] },
  { name: 'a secret without access_key_id', buckets: [{ name: 'photos', credentials: [{ secret_access_key: SECRET }] }], issues: [['buckets[0].credentials[0].access_key_id', /^required with secret_access_key \(SigV4\), or set token$/]] },
  { name: 'secret_access_key not a string', buckets: [{ name: 'photos', credentials: [{ access_key_id: 'AK', secret_access_key: 12345 }] }], issues: [['buckets[0].credentials[0].secret_access_key', /^expected a string, got number$/]] },
  {
    name: 'duplicate access key across buckets', buckets: [PHOTOS, { name: 'videos', credentials: [cred('AKV'), cred('AKPHOTOS')] }],
    issues: [['buckets[1].credentials[1].access_key_id', /^duplicate access key id \(same as buckets\[0\]\.credentials\[0\]\): each must name one credential$/]],
  },
  {
    name: 'duplicate access key within a bucket', buckets: [{ name: 'photos', credentials: [cred('AK'), { access_key_id: 'AK', token: 't' }] }],
    issues: [['buckets[0].credentials[1].access_key_id', /^duplicate access key id \(same as buckets\[0\]\.credentials\[0\]\)/]],
  },
  { name: 'unknown bucket key', buckets: [{ ...PHOTOS, credential: [] }], issues: [['buckets[0].credential', /^unknown key \(did you mean credentials\?\)$/]] },
  { name: 'unknown credential key', buckets: [{ name: 'photos', credentials: [{ ...cred('AK'), secret_key: 'x' }] }], issues: [['buckets[0].credentials[0].secret_key', /^unknown key/]] },
  { name: 'bucket name from an unset variable', buckets: [{ name: '${BUCKET_UNSET}', credentials: [cred('AK')] }], issues: [['buckets[0].name', /^environment variable BUCKET_UNSET is not set$/]] },
  // the paths outside the S3 namespace
  { name: 'bucket named like the default metrics path', buckets: [{ ...PHOTOS, name: 'metrics' }], issues: [['buckets[0].name', /^conflicts with server\.metrics_path: a bucket may not be named like that path's first segment/]] },
  { name: 'bucket named like the default health path', buckets: [{ ...PHOTOS, name: 'health' }], issues: [['buckets[0].name', /^conflicts with server\.health_path/]] },
  {
    name: 'bucket named like a custom path\'s first segment', server: { metrics_path: '/internal/metrics', health_path: '/internal/health' },
    buckets: [{ ...PHOTOS, name: 'internal' }],
    issues: [['buckets[0].name', /^conflicts with server\.metrics_path/], ['buckets[0].name', /^conflicts with server\.health_path/]],
  },
  { name: 'health_path equal to metrics_path', server: { metrics_path: '/status', health_path: '/status' }, issues: [['server.health_path', /^must differ from server\.metrics_path$/]] },
  { name: 'metrics_path equal to the default health path', server: { metrics_path: '/health' }, issues: [['server.metrics_path', /^must differ from server\.health_path$/]] },
  { name: 'metrics_path without a slash', server: { metrics_path: 'metrics' }, issues: [['server.metrics_path', /^expected an absolute path such as \/metrics/]] },
  { name: 'metrics_path /', server: { metrics_path: '/' }, issues: [['server.metrics_path', /^expected an absolute path/]] },
  { name: 'health_path with an empty segment', server: { health_path: '/a//b' }, issues: [['server.health_path', /^expected an absolute path/]] },
  { name: 'health_path with a trailing slash', server: { health_path: '/health/' }, issues: [['server.health_path', /^expected an absolute path/]] },
  { name: 'health_path with a space', server: { health_path: '/he alth' }, issues: [['server.health_path', /^expected an absolute path/]] },
  { name: 'health_path with ..', server: { health_path: '/x/..' }, issues: [['server.health_path', /^expected an absolute path/]] },
  { name: 'health_path with a query', server: { health_path: '/health?x=1' }, issues: [['server.health_path', /^expected an absolute path/]] },
  // virtual_host_domains
  { name: 'a virtual host domain with a port', server: { virtual_host_domains: ['s3.local:9000'] }, issues: [['server.virtual_host_domains[0]', /^expected a DNS name such as s3\.example\.com/]] },
  { name: 'a virtual host domain with a scheme', server: { virtual_host_domains: ['ok.example', 'http://s3.local'] }, issues: [['server.virtual_host_domains[1]', /^expected a DNS name/]] },
  { name: 'an IP address as a virtual host domain', server: { virtual_host_domains: ['127.0.0.1'] }, issues: [['server.virtual_host_domains[0]', /^expected a DNS name/]] },
  { name: 'a virtual host domain with an empty label', server: { virtual_host_domains: ['s3..local'] }, issues: [['server.virtual_host_domains[0]', /^expected a DNS name/]] },
  { name: 'virtual_host_domains not a list', server: { virtual_host_domains: 's3.local' }, issues: [['server.virtual_host_domains', /^expected an array \(list\), got string$/]] },
  // listen_addr
  ...([
    ['9000', /^expected HOST:PORT \(e\.g\. 127\.0\.0\.1:9000, :9000, \[::1\]:9000\)$/],
    ['localhost', /^expected HOST:PORT/],
    ['', /^expected HOST:PORT/],
    ['localhost:', /^the port is missing/],
    ['::1:9000', /^an IPv6 host must be in brackets/],
    ['[::1]', /^expected HOST:PORT/],
    ['[::1:9000', /^expected HOST:PORT/],
    ['[localhost]:9000', /^the host in brackets must be an IPv6 address$/],
    ['[127.0.0.1]:9000', /^the host in brackets must be an IPv6 address$/],
    ['127.0.0.1:65536', /^the port must be a number from 0 to 65535$/],
    ['127.0.0.1:-1', /^the port must be a number from 0 to 65535$/],
    ['127.0.0.1:http', /^the port must be a number from 0 to 65535$/],
    ['127.0.0.1:123456', /^the port must be a number from 0 to 65535$/],
    ['127.0.0.1: 9000', /^the port must be a number/],
    ['999.1.1.1:80', /^the host is not a valid IPv4 address$/],
    ['bad_host:80', /^the host must be an IP address or a host name/],
    ['-lead.example:80', /^the host must be an IP address or a host name/],
    ['http://127.0.0.1:9000', /^expected HOST:PORT, not a URL/],
  ] as const).map(([listen_addr, message]): Case => ({ name: `listen_addr ${JSON.stringify(listen_addr)}`, server: { listen_addr }, issues: [['server.listen_addr', message]] })),
  { name: 'listen_addr a number', server: { listen_addr: 9000 }, issues: [['server.listen_addr', /^expected a string, got number$/]] },
  { name: 'listen_addr from an unset variable', server: { listen_addr: '${LISTEN_UNSET}' }, issues: [['server.listen_addr', /^environment variable LISTEN_UNSET is not set$/]] },
  // numbers, durations, sizes, region
  { name: 'negative max_concurrent_reads', server: { max_concurrent_reads: -1 }, issues: [['server.max_concurrent_reads', /^must not be negative$/]] },
  { name: 'fractional max_concurrent_reads', server: { max_concurrent_reads: 2.5 }, issues: [['server.max_concurrent_reads', /^expected an integer$/]] },
  { name: 'max_concurrent_reads from a variable holding a word', server: { max_concurrent_reads: '${N}' }, env: { N: 'many' }, issues: [['server.max_concurrent_reads', /^expected a number, got string$/]] },
  { name: 'read_header_timeout negative', server: { read_header_timeout: '-1ms' }, issues: [['server.read_header_timeout', /^must not be negative \(0 = the default\)$/]] },
  { name: 'idle_timeout negative', server: { idle_timeout: '-1s' }, issues: [['server.idle_timeout', /^must not be negative \(0 = the default\)$/]] },
  { name: 'shutdown_delay negative', server: { shutdown_delay: '-5s' }, issues: [['server.shutdown_delay', /^must not be negative$/]] },
  { name: 'shutdown_delay not a duration', server: { shutdown_delay: 'later' }, issues: [['server.shutdown_delay', /^expected a duration/]] },
  { name: 'max_header_bytes too small', server: { max_header_bytes: 100 }, issues: [['server.max_header_bytes', /^must be at least 1024 bytes$/]] },
  { name: 'max_header_bytes too big', server: { max_header_bytes: '32MiB' }, issues: [['server.max_header_bytes', /^must be at most 16MiB$/]] },
  { name: 'max_header_bytes not a size', server: { max_header_bytes: 'lots' }, issues: [['server.max_header_bytes', /^must be a byte size/]] },
  { name: 'region with a space', server: { region: 'us east' }, issues: [['server.region', /^expected a region name/]] },
  { name: 'region with a slash', server: { region: 'us/east' }, issues: [['server.region', /^expected a region name/]] },
  { name: 'region empty', server: { region: '' }, issues: [['server.region', /^expected a region name/]] },
  { name: 'unknown server key', server: { listen_address: ':9000' }, issues: [['server.listen_address', /^unknown key \(did you mean listen_addr\?\)$/]] },
  // TLS
  { name: 'tls not a mapping', server: { tls: 'on' }, issues: [['server.tls', /^expected an object \(mapping\), got string$/]] },
  { name: 'cert_file without key_file', server: { tls: { cert_file: 'server.pem' } }, issues: [['server.tls.key_file', /^required with server\.tls\.cert_file \(TLS needs both files\)$/]] },
  { name: 'key_file without cert_file', server: { tls: { key_file: 'server.key', cert_file: '' } }, issues: [['server.tls.cert_file', /^required with server\.tls\.key_file/]] },
  { name: 'client_ca_file without TLS', server: { tls: { client_ca_file: 'ca.pem' } }, issues: [['server.tls.client_ca_file', /^only valid with server\.tls\.cert_file and server\.tls\.key_file/]] },
  { name: 'min_version 1.1', server: { tls: { ...TLS_FILES, min_version: '1.1' } }, issues: [['server.tls.min_version', /^expected "1\.2" or "1\.3"$/]] },
  { name: 'min_version TLSv1.3', server: { tls: { ...TLS_FILES, min_version: 'TLSv1.3' } }, issues: [['server.tls.min_version', /^expected "1\.2" or "1\.3"$/]] },
  { name: 'min_version 1.1 unquoted', server: { tls: { ...TLS_FILES, min_version: 1.1 } }, issues: [['server.tls.min_version', /^expected "1\.2" or "1\.3"$/]] },
  { name: 'min_version a list', server: { tls: { ...TLS_FILES, min_version: ['1.2'] } }, issues: [['server.tls.min_version', /^expected a string, got array$/]] },
  { name: 'unreadable cert_file', server: { tls: { ...TLS_FILES, cert_file: 'no-such.pem' } }, issues: [['server.tls.cert_file', /^file not found$/]] },
  { name: 'cert_file a directory', server: { tls: { ...TLS_FILES, cert_file: 'a-directory' } }, issues: [['server.tls.cert_file', /^is a directory, not a file$/]] },
  { name: 'cert_file not PEM', server: { tls: { ...TLS_FILES, cert_file: 'not-pem.txt' } }, issues: [['server.tls.cert_file', /^holds no PEM certificate/]] },
  { name: 'cert_file a broken PEM', server: { tls: { ...TLS_FILES, cert_file: 'bad-cert.pem' } }, issues: [['server.tls.cert_file', /^certificate 1 of 1 in the file does not parse$/]] },
  { name: 'cert_file holding the key', server: { tls: { ...TLS_FILES, cert_file: 'server.key' } }, issues: [['server.tls.cert_file', /^holds no PEM certificate/]] },
  { name: 'unreadable key_file', server: { tls: { ...TLS_FILES, key_file: 'no-such.key' } }, issues: [['server.tls.key_file', /^file not found$/]] },
  { name: 'key_file holding a certificate', server: { tls: { ...TLS_FILES, key_file: 'server.pem' } }, issues: [['server.tls.key_file', /^holds no PEM private key/]] },
  { name: 'key_file a broken PEM', server: { tls: { ...TLS_FILES, key_file: 'bad-key.pem' } }, issues: [['server.tls.key_file', /^the private key does not parse$/]] },
  { name: 'key_file passphrase-protected', server: { tls: { ...TLS_FILES, key_file: 'encrypted.key' } }, issues: [['server.tls.key_file', /^holds a passphrase-protected private key/]] },
  { name: 'key_file not the certificate\'s', server: { tls: { ...TLS_FILES, key_file: 'other.key' } }, issues: [['server.tls.key_file', /^does not match the \(first\) certificate in server\.tls\.cert_file$/]] },
  { name: 'key too small for TLS', server: { tls: { cert_file: 'small.pem', key_file: 'small.key' } }, issues: [['server.tls.key_file', /^the certificate and key are not usable for TLS \(ee key too small\)$/]] },
  { name: 'unreadable client_ca_file', server: { tls: { ...TLS_FILES, client_ca_file: 'no-such-ca.pem' } }, issues: [['server.tls.client_ca_file', /^file not found$/]] },
  { name: 'client_ca_file not PEM', server: { tls: { ...TLS_FILES, client_ca_file: 'not-pem.txt' } }, issues: [['server.tls.client_ca_file', /^holds no PEM certificate/]] },
  { name: 'cert_file from an unset variable', server: { tls: { cert_file: '${CERT_UNSET}', key_file: 'server.key' } }, issues: [['server.tls.cert_file', /^environment variable CERT_UNSET is not set$/]] },
  { name: 'unknown tls key', server: { tls: { ...TLS_FILES, ca_file: 'ca.pem' } }, issues: [['server.tls.ca_file', /^unknown key/]] },
  // every problem in one pass, in document order
  {
    name: 'several problems',
    server: { listen_addr: 'nowhere', max_concurrent_reads: -3, tls: { cert_file: 'no-such.pem', min_version: '1.0' } },
    buckets: [{ name: 'metrics', credentials: [] }, { name: 'a/b', credentials: [{ access_key_id: 'AK' }] }, { name: 'a/b', credentials: [cred('AK')] }],
    issues: [
      ['server.listen_addr', /^expected HOST:PORT/],
      ['server.max_concurrent_reads', /^must not be negative$/],
      ['server.tls.cert_file', /^file not found$/],
      ['server.tls.min_version', /^expected "1\.2" or "1\.3"$/],
      ['server.tls.key_file', /^required with server\.tls\.cert_file/],
      ['buckets[0].name', /^conflicts with server\.metrics_path/],
      ['buckets[0].credentials', /^at least one credential is required$/],
      ['buckets[1].name', /^must not contain '\/'$/],
      ['buckets[1].credentials[0].secret_access_key', /^required with access_key_id/],
      ['buckets[2].name', /^must not contain '\/'$/],
      ['buckets[2].name', /^duplicate bucket name \(same as buckets\[1\]\)$/],
      ['buckets[2].credentials[0].access_key_id', /^duplicate access key id \(same as buckets\[1\]\.credentials\[0\]\)/],
    ],
  },
];

describe('config gateway: errors', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const err = await expectInvalid(withGateway(c), { env: c.env ?? {}, baseDir: DIR });
      assert.deepEqual(err.issues.map((i) => i.path), c.issues.map(([p]) => p), err.message);
      c.issues.forEach(([, message], i) => assert.match(err.issues[i]?.message ?? '', message, err.message));
      assert.ok(err.message.startsWith(`${c.issues[0]?.[0] ?? ''}: `), err.message);
    });
  }
});

describe('config gateway: no secrets or values in messages', () => {
  const MARK = 'GWMARK';
  const leaky: { server?: unknown; buckets?: unknown }[] = [
    { buckets: [{ name: `${MARK}/name`, credentials: [{ access_key_id: `${MARK}-id`, secret_access_key: `${MARK}-secret` }] }, { name: `${MARK}/name`, credentials: [{ access_key_id: `${MARK}-id`, secret_access_key: `${MARK}-secret` }] }] },
    { buckets: [{ name: 'metrics', credentials: [{ secret_access_key: `${MARK}-secret`, token: 5 }] }] },
    { buckets: [{ name: 'b', credentials: [{ access_key_id: `${MARK}-id`, secret_access_key: `${MARK}-secret`, extra: MARK }], max_multipart_uploads: MARK }, { name: 'c', credentials: [{ access_key_id: `${MARK}-id`, secret_access_key: 5 }] }] },
    { server: { listen_addr: `${MARK}:http`, region: `${MARK} x`, metrics_path: MARK, health_path: `/${MARK} `, max_header_bytes: MARK, idle_timeout: MARK } },
    { server: { listen_addr: `[${MARK}]:1`, tls: { cert_file: `${MARK}.pem`, key_file: `${MARK}.key`, min_version: MARK, client_ca_file: `${MARK}-ca` } } },
    { server: { tls: { cert_file: 'server.pem', key_file: 'other.key' } }, buckets: [{ name: MARK, credentials: [{ access_key_id: MARK }] }] },
  ];
  for (const [i, gw] of leaky.entries()) {
    it(`case ${i}`, async () => {
      const err = await expectInvalid(withGateway(gw), { env: {}, baseDir: DIR });
      for (const text of [err.message, JSON.stringify(err.issues), String(err.stack)]) {
        assert.ok(!text.includes(MARK), text);
        assert.ok(!text.includes('BEGIN'), 'nothing read from a file');
      }
    });
  }
});
