/**
 * The lean transport's request target (origin, Host, path) against the AWS SDK's for the same
 * endpoint, bucket, key and addressing style: the SDK's request is captured by a request
 * handler that never sends it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { encodeKey, isVirtualHostableBucket, objectPath, s3Address } from '../../src/backends/s3-address.js';
import { withoutSdkNodeVersionWarning } from '../../src/backends/sdk-warning.js';

interface Captured { protocol: string; hostname: string; port: number | undefined; path: string }

/** The request the SDK would send for this GET. */
async function sdkTarget(endpoint: string, bucket: string, key: string, forcePathStyle: boolean): Promise<Captured> {
  let captured: Captured | undefined;
  const client = withoutSdkNodeVersionWarning(() => new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: { protocol: string; hostname: string; port?: number; path: string }) => {
        captured = { protocol: req.protocol, hostname: req.hostname, port: req.port, path: req.path };
        throw new Error('captured');
      },
    },
  }));
  await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  client.destroy();
  assert.ok(captured !== undefined, 'the SDK built a request');
  return captured;
}

const KEYS = [
  'plain', 'dir/sub/file.txt', 'with space', 'ünïcödé/日本語/😀', 'a+b', '100%/p%20q', 'tilde~x', "!$&'()*+,;=:@",
  'q?h#[]{}^`|\\"<>', 'double//slash', 'dots/./../x', '/leading', 'trailing/', 'é'.repeat(512),
];
const TARGETS: [endpoint: string, bucket: string, forcePathStyle: boolean][] = [
  ['http://127.0.0.1:9000', 'data', true],
  ['http://127.0.0.1:9000', 'data', false],
  ['http://localhost:9000', 'data', true],
  ['http://localhost:9000', 'data', false],
  ['https://s3.eu-west-1.example.com', 'my-bucket', false],
  ['https://s3.example.com:8443', 'my-bucket', false],
  ['https://s3.example.com', 'dotted.bucket.name', false],
  ['http://s3.example.com', 'dotted.bucket.name', false],
  // A label under 3 characters: the SDKs address such a bucket path-style even over http.
  ['http://s3.example.com', 'my.data', false],
  ['http://localhost:9000', 'logs.eu.backup', false],
  ['http://s3.example.com', 'a.b.c', false],
  ['https://localhost:9000/s3/', 'data', true],
  ['http://[::1]:9000/prefix', 'data', true],
  ['https://s3.example.com', 'Upper_Case', false],
  ['http://minio.internal:9000/base/path', 'data', true],
  ['http://[::1]:9000', 'data', false],
];

describe('S3 request targets', () => {
  for (const [endpoint, bucket, forcePathStyle] of TARGETS) {
    it(`match the SDK's: ${endpoint} ${bucket} ${forcePathStyle ? 'path-style' : 'default'}`, async () => {
      const a = s3Address(endpoint, bucket, forcePathStyle);
      for (const key of KEYS) {
        const sdk = await sdkTarget(endpoint, bucket, key, forcePathStyle);
        assert.equal(a.protocol, sdk.protocol, key);
        assert.equal(a.hostname, sdk.hostname, key);
        assert.equal(a.port, sdk.port, key);
        assert.equal(objectPath(a, key), sdk.path, key);
      }
    });
  }

  it('virtual-host style puts the bucket in Host and origin, path-style in the path', () => {
    const v = s3Address('http://localhost:9000', 'data', false);
    assert.deepEqual([v.virtualHost, v.origin, v.host, objectPath(v, 'a b')], [true, 'http://data.localhost:9000', 'data.localhost:9000', '/a%20b']);
    const p = s3Address('http://localhost:9000', 'data', true);
    assert.deepEqual([p.virtualHost, p.origin, p.host, objectPath(p, 'a b')], [false, 'http://localhost:9000', 'localhost:9000', '/data/a%20b']);
    const d = s3Address('https://s3.example.com', 'b', false);
    assert.equal(d.host, 's3.example.com', 'a too-short bucket name falls back to path-style');
    assert.equal(objectPath(d, 'k'), '/b/k');
  });

  it('encodes keys once, keeping unreserved characters and /', () => {
    assert.equal(encodeKey('a-z_A.Z~0/9'), 'a-z_A.Z~0/9');
    assert.equal(encodeKey('a b+c%d'), 'a%20b%2Bc%25d');
    assert.equal(encodeKey("!'()*"), '%21%27%28%29%2A');
    assert.equal(encodeKey('é'), '%C3%A9');
    assert.equal(encodeKey('?#'), '%3F%23');
  });

  it('bucket names: DNS labels are virtual-hostable, dotted ones only over http', () => {
    assert.equal(isVirtualHostableBucket('my-bucket', false), true);
    assert.equal(isVirtualHostableBucket('a.b.c', false), false);
    assert.equal(isVirtualHostableBucket('abc.def', true), true);
    assert.equal(isVirtualHostableBucket('UPPER', true), false);
    assert.equal(isVirtualHostableBucket('192.168.1.1', true), false);
    assert.equal(isVirtualHostableBucket('ab', false), false);
    assert.equal(isVirtualHostableBucket('my.data', true), false, 'every label needs 3 characters');
    assert.equal(isVirtualHostableBucket('abc.de', true), false);
    assert.equal(isVirtualHostableBucket('abc.def.ghi', true), true);
  });
});
