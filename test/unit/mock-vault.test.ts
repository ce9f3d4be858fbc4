/**
 * The mock Vault transit server (test/helpers/mock-vault.ts), over real HTTP(S) with undici:
 * round trips, Vault's error shapes, token handling, fault injection and TLS with its own CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { startMockVault, type MockVault } from '../helpers/mock-vault.js';

interface Answer { status: number; json: Record<string, unknown> }

/** POSTs JSON to the mock; `token: null` sends no X-Vault-Token header at all. */

async function post(vault: MockVault, path: string, body: unknown, token: string | null = vault.token, dispatcher?: Dispatcher): Promise<Answer> {
  const res = await request(`${vault.address}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { 'x-vault-token': token }) },
    body: JSON.stringify(body),
    ...(dispatcher ? { dispatcher } : {}),
  });
  return { status: res.statusCode, json: await res.body.json() as Record<string, unknown> };
}

const data = (a: Answer): Record<string, unknown> => a.json.data as Record<string, unknown>;

test('encrypt then decrypt round-trips a DEK, and wrap() ciphertexts decrypt over HTTP', async (t) => {
  const vault = await startMockVault();
  t.after(() => vault.close());
  assert.match(vault.address, /^http:\/\/127\.0\.0\.1:\d+$/);
  const dek = randomBytes(32);

  const enc = await post(vault, '/v1/transit/encrypt/readpath', { plaintext: dek.toString('base64') });
  assert.equal(enc.status, 200);
  const ciphertext = data(enc).ciphertext as string;
  assert.match(ciphertext, /^vault:v1:[A-Za-z0-9+/]+=*$/);

  const dec = await post(vault, '/v1/transit/decrypt/readpath', { ciphertext });
  assert.equal(dec.status, 200);
  assert.deepEqual(Buffer.from(data(dec).plaintext as string, 'base64'), dek);

  const direct = await post(vault, '/v1/transit/decrypt/readpath', { ciphertext: vault.wrap(dek) });
  assert.deepEqual(Buffer.from(data(direct).plaintext as string, 'base64'), dek);
  assert.deepEqual(vault.unwrap(ciphertext), dek);
  assert.equal(vault.keyId(), 'vault:transit/readpath');

  assert.deepEqual(vault.requests.map((r) => [r.method, r.path, r.token, r.status]), [
    ['POST', '/v1/transit/encrypt/readpath', 'test-vault-token', 200],
    ['POST', '/v1/transit/decrypt/readpath', 'test-vault-token', 200],
    ['POST', '/v1/transit/decrypt/readpath', 'test-vault-token', 200],
  ]);
});

test('a wrong or missing token is refused with 403 permission denied; setToken switches it', async (t) => {
  const vault = await startMockVault({ token: 'first' });
  t.after(() => vault.close());
  const ciphertext = vault.wrap(randomBytes(32));

  for (const token of ['wrong', null]) {
    const a = await post(vault, '/v1/transit/decrypt/readpath', { ciphertext }, token);
    assert.equal(a.status, 403);
    assert.deepEqual(a.json, { errors: ['permission denied'] });
  }
  vault.setToken('second');
  assert.equal((await post(vault, '/v1/transit/decrypt/readpath', { ciphertext }, 'first')).status, 403);
  assert.equal((await post(vault, '/v1/transit/decrypt/readpath', { ciphertext }, 'second')).status, 200);
  assert.deepEqual(vault.requests.map((r) => [r.token, r.status]), [['wrong', 403], [undefined, 403], ['first', 403], ['second', 200]]);
});

test('renew-self answers the current token with a lease', async (t) => {
  const vault = await startMockVault({ token: 'tok', leaseDuration: 120 });
  t.after(() => vault.close());
  const a = await post(vault, '/v1/auth/token/renew-self', {});
  assert.equal(a.status, 200);
  assert.deepEqual(
    { client_token: (a.json.auth as Record<string, unknown>).client_token, lease_duration: (a.json.auth as Record<string, unknown>).lease_duration },
    { client_token: 'tok', lease_duration: 120 },
  );
  assert.equal((await post(vault, '/v1/auth/token/renew-self', {}, 'nope')).status, 403);
});

test('bad requests: unknown key or mount, malformed or foreign ciphertext, bad base64 are 400 with errors', async (t) => {
  const vault = await startMockVault({ keys: ['transit/readpath', 'transit/other', 'team/transit/k'] });
  t.after(() => vault.close());
  const dek = randomBytes(32);
  const cases: [string, unknown][] = [
    ['/v1/transit/decrypt/missing', { ciphertext: vault.wrap(dek) }],
    ['/v1/elsewhere/decrypt/readpath', { ciphertext: vault.wrap(dek) }],
    ['/v1/transit/encrypt/missing', { plaintext: dek.toString('base64') }],
    ['/v1/transit/decrypt/readpath', { ciphertext: 'not-a-vault-ciphertext' }],
    ['/v1/transit/decrypt/readpath', { ciphertext: 'vault:v1:%%%%' }],
    ['/v1/transit/decrypt/readpath', { ciphertext: 'vault:v1:AAAA' }],
    ['/v1/transit/decrypt/readpath', { ciphertext: 'vault:v9:' + randomBytes(60).toString('base64') }],
    ['/v1/transit/decrypt/readpath', { ciphertext: vault.wrap(dek, 'transit/other') }],
    ['/v1/transit/decrypt/readpath', {}],
    ['/v1/transit/encrypt/readpath', { plaintext: '***' }],
  ];
  for (const [path, body] of cases) {
    const a = await post(vault, path, body);
    assert.equal(a.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.ok(Array.isArray(a.json.errors) && a.json.errors.length === 1, JSON.stringify(a.json));
  }
  // A mount with a slash in it, and the key id naming it.
  const nested = await post(vault, '/v1/team/transit/decrypt/k', { ciphertext: vault.wrap(dek, 'team/transit/k') });
  assert.deepEqual(Buffer.from(data(nested).plaintext as string, 'base64'), dek);
  assert.equal(vault.keyId('team/transit/k'), 'vault:team/transit/k');
});

test('rotate: encrypt uses the new version, old ciphertexts still decrypt', async (t) => {
  const vault = await startMockVault();
  t.after(() => vault.close());
  const dek = randomBytes(32);
  const v1 = vault.wrap(dek);
  assert.equal(vault.rotate(), 2);
  const v2 = data(await post(vault, '/v1/transit/encrypt/readpath', { plaintext: dek.toString('base64') })).ciphertext as string;
  assert.match(v2, /^vault:v2:/);
  for (const ciphertext of [v1, v2]) {
    assert.deepEqual(Buffer.from(data(await post(vault, '/v1/transit/decrypt/readpath', { ciphertext })).plaintext as string, 'base64'), dek);
  }
});

test('failNext answers the next n requests with the status, then recovers; delayMs delays', async (t) => {
  const vault = await startMockVault();
  t.after(() => vault.close());
  const ciphertext = vault.wrap(randomBytes(32));
  vault.failNext(503, 2);
  for (let i = 0; i < 2; i++) {
    const a = await post(vault, '/v1/transit/decrypt/readpath', { ciphertext });
    assert.equal(a.status, 503);
    assert.ok(Array.isArray(a.json.errors));
  }
  assert.equal((await post(vault, '/v1/transit/decrypt/readpath', { ciphertext })).status, 200);

  vault.delayMs = 150;
  const started = performance.now();
  assert.equal((await post(vault, '/v1/transit/decrypt/readpath', { ciphertext })).status, 200);
  assert.ok(performance.now() - started >= 140, 'answer waited for delayMs');
});

test('close() does not wait for a delayed answer', async () => {
  const vault = await startMockVault({ delayMs: 60_000 });
  const pending = post(vault, '/v1/auth/token/renew-self', {}).catch((e: unknown) => e);
  while (vault.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  await vault.close();
  assert.ok(performance.now() - started < 5_000);
  assert.ok((await pending) instanceof Error, 'the client sees the connection drop');
});

test('TLS mode: trusted with its CA, refused without it, temp files removed on close', async () => {
  const vault = await startMockVault({ tls: true });
  const agent = new Agent({ connect: { ca: vault.caCertPem } });
  try {
    assert.match(vault.address, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(vault.caCertPem ?? '', /-----BEGIN CERTIFICATE-----/);
    assert.equal(await readFile(vault.caCertFile!, 'utf8'), vault.caCertPem);

    const dek = randomBytes(32);
    const enc = await post(vault, '/v1/transit/encrypt/readpath', { plaintext: dek.toString('base64') }, vault.token, agent);
    assert.equal(enc.status, 200);
    const dec = await post(vault, '/v1/transit/decrypt/readpath', { ciphertext: data(enc).ciphertext }, vault.token, agent);
    assert.deepEqual(Buffer.from(data(dec).plaintext as string, 'base64'), dek);

    // Checked against the name `localhost` without depending on how this host resolves it.
    const localhost = new Agent({ connect: { ca: vault.caCertPem, servername: 'localhost' } });
    try {
      const res = await request(`${vault.address}/v1/auth/token/renew-self`, {
        method: 'POST', headers: { 'x-vault-token': vault.token }, body: '{}', dispatcher: localhost,
      });
      assert.equal(res.statusCode, 200, 'the certificate names localhost too');
      await res.body.dump();
    } finally {
      await localhost.close();
    }

    const untrusting = new Agent();
    try {
      await assert.rejects(post(vault, '/v1/auth/token/renew-self', {}, vault.token, untrusting), /self[- ]signed|certificate/i);
    } finally {
      await untrusting.close();
    }
  } finally {
    await agent.close();
    await vault.close();
  }
  assert.equal(existsSync(vault.caCertFile!), false);
});
