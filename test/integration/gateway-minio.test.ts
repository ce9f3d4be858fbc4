/**
 * The MinIO JavaScript SDK (npm `minio`) — an S3 client with its own SigV4 signer, URL
 * encoding and XML parsing, which nothing in readpath shares — reading through `readpath serve`
 * as an application would: the bucket's region found by GetBucketLocation (no region given),
 * ListBuckets, HeadBucket, listings v2 (streamed, by directory, and page by page with
 * continuation tokens and start-after) and v1, statObject, getObject, getPartialObject, fGetObject
 * (and its resume of a `.part.minio` file by a ranged GET), presigned GET URLs valid and expired,
 * and the SDK's own error codes for a missing key, a write, a wrong secret and another
 * credential's bucket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, type BucketItem } from 'minio';
import { sha256Hex } from '../../src/probe/verify.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { readAll } from '../helpers/streams.js';
import { s3Order, type ClientCred } from '../helpers/s3-clients.js';

const MEDIA: ClientCred = { id: 'AKIAMINIOREADER00001', secret: 'minio/Secret+Key=0123456789' };
const OTHER: ClientCred = { id: 'AKIAMINIOOTHER000002', secret: 'other-secret-key-0123456789' };
const BIG = 'big/video.bin';
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['photos/2026/a b+c.jpg', randomBytes(5000)],
  ['photos/2026/ünï~(1).png', randomBytes(777)],
  ['photos/top.txt', Buffer.from('top of photos\n')],
  ['readme.md', Buffer.from('# media\n')],
  ['zz/last.bin', randomBytes(1)],
  [BIG, randomBytes(6 * 1024 * 1024 + 123)],
]);

async function listed<T>(s: AsyncIterable<unknown>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of s) out.push(item as T);
  return out;
}

/** What the SDK's error says: its S3 code (or what it names the failure). */
async function failure(p: Promise<unknown>): Promise<{ code: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; name?: string };
    return { code: String(e.code ?? e.name) };
  }
  assert.fail('expected the call to fail');
}

