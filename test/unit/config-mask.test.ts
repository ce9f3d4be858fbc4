// Secrets: masked for display, never in an error message, and the display form loads back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configSecrets, KEY_FROM_FILE, maskConfig, maskUrl, renderConfigForDisplay, toConfigDocument, REDACTED, TLS_KEY_NOTE } from '../../src/config/mask.js';
import { baseConfig, expectInvalid, setAt, writeTestTlsFiles } from './config-helpers.js';

const SECRET = 'Zq9-SECRET-value-7x';

/** Encryption secrets: a master key, a previous key, a Vault token. */
const MASTER = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256);
const PREVIOUS = Uint8Array.from({ length: 32 }, (_, i) => (i * 59 + 101) % 256);
const VAULT_TOKEN = 'hvs.Zq9-SECRET-vault-token';
const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');

/** Every spelling of a key that could reach output: base64 (padded or not), hex, its bytes as JSON numbers. */
function keyForms(k: Uint8Array): string[] {
  const bytes = [...k];
  return [
    b64(k).replace(/=+$/, ''), Buffer.from(k).toString('hex'), bytes.join(','),
    bytes.slice(0, 4).map((b, i) => `"${i}":${b}`).join(','),
  ];
}

function assertNoEncryptionSecret(text: string): void {
  for (const s of [...keyForms(MASTER), ...keyForms(PREVIOUS), VAULT_TOKEN]) assert.ok(!text.includes(s), `${s} leaked in:\n${text}`);
}

const DIR = mkdtempSync(join(tmpdir(), 'readpath-config-mask-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
writeFileSync(join(DIR, 'master.key'), MASTER);
writeFileSync(join(DIR, 'token'), `${VAULT_TOKEN}\n`);

async function localKeysConfig() {
  const cfg = baseConfig();
  setAt(cfg, 'encryption', { enabled: true, master_key: '${MASTER_KEY}', previous_keys: [b64(PREVIOUS)] });
  return loadConfig(cfg as never, { env: { MASTER_KEY: b64(MASTER) } });
}

async function vaultConfig(vault: Record<string, unknown> = {}) {
  const cfg = baseConfig();
  setAt(cfg, 'encryption', { enabled: true, vault: { address: `https://rp:${SECRET}@vault:8200`, token: VAULT_TOKEN, key_name: 'k', ...vault } });
  return loadConfig(cfg as never, { env: {}, baseDir: DIR });
}

describe('maskConfig', () => {
  it('replaces backend secrets, the database password and URL passwords, leaving the original intact', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', SECRET);
    cfg.backends.push({ name: 'b2', endpoint: `https://user:${SECRET}@s3.example.com`, bucket: 'd', credential_source: 'default_chain' });
    setAt(cfg, 'database', { host: 'db', database: 'meta', user: 'rp', password: SECRET });
    const r = await loadConfig(cfg as never, { env: {} });
    const m = maskConfig(r);
    assert.equal(m.backends[0]?.secretAccessKey, REDACTED);
    assert.equal(m.backends[1]?.secretAccessKey, '', 'an unset secret stays empty');
    assert.equal(m.backends[1]?.endpoint, `https://user:${REDACTED}@s3.example.com`);
    assert.equal(m.database.driver === 'postgres' && m.database.password, REDACTED);
    assert.ok(!JSON.stringify(m).includes(SECRET));
    assert.equal(r.backends[0]?.secretAccessKey, SECRET, 'the input is not modified');
    assert.equal(r.database.driver === 'postgres' && r.database.password, SECRET);
  });

  it('masks the password inside a postgres url (userinfo and query)', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'database', { url: `postgres://rp:${SECRET}@db:5432/meta?sslmode=disable&password=${SECRET}` });
    const m = maskConfig(await loadConfig(cfg as never, { env: {} }));
    assert.equal(m.database.driver === 'postgres' && m.database.url, `postgres://rp:${REDACTED}@db:5432/meta?sslmode=disable&password=${REDACTED}`);
  });

  it('maskUrl masks libpq\'s sslpassword query parameter', () => {
    assert.equal(maskUrl(`postgres://rp@db/meta?sslmode=verify-full&sslpassword=${SECRET}&x=1`), `postgres://rp@db/meta?sslmode=verify-full&sslpassword=${REDACTED}&x=1`);
  });

  it('maskUrl leaves URLs without passwords alone', () => {
    assert.equal(maskUrl('postgres://rp@db/meta'), 'postgres://rp@db/meta');
    assert.equal(maskUrl('http://127.0.0.1:9000'), 'http://127.0.0.1:9000');
  });

  it('configSecrets lists every secret value, for scrubbing free text', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', 'short');
    setAt(cfg, 'database', { url: `postgres://rp:${SECRET}@db/meta` });
    assert.deepEqual(configSecrets(await loadConfig(cfg as never, { env: {} })), [SECRET, 'short']);
  });
});

