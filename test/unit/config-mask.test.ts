// Secrets: masked for display, never in an error message, and the display form loads back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configSecrets, maskConfig, maskUrl, renderConfigForDisplay, toConfigDocument, REDACTED } from '../../src/config/mask.js';
import { baseConfig, expectInvalid, setAt } from './config-helpers.js';

const SECRET = 'Zq9-SECRET-value-7x';

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
