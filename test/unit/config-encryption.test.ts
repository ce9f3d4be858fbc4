// The `encryption:` section: every valid shape resolves to the EncryptionSettings the readers use,
// every mistake is one INVALID_CONFIG issue naming its field, and no message carries key material.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { baseConfig, expectInvalid } from './config-helpers.js';

/** A distinct, recognisable 32-byte key per seed. */
function keyBytes(seed: number, length = 32): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 53 + i * 29 + 7) % 256);
}
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const K0 = keyBytes(1);
const K1 = keyBytes(2);
const K2 = keyBytes(3);
const TOKEN = 'hvs.TOKEN-value-never-printed';

/** A self-signed test CA (no private key anywhere). */
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUBLQ4OjiCNnqJrW9CYj3tLOBXjhAwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQcmVhZHBhdGgtdGVzdC1jYTAgFw0yNjEyMDQyMDM1MTRaGA8y
MTI2MTExMDIwMzUxNFowGzEZMBcGA1UEAwwQcmVhZHBhdGgtdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABMYJTwfksA89SwQ1t4utu0D4KS9C6UBzIu/j
PXTrn24w87+lmAvWJ2rRcFrAB+bYJYFU8W5MuZhc3+O5CFSP142jUzBRMB0GA1Ud
DgQWBBSZq1+H+O5JAzrMHILp83zYGYFkQTAfBgNVHSMEGDAWgBSZq1+H+O5JAzrM
HILp83zYGYFkQTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCu
N+W+rRAusbwUFJOwpQsqxL4rH+uxtR9tQtjpJbdxQQIhAIDGavP+apEjp4Eg22Qn
JISLqNjhgFrioyKt5QHtQKqC
-----END CERTIFICATE-----
`;

const DIR = mkdtempSync(join(tmpdir(), 'readpath-config-encryption-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
writeFileSync(join(DIR, 'master.key'), K0);
writeFileSync(join(DIR, 'short.key'), keyBytes(4, 31));
writeFileSync(join(DIR, 'long.key'), keyBytes(5, 33));
writeFileSync(join(DIR, 'base64.key'), `${b64(K0)}\n`);
writeFileSync(join(DIR, 'vault-token'), `${TOKEN}\n`);
writeFileSync(join(DIR, 'empty-token'), '\n');
writeFileSync(join(DIR, 'ca.pem'), `# the test CA, twice\n${CA_PEM}${CA_PEM}`);
writeFileSync(join(DIR, 'not-pem.txt'), 'hello\n');
writeFileSync(join(DIR, 'bad.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
mkdirSync(join(DIR, 'a-directory'));

/** The base config with `encryption` set. */
function withEncryption(encryption: unknown): Record<string, unknown> {
  const cfg = baseConfig();
  cfg['encryption'] = encryption;
  return cfg;
}

async function load(encryption: unknown, env: Record<string, string> = {}): Promise<ResolvedConfig> {
  return loadConfig(withEncryption(encryption) as never, { env, baseDir: DIR });
}

const VAULT = { address: 'https://vault.internal:8200', token: TOKEN, key_name: 'readpath' };
const DEFAULT_VAULT = {
  address: 'https://vault.internal:8200', token: TOKEN, tokenFile: null, keyName: 'readpath', mountPath: 'transit',
  caCert: null, renewIntervalMs: 300_000, timeoutMs: 10_000,
};

describe('config encryption: valid shapes', () => {
  it('absent, empty, or not enabled: null', async () => {
    assert.equal((await loadConfig(baseConfig() as never, { env: {} })).encryption, null);
    assert.equal((await load({})).encryption, null);
    assert.equal((await load({ enabled: false, master_key: b64(K0) })).encryption, null);
    assert.equal((await load({ enabled: 'off' })).encryption, null);
  });

  it('as upstream, a section that is not enabled is not validated, nor its ${VAR}s expanded', async () => {
    for (const section of [
      { enabled: false, master_key: 'not base64!', master_key_file: '/no/such/file', chunk_size: 3000, colour: 'blue' },
      { enabled: false, master_key: '${MASTER_KEY_UNSET}', vault: { token: '${VAULT_TOKEN_UNSET}', tokn: 1 } },
      { master_key: 'AAAA', previous_keys: 'nope', vault: {} },
      { enabled: '${ENCRYPTION_ENABLED:-false}', master_key: '${MASTER_KEY_UNSET}' },
    ]) {
      assert.equal((await load(section)).encryption, null, JSON.stringify(section));
    }
  });

  it('master_key: key id config-0, with the defaults', async () => {
    const r = await load({ enabled: true, master_key: b64(K0) });
    assert.deepEqual(r.encryption, {
      localKeys: [{ id: 'config-0', key: K0 }], vault: null, keyCacheMaxEntries: 10_000, keyCacheTtlMs: 300_000,
    });
    const key = r.encryption?.localKeys[0]?.key;
    assert.equal(Object.getPrototypeOf(key), Uint8Array.prototype, 'a plain Uint8Array (it goes to pool workers as is)');
  });

  it('previous_keys follow the current key, as config-1, config-2 …', async () => {
    const r = await load({ enabled: true, master_key: b64(K0), previous_keys: [b64(K1), b64(K2)] });
    assert.deepEqual(r.encryption?.localKeys, [{ id: 'config-0', key: K0 }, { id: 'config-1', key: K1 }, { id: 'config-2', key: K2 }]);
  });

  it('master_key_file: 32 raw bytes read at load (relative to the config directory), key id file-0', async () => {
    const r = await load({ enabled: true, master_key_file: 'master.key', previous_keys: [b64(K1)] });
    assert.deepEqual(r.encryption?.localKeys, [{ id: 'file-0', key: K0 }, { id: 'config-1', key: K1 }]);
    const abs = await load({ enabled: true, master_key_file: join(DIR, 'master.key') });
    assert.deepEqual(abs.encryption?.localKeys, [{ id: 'file-0', key: K0 }]);
  });

  it('a YAML file: master_key_file resolves against the file\'s directory', async () => {
    const file = join(DIR, 'readpath.yaml');
    writeFileSync(file, [
      'backends: [{ name: b1, endpoint: "http://127.0.0.1:9000", bucket: d, access_key_id: a, secret_access_key: s }]',
      'encryption:',
      '  enabled: true',
      '  chunk_size: 65536',
      '  master_key: ""',
      '  master_key_file: master.key',
      '  previous_keys: []',
      '  vault:',
      '',
    ].join('\n'));
    const r = await loadConfig(file, { env: {} });
    assert.deepEqual(r.encryption?.localKeys, [{ id: 'file-0', key: K0 }], 'empty strings and a null vault are "not set", as upstream reads them');
  });

  it('${VAR} expansion: master_key, enabled and the numbers and durations come in as strings', async () => {
    const r = await load(
      {
        enabled: '${ENCRYPTION_ENABLED}', chunk_size: '${CHUNK}', master_key: '${MASTER_KEY}', previous_keys: ['${OLD_KEY}'],
        key_cache: { max_entries: '${CACHE_ENTRIES}', ttl: '${CACHE_TTL}' },
      },
      { ENCRYPTION_ENABLED: 'true', CHUNK: '131072', MASTER_KEY: b64(K0), OLD_KEY: b64(K1), CACHE_ENTRIES: '50', CACHE_TTL: '30s' },
    );
    assert.deepEqual(r.encryption, {
      localKeys: [{ id: 'config-0', key: K0 }, { id: 'config-1', key: K1 }], vault: null, keyCacheMaxEntries: 50, keyCacheTtlMs: 30_000,
    });
    for (const yes of ['yes', 'on', 'TRUE']) assert.notEqual((await load({ enabled: yes, master_key: b64(K0) })).encryption, null, yes);
  });

  it('base64 as Go reads it: line breaks inside are ignored', async () => {
    const text = b64(K0);
    const r = await load({ enabled: true, master_key: `${text.slice(0, 20)}\n${text.slice(20)}` });
    assert.deepEqual(r.encryption?.localKeys, [{ id: 'config-0', key: K0 }]);
  });

  it('chunk_size: any power of two in 4096..1048576, or 0 (the default); not kept (a writers\' setting)', async () => {
    for (const chunk_size of [4096, 65536, 1048576, 0, '16384']) {
      assert.notEqual((await load({ enabled: true, chunk_size, master_key: b64(K0) })).encryption, null, String(chunk_size));
    }
  });

  it('vault with a token: the defaults', async () => {
    const r = await load({ enabled: true, vault: VAULT });
    assert.deepEqual(r.encryption, { localKeys: [], vault: DEFAULT_VAULT, keyCacheMaxEntries: 10_000, keyCacheTtlMs: 300_000 });
  });

  it('vault with every key: token_file kept as an absolute path (not read into the settings), ca_cert read as PEM', async () => {
    const r = await load({
      enabled: true,
      vault: {
        address: 'http://127.0.0.1:8200/', token_file: 'vault-token', key_name: 'k', mount_path: 'secret/transit',
        ca_cert: 'ca.pem', renew_interval: '1m', timeout: '2500ms',
      },
      key_cache: { max_entries: 3, ttl: '1h' },
    });
    assert.deepEqual(r.encryption, {
      localKeys: [],
      vault: {
        address: 'http://127.0.0.1:8200', token: null, tokenFile: join(DIR, 'vault-token'), keyName: 'k', mountPath: 'secret/transit',
        caCert: `${CA_PEM}${CA_PEM}`, renewIntervalMs: 60_000, timeoutMs: 2500,
      },
      keyCacheMaxEntries: 3,
      keyCacheTtlMs: 3_600_000,
    });
    assert.ok(!JSON.stringify(r.encryption).includes(TOKEN), 'the token file is not read into the settings');
  });

  it('vault: an empty mount_path is the default, as upstream', async () => {
    const r = await load({ enabled: true, vault: { ...VAULT, mount_path: '' } });
    assert.equal(r.encryption?.vault?.mountPath, 'transit');
  });

  it('previous_keys: [] is fine with vault', async () => {
    assert.deepEqual((await load({ enabled: true, vault: VAULT, previous_keys: [] })).encryption?.localKeys, []);
  });

  it('previous_keys with vault, as upstream: the keys objects were wrapped with before the move to Vault, labelled config-<i+1>', async () => {
    const r = await load({ enabled: true, vault: VAULT, previous_keys: [b64(K0), b64(K1)] });
    assert.deepEqual(r.encryption?.localKeys.map((k) => [k.id, Buffer.from(k.key).toString('base64')]), [['config-1', b64(K0)], ['config-2', b64(K1)]]);
    assert.equal(r.encryption?.vault?.keyName, VAULT.key_name);
  });
});

interface Case {
  name: string;
  encryption: unknown;
  /** every issue, path: message */
  issues: [string, RegExp][];
  env?: Record<string, string>;
}

const BAD_KEY = 'bm90IGEga2V5'; // base64, but 9 bytes
const cases: Case[] = [
  // the section and enabled
  { name: 'not a mapping', encryption: 'on', issues: [['encryption', /^expected an object \(mapping\), got string$/]] },
  { name: 'enabled not a boolean', encryption: { enabled: 'maybe', master_key: b64(K0) }, issues: [['encryption.enabled', /^expected a boolean, got string$/]] },
  { name: 'enabled from an unset variable', encryption: { enabled: '${ENC_UNSET}' }, issues: [['encryption.enabled', /^environment variable ENC_UNSET is not set$/]] },
  { name: 'unknown key', encryption: { enabled: true, master_key: b64(K0), master_keys: [] }, issues: [['encryption.master_keys', /^unknown key \(did you mean master_key\?\)$/]] },
  // key sources
  { name: 'no key source', encryption: { enabled: true }, issues: [['encryption', /^no key source configured: set exactly one of encryption\.master_key, encryption\.master_key_file, encryption\.vault$/]] },
  { name: 'empty strings are no key source', encryption: { enabled: true, master_key: '', master_key_file: '' }, issues: [['encryption', /^no key source configured/]] },
  { name: 'master_key and master_key_file', encryption: { enabled: true, master_key: b64(K0), master_key_file: 'master.key' }, issues: [['encryption.master_key_file', /^not allowed together with encryption\.master_key: set exactly one of/]] },
  { name: 'master_key and vault', encryption: { enabled: true, master_key: b64(K0), vault: VAULT }, issues: [['encryption.vault', /^not allowed together with encryption\.master_key/]] },
  {
    name: 'all three', encryption: { enabled: true, master_key: b64(K0), master_key_file: 'master.key', vault: VAULT },
    issues: [['encryption.master_key_file', /^not allowed together with encryption\.master_key/], ['encryption.vault', /^not allowed together with encryption\.master_key/]],
  },
  { name: 'master_key_file and an empty vault', encryption: { enabled: true, master_key_file: 'master.key', vault: {} }, issues: [
    ['encryption.vault', /^not allowed together with encryption\.master_key_file/],
    ['encryption.vault.address', /^required with encryption\.vault$/],
    ['encryption.vault.token', /^required with encryption\.vault \(or set encryption\.vault\.token_file\)$/],
    ['encryption.vault.key_name', /^required with encryption\.vault$/],
  ] },
  // master_key
  { name: 'master_key not base64', encryption: { enabled: true, master_key: 'not base64!!' }, issues: [['encryption.master_key', /^expected standard base64 \(A-Z a-z 0-9 \+ \/, = padding\) of a 32-byte key$/]] },
  { name: 'master_key base64url', encryption: { enabled: true, master_key: `-_${b64(K0).slice(2)}` }, issues: [['encryption.master_key', /^expected standard base64/]] },
  { name: 'master_key without padding', encryption: { enabled: true, master_key: b64(K0).replace(/=+$/, '') }, issues: [['encryption.master_key', /^expected standard base64/]] },
  { name: 'master_key with a trailing space', encryption: { enabled: true, master_key: `${b64(K0)} ` }, issues: [['encryption.master_key', /^expected standard base64/]] },
  { name: 'master_key of 31 bytes', encryption: { enabled: true, master_key: b64(keyBytes(6, 31)) }, issues: [['encryption.master_key', /^must be a 32-byte \(256-bit\) key; it decodes to 31 bytes$/]] },
  { name: 'master_key of 64 bytes', encryption: { enabled: true, master_key: b64(keyBytes(6, 64)) }, issues: [['encryption.master_key', /decodes to 64 bytes$/]] },
  { name: 'master_key a number', encryption: { enabled: true, master_key: 12345 }, issues: [['encryption.master_key', /^expected a string, got number$/]] },
  { name: 'master_key from an unset variable', encryption: { enabled: true, master_key: '${MASTER_KEY}' }, issues: [['encryption.master_key', /^environment variable MASTER_KEY is not set$/]] },
  { name: 'master_key from a variable holding a 31-byte key', encryption: { enabled: true, master_key: '${MASTER_KEY}' }, env: { MASTER_KEY: b64(keyBytes(7, 31)) }, issues: [['encryption.master_key', /decodes to 31 bytes$/]] },
  // master_key_file
  { name: 'key file of 33 bytes', encryption: { enabled: true, master_key_file: 'long.key' }, issues: [['encryption.master_key_file', /^must hold exactly 32 raw bytes; the file holds 33$/]] },
  { name: 'key file of 31 bytes', encryption: { enabled: true, master_key_file: 'short.key' }, issues: [['encryption.master_key_file', /^must hold exactly 32 raw bytes; the file holds 31$/]] },
  { name: 'key file holding base64 text', encryption: { enabled: true, master_key_file: 'base64.key' }, issues: [['encryption.master_key_file', /the file holds 45 \(it looks like base64 text: put that in encryption\.master_key/]] },
  { name: 'missing key file', encryption: { enabled: true, master_key_file: 'no-such.key' }, issues: [['encryption.master_key_file', /^file not found$/]] },
  { name: 'key file a directory', encryption: { enabled: true, master_key_file: 'a-directory' }, issues: [['encryption.master_key_file', /^is a directory, not a file$/]] },
  { name: 'key file not a string', encryption: { enabled: true, master_key_file: ['master.key'] }, issues: [['encryption.master_key_file', /^expected a string, got array$/]] },
  // previous_keys
  { name: 'previous_keys not a list', encryption: { enabled: true, master_key: b64(K0), previous_keys: b64(K1) }, issues: [['encryption.previous_keys', /^expected an array \(list\), got string$/]] },
  {
    name: 'previous_keys entries', encryption: { enabled: true, master_key: b64(K0), previous_keys: [b64(K1), BAD_KEY, 'n0t base64', ''] },
    issues: [
      ['encryption.previous_keys[1]', /decodes to 9 bytes$/],
      ['encryption.previous_keys[2]', /^expected standard base64/],
      ['encryption.previous_keys[3]', /decodes to 0 bytes$/],
    ],
  },
  { name: 'previous_keys with vault, one not a key', encryption: { enabled: true, vault: VAULT, previous_keys: [b64(K1), BAD_KEY] }, issues: [['encryption.previous_keys[1]', /decodes to 9 bytes$/]] },
  // vault
  { name: 'vault without a token', encryption: { enabled: true, vault: { address: VAULT.address, key_name: 'k' } }, issues: [['encryption.vault.token', /^required with encryption\.vault \(or set encryption\.vault\.token_file\)$/]] },
  { name: 'vault with an empty token', encryption: { enabled: true, vault: { ...VAULT, token: '' } }, issues: [['encryption.vault.token', /^required/]] },
  { name: 'vault with token and token_file', encryption: { enabled: true, vault: { ...VAULT, token_file: 'vault-token' } }, issues: [['encryption.vault.token_file', /^not allowed together with encryption\.vault\.token: set one of them$/]] },
  { name: 'vault token_file missing', encryption: { enabled: true, vault: { ...VAULT, token: undefined, token_file: 'no-such-token' } }, issues: [['encryption.vault.token_file', /^file not found$/]] },
  { name: 'vault token_file empty', encryption: { enabled: true, vault: { ...VAULT, token: undefined, token_file: 'empty-token' } }, issues: [['encryption.vault.token_file', /^the token file is empty$/]] },
  { name: 'vault without address', encryption: { enabled: true, vault: { ...VAULT, address: undefined } }, issues: [['encryption.vault.address', /^required with encryption\.vault$/]] },
  { name: 'vault address without a scheme', encryption: { enabled: true, vault: { ...VAULT, address: 'vault.internal:8200' } }, issues: [['encryption.vault.address', /^expected an http\(s\) URL$/]] },
  { name: 'vault address not http', encryption: { enabled: true, vault: { ...VAULT, address: 'ftp://vault.internal' } }, issues: [['encryption.vault.address', /^expected an http\(s\) URL$/]] },
  { name: 'vault address with a query', encryption: { enabled: true, vault: { ...VAULT, address: 'https://vault.internal:8200/?x=1' } }, issues: [['encryption.vault.address', /^expected a base URL, without a query or fragment$/]] },
  { name: 'vault without key_name', encryption: { enabled: true, vault: { ...VAULT, key_name: '' } }, issues: [['encryption.vault.key_name', /^required with encryption\.vault$/]] },
  { name: 'vault ca_cert missing', encryption: { enabled: true, vault: { ...VAULT, ca_cert: 'no-such.pem' } }, issues: [['encryption.vault.ca_cert', /^file not found$/]] },
  { name: 'vault ca_cert not PEM', encryption: { enabled: true, vault: { ...VAULT, ca_cert: 'not-pem.txt' } }, issues: [['encryption.vault.ca_cert', /^holds no PEM certificate/]] },
  { name: 'vault ca_cert a broken PEM', encryption: { enabled: true, vault: { ...VAULT, ca_cert: 'bad.pem' } }, issues: [['encryption.vault.ca_cert', /^certificate 1 of 1 in the file does not parse$/]] },
  { name: 'vault renew_interval negative', encryption: { enabled: true, vault: { ...VAULT, renew_interval: '-1s' } }, issues: [['encryption.vault.renew_interval', /^must not be negative \(0 = the default\)$/]] },
  { name: 'vault timeout without a unit', encryption: { enabled: true, vault: { ...VAULT, timeout: '10' } }, issues: [['encryption.vault.timeout', /^missing unit/]] },
  { name: 'vault unknown key', encryption: { enabled: true, vault: { ...VAULT, tokn: 'x' } }, issues: [['encryption.vault.tokn', /^unknown key \(did you mean token\?\)$/]] },
  { name: 'vault not a mapping', encryption: { enabled: true, vault: 'https://vault' }, issues: [['encryption.vault', /^expected an object \(mapping\), got string$/]] },
  // chunk_size
  { name: 'chunk_size 3000', encryption: { enabled: true, master_key: b64(K0), chunk_size: 3000 }, issues: [['encryption.chunk_size', /^must be between 4096 \(4KiB\) and 1048576 \(1MiB\)$/]] },
  { name: 'chunk_size 5000', encryption: { enabled: true, master_key: b64(K0), chunk_size: 5000 }, issues: [['encryption.chunk_size', /^must be a power of two$/]] },
  { name: 'chunk_size 2 MiB', encryption: { enabled: true, master_key: b64(K0), chunk_size: 2 * 1048576 }, issues: [['encryption.chunk_size', /^must be between/]] },
  { name: 'chunk_size negative', encryption: { enabled: true, master_key: b64(K0), chunk_size: -4096 }, issues: [['encryption.chunk_size', /^must be between/]] },
  { name: 'chunk_size fractional', encryption: { enabled: true, master_key: b64(K0), chunk_size: 4096.5 }, issues: [['encryption.chunk_size', /^expected an integer$/]] },
  { name: 'chunk_size with a unit', encryption: { enabled: true, master_key: b64(K0), chunk_size: '64KiB' }, issues: [['encryption.chunk_size', /^expected a number, got string$/]] },
  // key_cache
  { name: 'key_cache.max_entries 0', encryption: { enabled: true, master_key: b64(K0), key_cache: { max_entries: 0 } }, issues: [['encryption.key_cache.max_entries', /^must be at least 1$/]] },
  { name: 'key_cache.ttl not a duration', encryption: { enabled: true, master_key: b64(K0), key_cache: { ttl: 'soon' } }, issues: [['encryption.key_cache.ttl', /^expected a duration/]] },
  { name: 'key_cache unknown key', encryption: { enabled: true, master_key: b64(K0), key_cache: { size: 5 } }, issues: [['encryption.key_cache.size', /^unknown key/]] },
  // every problem in one pass, in document order
  {
    name: 'several problems', encryption: { enabled: true, chunk_size: 5000, previous_keys: [BAD_KEY], key_cache: { ttl: '-1s' } },
    issues: [
      ['encryption', /^no key source configured/],
      ['encryption.chunk_size', /power of two/],
      ['encryption.previous_keys[0]', /decodes to 9 bytes/],
      ['encryption.key_cache.ttl', /greater than 0/],
    ],
  },
];

describe('config encryption: errors', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const err = await expectInvalid(withEncryption(c.encryption), { env: c.env ?? {}, baseDir: DIR });
      assert.deepEqual(err.issues.map((i) => i.path), c.issues.map(([p]) => p), err.message);
      c.issues.forEach(([, message], i) => assert.match(err.issues[i]?.message ?? '', message, err.message));
      assert.ok(err.message.startsWith(`${c.issues[0]?.[0] ?? ''}: `), err.message);
    });
  }
});