describe('maskConfig: encryption', () => {
  it('shows which keys are configured, never their bytes; the resolved config keeps them', async () => {
    const r = await localKeysConfig();
    const m = maskConfig(r);
    assert.deepEqual(m.encryption, {
      enabled: true, masterKey: REDACTED, masterKeyFile: null, previousKeys: [REDACTED], vault: null,
      keyCache: { maxEntries: 10_000, ttlMs: 300_000 },
    });
    assertNoEncryptionSecret(JSON.stringify(m));
    assert.deepEqual(r.encryption?.localKeys.map((k) => k.key), [MASTER, PREVIOUS], 'the input is not modified');
    assert.deepEqual(Object.keys(m), Object.keys(r), 'encryption stays where it is');
  });

  it('master_key_file: noted, not printed', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'encryption', { enabled: true, master_key_file: 'master.key', previous_keys: [b64(PREVIOUS)] });
    const m = maskConfig(await loadConfig(cfg as never, { env: {}, baseDir: DIR }));
    assert.equal(m.encryption?.masterKeyFile, KEY_FROM_FILE);
    assert.deepEqual(m.encryption?.previousKeys, [REDACTED]);
    assertNoEncryptionSecret(JSON.stringify(m));
  });

  it('vault: the token and a password in the address are masked, token_file shown', async () => {
    const m = maskConfig(await vaultConfig());
    assert.equal(m.encryption?.vault?.token, REDACTED);
    assert.equal(m.encryption?.vault?.address, `https://rp:${REDACTED}@vault:8200`);
    assert.ok(!JSON.stringify(m).includes(SECRET));
    assertNoEncryptionSecret(JSON.stringify(m));
    const f = maskConfig(await vaultConfig({ token: undefined, token_file: 'token' }));
    assert.equal(f.encryption?.vault?.token, null, 'no token configured: nothing to mask');
    assert.equal(f.encryption?.vault?.tokenFile, join(DIR, 'token'));
  });

  it('configSecrets lists the keys (base64 without padding, hex), the Vault token and the address password', async () => {
    const local = configSecrets(await localKeysConfig());
    for (const k of [MASTER, PREVIOUS]) {
      assert.ok(local.includes(b64(k).replace(/=+$/, '')));
      assert.ok(local.includes(Buffer.from(k).toString('hex')));
    }
    const vault = configSecrets(await vaultConfig());
    assert.ok(vault.includes(VAULT_TOKEN) && vault.includes(SECRET));
  });

  it('renderConfigForDisplay prints upstream\'s keys, redacted, with durations', async () => {
    const text = renderConfigForDisplay(await localKeysConfig());
    assertNoEncryptionSecret(text);
    const doc = parse(text) as { encryption: Record<string, unknown> };
    assert.deepEqual(doc.encryption, {
      enabled: true, master_key: REDACTED, previous_keys: [REDACTED], key_cache: { max_entries: 10_000, ttl: '5m' },
    });
    const vaultText = renderConfigForDisplay(await vaultConfig({ renew_interval: '90s' }), { format: 'json' });
    assertNoEncryptionSecret(vaultText);
    assert.ok(!vaultText.includes(SECRET));
    assert.deepEqual((JSON.parse(vaultText) as { encryption: { vault: unknown } }).encryption.vault, {
      address: `https://rp:${REDACTED}@vault:8200`, token: REDACTED, key_name: 'k', mount_path: 'transit', renew_interval: '1m30s', timeout: '10s',
    });
  });

  it('error messages never carry a key or the token', async () => {
    for (const encryption of [
      { enabled: true, master_key: b64(MASTER).slice(0, -4) },
      { enabled: true, master_key: b64(MASTER), previous_keys: [`${b64(PREVIOUS)}x`], chunk_size: VAULT_TOKEN },
      { enabled: true, vault: { address: VAULT_TOKEN, token: VAULT_TOKEN, token_file: VAULT_TOKEN, key_name: 'k', timeout: VAULT_TOKEN } },
    ]) {
      const cfg = baseConfig();
      setAt(cfg, 'encryption', encryption);
      const err = await expectInvalid(cfg);
      assertNoEncryptionSecret(`${err.message}\n${JSON.stringify(err.issues)}\n${String(err.stack)}`);
      assert.ok(!err.message.includes(b64(MASTER).slice(0, -4)));
    }
  });
});

