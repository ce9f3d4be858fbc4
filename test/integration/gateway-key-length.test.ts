/**
 * `readpath serve` and S3's key-length limit. The store's key is s3-orchestrator's `object_key`,
 * `{bucket}/{key}`: an S3 key of up to 1024 UTF-8 bytes in a bucket whose name takes S3's 63 is
 * served, listed and continued after; a longer S3 key is refused as S3 refuses it (400
 * KeyTooLongError) before the store or a backend is asked. Over memory backends, with the AWS
 * SDK and presigned URLs read as raw HTTP (to see the error document as sent).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListObjectsCommand, ListObjectsV2Command, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkPresign } from '../helpers/sigv4-requests.js';
import { rawRequest } from '../helpers/raw-request.js';
import { startMemoryGateway, type MemoryGateway } from '../helpers/memory-gateway.js';
import { gatewaySdk, type GatewayCred } from '../helpers/gateway-sdk.js';

const AKID = 'AKIAKEYLENGTH0000001';
const SECRET = 'key-length-secret-0123456789';
/** One credential per bucket, as upstream's configuration has it. */
const CREDS = { long: { id: AKID, secret: SECRET }, short: { id: 'AKIAKEYLENGTH0000002', secret: `${SECRET}-2` }, huge: { id: 'AKIAKEYLENGTH0000003', secret: `${SECRET}-3` } };
/** A bucket name as long as S3 allows (63 bytes). */
const LONG = `long-bucket-name-${'n'.repeat(46)}`;
/** A name longer than S3 allows, which upstream's configuration accepts (100 bytes). */
const HUGE = `huge-${'h'.repeat(95)}`;
const SHORT = 'b';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
/** S3 keys of exactly 1024 UTF-8 bytes: ASCII under a "directory", and two-byte characters. */
const ASCII_1024 = `deep/${'k'.repeat(1019)}`;
const MULTI_1024 = 'é'.repeat(512);
/** S3 keys of 1025 UTF-8 bytes. */
const ASCII_1025 = 'x'.repeat(1025);
const MULTI_1025 = `${'é'.repeat(512)}x`;

