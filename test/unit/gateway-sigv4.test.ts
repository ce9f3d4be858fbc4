/**
 * The gateway's SigV4 verifier (src/gateway/sigv4-verify.ts): requests signed by
 * @smithy/signature-v4, by the AWS SDK's S3 client over a real HTTP connection, presigned the way
 * the SDK's presigner does it, and by our S3Signer verify — for keys with spaces, unicode, `+`,
 * `%2F`, `~`, 1024 bytes, and `=`/`&` in query values, whichever way the client encoded its URL;
 * AWS's published examples verify; every refusal gets its S3 code and status; the signing key is
 * derived once per access key, day and region.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsCommand,
  ListObjectsV2Command, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { S3Signer } from '../../src/backends/s3-signer.js';
import { s3Address } from '../../src/backends/s3-address.js';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';
import {
  SigV4Verifier, type GatewayCredential, type VerifyFailure, type VerifyInput, type VerifyResult, type VerifySuccess,
} from '../../src/gateway/sigv4-verify.js';
import {
  canonicalHeaderValue, canonicalQueryString, canonicalUri, decodePathComponent, decodeQueryComponent, parseCanonicalQuery,
} from '../../src/gateway/canonical.js';
import {
  ALICE, BOB, EMPTY_SHA256, HOST, T0, TRICKY_KEYS, WIRE_STYLES, amzDate, encodeKey, manualAuthorization, sdkPresign,
  smithyPresigned, smithySigned, type Query, type Resolvable,
} from '../helpers/sigv4-requests.js';

const at = (d: Date, ms: number): Date => new Date(d.getTime() + ms);
const MIN = 60_000;

function verifier(opts: ConstructorParameters<typeof SigV4Verifier>[1] = {}): SigV4Verifier {
  return new SigV4Verifier([ALICE, BOB], opts);
}

function assertOk(r: VerifyResult, what = ''): asserts r is VerifySuccess {
  if (!r.ok) assert.fail(`${what}: expected ok, got ${r.status} ${r.code}: ${r.message}\n${JSON.stringify(r.details ?? {}, null, 1)}`);
}

function assertRefused(r: VerifyResult, status: 400 | 403, code: string, message?: RegExp, what = ''): asserts r is VerifyFailure {
  if (r.ok) assert.fail(`${what}: expected ${status} ${code}, got ok`);
  assert.equal(r.code, code, `${what}: ${r.message}`);
  assert.equal(r.status, status, what);
  if (message !== undefined) assert.match(r.message, message, what);
}

/** A query exercising `=`, `&`, `+`, spaces, unicode and `~` in names and values. */
const LIST_QUERY: Query = {
  'list-type': '2',
  prefix: 'a=b&c d+e/ü~f',
  delimiter: '/',
  'start-after': 'x=1&y=2',
  'continuation-token': 'tok+/==',
  'encoding-type': 'url',
};
const GET_QUERY: Query = {
  'x-id': 'GetObject',
  'response-content-disposition': 'attachment; filename="a b+c.txt"; filename*=UTF-8\'\'%C3%BC.txt',
  'response-content-type': 'text/plain; charset=utf-8',
};

describe('canonical forms', () => {
  it('normalizes every client encoding of a path to SigV4 encoding, once encoded, never normalizing dots or slashes', () => {
    for (const key of TRICKY_KEYS) {
      const signed = `/photos/${encodeKey(key)}`;
      assert.equal(canonicalUri(signed), signed, key);
      assert.equal(decodePathComponent(signed), `/photos/${key}`, key);
    }
    assert.equal(canonicalUri('/b/a+b%2bc%2Bd'), '/b/a%2Bb%2Bc%2Bd', "'+' in a path is a plus, raw or encoded");
    assert.equal(canonicalUri('/b/%7Ex~y%7e'), '/b/~x~y~', "'~' is unreserved, raw or encoded");
    assert.equal(canonicalUri('/b/a%2Fb/c%2fd'), '/b/a%2Fb/c%2Fd', '%2F stays inside its segment');
    assert.equal(canonicalUri('/b/%c3%bc%41'), '/b/%C3%BCA', 'hex case, unreserved bytes decoded');
    assert.equal(canonicalUri("/b/!$&'()*,;=:@"), '/b/%21%24%26%27%28%29%2A%2C%3B%3D%3A%40');
    assert.equal(canonicalUri('/b/./../x//y/'), '/b/./../x//y/');
    assert.equal(canonicalUri('/b/ü'), '/b/%C3%BC', 'a caller string with unicode: its UTF-8 bytes');
    assert.equal(canonicalUri('/b/%FF%FE'), '/b/%FF%FE', 'bytes that are not UTF-8 still sign');
    for (const bad of ['/b/%', '/b/%2', '/b/%zz', '/b/%2G', 'b/no-slash', '', '/b/\uD800']) assert.equal(canonicalUri(bad), null, bad);
  });

  it("canonicalizes queries: '+' is a space, '=' after the first is data, sorted by name then value, valueless params sign as 'name='", () => {
    const params = parseCanonicalQuery('b=2&a=z&a=y&prefix=a+b%2Bc&location&e=x=y&&empty=&%7e=~');
    assert.ok(params !== null);
    assert.equal(canonicalQueryString(params), 'a=y&a=z&b=2&e=x%3Dy&empty=&location=&prefix=a%20b%2Bc&~=~', 'byte order: ~ after letters');
    assert.equal(canonicalQueryString(params, 'a'), 'b=2&e=x%3Dy&empty=&location=&prefix=a%20b%2Bc&~=~');
    assert.equal(parseCanonicalQuery('a=%'), null);
    assert.equal(parseCanonicalQuery('%zz=1'), null);
    assert.deepEqual(parseCanonicalQuery(''), []);
    assert.equal(decodeQueryComponent('a+b%2Bc%3D%26'), 'a b+c=&');
    assert.equal(decodeQueryComponent('%FF'), null, 'not UTF-8');
    // Name order before value order: 'a' < 'a-b' although 'a=' > 'a-b='.
    assert.equal(canonicalQueryString(parseCanonicalQuery('a-b=1&a=2') ?? []), 'a=2&a-b=1');
  });

  it('canonicalizes header values as @smithy/signature-v4 does', () => {
    assert.equal(canonicalHeaderValue('  a \t b  c '), 'a b c');
    assert.equal(canonicalHeaderValue('a\r\n b'), 'a b');
    assert.equal(canonicalHeaderValue('Thu, 01 Jan 1970 00:00:00 GMT'), 'Thu, 01 Jan 1970 00:00:00 GMT');
  });
});