describe('readpath serve with the MinIO JavaScript SDK', () => {
  let fx: GatewayFixture;
  let endpoint: URL;
  const client = (cred: ClientCred, secret = cred.secret): Client =>
    new Client({ endPoint: endpoint.hostname, port: Number(endpoint.port), useSSL: false, accessKey: cred.id, secretKey: secret, pathStyle: true });
  const sha = (k: string): string => sha256Hex(OBJECTS.get(k)!);

  before(async () => {
    fx = await startGatewayFixture({
      tmpPrefix: 'readpath-gw-minio-',
      buckets: [
        { name: 'media', creds: [MEDIA], objects: OBJECTS },
        { name: 'private', creds: [OTHER], objects: new Map([['secret.txt', Buffer.from('not for media')]]) },
      ],
    });
    endpoint = new URL(fx.serve.url);
  });

  after(async () => {
    await fx?.close();
  });

  it('finds the region by GetBucketLocation, lists its buckets, and HeadBucket answers for its own and refuses another\'s', async () => {
    const c = client(MEDIA);
    assert.equal(await c.getBucketRegionAsync('media'), 'us-east-1');
    assert.deepEqual((await c.listBuckets()).map((b) => b.name), ['media']);
    assert.equal(await c.bucketExists('media'), true);
    assert.equal(await c.bucketExists('no-such-bucket'), false);
  });

  it('listObjectsV2 streams every key in order with sizes; by directory it gives prefixes', async () => {
    const c = client(MEDIA);
    const all = await listed<BucketItem>(c.listObjectsV2('media', '', true));
    assert.deepEqual(all.map((o) => o.name), s3Order(OBJECTS.keys()));
    for (const o of all) assert.equal(o.size, OBJECTS.get(o.name!)!.length, o.name);
    const dirs = await listed<BucketItem>(c.listObjectsV2('media', 'photos/', false));
    assert.deepEqual(dirs.filter((o) => o.name !== undefined).map((o) => o.name), ['photos/top.txt']);
    assert.deepEqual(dirs.filter((o) => o.prefix !== undefined).map((o) => o.prefix), ['photos/2026/']);
  });

  it('listObjectsV2Query pages of 2 by continuation token, and start-after; listObjects (v1) streams every key', async () => {
    const c = client(MEDIA);
    const keys: string[] = [];
    let token = '';
    for (let page = 0; page < 10; page++) {
      const res = await c.listObjectsV2Query('media', '', token, '', 2, '');
      keys.push(...res.objects.flatMap((o) => (o.name !== undefined ? [o.name] : [])));
      if (!res.isTruncated) break;
      assert.ok(res.objects.length <= 2);
      token = res.nextContinuationToken;
    }
    assert.deepEqual(keys, s3Order(OBJECTS.keys()));
    const after = await c.listObjectsV2Query('media', '', '', '', 1000, 'photos/top.txt');
    assert.deepEqual(after.objects.map((o) => o.name), ['readme.md', 'zz/last.bin']);
    const v1 = await listed<BucketItem>(c.listObjects('media', '', true));
    assert.deepEqual(v1.map((o) => o.name), s3Order(OBJECTS.keys()));
  });

  it('statObject, getObject of every object byte for byte, and getPartialObject ranges', async () => {
    const c = client(MEDIA);
    for (const [k, v] of OBJECTS) {
      const st = await c.statObject('media', k);
      assert.equal(st.size, v.length, k);
      assert.match(st.etag, /^[0-9a-f]{32}-1$/, k);
      assert.ok(st.lastModified instanceof Date, k);
      assert.equal(sha256Hex(await readAll(await c.getObject('media', k))), sha(k), k);
    }
    const big = OBJECTS.get(BIG)!;
    assert.ok((await readAll(await c.getPartialObject('media', BIG, 1000, 4096))).equals(big.subarray(1000, 5096)));
    assert.ok((await readAll(await c.getPartialObject('media', BIG, big.length - 10))).equals(big.subarray(big.length - 10)), 'from an offset to the end');
  });

  it('fGetObject downloads to a file, and resumes a partial .part.minio file with a ranged GET', async () => {
    const c = client(MEDIA);
    const big = OBJECTS.get(BIG)!;
    const whole = path.join(fx.tmp, 'minio', 'whole.bin');
    await c.fGetObject('media', BIG, whole);
    assert.equal(sha256Hex(await readFile(whole)), sha(BIG));

    const resumed = path.join(fx.tmp, 'minio', 'resumed.bin');
    const { etag } = await c.statObject('media', BIG);
    // What an interrupted fGetObject leaves: the first 2 MiB under the name it resumes from. Its
    // bytes are marked (zeros), so the result shows they were kept and only the rest was read.
    const head = 2 * 1024 * 1024;
    await writeFile(`${resumed}.${Buffer.from(etag).toString('base64')}.part.minio`, Buffer.alloc(head));
    await c.fGetObject('media', BIG, resumed);
    const got = await readFile(resumed);
    assert.equal(got.length, big.length);
    assert.ok(got.subarray(0, head).equals(Buffer.alloc(head)), 'the part file was kept');
    assert.ok(got.subarray(head).equals(big.subarray(head)), 'the rest came from a ranged GET');
  });

  it('presigned GET URLs: valid ones read (awkward keys too), an expired one is 403 AccessDenied', async () => {
    const c = client(MEDIA);
    for (const k of ['photos/2026/a b+c.jpg', 'photos/2026/ünï~(1).png']) {
      const url = await c.presignedGetObject('media', k, 60);
      const res = await fetch(url);
      assert.equal(res.status, 200, k);
      assert.equal(sha256Hex(Buffer.from(await res.arrayBuffer())), sha(k), k);
    }
    const expired = await c.presignedGetObject('media', 'readme.md', 60, {}, new Date(Date.now() - 3600_000));
    const res = await fetch(expired);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
  });

  it('the SDK\'s errors: a missing key, a write, a wrong secret, another credential\'s bucket and key', async () => {
    const c = client(MEDIA);
    assert.deepEqual(await failure(c.statObject('media', 'no/such/key')), { code: 'NotFound' });
    assert.deepEqual(await failure(c.getObject('media', 'no/such/key')), { code: 'NoSuchKey' });
    assert.deepEqual(await failure(c.putObject('media', 'new.txt', Buffer.from('x'))), { code: 'MethodNotAllowed' });
    assert.deepEqual(await failure(c.removeObject('media', 'readme.md')), { code: 'MethodNotAllowed' });
    assert.deepEqual(await failure(client(MEDIA, 'wrong-secret').getObject('media', 'readme.md')), { code: 'SignatureDoesNotMatch' });
    assert.deepEqual(await failure(c.getObject('private', 'secret.txt')), { code: 'AccessDenied' });
    assert.deepEqual(await failure(listed(c.listObjectsV2('private', '', true))), { code: 'AccessDenied' });
    assert.equal(await readAll(await client(OTHER).getObject('private', 'secret.txt')).then(String), 'not for media', 'its own credential reads it');
  });
});
