/**
 * `readpath serve` answering as S3 does where a client can tell, found by an audit against S3's
 * documented behaviour: ranges past what a number holds (the AWS SDK for Java v1's "from N on",
 * and ranges ending before they start whatever their length),
 * a suffix of an empty object, preconditions before the range, strong If-Match, v1 markers that
 * equal the prefix, listing times and max-keys, and the error documents' own fields. Over memory backends, with the AWS SDK
 * and presigned URLs read as raw HTTP (to see headers and error documents as sent).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, HeadObjectCommand, ListObjectsCommand, ListObjectsV2Command, ListObjectVersionsCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { sdkPresign } from '../helpers/sigv4-requests.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-request.js';
import { startMemoryGateway, type MemoryGateway } from '../helpers/memory-gateway.js';

const AKID = 'AKIAS3ANSWERS0000001';
const SECRET = 's3-answers-secret-0123456789';
const BODY = Buffer.from('twenty-three bytes long');

describe('readpath serve: answers as S3 gives them', () => {
  let g: MemoryGateway;
  let s3: S3Client;
  let etag: string;

  before(async () => {
    g = await startMemoryGateway('web', { id: AKID, secret: SECRET });
    s3 = g.s3;
    const m = g.m;
    m.seed('web/obj', BODY);
    m.seed('web/empty', new Uint8Array(0));
    for (const k of ['dir/a.txt', 'dir/b.txt', 'dir/sub/c.txt', 'other.txt']) m.seed(`web/${k}`, k);
    etag = (await s3.send(new HeadObjectCommand({ Bucket: 'web', Key: 'obj' }))).ETag ?? '';
    // No row ETag: one derived from the row's SHA-256, in multipart form.
    assert.match(etag, /^"[0-9a-f]{32}-1"$/);
  });

  after(() => g?.close());

  /** A presigned GET (or HEAD) of `key` sent with `headers`, answered as it came. */
  const raw = async (key: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<RawAnswer> => {
    const cmd = method === 'GET' ? new GetObjectCommand({ Bucket: 'web', Key: key }) : new HeadObjectCommand({ Bucket: 'web', Key: key });
    const url = await sdkPresign(s3, cmd as unknown as Parameters<typeof sdkPresign>[1], { expiresIn: 300 });
    return rawRequest(url, { method, headers });
  };
  const statusOf = async (p: Promise<unknown>): Promise<number> => {
    try {
      await p;
      return 200;
    } catch (err) {
      if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode ?? 0;
      throw err;
    }
  };

  it('a range end past 2^53 is clipped to the object (206), as S3 does; a start past it is 416', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      for (const end of ['9223372036854775806', '9007199254740992', '99999999999999999999999']) {
        const r = await raw('obj', { range: `bytes=5-${end}` }, method);
        assert.equal(r.status, 206, `${method} bytes=5-${end}: ${r.body.toString()}`);
        assert.equal(r.headers['content-range'], `bytes 5-22/${BODY.length}`);
        if (method === 'GET') assert.equal(r.body.toString(), BODY.subarray(5).toString());
      }
      const past = await raw('obj', { range: 'bytes=99999999999999999999-' }, method);
      assert.equal(past.status, 416, method);
    }
  });

  it('a range that ends before it starts is ignored (200, the whole object) however long its numbers, as S3 ignores bytes=7-3', async () => {
    // Past 2^53 these are one number apiece (…993 and …992 read as …992): compared as numbers, the
    // first was served as a 416 and the others agreed with bytes=7-3 only by accident.
    for (const method of ['GET', 'HEAD'] as const) {
      for (const range of ['bytes=7-3', 'bytes=9007199254740993-9007199254740992', 'bytes=99999999999999999999-99999999999999999998', 'bytes=99999999999999999999-5']) {
        const r = await raw('obj', { range }, method);
        assert.equal(r.status, 200, `${method} ${range}: ${r.body.toString()}`);
        assert.equal(r.headers['content-range'], undefined);
        assert.equal(r.headers['content-length'], String(BODY.length));
        if (method === 'GET') assert.equal(r.body.toString(), BODY.toString());
      }
      // The same digits the right way round: a start past the object.
      assert.equal((await raw('obj', { range: 'bytes=9007199254740992-9007199254740993' }, method)).status, 416, method);
    }
  });

  it('RFC 9110\'s other forms of one range (the unit in any case, empty list elements, whitespace around them) are that range: 206, or 416 past the end; two ranges stay ignored', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      for (const range of ['Bytes=0-4', 'BYTES=0-4', 'bytes=0-4,', 'bytes=,0-4', 'bytes= 0-4', 'bytes=0-4 , ', 'bytes=, ,0-4,,']) {
        const r = await raw('obj', { range }, method);
        assert.equal(r.status, 206, `${method} ${range}: ${r.body.toString()}`);
        assert.equal(r.headers['content-range'], `bytes 0-4/${BODY.length}`, `${method} ${range}`);
        assert.equal(r.headers['content-length'], '5', `${method} ${range}`);
        if (method === 'GET') assert.equal(r.body.toString(), BODY.subarray(0, 5).toString(), range);
      }
      const suffix = await raw('obj', { range: 'Bytes= -5,' }, method);
      assert.equal(suffix.status, 206, method);
      assert.equal(suffix.headers['content-range'], `bytes 18-22/${BODY.length}`, method);
      const past = await raw('obj', { range: 'Bytes=100-,' }, method);
      assert.equal(past.status, 416, method);
      assert.equal(past.headers['content-range'], `bytes */${BODY.length}`, method);
      // The InvalidRange document names the range as the client wrote it.
      if (method === 'GET') assert.match(past.body.toString(), /<RangeRequested>Bytes=100-,<\/RangeRequested>/);
      // Two real ranges, however written: S3 serves no part of several, it answers the whole object.
      for (const range of ['bytes=0-4,6-9', 'Bytes=0-4, ,6-9', 'bytes=0-4, 0-4']) {
        const r = await raw('obj', { range }, method);
        assert.equal(r.status, 200, `${method} ${range}`);
        assert.equal(r.headers['content-range'], undefined, `${method} ${range}`);
        assert.equal(r.headers['content-length'], String(BODY.length), `${method} ${range}`);
      }
    }
    // The SDK sends what it is given: the same range through it.
    const got = await s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', Range: 'Bytes=5-9,' }));
    assert.equal(got.ContentRange, `bytes 5-9/${BODY.length}`);
    assert.equal(await got.Body?.transformToString(), BODY.subarray(5, 10).toString());
  });

  it('a suffix range of an empty object is the whole, empty object (200, no Content-Range); bytes=0-0 of it is 416', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await raw('empty', { range: 'bytes=-5' }, method);
      assert.equal(r.status, 200, method);
      assert.equal(r.headers['content-range'], undefined);
      assert.equal(r.headers['content-length'], '0');
      assert.equal((await raw('empty', { range: 'bytes=0-0' }, method)).status, 416, method);
    }
  });

  it('a failed If-Match is 412 before an unsatisfiable range is 416; a weak If-Match tag never matches', async () => {
    // (The memory fixture's rows date the objects 1 ms after the epoch.)
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfMatch: '"nope"', Range: 'bytes=100-200' }))), 412, 'If-Match fails, range unsatisfiable');
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfMatch: etag, Range: 'bytes=100-200' }))), 416, 'If-Match holds, range unsatisfiable');
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfUnmodifiedSince: new Date('1969-12-31T00:00:00Z'), Range: 'bytes=100-' }))), 412, 'If-Unmodified-Since fails, range unsatisfiable');
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfMatch: `W/${etag}` }))), 412, 'weak If-Match, GET');
    assert.equal(await statusOf(s3.send(new HeadObjectCommand({ Bucket: 'web', Key: 'obj', IfMatch: `W/${etag}` }))), 412);
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfMatch: etag }))), 200);
    // If-None-Match compares weakly.
    assert.equal(await statusOf(s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'obj', IfNoneMatch: `W/${etag}` }))), 304);
  });

  it('ListObjects v1 and ListObjectVersions with a marker equal to the prefix list what follows it', async () => {
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: 'web', Prefix: 'dir/', Delimiter: '/', Marker: 'dir/' }));
    assert.deepEqual((v1.Contents ?? []).map((c) => c.Key), ['dir/a.txt', 'dir/b.txt']);
    assert.deepEqual((v1.CommonPrefixes ?? []).map((c) => c.Prefix), ['dir/sub/']);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'web', Prefix: 'dir/', Delimiter: '/', KeyMarker: 'dir/' }));
    assert.deepEqual((versions.Versions ?? []).map((c) => c.Key), ['dir/a.txt', 'dir/b.txt']);
    assert.deepEqual((versions.CommonPrefixes ?? []).map((c) => c.Prefix), ['dir/sub/']);
    // A marker that is one of the listing's common prefixes (what NextMarker gives) still skips its keys.
    const after = await s3.send(new ListObjectsCommand({ Bucket: 'web', Prefix: 'dir/', Delimiter: '/', Marker: 'dir/sub/' }));
    assert.deepEqual((after.Contents ?? []).map((c) => c.Key), []);
    assert.deepEqual((after.CommonPrefixes ?? []).map((c) => c.Prefix), []);
    const top = await s3.send(new ListObjectsCommand({ Bucket: 'web', Delimiter: '/', Marker: 'dir/' }));
    assert.deepEqual((top.Contents ?? []).map((c) => c.Key), ['empty', 'obj', 'other.txt']);
  });

  it('listings give times in whole seconds, as the objects\' Last-Modified headers do; a max-keys past 32 bits is 400, as S3 answers', async () => {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'web', Prefix: 'dir/' }));
    assert.ok((page.Contents ?? []).length > 0);
    for (const c of page.Contents ?? []) {
      assert.equal((c.LastModified?.getTime() ?? 1) % 1000, 0, `${c.Key ?? ''}: ${c.LastModified?.toISOString() ?? ''}`);
      const h = await s3.send(new HeadObjectCommand({ Bucket: 'web', Key: c.Key }));
      assert.equal(h.LastModified?.getTime(), c.LastModified?.getTime(), `${c.Key ?? ''}: the listing and the HEAD agree`);
    }
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'web', Prefix: 'dir/' }));
    for (const v of versions.Versions ?? []) assert.equal((v.LastModified?.getTime() ?? 1) % 1000, 0);
    assert.equal(await statusOf(s3.send(new ListObjectsV2Command({ Bucket: 'web', MaxKeys: 3_000_000_000 }))), 400);
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'web', MaxKeys: 2_000_000_000 }))).MaxKeys, 1000, 'within 32 bits: capped at 1000');
  });

  it('error documents carry S3\'s fields: NoSuchKey its Key, InvalidRange the range and size (and Content-Range), SignatureDoesNotMatch what was signed', async () => {
    const missing = await raw('no/such key');
    assert.equal(missing.status, 404);
    const doc = missing.body.toString();
    assert.match(doc, /<Code>NoSuchKey<\/Code><Message>The specified key does not exist\.<\/Message>/);
    assert.match(doc, /<Key>no\/such key<\/Key>/);
    const range = await raw('obj', { range: 'bytes=100-200' });
    assert.equal(range.status, 416);
    assert.equal(range.headers['content-range'], `bytes */${BODY.length}`);
    assert.match(range.body.toString(), /<Code>InvalidRange<\/Code><Message>The requested range is not satisfiable<\/Message>/);
    assert.match(range.body.toString(), /<ActualObjectSize>23<\/ActualObjectSize>/);
    assert.match(range.body.toString(), /<RangeRequested>bytes=100-200<\/RangeRequested>/);
    // A HEAD's error has no body, but the same status.
    assert.equal((await raw('obj', { range: 'bytes=100-200' }, 'HEAD')).status, 416);
    const url = await sdkPresign(s3, new GetObjectCommand({ Bucket: 'web', Key: 'obj' }) as unknown as Parameters<typeof sdkPresign>[1], { expiresIn: 300 });
    const tampered = url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    const bad = await rawRequest(tampered);
    assert.equal(bad.status, 403);
    const text = bad.body.toString();
    assert.match(text, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(text, new RegExp(`<AWSAccessKeyId>${AKID}</AWSAccessKeyId>`));
    assert.match(text, /<StringToSign>AWS4-HMAC-SHA256\n/);
    assert.match(text, /<CanonicalRequest>GET\n\/web\/obj\n/);
    assert.match(text, /<SignatureProvided>[0-9a-f]{64}<\/SignatureProvided>/);
  });
});