describe('AWS published examples (Signature V4 for Amazon S3 documentation)', () => {
  const EXAMPLE: GatewayCredential = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', buckets: ['examplebucket'] };
  const v = new SigV4Verifier([EXAMPLE], { region: 'us-east-1' });
  const now = new Date('2013-05-24T00:05:00Z');
  const headers = (signedHeaders: string, signature: string, extra: Record<string, string> = {}): Record<string, string> => ({
    host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY_SHA256, ...extra,
    authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`,
  });

  it('GET Object with a Range header', () => {
    assertOk(v.verify({
      method: 'GET', rawUrl: '/test.txt', now,
      headers: headers('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41', { range: 'bytes=0-9' }),
    }));
  });

  it('GET Bucket lifecycle (a parameter without a value)', () => {
    assertOk(v.verify({
      method: 'GET', rawUrl: '/?lifecycle', now,
      headers: headers('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    }));
  });

  it('GET Bucket (list objects) with max-keys and prefix', () => {
    assertOk(v.verify({
      method: 'GET', rawUrl: '/?max-keys=2&prefix=J', now,
      headers: headers('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    }));
  });

  it('a presigned GET Object URL, valid for 86400 s', () => {
    const rawUrl = '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request'
      + '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host'
      + '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const input = { method: 'GET', rawUrl, headers: { host: 'examplebucket.s3.amazonaws.com' } };
    const r = v.verify({ ...input, now });
    assertOk(r);
    assert.equal(r.presigned, true);
    assert.equal(r.payloadHash, 'UNSIGNED-PAYLOAD');
    assertOk(v.verify({ ...input, now: new Date('2013-05-25T00:00:00Z') }), 'the last second');
    assertRefused(v.verify({ ...input, now: new Date('2013-05-25T00:00:01Z') }), 403, 'AccessDenied', /^Request has expired$/);
  });
});

describe('requests signed by @smithy/signature-v4, however the client encodes its URL', () => {
  const v = verifier();
  const now = at(T0, 30_000);

  it('header-signed GET and HEAD of every tricky key, in every wire encoding', async () => {
    let checked = 0;
    for (const key of TRICKY_KEYS) {
      for (const style of WIRE_STYLES) {
        for (const method of ['GET', 'HEAD']) {
          const input = await smithySigned({ method, key, style, headers: { range: 'bytes=0-99', 'if-none-match': '"abc"' } });
          const r = v.verify({ ...input, now });
          assertOk(r, `${method} ${JSON.stringify(key)} ${style} ${input.rawUrl}`);
          assert.equal(r.accessKeyId, ALICE.accessKeyId);
          assert.deepEqual(r.credential.buckets, ['photos']);
          assert.equal(r.presigned, false);
          assert.equal(r.payloadHash, 'UNSIGNED-PAYLOAD');
          checked++;
        }
      }
    }
    assert.equal(checked, TRICKY_KEYS.length * WIRE_STYLES.length * 2);
  });

  it("'=' and '&' (and '+', spaces, unicode) in query values, ListObjectsV2 and GetObject overrides, every wire encoding", async () => {
    for (const style of WIRE_STYLES) {
      for (const query of [LIST_QUERY, GET_QUERY, { location: null }, { versioning: '' }, { 'a&b=c': 'd=e&f', 'multi': ['2', '1', '1'] }]) {
        const input = await smithySigned({ path: query === LIST_QUERY || 'location' in query ? '/photos' : '/photos/k', query, style });
        assertOk(v.verify({ ...input, now }), `${style} ${input.rawUrl}`);
      }
    }
  });

  it("a key whose '/' the client sends as %2F (and signs so)", async () => {
    const input = await smithySigned({ path: '/photos/dir%2Fsub%2Ffile.txt' });
    assert.equal(input.rawUrl, '/photos/dir%2Fsub%2Ffile.txt');
    assertOk(v.verify({ ...input, now }));
    // Signed as %2F but sent as '/', or the reverse: those are different keys to S3, and different signatures.
    assertRefused(v.verify({ ...input, rawUrl: '/photos/dir/sub/file.txt', now }), 403, 'SignatureDoesNotMatch');
  });

  it('presigned GET and HEAD of every tricky key, in every wire encoding, with query parameters', async () => {
    for (const key of TRICKY_KEYS) {
      for (const style of WIRE_STYLES) {
        const input = await smithyPresigned({ key, style, query: GET_QUERY, expiresIn: 900 });
        const r = v.verify({ ...input, now });
        assertOk(r, `${JSON.stringify(key)} ${style} ${input.rawUrl}`);
        assert.equal(r.presigned, true);
        assert.equal(r.payloadHash, 'UNSIGNED-PAYLOAD');
      }
    }
    assertOk(v.verify({ ...(await smithyPresigned({ method: 'HEAD', path: '/photos', query: LIST_QUERY, style: 'form-spaces' })), now }));
  });

  it('any region the client is configured with (us-east-1, auto, a custom name) — unless one is required', async () => {
    for (const region of ['us-east-1', 'eu-west-3', 'auto', 'garage', 'my_region.1']) {
      assertOk(v.verify({ ...(await smithySigned({ region })), now }), region);
      assertOk(v.verify({ ...(await smithyPresigned({ region })), now }), region);
    }
    const strict = verifier({ region: 'eu-west-3' });
    assertOk(strict.verify({ ...(await smithySigned({ region: 'eu-west-3' })), now }));
    const r = strict.verify({ ...(await smithySigned({ region: 'us-east-1' })), now });
    assertRefused(r, 400, 'AuthorizationHeaderMalformed', /region 'us-east-1' is wrong; expecting 'eu-west-3'/);
    assert.equal(r.details?.['Region'], 'eu-west-3');
    assertRefused(strict.verify({ ...(await smithyPresigned({ region: 'us-east-1' })), now }), 400, 'AuthorizationQueryParametersError', /wrong/);
  });

  it('each credential verifies with its own secret; the result names it and its buckets', async () => {
    const r = v.verify({ ...(await smithySigned({ cred: BOB, bucket: 'logs' })), now });
    assertOk(r);
    assert.equal(r.accessKeyId, BOB.accessKeyId);
    assert.deepEqual(r.credential.buckets, ['logs', 'photos-archive']);
  });

  it('a session token is signed like any header or parameter and otherwise ignored', async () => {
    const cred = { ...ALICE, sessionToken: 'FwoGZXIvYXdzE+token/=' };
    const header = await smithySigned({ cred });
    assert.equal(header.headers['x-amz-security-token'], cred.sessionToken);
    assertOk(v.verify({ ...header, now }));
    const query = await smithyPresigned({ cred });
    assert.match(query.rawUrl, /X-Amz-Security-Token=/);
    assertOk(v.verify({ ...query, now }));
  });

  it('payload hashes: UNSIGNED-PAYLOAD, the empty hash, none (generic signers), any hex hash on a GET (bodies are never read), STREAMING-*', async () => {
    for (const payloadHash of ['UNSIGNED-PAYLOAD', EMPTY_SHA256, 'a'.repeat(64), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
      const r = v.verify({ ...(await smithySigned({ headers: { 'x-amz-content-sha256': payloadHash } })), now });
      assertOk(r, payloadHash);
      assert.equal(r.payloadHash, payloadHash);
    }
    // No x-amz-content-sha256 at all: smithy (any generic SigV4 signer) signs a bodiless request's empty hash.
    const signed = await new (await import('@smithy/signature-v4')).SignatureV4({
      service: 's3', region: 'us-east-1', credentials: ALICE, sha256: (await import('../../src/backends/s3-signer.js')).NodeSha256, uriEscapePath: false, applyChecksum: false,
    }).sign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 9000, path: '/photos/k', query: {}, headers: { host: HOST } }, { signingDate: T0 });
    assert.equal(signed.headers['x-amz-content-sha256'], undefined);
    const r = v.verify({ method: 'GET', rawUrl: '/photos/k', headers: signed.headers, now });
    assertOk(r);
    assert.equal(r.payloadHash, EMPTY_SHA256);
  });

  it('header names in any case and multi-value headers (node:http arrays, rawHeaders)', async () => {
    const input = await smithySigned();
    const mixed: Record<string, string> = {};
    for (const [k, v2] of Object.entries(input.headers)) mixed[k.toUpperCase()] = v2 as string;
    assertOk(v.verify({ ...input, headers: mixed, now }));

    // A header sent twice: canonical values joined with ','. node:http joins them with ', ' in
    // req.headers (indistinguishable from one value holding ', '); req.rawHeaders keeps them apart.
    const stamp = amzDate(T0);
    const authorization = manualAuthorization({
      canonicalUri: '/photos/k', stamp,
      canonicalHeaders: [['host', HOST], ['x-amz-date', stamp], ['x-amz-meta-tag', 'a, b,c']],
    });
    const rawHeaders = ['Host', HOST, 'X-Amz-Date', stamp, 'x-amz-meta-tag', '  a,  b ', 'X-Amz-Meta-Tag', 'c', 'Authorization', authorization];
    const headers = { host: HOST, 'x-amz-date': stamp, 'x-amz-meta-tag': 'a,  b, c', authorization };
    assertOk(v.verify({ method: 'GET', rawUrl: '/photos/k', headers, rawHeaders, now }));
    assertOk(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { ...headers, 'x-amz-meta-tag': ['a,  b', 'c'] }, now }), 'as an array');
  });

  it('an HTTP Date header in place of x-amz-date', () => {
    const date = T0.toUTCString();
    const authorization = manualAuthorization({ canonicalUri: '/photos/k', stamp: amzDate(T0), canonicalHeaders: [['date', date], ['host', HOST]] });
    assertOk(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { host: HOST, date, authorization }, now }));
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { host: HOST, date, authorization }, now: at(T0, 16 * MIN) }), 403, 'RequestTimeTooSkewed');
  });
});

describe('requests signed by our S3Signer (the lean transport)', () => {
  it('verify for every key and header shape the transport sends', async () => {
    const v = verifier();
    const address = s3Address('http://127.0.0.1:9000', 'photos', true);
    const signer = new S3Signer(address, 'eu-central-1', async () => ({ accessKeyId: BOB.accessKeyId, secretAccessKey: BOB.secretAccessKey }));
    for (const key of TRICKY_KEYS) {
      const extras: Record<string, string>[] = [{}, { range: 'bytes=-512', 'if-match': '"abc"' }, { 'if-modified-since': 'Thu,  01 Jan 1970  00:00:00 GMT' }];
      for (const extra of extras) {
        const path = `${address.prefix}${encodeKey(key)}`;
        const headers = await signer.sign('GET', path, { host: address.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra }, T0);
        const r = v.verify({ method: 'GET', rawUrl: path, headers, now: T0 });
        assertOk(r, `${key} ${JSON.stringify(extra)}`);
        assert.equal(r.region, 'eu-central-1');
      }
    }
  });
});

/** A minimal S3 answer for what the SDK asked, so its deserializers are content. */
function answer(method: string, url: string): { status: number; body: string } {
  const [path = '', query = ''] = url.split('?');
  if (method === 'HEAD') return { status: 200, body: '' };
  if (path === '/') {
    return { status: 200, body: '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Buckets><Bucket><Name>photos</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets><Owner><ID>o</ID></Owner></ListAllMyBucketsResult>' };
  }
  if (/(^|&)location(=|&|$)/.test(query)) return { status: 200, body: '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-central-1</LocationConstraint>' };
  if (/^\/[^/]+\/?$/.test(path)) {
    return { status: 200, body: '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>photos</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>' };
  }
  return { status: 200, body: 'object body' };
}

type GetSignedUrl = (client: S3Client, command: unknown, options: { expiresIn: number; signingDate?: Date }) => Promise<string>;

/** The real presigner when it is installed. */
async function realGetSignedUrl(): Promise<GetSignedUrl | undefined> {
  try {
    const name = '@aws-sdk/s3-request-presigner';
    const mod = (await import(name)) as { getSignedUrl: GetSignedUrl };
    return mod.getSignedUrl;
  } catch {
    return undefined;
  }
}

/**
 * GET a URL with its path and query sent exactly as written: fetch (WHATWG URL) would resolve
 * `.` and `..` segments first, as browsers and curl do — and break any signature over them, S3's
 * too.
 */
async function getAsIs(url: string): Promise<{ status: number; text: string }> {
  const m = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url);
  assert.ok(m !== null, url);
  const [, host = '', port = '', path = ''] = m;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port: Number(port), path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the AWS SDK (@aws-sdk/client-s3) over HTTP: header-signed commands and presigned URLs', () => {
  let server: Server;
  let endpoint = '';
  let now: number | undefined;
  const results: { url: string; result: VerifyResult }[] = [];
  const v = new SigV4Verifier([ALICE, BOB], { now: () => now ?? Date.now() });

  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      const result = v.verify({ method: req.method ?? '', rawUrl: url, headers: req.headers, rawHeaders: req.rawHeaders });
      results.push({ url, result });
      if (!result.ok) {
        res.writeHead(result.status, { 'content-type': 'application/xml' });
        res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${result.code}</Code><Message>denied</Message></Error>`);
        return;
      }
      const { status, body } = answer(req.method ?? '', url);
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (cred: { accessKeyId: string; secretAccessKey: string }, region = 'us-east-1'): S3Client => withoutSdkNodeVersionWarning(() => new S3Client({
    region, endpoint, forcePathStyle: true, credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey }, maxAttempts: 1,
  }));

  it('every read command, for every tricky key, verifies as sent', async () => {
    const s3 = client(ALICE, 'eu-central-1');
    try {
      results.length = 0;
      for (const Key of TRICKY_KEYS) {
        const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key, Range: 'bytes=0-9', ResponseContentDisposition: 'attachment; filename="a=b&c.txt"' }));
        assert.equal(await got.Body?.transformToString(), 'object body');
        await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key, IfNoneMatch: '"etag"' }));
      }
      await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'a=b&c d+e/ü~', Delimiter: '/', StartAfter: 'x y', ContinuationToken: 'tok+/==', EncodingType: 'url', MaxKeys: 10 }));
      await s3.send(new ListObjectsCommand({ Bucket: 'photos', Prefix: 'p&q=r', Marker: 'm+n' }));
      await s3.send(new GetBucketLocationCommand({ Bucket: 'photos' }));
      await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
      await s3.send(new ListBucketsCommand({}));
      assert.equal(results.length, TRICKY_KEYS.length * 2 + 5);
      for (const { url, result } of results) {
        assertOk(result, url);
        assert.equal(result.region, 'eu-central-1');
        assert.equal(result.presigned, false);
      }
    } finally {
      s3.destroy();
    }
  });

  it('a wrong secret and an unknown access key are refused with their S3 codes', async () => {
    for (const [cred, code] of [[{ ...ALICE, secretAccessKey: 'wrong' }, 'SignatureDoesNotMatch'], [{ accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }, 'InvalidAccessKeyId']] as const) {
      const s3 = client(cred);
      try {
        await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'k' })), (e: unknown) => e instanceof S3ServiceException && e.name === code);
      } finally {
        s3.destroy();
      }
    }
  });

  it('presigned URLs (the SDK presigner): valid, then expired; every tricky key', async () => {
    const real = await realGetSignedUrl();
    const presign = async (s3: S3Client, command: GetObjectCommand | HeadObjectCommand | ListObjectsV2Command, expiresIn: number, signingDate?: Date): Promise<string> => (
      real !== undefined ? real(s3, command, { expiresIn, signingDate }) : sdkPresign(s3, command as unknown as Resolvable, { expiresIn, signingDate })
    );
    const s3 = client(ALICE);
    try {
      for (const Key of TRICKY_KEYS) {
        const url = await presign(s3, new GetObjectCommand({ Bucket: 'photos', Key, ResponseContentType: 'text/plain; a=b&c' }), 600);
        assert.match(url, /X-Amz-Signature=[0-9a-f]{64}/);
        const { status, text } = await getAsIs(url);
        assert.equal(status, 200, `${Key}: ${text}`);
        assert.equal(text, 'object body');
        const last = results.at(-1);
        assert.ok(last !== undefined);
        assertOk(last.result, Key);
        assert.equal(last.result.presigned, true);
      }
      const list = await presign(s3, new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'a=b&c d+e/ü~', Delimiter: '/' }), 60);
      assert.equal((await getAsIs(list)).status, 200);

      // Valid for 60 s from its signing date: at 59 s it works; at 61 s it has expired.
      const signingDate = new Date(Math.floor(Date.now() / 1000) * 1000);
      const url = await presign(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'dir with space/ü+~.txt' }), 60, signingDate);
      now = signingDate.getTime() + 59_000;
      assert.equal((await getAsIs(url)).status, 200);
      now = signingDate.getTime() + 61_000;
      const expired = await getAsIs(url);
      assert.equal(expired.status, 403);
      assert.match(expired.text, /<Code>AccessDenied<\/Code>/);
      const last = results.at(-1);
      assert.ok(last !== undefined && !last.result.ok);
      assert.equal(last.result.message, 'Request has expired');
    } finally {
      now = undefined;
      s3.destroy();
    }
  });
});

