import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { createLogger, MASK, maskSecrets, maskString } from '../../src/telemetry/logger.js';
import { maskUrl } from '../../src/config/mask.js';
import { loadConfig } from '../../src/config/load.js';
import { ReadPathError } from '../../src/errors.js';
import { ReadPath } from '../../src/read-path.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

test('secrets are masked at any depth, in config objects and URLs', async () => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(d.toString()));
  const log = createLogger('info', sink);
  const config = await loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9000', bucket: 'x', access_key_id: 'AKIDVISIBLE', secret_access_key: 'TOPSECRET-1' }],
    database: { driver: 'postgres', url: 'postgres://reader:TOPSECRET-2@db.internal:5432/meta?sslmode=disable' },
  });
  log.info({ cfg: config }, 'resolved');
  log.info({ a: { b: { c: config } } }, 'nested');
  log.info({ list: [{ password: 'TOPSECRET-3' }] }, 'array');
  await new Promise((r) => setImmediate(r));
  const all = lines.join('');
  assert.ok(all.length > 0);
  for (const s of ['TOPSECRET-1', 'TOPSECRET-2', 'TOPSECRET-3']) assert.equal(all.includes(s), false, `${s} leaked`);
  assert.match(all, /AKIDVISIBLE/, 'key ids are not secrets');
  assert.match(all, /postgres:\/\/reader:\(redacted\)@db\.internal/);
  const cyclic: Record<string, unknown> = { password: 'p' };
  cyclic['self'] = cyclic;
  assert.deepEqual(maskSecrets(cyclic), { password: '(redacted)', self: '[…]' });
});

test('maskString answers a string as the full check does, its one-test shortcut included', () => {
  // The full check, as maskSecrets made it before the shortcut: PEM private key, URL password.
  const full = (v: string): string => (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(v) ? MASK : maskUrl(v));
  const crafted = [
    '', '/docs/a.bin', 'https://user:pw@example.test/x', 'HTTPS://U:P@EXAMPLE.TEST', 'postgres://u:secret@db/x',
    '/docs/a&password=hunter2', '/x?PWD=1&b=2', '?Pass=abc', '-----BEGIN RSA PRIVATE KEY-----\nabc', '-----BEGIN CERTIFICATE-----',
    'passing through', 'a://b', '://:@',
    'connect to postgres://u:pw@db/x failed', '/b/k?X-Amz-Signature=abc&X-Amz-Security-Token=tok&X-Amz-Credential=AKID', '?Signature=s&Expires=1',
  ];
  for (const v of crafted) assert.equal(maskString(v), full(v), v);
  assert.equal(maskString('/docs/a&password=hunter2'), `/docs/a&password=${MASK}`);
  const pieces = fc.constantFrom('://', ':', '@', '/', '?', '&', '=', 'pass', 'PWD', 'password', 'Password', '-----BEGIN ', 'PRIVATE KEY-----', 'x', ' ', 'https', 'X-Amz-Signature', 'x-amz-security-token', 'Signature');
  fc.assert(fc.property(fc.array(pieces, { maxLength: 12 }).map((a) => a.join('')), fc.string(), (crafted2, any) => {
    assert.equal(maskString(crafted2), full(crafted2));
    assert.equal(maskString(any), full(any));
  }), { numRuns: 2000 });
});

test('errors are masked too: message, stack, fields and the cause chain; the message string; presigned URLs', async () => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(d.toString()));
  const log = createLogger('info', sink);
  const cause = Object.assign(new Error('dial postgres://reader:TOPSECRET-4@db.internal:5432/meta refused'), { password: 'TOPSECRET-5' });
  const err = new ReadPathError('DB_UNAVAILABLE', 'lookup via postgres://reader:TOPSECRET-6@db.internal/meta failed', { cause });
  log.warn({ err }, 'store down');
  log.warn(`usage flush to postgres://reader:TOPSECRET-7@db.internal/meta failed`);
  log.info({ url: 'https://gw.test/data/k?X-Amz-Credential=AKIDVISIBLE%2F20260101&X-Amz-Signature=TOPSECRET-8&X-Amz-Security-Token=TOPSECRET-9' }, 'presigned');
  await new Promise((r) => setImmediate(r));
  const all = lines.join('');
  for (const n of [4, 5, 6, 7, 8, 9]) assert.equal(all.includes(`TOPSECRET-${n}`), false, `TOPSECRET-${n} leaked: ${all}`);
  const [first] = lines.map((l) => JSON.parse(l) as { err: { type: string; code: string; message: string; stack: string } });
  assert.ok(first !== undefined);
  assert.equal(first.err.type, 'ReadPathError', 'the error keeps its type');
  assert.equal(first.err.code, 'DB_UNAVAILABLE');
  assert.match(first.err.message, /postgres:\/\/reader:\(redacted\)@db\.internal\/meta/);
  assert.match(first.err.stack, /caused by: Error: dial postgres:\/\/reader:\(redacted\)@db\.internal/);
  assert.match(all, /usage flush to postgres:\/\/reader:\(redacted\)@db\.internal/);
  assert.match(all, /X-Amz-Credential=AKIDVISIBLE%2F20260101&X-Amz-Signature=\(redacted\)&X-Amz-Security-Token=\(redacted\)/, 'the access key id is no secret');
});