/** The gateway: two buckets' secret keys and a TLS key (with mTLS). */
const BUCKET_SECRET = 'Zq9-SECRET-bucket-one';
const BUCKET_SECRET_2 = 'Zq9-SECRET-bucket-two';
const TLS = writeTestTlsFiles(DIR);
/** The base64 lines of the TLS key's body: none may reach output. */
const TLS_KEY_LINES = TLS.key.split('\n').filter((l) => /^[A-Za-z0-9+/=]{16,}$/.test(l));

function assertNoGatewaySecret(text: string): void {
  for (const s of [BUCKET_SECRET, BUCKET_SECRET_2, ...TLS_KEY_LINES]) assert.ok(!text.includes(s), `${s} leaked in:\n${text}`);
  assert.ok(!text.includes('PRIVATE KEY'), `the TLS key leaked in:\n${text}`);
}

async function gatewayConfig(tls = true) {
  const cfg = baseConfig();
  setAt(cfg, 'server', {
    listen_addr: '[::1]:9443', max_concurrent_reads: 8, idle_timeout: '1m', shutdown_delay: '5s', max_header_bytes: '32KiB', region: 'eu-west-3',
    ...(tls ? { tls: { cert_file: 'server.pem', key_file: 'server.key', min_version: '1.3', client_ca_file: 'ca.pem' } } : {}),
  });
  setAt(cfg, 'buckets', [
    { name: 'photos', credentials: [{ access_key_id: 'AKPHOTOS', secret_access_key: '${BUCKET_SECRET}' }, { token: 'legacy' }] },
    { name: 'videos', credentials: [{ access_key_id: 'AKVIDEOS', secret_access_key: BUCKET_SECRET_2 }] },
  ]);
  return loadConfig(cfg as never, { env: { BUCKET_SECRET }, baseDir: DIR });
}