describe('refusals', () => {
  const v = verifier();
  const now = at(T0, 30_000);

  it('anonymous → 403 AccessDenied', () => {
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { host: HOST }, now }), 403, 'AccessDenied', /anonymous/);
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k?list-type=2&prefix=a', headers: { host: HOST }, now }), 403, 'AccessDenied');
  });

  it('unknown access key → 403 InvalidAccessKeyId', async () => {
    const cred = { accessKeyId: 'AKIANOBODY', secretAccessKey: ALICE.secretAccessKey };
    const r = v.verify({ ...(await smithySigned({ cred })), now });
    assertRefused(r, 403, 'InvalidAccessKeyId');
    assert.equal(r.details?.['AWSAccessKeyId'], 'AKIANOBODY');
    assertRefused(v.verify({ ...(await smithyPresigned({ cred })), now }), 403, 'InvalidAccessKeyId');
  });

  it("wrong secret → 403 SignatureDoesNotMatch, with S3's debugging details", async () => {
    const r = v.verify({ ...(await smithySigned({ cred: { ...ALICE, secretAccessKey: 'not-the-secret' }, key: 'a b' })), now });
    assertRefused(r, 403, 'SignatureDoesNotMatch');
    assert.match(r.details?.['CanonicalRequest'] ?? '', /^GET\n\/photos\/a%20b\n\nhost:127\.0\.0\.1:9000\n/);
    assert.match(r.details?.['StringToSign'] ?? '', /^AWS4-HMAC-SHA256\n20260301T120000Z\n20260301\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(r).includes(ALICE.secretAccessKey), 'no secret in a refusal');
    assertRefused(v.verify({ ...(await smithyPresigned({ cred: { ...ALICE, secretAccessKey: 'nope' } })), now }), 403, 'SignatureDoesNotMatch');
  });

  it('anything signed, changed after signing → 403 SignatureDoesNotMatch; unsigned headers may change', async () => {
    const input = await smithySigned({ key: 'k', query: { 'x-id': 'GetObject' }, headers: { range: 'bytes=0-9' } });
    assertOk(v.verify({ ...input, now }));
    const changed: [string, VerifyInput][] = [
      ['signed header', { ...input, headers: { ...input.headers, range: 'bytes=0-10' } }],
      ['signed header removed', { ...input, headers: { ...input.headers, range: undefined } }],
      ['host', { ...input, headers: { ...input.headers, host: '127.0.0.1:9001' } }],
      ['payload hash', { ...input, headers: { ...input.headers, 'x-amz-content-sha256': EMPTY_SHA256 } }],
      ['path', { ...input, rawUrl: input.rawUrl.replace('/k?', '/K?') }],
      ['bucket', { ...input, rawUrl: input.rawUrl.replace('/photos/', '/logs/') }],
      ['query added', { ...input, rawUrl: `${input.rawUrl}&prefix=x` }],
      ['query removed', { ...input, rawUrl: input.rawUrl.split('?')[0] ?? '' }],
      ['method', { ...input, method: 'DELETE' }],
      ['date (within the skew)', { ...input, headers: { ...input.headers, 'x-amz-date': amzDate(at(T0, 1000)) } }],
      ['signature', { ...input, headers: { ...input.headers, authorization: (input.headers.authorization ?? '').replace(/.$/, (c) => (c === '0' ? '1' : '0')) } }],
      ['signature not hex', { ...input, headers: { ...input.headers, authorization: (input.headers.authorization ?? '').replace(/Signature=.*$/, 'Signature=xyz') } }],
    ];
    for (const [what, bad] of changed) assertRefused(v.verify({ ...bad, now }), 403, 'SignatureDoesNotMatch', undefined, what);
    assertOk(v.verify({ ...input, headers: { ...input.headers, 'user-agent': 'other', 'x-forwarded-for': '1.2.3.4' }, now }), 'unsigned headers');

    const presigned = await smithyPresigned({ key: 'k' });
    assertRefused(v.verify({ ...presigned, rawUrl: presigned.rawUrl.replace('X-Amz-Expires=3600', 'X-Amz-Expires=7200'), now }), 403, 'SignatureDoesNotMatch');
    assertRefused(v.verify({ ...presigned, rawUrl: `${presigned.rawUrl}&response-content-type=text%2Fhtml`, now }), 403, 'SignatureDoesNotMatch');
    assertRefused(v.verify({ ...presigned, headers: { host: 'evil.example' }, now }), 403, 'SignatureDoesNotMatch');
  });

  it('x-amz-date more than 15 minutes off → 403 RequestTimeTooSkewed; within, accepted', async () => {
    const input = await smithySigned();
    assertOk(v.verify({ ...input, now: at(T0, 14 * MIN) }));
    assertOk(v.verify({ ...input, now: at(T0, -14 * MIN) }));
    for (const off of [16 * MIN, -16 * MIN, 24 * 60 * MIN]) {
      const r = v.verify({ ...input, now: at(T0, off) });
      assertRefused(r, 403, 'RequestTimeTooSkewed', undefined, `${off / MIN} min`);
      assert.equal(r.details?.['RequestTime'], '20260301T120000Z');
    }
    const tight = verifier({ maxSkewMs: 1000, now: () => T0.getTime() + 2000 });
    assertRefused(tight.verify(input), 403, 'RequestTimeTooSkewed', undefined, 'maxSkewMs and the injected clock');
  });

  it('presigned: valid until X-Amz-Date + X-Amz-Expires, then 403 AccessDenied "Request has expired"; from the future beyond the skew, AccessDenied "Request is not yet valid" (as S3 answers)', async () => {
    const input = await smithyPresigned({ expiresIn: 300 });
    assertOk(v.verify({ ...input, now: T0 }));
    assertOk(v.verify({ ...input, now: at(T0, 300_000) }));
    assertRefused(v.verify({ ...input, now: at(T0, 301_000) }), 403, 'AccessDenied', /^Request has expired$/);
    assertRefused(v.verify({ ...input, now: at(T0, 30 * 24 * 60 * MIN) }), 403, 'AccessDenied', /^Request has expired$/);
    assertOk(v.verify({ ...input, now: at(T0, -14 * MIN) }));
    assertRefused(v.verify({ ...input, now: at(T0, -16 * MIN) }), 403, 'AccessDenied', /^Request is not yet valid$/);
    const week = await smithyPresigned({ expiresIn: 604_800 });
    assertOk(v.verify({ ...week, now: at(T0, 604_800_000) }));
    assertRefused(v.verify({ ...week, now: at(T0, 604_801_000) }), 403, 'AccessDenied', /expired/);
  });

  it('no date, or an invalid one → 403 AccessDenied', async () => {
    const input = await smithySigned();
    for (const date of [undefined, '20260301T120000', '2026-03-01T12:00:00Z', '20261301T120000Z', '20260230T120000Z', '20260301T250000Z', '']) {
      assertRefused(v.verify({ ...input, headers: { ...input.headers, 'x-amz-date': date }, now }), 403, 'AccessDenied', /valid Date or x-amz-date/, String(date));
    }
    assertRefused(v.verify({ ...input, headers: { ...input.headers, 'x-amz-date': undefined, date: 'yesterday' }, now }), 403, 'AccessDenied');
  });

  it('a malformed Authorization header → 400 AuthorizationHeaderMalformed', async () => {
    const input = await smithySigned({ headers: { range: 'bytes=0-1' } });
    const good = input.headers.authorization ?? '';
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(good);
    assert.ok(m !== null, good);
    const [, credential = '', signed = '', signature = ''] = m;
    const auth = (c: string, s: string, sig: string, algo = 'AWS4-HMAC-SHA256'): string => `${algo} Credential=${c}, SignedHeaders=${s}, Signature=${sig}`;
    const cases: [string, RegExp?][] = [
      ['AWS4-HMAC-SHA256'],
      ['AWS4-HMAC-SHA256 '],
      ['Bearer abc', /algorithm/],
      ['AWS4-HMAC-SHA1 Credential=x', /algorithm/],
      [`AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signed}`, /needs Credential, SignedHeaders and Signature/],
      [`AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signed}, Signature=${signature}, Extra=1`, /unexpected component/],
      [`AWS4-HMAC-SHA256 Credential=${credential}, Credential=${credential}, SignedHeaders=${signed}, Signature=${signature}`, /twice/],
      [`AWS4-HMAC-SHA256 Credential=${credential} SignedHeaders=${signed}, Signature=${signature}`],
      [auth('AKIAALICEGATEWAY/20260301/us-east-1/s3', signed, signature), /credential is malformed/],
      [auth('/20260301/us-east-1/s3/aws4_request', signed, signature), /no access key/],
      [auth(`${ALICE.accessKeyId}/2026031/us-east-1/s3/aws4_request`, signed, signature), /invalid date/],
      [auth(`${ALICE.accessKeyId}/20260301//s3/aws4_request`, signed, signature), /invalid region/],
      [auth(`${ALICE.accessKeyId}/20260301/${'r'.repeat(65)}/s3/aws4_request`, signed, signature), /invalid region/],
      [auth(`${ALICE.accessKeyId}/20260301/us-east-1/ec2/aws4_request`, signed, signature), /incorrect service/],
      [auth(`${ALICE.accessKeyId}/20260301/us-east-1/s3/aws4_request2`, signed, signature), /incorrect terminal/],
      [auth(`${ALICE.accessKeyId}/20260302/us-east-1/s3/aws4_request`, signed, signature), /Invalid credential date/],
      [auth(credential, signed.replace('host;', ''), signature), /host header must be signed/],
      [auth(credential, signed.replace('host', 'Host'), signature), /lower-case/],
      [auth(credential, `${signed};range`, signature), /twice/],
      [auth(credential, `${signed};`, signature), /lower-case/],
    ];
    for (const [authorization, message] of cases) {
      assertRefused(v.verify({ ...input, headers: { ...input.headers, authorization }, now }), 400, 'AuthorizationHeaderMalformed', message, authorization);
    }
    // Extra spaces (or none) after the commas are fine.
    assertOk(v.verify({ ...input, headers: { ...input.headers, authorization: `AWS4-HMAC-SHA256  Credential=${credential},SignedHeaders=${signed},   Signature=${signature}` }, now }));
  });

  it('Signature V2 and SigV4a → 400 InvalidRequest; both header and query signatures → 400 InvalidArgument', async () => {
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { host: HOST, authorization: 'AWS AKIAALICEGATEWAY:c2lnbmF0dXJl' }, now }), 400, 'InvalidRequest', /AWS4-HMAC-SHA256/);
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k?AWSAccessKeyId=AKIAALICEGATEWAY&Expires=1&Signature=abc', headers: { host: HOST }, now }), 400, 'InvalidRequest');
    assertRefused(v.verify({ method: 'GET', rawUrl: '/photos/k', headers: { host: HOST, authorization: 'AWS4-ECDSA-P256-SHA256 Credential=x' }, now }), 400, 'InvalidRequest');
    const presigned = await smithyPresigned();
    const header = await smithySigned();
    assertRefused(v.verify({ ...presigned, headers: header.headers, now }), 400, 'InvalidArgument', /Only one auth mechanism/);
  });

  it('malformed presigned parameters → 400 AuthorizationQueryParametersError', async () => {
    const input = await smithyPresigned({ expiresIn: 300 });
    const url = input.rawUrl;
    const replace = (name: string, value: string | null): string => {
      const re = new RegExp(`([?&])${name}=[^&]*`);
      return value === null ? url.replace(re, '$1').replace('&&', '&').replace('?&', '?') : url.replace(re, `$1${name}=${value}`);
    };
    const cases: [string, RegExp?][] = [
      [replace('X-Amz-Expires', null), /requires the X-Amz-Algorithm/],
      [replace('X-Amz-Date', null), /requires/],
      [replace('X-Amz-SignedHeaders', null), /requires/],
      [replace('X-Amz-Signature', null), /requires/],
      [replace('X-Amz-Credential', null), /requires/],
      [replace('X-Amz-Expires', '0'), /from 1 to 604800/],
      [replace('X-Amz-Expires', '-1'), /from 1 to 604800/],
      [replace('X-Amz-Expires', '1.5'), /from 1 to 604800/],
      [replace('X-Amz-Expires', 'abc'), /from 1 to 604800/],
      [replace('X-Amz-Expires', '604801'), /less than a week/],
      [replace('X-Amz-Expires', '99999999999'), /from 1 to 604800/],
      [replace('X-Amz-Date', '2026-03-01T12%3A00%3A00Z'), /ISO8601/],
      [replace('X-Amz-Date', '20260302T120000Z'), /Invalid credential date/],
      [replace('X-Amz-Algorithm', 'AWS4-HMAC-SHA1'), /only supports/],
      [replace('X-Amz-Credential', 'AKIAALICEGATEWAY%2F20260301%2Fus-east-1%2Fs3'), /credential is malformed/],
      [replace('X-Amz-Credential', '%FF%2F20260301%2Fus-east-1%2Fs3%2Faws4_request'), /not valid UTF-8/],
      [replace('X-Amz-SignedHeaders', 'x-amz-date'), /host header must be signed/],
      [`${url}&X-Amz-Signature=${'0'.repeat(64)}`, /more than once/],
      [`${url}&X-Amz-Algorithm=AWS4-HMAC-SHA256`, /more than once/],
    ];
    for (const [rawUrl, message] of cases) {
      assertRefused(v.verify({ ...input, rawUrl, now }), 400, 'AuthorizationQueryParametersError', message, rawUrl);
    }
    assertRefused(v.verify({ ...input, rawUrl: replace('X-Amz-Algorithm', 'AWS4-ECDSA-P256-SHA256'), now }), 400, 'InvalidRequest');
  });

  it('an unparsable URL → 400 InvalidURI; a bad x-amz-content-sha256 → 400 InvalidArgument', async () => {
    const input = await smithySigned();
    assertRefused(v.verify({ ...input, rawUrl: '/photos/bad%zz', now }), 400, 'InvalidURI');
    assertRefused(v.verify({ ...input, rawUrl: '/photos/k?a=%', now }), 400, 'InvalidURI');
    assertRefused(v.verify({ ...input, rawUrl: 'http://127.0.0.1:9000/photos/k', now }), 400, 'InvalidURI');
    for (const bad of ['abc', 'unsigned-payload', 'STREAMING-', `${EMPTY_SHA256}0`, '']) {
      assertRefused(v.verify({ ...input, headers: { ...input.headers, 'x-amz-content-sha256': bad }, now }), 400, 'InvalidArgument', undefined, bad);
    }
    const presigned = await smithyPresigned();
    assert.match(presigned.rawUrl, /[?&]x-amz-content-sha256=UNSIGNED-PAYLOAD&/, 'smithy hoists the S3 presigner\'s header in lower case');
    assertRefused(v.verify({ ...presigned, rawUrl: presigned.rawUrl.replace('x-amz-content-sha256=UNSIGNED-PAYLOAD', 'x-amz-content-sha256=zz'), now }), 400, 'InvalidArgument');
  });
});

