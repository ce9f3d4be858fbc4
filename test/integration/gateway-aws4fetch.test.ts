/**
 * aws4fetch — the small SigV4 signer over `fetch` that Cloudflare Workers, Deno and browser code
 * use for S3 — reading through `readpath serve`: header-signed GETs, HEADs and ranged GETs of keys
 * whose canonical URI each signer encodes its own way (spaces, `+`, unicode, `~`, `!*'()`, `&=@`),
 * query-signed (presigned) URLs, ListObjectsV2 with its query signed, and the refusals: a wrong
 * secret, a tampered URL, a PUT.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import { sha256Hex } from '../../src/probe/verify.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { CLIENT_REGION, s3Order, type ClientCred } from '../helpers/s3-clients.js';

const CRED: ClientCred = { id: 'AKIAAWS4FETCH0000001', secret: 'aws4fetch/Secret+Key=0123456789' };
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['plain.bin', randomBytes(3000)],
  ['dir with space/a+b.txt', Buffer.from('space and plus\n')],
  ['ünïcödé/日本語~.json', Buffer.from('{"u":1}')],
  ["marks/!*'().bin", randomBytes(64)],
  ['marks/a&b=c@d,e;f:g$h.bin', randomBytes(65)],
  ['100%/p%20q.txt', Buffer.from('percent\n')],
]);

/** The path of `key` in `bucket` as a URL: each segment percent-encoded as encodeURIComponent does. */
function objectUrl(base: string, bucket: string, key: string): string {
  return `${base}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

describe('readpath serve with aws4fetch', () => {
  let fx: GatewayFixture;
  const aws = (secret = CRED.secret): AwsClient => new AwsClient({ accessKeyId: CRED.id, secretAccessKey: secret, service: 's3', region: CLIENT_REGION });

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-aws4fetch-', buckets: [{ name: 'web', creds: [CRED], objects: OBJECTS }] });
  });

  after(async () => {
    await fx?.close();
  });

  it('header-signed GET and HEAD of every key byte for byte, and a ranged GET', async () => {
    for (const [k, v] of OBJECTS) {
      const res = await aws().fetch(objectUrl(fx.serve.url, 'web', k));
      assert.equal(res.status, 200, `${k}: ${res.status}`);
      assert.equal(sha256Hex(Buffer.from(await res.arrayBuffer())), sha256Hex(v), k);
      const head = await aws().fetch(objectUrl(fx.serve.url, 'web', k), { method: 'HEAD' });
      assert.equal(head.status, 200, k);
      assert.equal(head.headers.get('content-length'), String(v.length), k);
    }
    const range = await aws().fetch(objectUrl(fx.serve.url, 'web', 'plain.bin'), { headers: { range: 'bytes=100-199' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), 'bytes 100-199/3000');
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(OBJECTS.get('plain.bin')!.subarray(100, 200)));
  });

  it('query-signed (presigned) URLs read every key; one signed for another key is 403', async () => {
    for (const [k, v] of OBJECTS) {
      const signed = await aws().sign(objectUrl(fx.serve.url, 'web', k), { aws: { signQuery: true } });
      const res = await fetch(signed.url);
      assert.equal(res.status, 200, `${k}: ${res.status}`);
      assert.equal(sha256Hex(Buffer.from(await res.arrayBuffer())), sha256Hex(v), k);
    }
    const signed = await aws().sign(objectUrl(fx.serve.url, 'web', 'plain.bin'), { aws: { signQuery: true } });
    const tampered = await fetch(signed.url.replace('/plain.bin', '/dir%20with%20space/a%2Bb.txt'));
    assert.equal(tampered.status, 403);
    assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  });

  it('ListObjectsV2 with its query signed lists every key in order', async () => {
    const res = await aws().fetch(`${fx.serve.url}/web?list-type=2&prefix=&max-keys=1000`);
    assert.equal(res.status, 200);
    const xml = await res.text();
    const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&apos;/g, "'").replace(/&quot;/g, '"'));
    assert.deepEqual(keys, s3Order(OBJECTS.keys()));
  });

  it('refusals: a wrong secret is 403 SignatureDoesNotMatch, a PUT 405 MethodNotAllowed, a missing key 404 NoSuchKey', async () => {
    const wrong = await aws('wrong-secret').fetch(objectUrl(fx.serve.url, 'web', 'plain.bin'));
    assert.equal(wrong.status, 403);
    assert.match(await wrong.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const put = await aws().fetch(objectUrl(fx.serve.url, 'web', 'new.txt'), { method: 'PUT', body: 'x' });
    assert.equal(put.status, 405);
    assert.match(await put.text(), /<Code>MethodNotAllowed<\/Code>/);
    const missing = await aws().fetch(objectUrl(fx.serve.url, 'web', 'no/such key'));
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<Code>NoSuchKey<\/Code>/);
  });
});