describe('maskConfig: gateway', () => {
  it('redacts bucket secret keys and notes the TLS PEMs (the key is never shown); the resolved config keeps them', async () => {
    const r = await gatewayConfig();
    const m = maskConfig(r);
    assert.deepEqual(m.gateway.buckets, [
      { name: 'photos', credentials: [{ accessKeyId: 'AKPHOTOS', secretAccessKey: REDACTED }] },
      { name: 'videos', credentials: [{ accessKeyId: 'AKVIDEOS', secretAccessKey: REDACTED }] },
    ]);
    assert.deepEqual(m.gateway.tls, {
      cert: `(PEM, 1 certificate, ${Buffer.byteLength(TLS.cert)} bytes, read at load)`,
      key: TLS_KEY_NOTE,
      minVersion: 'TLSv1.3',
      clientCa: `(PEM, 1 certificate, ${Buffer.byteLength(TLS.ca)} bytes, read at load)`,
    });
    assertNoGatewaySecret(JSON.stringify(m));
    assert.equal(r.gateway.tls?.key, TLS.key, 'the input is not modified');
    assert.equal(r.gateway.buckets[0]?.credentials[0]?.secretAccessKey, BUCKET_SECRET);
    assert.deepEqual(maskConfig(m as never), m, 'masking twice changes nothing');
  });

  it('configSecrets lists the bucket secret keys and the TLS key (whole, and each line of its body)', async () => {
    const secrets = configSecrets(await gatewayConfig());
    for (const s of [BUCKET_SECRET, BUCKET_SECRET_2, TLS.key.trim(), ...TLS_KEY_LINES]) assert.ok(secrets.includes(s), s);
    // (A line of an EC key's body can also occur in its certificate: both carry the public key.)
    assert.ok(!secrets.some((s) => s === TLS.cert.trim() || s === TLS.ca.trim() || s === 'AKPHOTOS'), 'certificates and access key ids are not secrets');
    assert.ok(TLS_KEY_LINES.length >= 2);
  });

  it('renderConfigForDisplay prints the gateway as upstream\'s server.* and buckets:, redacted', async () => {
    for (const format of ['yaml', 'json'] as const) {
      const text = renderConfigForDisplay(await gatewayConfig(), { format });
      assertNoGatewaySecret(text);
      const doc = (format === 'json' ? JSON.parse(text) : parse(text)) as Record<string, unknown>;
      assert.deepEqual(doc['server'], {
        backend_timeout: '30s', listen_addr: '[::1]:9443',
        tls: {
          cert_file: `(PEM, 1 certificate, ${Buffer.byteLength(TLS.cert)} bytes, read at load)`, key_file: TLS_KEY_NOTE, min_version: '1.3',
          client_ca_file: `(PEM, 1 certificate, ${Buffer.byteLength(TLS.ca)} bytes, read at load)`,
        },
        max_concurrent_reads: 8, max_concurrent_requests: 0, admission_wait: '0s', load_shed_threshold: 0,
        read_header_timeout: '10s', idle_timeout: '1m', shutdown_delay: '5s', shutdown_timeout: '1m', max_header_bytes: 32 * 1024, processes: 1, body_buffers: 64,
        region: 'eu-west-3', metrics_path: '/metrics', health_path: '/health', virtual_host_domains: [],
      });
      assert.deepEqual(doc['buckets'], [
        { name: 'photos', credentials: [{ access_key_id: 'AKPHOTOS', secret_access_key: REDACTED }] },
        { name: 'videos', credentials: [{ access_key_id: 'AKVIDEOS', secret_access_key: REDACTED }] },
      ]);
      assert.ok(!('gateway' in doc));
    }
  });

  it('toConfigDocument: without TLS the gateway loads back the same; an unmasked document never holds the TLS key', async () => {
    const plain = await gatewayConfig(false);
    assert.deepEqual(await loadConfig(toConfigDocument(plain) as never, { env: {}, baseDir: DIR }), plain);
    const withTls = toConfigDocument(await gatewayConfig());
    const text = JSON.stringify(withTls);
    assert.ok(text.includes(BUCKET_SECRET), 'an unmasked document keeps the bucket secrets (it is meant to load back)');
    assert.ok(!text.includes('PRIVATE KEY') && !TLS_KEY_LINES.some((l) => text.includes(l)), 'but never the TLS key');
  });
});