describe('credentials and cost', () => {
  it('merges a credential listed under several buckets; refuses one key with two secrets', () => {
    const v = new SigV4Verifier([ALICE, { ...ALICE, buckets: ['logs', 'photos'] }, BOB]);
    assert.deepEqual(v.credential(ALICE.accessKeyId)?.buckets, ['photos', 'logs']);
    assert.throws(() => new SigV4Verifier([ALICE, { ...ALICE, secretAccessKey: 'other' }]), /two different secret access keys/);
    assert.throws(() => new SigV4Verifier([{ ...ALICE, secretAccessKey: '' }]), /needs a secret/);
    assert.throws(() => new SigV4Verifier([{ ...ALICE, accessKeyId: '' }]), /needs an access key id/);
    assert.throws(() => new SigV4Verifier([ALICE], { maxSkewMs: -1 }), RangeError);
  });

  it('an access key id with "/" in it (the scope is the last four parts)', async () => {
    const odd = { accessKeyId: 'team/reader', secretAccessKey: 's', buckets: ['photos'] };
    const v = new SigV4Verifier([odd]);
    assertOk(v.verify({ ...(await smithySigned({ cred: odd })), now: T0 }));
    assertOk(v.verify({ ...(await smithyPresigned({ cred: odd })), now: T0 }));
  });

  it('derives the signing key once per access key, day and region; a request then costs one SHA-256 and one HMAC', async () => {
    const v = verifier();
    const inputs = await Promise.all(Array.from({ length: 50 }, (_, i) => smithySigned({ key: `k${i}`, date: at(T0, i * 1000) })));
    for (const input of inputs) assertOk(v.verify({ ...input, now: T0 }));
    assert.equal(v.keyDerivations, 1);
    assertOk(v.verify({ ...(await smithySigned({ region: 'eu-west-1' })), now: T0 }));
    assertOk(v.verify({ ...(await smithySigned({ cred: BOB })), now: T0 }));
    assertOk(v.verify({ ...(await smithySigned({ date: at(T0, 12 * 60 * MIN) })), now: at(T0, 12 * 60 * MIN) }));
    assert.equal(v.keyDerivations, 4, 'a new region, key or day derives a new one');
    // Refused before any key is derived: unknown keys, stale dates, malformed scopes.
    assertRefused(v.verify({ ...(await smithySigned({ region: 'ap-south-1' })), now: at(T0, 60 * MIN) }), 403, 'RequestTimeTooSkewed');
    assert.equal(v.keyDerivations, 4);

    const input = inputs[0] as VerifyInput;
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) v.verify({ ...input, now: T0 });
    const perRequestUs = Number(process.hrtime.bigint() - start) / n / 1000;
    console.log(`verify: ${perRequestUs.toFixed(1)} µs per header-signed request`);
    assert.ok(perRequestUs < 500, `${perRequestUs} µs per request`);
  });
});
