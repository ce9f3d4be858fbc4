/**
 * Secrets never reach output: pino's path redaction for config objects, and the CLI reporter's
 * scrubbing of every line it writes (logs, errors, events), whatever the nesting.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { configSecrets, renderConfigForDisplay } from '../../src/config/mask.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Reporter, type CliIO } from '../../src/cli/reporter.js';
import { writeTestTlsFiles } from './config-helpers.js';

const SECRET = 'S3CR3T-key/with+chars"and\\quotes';
const PASSWORD = 'pg-S3CR3T-password';
/** encryption: a master key, a previous key, a Vault token. */
const MASTER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256);
const PREVIOUS_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 59 + 101) % 256);
const VAULT_TOKEN = 'hvs.S3CR3T-vault-token';
const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');

async function config() {
  return loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID-visible', secret_access_key: SECRET }],
    database: { driver: 'postgres', host: '127.0.0.1', database: 'x', user: 'u', password: PASSWORD },
  });
}

/** Configs whose encryption: section holds local keys, then a Vault token; each with its secrets as text. */
async function encryptionConfigs() {
  const backends = [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID-visible', secret_access_key: SECRET }];
  return [
    {
      config: await loadConfig({ backends, encryption: { enabled: true, master_key: b64(MASTER_KEY), previous_keys: [b64(PREVIOUS_KEY)] } }),
      mentions: `${b64(MASTER_KEY)} ${b64(PREVIOUS_KEY)} ${Buffer.from(MASTER_KEY).toString('hex')}`,
    },
    {
      config: await loadConfig({ backends, encryption: { enabled: true, vault: { address: 'https://vault:8200', token: VAULT_TOKEN, key_name: 'k' } } }),
      mentions: VAULT_TOKEN,
    },
  ];
}

/** A key as text could show it: base64 (padded or not), hex, its bytes as JSON numbers (array or object). */
function keyForms(k: Uint8Array): string[] {
  const bytes = [...k];
  return [b64(k).replace(/=+$/, ''), Buffer.from(k).toString('hex'), bytes.join(','), bytes.slice(0, 4).map((b, i) => `"${i}":${b}`).join(',')];
}

function assertNoEncryptionSecret(text: string): void {
  assert.ok(text.length > 0, 'something was written');
  for (const s of [...keyForms(MASTER_KEY), ...keyForms(PREVIOUS_KEY), VAULT_TOKEN]) assert.ok(!text.includes(s), `secret ${s} leaked in: ${text}`);
}

/** The gateway: a bucket's secret key and the TLS private key. */
const BUCKET_SECRET = 'gw-S3CR3T-bucket-secret';
const TLS_DIR = mkdtempSync(join(tmpdir(), 'readpath-cli-redaction-'));
after(() => rmSync(TLS_DIR, { recursive: true, force: true }));
const TLS = writeTestTlsFiles(TLS_DIR);
const TLS_KEY_LINES = TLS.key.split('\n').filter((l) => /^[A-Za-z0-9+/=]{16,}$/.test(l));

async function gatewayConfig() {
  return loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID-visible', secret_access_key: SECRET }],
    server: { tls: { cert_file: 'server.pem', key_file: 'server.key', client_ca_file: 'ca.pem' } },
    buckets: [{ name: 'photos', credentials: [{ access_key_id: 'AKPHOTOS-visible', secret_access_key: BUCKET_SECRET }, { token: 'legacy-token' }] }],
  }, { env: {}, baseDir: TLS_DIR });
}

function assertNoGatewaySecret(text: string): void {
  assert.ok(text.length > 0, 'something was written');
  for (const s of [BUCKET_SECRET, ...TLS_KEY_LINES]) assert.ok(!text.includes(s), `secret ${s} leaked in: ${text}`);
  assert.ok(!text.includes('PRIVATE KEY'), `the TLS key leaked in: ${text}`);
}