describe('renderConfigForDisplay', () => {
  it('prints snake_case YAML with durations and no secrets', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', '${B1_SECRET}');
    setAt(cfg, 'database', { host: 'db', database: 'meta', user: 'rp', password: '${DB_PASSWORD}' });
    const r = await loadConfig(cfg as never, { env: { B1_SECRET: SECRET, DB_PASSWORD: `${SECRET}-db` } });
    const text = renderConfigForDisplay(r);
    assert.ok(!text.includes(SECRET), text);
    const doc = parse(text) as Record<string, Record<string, unknown>>;
    assert.equal(doc['circuit_breaker']?.['open_timeout'], '15s');
    assert.equal(doc['backend_circuit_breaker']?.['open_timeout'], '5m');
    assert.equal(doc['database']?.['password'], REDACTED);
    assert.equal(doc['hedging']?.['delay'], 'auto');
    const json = renderConfigForDisplay(r, { format: 'json' });
    assert.ok(!json.includes(SECRET));
    assert.equal((JSON.parse(json) as { server: { backend_timeout: string } }).server.backend_timeout, '30s');
  });

  it('toConfigDocument loads back to the same resolved config', async () => {
    const cfg = baseConfig();
    cfg.backends.push({ name: 'b2', endpoint: 'https://h2', bucket: 'd', credential_source: 'default_chain', egress_byte_limit: 5 });
    Object.assign(cfg, {
      database: { url: 'postgres://rp@db/meta', statement_timeout: '1500ms' },
      circuit_breaker: { open_timeout: '1h1m1s', cache_ttl: 250, drain_timeout: '0.5ms' },
      hedging: { enabled: true, delay: '20ms' },
      runtime: { mode: 'inline', threads: 2 },
    });
    const first = await loadConfig(cfg as never, { env: {}, baseDir: '/x' });
    const again = await loadConfig(toConfigDocument(first) as never, { env: {}, baseDir: '/x' });
    assert.deepEqual(again, first);
  });

  it('toConfigDocument loads back with encryption too (local keys; vault with a token or a token file)', async () => {
    const local = baseConfig();
    setAt(local, 'encryption', {
      enabled: true, master_key: b64(MASTER), previous_keys: [b64(PREVIOUS)], key_cache: { max_entries: 7, ttl: '90s' },
    });
    const vault = baseConfig();
    setAt(vault, 'encryption', {
      enabled: true, vault: { address: 'https://vault:8200/', token_file: 'token', key_name: 'k', mount_path: 'kms', renew_interval: '1m', timeout: '3s' },
    });
    for (const cfg of [local, vault]) {
      const first = await loadConfig(cfg as never, { env: {}, baseDir: DIR });
      const doc = toConfigDocument(first);
      const again = await loadConfig(doc as never, { env: {}, baseDir: '/elsewhere' });
      assert.deepEqual(again.encryption, first.encryption);
    }
    const withToken = await vaultConfig();
    assert.deepEqual((await loadConfig(toConfigDocument(withToken) as never, { env: {} })).encryption, withToken.encryption);
  });
});

describe('secrets never appear in error messages', () => {
  const leaks = (text: string) => text.includes('SECRET');
  const cases: [string, unknown][] = [
    ['database.port', SECRET],
    ['database.ssl_mode', SECRET],
    ['database.url', `mysql://u:${SECRET}@h/db`],
    ['database.driver', SECRET],
    ['backends.0.endpoint', `ftp://u:${SECRET}@h`],
    ['backends.0.endpoint', SECRET],
    ['backends.0.credential_source', SECRET],
    ['backends.0.force_path_style', SECRET],
    ['backends.0.api_request_limit', SECRET],
    ['circuit_breaker.open_timeout', SECRET],
    ['hedging.delay', SECRET],
    ['runtime.mode', SECRET],
    ['logging.level', SECRET],
    ['backends.0.unknown_field', SECRET],
    ['backends.0.name', 7],
    ['server.listen_addr', SECRET],
    ['server.listen_addr', `${SECRET}:http`],
    ['server.region', `${SECRET} x`],
    ['server.metrics_path', SECRET],
    ['server.max_header_bytes', SECRET],
    ['server.tls', { cert_file: `${SECRET}.pem`, key_file: SECRET, min_version: SECRET, client_ca_file: SECRET }],
    ['buckets', [{ name: `${SECRET}/x`, credentials: [{ access_key_id: SECRET, secret_access_key: 1 }, { access_key_id: SECRET, secret_access_key: SECRET }] }]],
    ['buckets', [{ name: SECRET, credentials: [{ secret_access_key: SECRET }] }, { name: SECRET, credentials: [] }]],
  ];
  for (const [path, value] of cases) {
    it(`${path}`, async () => {
      const cfg = baseConfig();
      setAt(cfg, 'backends.0.secret_access_key', SECRET);
      setAt(cfg, 'database.password', SECRET);
      setAt(cfg, path, value);
      const err = await expectInvalid(cfg);
      assert.ok(!leaks(err.message), err.message);
      assert.ok(!leaks(JSON.stringify(err.issues)), JSON.stringify(err.issues));
      assert.ok(!leaks(String(err.stack)));
    });
  }

  it('a duplicate-name error does not echo the name', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.name', SECRET);
    cfg.backends.push({ ...cfg.backends[0] });
    const err = await expectInvalid(cfg);
    assert.ok(!leaks(err.message), err.message);
  });

  it('an unset-variable error names the variable, not neighbouring values', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', `${SECRET}\${MISSING_PART}`);
    const err = await expectInvalid(cfg);
    assert.equal(err.message, 'backends[0].secret_access_key: environment variable MISSING_PART is not set');
  });
});