describe('config encryption: no key material in messages', () => {
  const secrets = [b64(K0), b64(K1), b64(keyBytes(6, 31)), BAD_KEY, TOKEN, 'n0t base64'];
  const leaky: unknown[] = [
    { enabled: true, master_key: b64(keyBytes(6, 31)) },
    { enabled: true, master_key: `${b64(K0)}!` },
    { enabled: true, master_key: b64(K0), previous_keys: [b64(K1), BAD_KEY, 'n0t base64'] },
    { enabled: true, master_key: b64(K0), vault: { ...VAULT, address: TOKEN } },
    { enabled: true, vault: { ...VAULT, token_file: 'vault-token', renew_interval: TOKEN, timeout: TOKEN, mount_path: 5 } },
    { enabled: TOKEN, master_key: b64(K0) },
    { enabled: true, master_key_file: 'base64.key' },
    { enabled: true, chunk_size: TOKEN, master_key: b64(K0), [TOKEN.slice(0, 8)]: 1 },
  ];
  for (const [i, encryption] of leaky.entries()) {
    it(`case ${i}`, async () => {
      const err = await expectInvalid(withEncryption(encryption), { env: {}, baseDir: DIR });
      for (const s of secrets) {
        assert.ok(!err.message.includes(s), `${s} in ${err.message}`);
        assert.ok(!String(err.stack).includes(s));
      }
    });
  }
});