test('a failed read\'s debug line keeps the error\'s message beside its own', async () => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(d.toString()));
  const m = await openMemoryReadPath(1);
  const rp = await ReadPath.open({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'x', access_key_id: 'k', secret_access_key: 's' }],
    database: { driver: 'memory' }, runtime: { mode: 'inline' },
  }, { logger: createLogger('debug', sink), backends: m.backends, store: m.store });
  try {
    m.seed('k', 'v', ['b1']);
    m.backend('b1').delete('k');
    await assert.rejects(rp.get('k'), { code: 'BACKEND_ERROR' });
  } finally {
    await rp.close();
    await m.rp.close();
  }
  await new Promise((r) => setImmediate(r));
  const failed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['msg'] === 'GetObject failed');
  assert.ok(failed !== undefined, lines.join(''));
  assert.equal(failed['key'], 'k');
  assert.match(JSON.stringify(failed), /b1: k: NoSuchKey/, 'the error\'s message is in the parsed line');
});

/** A logger at `info` writing into an array of parsed lines (read them after a turn). */
function capturedLogger(): { log: ReturnType<typeof createLogger>; lines: () => Promise<Record<string, unknown>[]> } {
  const raw: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => raw.push(d.toString()));
  return {
    log: createLogger('info', sink),
    async lines() {
      await new Promise((r) => setImmediate(r));
      return raw.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

test('what pino writes into the message is masked: objects printed by %j/%o, and an error logged alone', async () => {
  const { log, lines } = capturedLogger();
  log.info('store %j, backend %o', { password: 'TOPSECRET-10' }, { secret_access_key: 'TOPSECRET-11' });
  log.warn({ op: 'flush' }, 'vault %j', { token: 'TOPSECRET-12' });
  log.error(new Error('dial postgres://reader:TOPSECRET-13@db.internal/meta refused'));
  const all = await lines();
  assert.equal(all.length, 3);
  const text = JSON.stringify(all);
  for (const n of [10, 11, 12, 13]) assert.equal(text.includes(`TOPSECRET-${n}`), false, `TOPSECRET-${n} leaked: ${text}`);
  assert.equal(all[0]?.['msg'], 'store {"password":"(redacted)"}, backend {"secret_access_key":"(redacted)"}');
  assert.equal(all[2]?.['msg'], 'dial postgres://reader:(redacted)@db.internal/meta refused');
  assert.equal((all[2]?.['err'] as { type?: string } | undefined)?.type, 'Error', 'the error is still serialized as one');
});

test('a child logger\'s bindings are masked, its own children\'s too', async () => {
  const { log, lines } = capturedLogger();
  const child = log.child({ database: { password: 'TOPSECRET-14', host: 'db.internal' }, url: 'postgres://reader:TOPSECRET-15@db.internal/meta' });
  child.info('from the child');
  child.child({ vault: { token: 'TOPSECRET-16' } }).info('from the grandchild');
  const all = await lines();
  assert.equal(all.length, 2);
  const text = JSON.stringify(all);
  for (const n of [14, 15, 16]) assert.equal(text.includes(`TOPSECRET-${n}`), false, `TOPSECRET-${n} leaked: ${text}`);
  assert.deepEqual(all[1]?.['database'], { password: MASK, host: 'db.internal' }, 'the grandchild keeps its parent\'s bindings, masked');
  assert.deepEqual(all[1]?.['vault'], { token: MASK });
  assert.equal(all[0]?.['url'], 'postgres://reader:(redacted)@db.internal/meta');
});

test('request headers and key passphrases are masked by name: Authorization, X-Amz-Security-Token, passphrase, sslpassword', async () => {
  const { log, lines } = capturedLogger();
  log.info({
    headers: {
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIDVISIBLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=TOPSECRET-17',
      'X-Amz-Security-Token': 'TOPSECRET-18', host: 'gw.test',
    },
    tls: { passphrase: 'TOPSECRET-19' }, pg: { sslpassword: 'TOPSECRET-20' },
  }, 'request');
  const [line] = await lines();
  const text = JSON.stringify(line);
  for (const n of [17, 18, 19, 20]) assert.equal(text.includes(`TOPSECRET-${n}`), false, `TOPSECRET-${n} leaked: ${text}`);
  assert.deepEqual(line?.['headers'], { authorization: MASK, 'X-Amz-Security-Token': MASK, host: 'gw.test' });
});