function sink(): { text: () => string; stream: NodeJS.WritableStream & { isTTY?: boolean } } {
  let text = '';
  return { text: () => text, stream: { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WritableStream };
}

function assertNoSecret(text: string): void {
  assert.ok(text.length > 0, 'something was written');
  for (const s of [SECRET, JSON.stringify(SECRET).slice(1, -1), PASSWORD]) assert.ok(!text.includes(s), `secret ${s} leaked in: ${text}`);
}

describe('secrets in logs', () => {
  it('createLogger redacts a logged config object', async () => {
    const c = await config();
    const out = sink();
    const logger = createLogger('info', out.stream);
    logger.info({ config: c }, 'config');
    logger.info(c, 'top-level config');
    logger.info({ backend: c.backends[0] }, 'one backend');
    logger.info({ database: { password: PASSWORD } }, 'db');
    assertNoSecret(out.text());
    assert.match(out.text(), /\(redacted\)/);
  });

  it('the CLI reporter scrubs every line, JSON or text, however deep the secret sits', async () => {
    const c = await config();
    for (const json of [true, false]) {
      const err = sink();
      const io: CliIO = { stdin: process.stdin, stdout: sink().stream, stderr: err.stream, env: {} };
      const reporter = new Reporter(io, { json, verbose: true });
      reporter.scrubber.add(configSecrets(c));
      const logger = reporter.readerLogger('debug');
      logger.warn({ deeply: { nested: { cfg: c } } }, `message mentioning ${SECRET}`);
      reporter.info(`event ${PASSWORD}`, { some: { field: SECRET } });
      reporter.error(new Error(`backend said ${SECRET}`));
      assertNoSecret(err.text());
      assert.match(err.text(), /AKID-visible|\(redacted\)/);
    }
  });

  it('the CLI reporter scrubs encryption keys and the Vault token from free text', async () => {
    for (const { config: c, mentions } of await encryptionConfigs()) {
      for (const json of [true, false]) {
        const err = sink();
        const io: CliIO = { stdin: process.stdin, stdout: sink().stream, stderr: err.stream, env: {} };
        const reporter = new Reporter(io, { json, verbose: true });
        reporter.scrubber.add(configSecrets(c));
        reporter.info(`event ${mentions}`, { some: { field: mentions } });
        reporter.error(new Error(`vault said ${mentions}`));
        assertNoEncryptionSecret(err.text());
      }
    }
  });

  it('readpath validate\'s output (the masked config, then the scrubber) holds no key and no token', async () => {
    for (const { config: c } of await encryptionConfigs()) {
      const out = sink();
      const io: CliIO = { stdin: process.stdin, stdout: out.stream, stderr: sink().stream, env: {} };
      const reporter = new Reporter(io, { json: false, verbose: false });
      reporter.scrubber.add(configSecrets(c));
      for (const format of ['yaml', 'json'] as const) out.stream.write(reporter.scrubber.scrub(renderConfigForDisplay(c, { format })));
      assertNoEncryptionSecret(out.text());
      assert.match(out.text(), /\(redacted\)/);
    }
  });

  it('a logged config holds no bucket secret and no TLS key; a field named `key` (an object key) is still logged', async () => {
    const c = await gatewayConfig();
    const out = sink();
    const logger = createLogger('info', out.stream);
    logger.info({ config: c }, 'config');
    logger.info(c, 'top-level config');
    logger.info({ gateway: c.gateway }, 'gateway');
    logger.info({ tls: c.gateway.tls, bucket: c.gateway.buckets[0] }, 'parts');
    logger.info({ key: 'photos/cat.jpg', bucket: 'photos' }, 'an object');
    logger.info({ pem: TLS.key, nested: [{ key: TLS.key }] }, 'a key anywhere');
    assertNoGatewaySecret(out.text());
    assert.match(out.text(), /"key":"photos\/cat\.jpg"/);
    assert.match(out.text(), /AKPHOTOS-visible/);
    assert.match(out.text(), /BEGIN CERTIFICATE/, 'certificates are public');
  });

  it('the CLI reporter scrubs bucket secrets and the TLS key from free text', async () => {
    const c = await gatewayConfig();
    for (const json of [true, false]) {
      const err = sink();
      const io: CliIO = { stdin: process.stdin, stdout: sink().stream, stderr: err.stream, env: {} };
      const reporter = new Reporter(io, { json, verbose: true });
      reporter.scrubber.add(configSecrets(c));
      const mentions = `${BUCKET_SECRET} ${TLS.key} half a key: ${TLS_KEY_LINES[1] ?? ''}`;
      reporter.info(`event ${mentions}`, { some: { field: mentions } });
      reporter.error(new Error(`tls said ${mentions}`));
      reporter.readerLogger('debug').warn({ deeply: { nested: { cfg: c } } }, `message mentioning ${BUCKET_SECRET}`);
      // An error's message is folded onto one line, so the whole PEM no longer matches: its body
      // lines are scrubbed one by one and only the (public) BEGIN/END markers may remain.
      assertNoGatewaySecret(err.text().replace(/-----(BEGIN|END) PRIVATE KEY-----/g, ''));
    }
  });

  it('readpath validate\'s output holds no bucket secret and no TLS key', async () => {
    const c = await gatewayConfig();
    const out = sink();
    const io: CliIO = { stdin: process.stdin, stdout: out.stream, stderr: sink().stream, env: {} };
    const reporter = new Reporter(io, { json: false, verbose: false });
    reporter.scrubber.add(configSecrets(c));
    for (const format of ['yaml', 'json'] as const) out.stream.write(reporter.scrubber.scrub(renderConfigForDisplay(c, { format })));
    assertNoGatewaySecret(out.text());
    assert.match(out.text(), /\(redacted\)/);
    assert.match(out.text(), /PEM private key read at load/);
  });

  it('a logged config holds no encryption key and no Vault token', async () => {
    for (const { config: c } of await encryptionConfigs()) {
      const out = sink();
      const logger = createLogger('info', out.stream);
      logger.info({ config: c }, 'config');
      logger.info({ encryption: c.encryption }, 'encryption');
      assertNoEncryptionSecret(out.text());
    }
  });
});
