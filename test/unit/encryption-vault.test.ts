/**
 * The key ring with Vault transit as its provider, against the mock Vault over real HTTP(S):
 * unwrap, the data-key cache (one Vault call per key), refused tokens, a token file rewritten
 * under it, renewal, TLS with a private CA, an unreachable Vault — and no token in any error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyRing } from '../../src/encryption/key-ring.js';
import { decryptFailureKind, rowKeyData, type RowKeyData } from '../../src/encryption/format.js';
import type { LocalMasterKey, VaultSettings } from '../../src/encryption/settings.js';
import { hasCode, messageOf } from '../../src/errors.js';
import { startMockVault, type MockVault } from '../helpers/mock-vault.js';
import { encryptForRow, encryptForVaultRow } from '../helpers/senc-encoder.js';

function vaultSettings(v: MockVault, over: Partial<VaultSettings> = {}): VaultSettings {
  return {
    address: v.address, token: v.token, tokenFile: null, keyName: 'readpath', mountPath: 'transit', caCert: null,
    renewIntervalMs: 0, timeoutMs: 2000, ...over,
  };
}

function ring(settings: VaultSettings, localKeys: LocalMasterKey[] = []): KeyRing {
  return new KeyRing({ localKeys, vault: settings, keyCacheMaxEntries: 100, keyCacheTtlMs: 60_000 });
}

function keyData(v: MockVault, dek: Buffer): RowKeyData {
  const row = encryptForVaultRow(Buffer.from('x'), v.wrap(dek), v.keyId(), { dek });
  return rowKeyData(row.encryptionKey, row.keyId, 'b1: k');
}

const decrypts = (v: MockVault) => v.requests.filter((r) => r.path.includes('/decrypt/')).length;

async function rejectsKind(p: Promise<unknown>, kind: string, secret?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(hasCode(err, 'DECRYPTION_FAILED'), String(err));
    assert.equal(decryptFailureKind(err), kind);
    if (secret !== undefined) assert.ok(!messageOf(err).includes(secret), 'the token never appears in an error');
    return true;
  });
}

describe('Vault transit key ring', () => {
  it('unwraps a data key once and serves it from the cache after', async () => {
    const v = await startMockVault({ token: 'tok-1', keys: ['transit/readpath'] });
    const r = ring(vaultSettings(v));
    const dek = randomBytes(32);
    const kd = keyData(v, dek);
    assert.ok((await r.dataKey(kd, 'b1: k')).equals(dek));
    await Promise.all([r.dataKey(kd, 'b1: k'), r.dataKey(kd, 'b1: k')]);
    assert.equal(decrypts(v), 1);
    // Concurrent first unwraps of one key share one request.
    const other = keyData(v, randomBytes(32));
    await Promise.all([r.dataKey(other, 'x'), r.dataKey(other, 'x'), r.dataKey(other, 'x')]);
    assert.equal(decrypts(v), 2);
    await r.close();
    await v.close();
  });

  it('one caller giving up does not fail the others waiting for the same key', async () => {
    const v = await startMockVault({ token: 'tok-1', keys: ['transit/readpath'] });
    const r = ring(vaultSettings(v));
    try {
      const dek = randomBytes(32);
      const kd = keyData(v, dek);
      // The first caller (whose request it is) leaves; the second still gets the key.
      const ac = new AbortController();
      const first = r.dataKey(kd, 'b1: k', ac.signal);
      const second = r.dataKey(kd, 'b2: k', new AbortController().signal);
      ac.abort();
      await assert.rejects(first, (err: unknown) => hasCode(err, 'ABORTED'));
      assert.ok((await second).equals(dek));
      assert.equal(decrypts(v), 1);
      // When every caller leaves, the shared unwrap is given up; the next caller starts afresh.
      const other = keyData(v, randomBytes(32));
      const acs = [new AbortController(), new AbortController()];
      const gone = acs.map((a) => r.dataKey(other, 'x', a.signal));
      for (const a of acs) a.abort();
      for (const g of gone) await assert.rejects(g, (err: unknown) => hasCode(err, 'ABORTED'));
      assert.equal((await r.dataKey(other, 'x')).length, 32);
    } finally {
      await r.close();
      await v.close();
    }
  });

  it('a refused token, an unknown key id and a local wrap are DECRYPTION_FAILED, without the token in the message', async () => {
    const v = await startMockVault({ token: 'right-token', keys: ['transit/readpath'] });
    const r = ring(vaultSettings(v, { token: 'wrong-token-123' }));
    const kd = keyData(v, randomBytes(32));
    await rejectsKind(r.dataKey(kd, 'b1: k'), 'key_service', 'wrong-token-123');
    // An id of no local key with a wrap that is not Vault's: no provider could open it.
    await rejectsKind(r.dataKey({ ...kd, keyId: 'config-0', wrapped: randomBytes(60) }, 'b1: k'), 'unknown_key');
    await rejectsKind(r.dataKey({ ...kd, wrapped: randomBytes(60) }, 'b1: k'), 'unknown_key');
    // A failed unwrap is not cached: the right token works at once.
    const ok = ring(vaultSettings(v, { token: 'right-token' }));
    assert.equal((await ok.dataKey(kd, 'b1: k')).length, 32);
    await r.close();
    await ok.close();
    await v.close();
  });

  it('with previous_keys, as upstream after a move from a local key to Vault: config-<i+1> objects unwrap locally, Vault\'s (and unknown ids with a Vault wrap) through Vault', async () => {
    const v = await startMockVault({ token: 'tok-1', keys: ['transit/readpath'] });
    const old = randomBytes(32);
    const r = ring(vaultSettings(v), [{ id: 'config-1', key: old }]);
    try {
      const before = encryptForRow(Buffer.from('wrapped locally before the move'), { masterKey: old, chunkSize: 4096 });
      const local = rowKeyData(before.encryptionKey, 'config-1', 'b1: old');
      assert.ok((await r.dataKey(local, 'b1: old')).equals(before.dek), 'a previous key unwraps its objects');
      assert.equal(decrypts(v), 0, 'without asking Vault');
      // Upstream labels a rotated local key's objects config-0: every local key is tried.
      assert.ok((await r.dataKey({ ...local, keyId: 'config-0' }, 'b1: old')).equals(before.dek));
      assert.equal(decrypts(v), 0);
      const dek = randomBytes(32);
      assert.ok((await r.dataKey(keyData(v, dek), 'b1: new')).equals(dek), 'objects wrapped by Vault go to Vault');
      const other = randomBytes(32);
      assert.ok((await r.dataKey({ ...keyData(v, other), keyId: 'kms-7' }, 'b1: x')).equals(other), 'an unknown id with a Vault wrap goes to Vault, the primary');
      assert.equal(decrypts(v), 2);
      await rejectsKind(r.dataKey(rowKeyData(encryptForRow(Buffer.from('x'), { masterKey: randomBytes(32), chunkSize: 4096 }).encryptionKey, 'config-1', 'b1: y'), 'b1: y'), 'unwrap');
    } finally {
      await r.close();
      await v.close();
    }
  });

  it('a token file rewritten after Vault changed the token is re-read on the 403', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readpath-vault-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'tok-a\n');
    const v = await startMockVault({ token: 'tok-a', keys: ['transit/readpath'] });
    const r = ring(vaultSettings(v, { token: null, tokenFile: file }));
    assert.equal((await r.dataKey(keyData(v, randomBytes(32)), 'x')).length, 32);
    v.setToken('tok-b');
    writeFileSync(file, 'tok-b\n');
    assert.equal((await r.dataKey(keyData(v, randomBytes(32)), 'x')).length, 32);
    const tokens = v.requests.filter((q) => q.path.includes('/decrypt/')).map((q) => `${q.token ?? ''}:${q.status}`);
    assert.deepEqual(tokens, ['tok-a:200', 'tok-a:403', 'tok-b:200']);
    await r.close();
    await v.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renews a static token with renew-self every renew_interval', async () => {
    const v = await startMockVault({ token: 'tok', keys: ['transit/readpath'] });
    const r = ring(vaultSettings(v, { renewIntervalMs: 20 }));
    for (let i = 0; i < 200 && !v.requests.some((q) => q.path === '/v1/auth/token/renew-self'); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(v.requests.some((q) => q.path === '/v1/auth/token/renew-self' && q.token === 'tok' && q.status === 200));
    await r.close();
    await v.close();
  });

  it('speaks TLS to a Vault whose CA is given by ca_cert, and refuses it without', async () => {
    const v = await startMockVault({ token: 'tok', keys: ['transit/readpath'], tls: true });
    const ca = await readFile(v.caCertFile as string, 'utf8');
    const kd = keyData(v, randomBytes(32));
    const r = ring(vaultSettings(v, { caCert: ca }));
    assert.equal((await r.dataKey(kd, 'x')).length, 32);
    const untrusted = ring(vaultSettings(v));
    await rejectsKind(untrusted.dataKey(kd, 'x'), 'key_service');
    await r.close();
    await untrusted.close();
    await v.close();
  });

  it('an unreachable or failing Vault is key_service; a ciphertext Vault cannot open is unwrap', async () => {
    const v = await startMockVault({ token: 'tok', keys: ['transit/readpath'] });
    const kd = keyData(v, randomBytes(32));
    const r = ring(vaultSettings(v));
    v.failNext(503);
    await rejectsKind(r.dataKey(kd, 'x'), 'key_service');
    await rejectsKind(r.dataKey({ ...kd, wrapped: Buffer.from('vault:v1:AAAA') }, 'x'), 'unwrap');
    const address = v.address;
    await v.close();
    const gone = ring(vaultSettings(v, { address }));
    await rejectsKind(gone.dataKey(kd, 'x'), 'key_service');
    await r.close();
    await gone.close();
  });
});