describe('readpath serve: S3 keys of up to 1024 bytes in any bucket, longer ones KeyTooLongError', () => {
  let g: MemoryGateway;
  /** A client of each bucket, by name. */
  const clients = new Map<string, S3Client>();
  const client = (bucket: string): S3Client => clients.get(bucket) ?? assert.fail(bucket);

  before(async () => {
    assert.equal(bytes(LONG), 63);
    assert.equal(bytes(HUGE), 100);
    for (const k of [ASCII_1024, MULTI_1024]) assert.equal(bytes(k), 1024);
    for (const k of [ASCII_1025, MULTI_1025]) assert.equal(bytes(k), 1025);
    const bucket = (name: string, c: GatewayCred) => ({ name, credentials: [{ access_key_id: c.id, secret_access_key: c.secret }] });
    g = await startMemoryGateway(LONG, CREDS.long, { buckets: [bucket(LONG, CREDS.long), bucket(SHORT, CREDS.short), bucket(HUGE, CREDS.huge)] });
    clients.set(LONG, g.s3);
    clients.set(SHORT, gatewaySdk(g.gw.url, CREDS.short));
    clients.set(HUGE, gatewaySdk(g.gw.url, CREDS.huge));
    g.m.seed(`${LONG}/${ASCII_1024}`, 'ascii 1024');
    g.m.seed(`${LONG}/${MULTI_1024}`, 'multi 1024');
    g.m.seed(`${LONG}/deep/short`, 'short');
    // Stored keys the library can read (a one-byte bucket leaves room), but no S3 key can be.
    g.m.seed(`${SHORT}/${ASCII_1025}`, 'too long for S3');
    g.m.seed(`${SHORT}/${MULTI_1025}`, 'too long for S3');
  });

  after(async () => {
    clients.get(SHORT)?.destroy();
    clients.get(HUGE)?.destroy();
    await g?.close();
  });

  /** Lookups the store answered and requests the backends saw, so far. */
  const touched = (): number => g.m.store.calls + g.m.backends.reduce((n, b) => n + b.calls.get + b.calls.head + b.calls.list, 0);

  /** The S3 error a command fails with. */
  const failure = async (p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> => {
    try {
      await p;
    } catch (err) {
      if (err instanceof S3ServiceException) return { name: err.name, status: err.$metadata.httpStatusCode };
      throw err;
    }
    assert.fail('the request succeeded');
  };

  it('GET and HEAD serve a 1024-byte S3 key in a bucket with a 63-byte name', async () => {
    for (const [key, body] of [[ASCII_1024, 'ascii 1024'], [MULTI_1024, 'multi 1024']] as const) {
      const got = await client(LONG).send(new GetObjectCommand({ Bucket: LONG, Key: key }));
      assert.equal(await got.Body?.transformToString(), body);
      const head = await client(LONG).send(new HeadObjectCommand({ Bucket: LONG, Key: key }));
      assert.equal(head.ContentLength, bytes(body));
      const ranged = await client(LONG).send(new GetObjectCommand({ Bucket: LONG, Key: key, Range: 'bytes=0-4' }));
      assert.equal(await ranged.Body?.transformToString(), body.slice(0, 5));
    }
  });

  it('listings name 1024-byte keys, and continue after them (token, start-after, marker, common prefix)', async () => {
    const all = await client(LONG).send(new ListObjectsV2Command({ Bucket: LONG }));
    assert.deepEqual((all.Contents ?? []).map((c) => c.Key), [ASCII_1024, 'deep/short', MULTI_1024]);
    const pages: string[] = [];
    let token: string | undefined;
    do {
      const page = await client(LONG).send(new ListObjectsV2Command({ Bucket: LONG, MaxKeys: 1, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      pages.push(...(page.Contents ?? []).map((c) => c.Key ?? ''));
      token = page.NextContinuationToken;
    } while (token !== undefined);
    assert.deepEqual(pages, [ASCII_1024, 'deep/short', MULTI_1024]);
    const startAfter = await client(LONG).send(new ListObjectsV2Command({ Bucket: LONG, StartAfter: ASCII_1024 }));
    assert.deepEqual((startAfter.Contents ?? []).map((c) => c.Key), ['deep/short', MULTI_1024]);
    const marker = await client(LONG).send(new ListObjectsCommand({ Bucket: LONG, Marker: ASCII_1024 }));
    assert.deepEqual((marker.Contents ?? []).map((c) => c.Key), ['deep/short', MULTI_1024]);
    const rolled = await client(LONG).send(new ListObjectsV2Command({ Bucket: LONG, Delimiter: '/' }));
    assert.deepEqual((rolled.CommonPrefixes ?? []).map((c) => c.Prefix), ['deep/']);
    assert.deepEqual((rolled.Contents ?? []).map((c) => c.Key), [MULTI_1024]);
  });

  it('an S3 key over 1024 bytes is 400 KeyTooLongError from GET, HEAD and subresources, before the store or a backend is asked', async () => {
    const before = touched();
    for (const bucket of [LONG, SHORT]) {
      for (const key of [ASCII_1025, MULTI_1025]) {
        const what = `${bucket.slice(0, 10)}…/${key.slice(0, 10)}…`;
        assert.deepEqual(await failure(client(bucket).send(new GetObjectCommand({ Bucket: bucket, Key: key }))), { name: 'KeyTooLongError', status: 400 }, `GET ${what}`);
        assert.deepEqual(await failure(client(bucket).send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }))), { name: 'KeyTooLongError', status: 400 }, `ranged GET ${what}`);
        assert.equal((await failure(client(bucket).send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).status, 400, `HEAD ${what}`);
        assert.deepEqual(await failure(client(bucket).send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))), { name: 'KeyTooLongError', status: 400 }, `GET ?tagging ${what}`);
      }
    }
    assert.equal(touched(), before, 'no store lookup, no backend request');
  });

  it('the KeyTooLongError document gives the key\'s size and the size allowed, as S3\'s does', async () => {
    const url = await sdkPresign(client(SHORT), new GetObjectCommand({ Bucket: SHORT, Key: MULTI_1025 }) as unknown as Parameters<typeof sdkPresign>[1], { expiresIn: 300 });
    const r = await rawRequest(url);
    assert.equal(r.status, 400);
    const doc = r.body.toString();
    assert.match(doc, /<Code>KeyTooLongError<\/Code><Message>Your key is too long<\/Message>/);
    assert.match(doc, /<Size>1025<\/Size>/);
    assert.match(doc, /<MaxSizeAllowed>1024<\/MaxSizeAllowed>/);
  });

  it('in a bucket whose name is longer than S3 allows, the S3 key may be as long as the store key leaves room for', async () => {
    // The library reads keys of up to 1088 bytes (1024 + 63 + '/'): a 100-byte name leaves 987.
    const fits = 'f'.repeat(1088 - 100 - 1);
    g.m.seed(`${HUGE}/${fits}`, 'fits');
    assert.equal(await (await client(HUGE).send(new GetObjectCommand({ Bucket: HUGE, Key: fits }))).Body?.transformToString(), 'fits');
    const before = touched();
    assert.deepEqual(await failure(client(HUGE).send(new GetObjectCommand({ Bucket: HUGE, Key: `${fits}f` }))), { name: 'KeyTooLongError', status: 400 });
    const url = await sdkPresign(client(HUGE), new GetObjectCommand({ Bucket: HUGE, Key: ASCII_1024 }) as unknown as Parameters<typeof sdkPresign>[1], { expiresIn: 300 });
    const doc = (await rawRequest(url)).body.toString();
    assert.match(doc, /<Code>KeyTooLongError<\/Code>/);
    assert.match(doc, /<Size>1024<\/Size>/);
    assert.match(doc, /<MaxSizeAllowed>987<\/MaxSizeAllowed>/);
    assert.equal(touched(), before, 'no store lookup, no backend request');
  });
});
