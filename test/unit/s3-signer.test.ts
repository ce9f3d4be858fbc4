/**
 * SigV4 signing for the lean transport: AWS's published S3 example signs to the published
 * signature; our node:crypto key derivation matches @smithy/signature-v4's `getSigningKey` and
 * is derived once per day/region/service/secret, then reused (the cost the transport's ~20 µs
 * per request rests on); session tokens are added and signed; every request shape signs as
 * @smithy/signature-v4's `SignatureV4` (the oracle) signs it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4, getSigningKey } from '@smithy/signature-v4';
import { NodeSha256, S3Signer, UNSIGNED_PAYLOAD, deriveSigningKey, signingKey } from '../../src/backends/s3-signer.js';
import { s3Address } from '../../src/backends/s3-address.js';
import type { S3Credentials } from '../../src/backends/s3-backend.js';

const EXAMPLE: S3Credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('S3Signer', () => {
  it("signs AWS's documented S3 GET Object example (Range: bytes=0-9) to its documented signature", async () => {
    const address = s3Address('https://s3.amazonaws.com', 'examplebucket', false);
    assert.equal(address.host, 'examplebucket.s3.amazonaws.com');
    const signer = new S3Signer(address, 'us-east-1', async () => EXAMPLE);
    const headers = await signer.sign('GET', '/test.txt', {
      host: address.host, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256,
    }, new Date('2013-05-24T00:00:00Z'));
    assert.equal(headers['x-amz-date'], '20130524T000000Z');
    assert.equal(
      headers['authorization'],
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('adds and signs the session token; signs UNSIGNED-PAYLOAD and conditional headers as given', async () => {
    const address = s3Address('http://127.0.0.1:9000', 'data', true);
    const signer = new S3Signer(address, 'eu-west-1', async () => ({ ...EXAMPLE, sessionToken: 'tok/en+' }));
    const h = await signer.sign('GET', '/data/k', { host: address.host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD, 'if-match': '"abc"' });
    assert.equal(h['x-amz-security-token'], 'tok/en+');
    assert.match(h['authorization'] ?? '', /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    assert.equal(h['x-amz-content-sha256'], UNSIGNED_PAYLOAD);
  });

  it("derives the signing key as @smithy/signature-v4's getSigningKey does", async () => {
    const secrets = [EXAMPLE.secretAccessKey, 'peers-bench-secret', '', 's', 'x'.repeat(200), 'üñï/çødé+=sécret', 'with\nnewline and spaces  '];
    const days = ['20130524', '20260301', '20261231', '19700101', '20991231'];
    const regions = ['us-east-1', 'eu-west-1', 'auto', 'ap-southeast-2', 'us-gov-west-1', ''];
    const services = ['s3', 'iam', 'execute-api'];
    let checked = 0;
    for (const secretAccessKey of secrets) {
      for (const day of days) {
        for (const region of regions) {
          for (const service of services) {
            const theirs = await getSigningKey(NodeSha256, { accessKeyId: 'AKIDANY', secretAccessKey }, day, region, service);
            const what = `${JSON.stringify(secretAccessKey)} ${day} ${region} ${service}`;
            assert.deepEqual(new Uint8Array(deriveSigningKey(secretAccessKey, day, region, service)), new Uint8Array(theirs), what);
            assert.deepEqual(new Uint8Array(signingKey(secretAccessKey, day, region, service)), new Uint8Array(theirs), `cached: ${what}`);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, secrets.length * days.length * regions.length * services.length);
    // AWS's documented derivation example (Signature Version 4 docs, "Examples of how to derive a signing key").
    assert.equal(
      deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam').toString('hex'),
      'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d',
    );
  });

  it('derives the signing key once per day, region, service and secret, then reuses it', () => {
    const secret = `secret-${Date.now()}`;
    const first = signingKey(secret, '20260301', 'us-east-1', 's3');
    assert.equal(signingKey(secret, '20260301', 'us-east-1', 's3'), first, 'the same inputs: the cached key itself');
    for (const other of [
      signingKey(secret, '20260302', 'us-east-1', 's3'),
      signingKey(secret, '20260301', 'eu-west-1', 's3'),
      signingKey(secret, '20260301', 'us-east-1', 'iam'),
      signingKey(`${secret}x`, '20260301', 'us-east-1', 's3'),
    ]) {
      assert.notDeepEqual(new Uint8Array(other), new Uint8Array(first), 'a new day, region, service or secret derives a new key');
    }
    // Bounded: after many other keys the first is derived again (equal, but a new buffer).
    for (let i = 0; i < 60; i++) signingKey(secret, '20260301', `region-${i}`, 's3');
    const again = signingKey(secret, '20260301', 'us-east-1', 's3');
    assert.notEqual(again, first, 'evicted from the bounded cache');
    assert.deepEqual(new Uint8Array(again), new Uint8Array(first));
  });

  it("signs every request shape the transport sends exactly as @smithy/signature-v4's general signer does", async () => {
    const paths = ['/data/k', '/data/dir%20with%20space/%C3%BCn%C3%AFcode', '/data/a%2Bb%25c~d', '/k', `/data/${'x'.repeat(1000)}`];
    const extras: Record<string, string>[] = [
      {},
      { range: 'bytes=0-0' },
      { range: 'bytes=-512', 'if-match': '"abc"' },
      { 'if-none-match': '"a"', 'if-modified-since': new Date(0).toUTCString(), 'if-unmodified-since': 'Thu,  01 Jan 1970  00:00:00 GMT' },
    ];
    const credentials: S3Credentials[] = [EXAMPLE, { ...EXAMPLE, sessionToken: 'tok/en+with=chars' }];
    const dates = [new Date('2026-03-01T00:00:00Z'), new Date('2026-03-01T23:59:59.999Z'), new Date('2026-03-02T00:00:01Z')];
    let checked = 0;
    for (const [endpoint, pathStyle] of [['http://127.0.0.1:9000', true], ['https://s3.eu-west-1.amazonaws.com', false]] as const) {
      const address = s3Address(endpoint, 'data', pathStyle);
      for (const creds of credentials) {
        const fast = new S3Signer(address, 'eu-west-1', async () => creds);
        const reference = new SignatureV4({ service: 's3', region: 'eu-west-1', credentials: creds, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
        for (const method of ['GET', 'HEAD']) {
          for (const path of paths) {
            for (const extra of extras) {
              for (const signingDate of dates) {
                const headers = { host: address.host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD, ...extra };
                const mine = await fast.sign(method, path, headers, signingDate);
                const theirs = (await reference.sign(
                  { method, protocol: address.protocol, hostname: address.hostname, port: address.port, path, query: {}, headers: { ...headers } },
                  { signingDate },
                )).headers;
                assert.equal(mine['authorization'], theirs['authorization'], `${method} ${path} ${JSON.stringify(extra)} ${signingDate.toISOString()}`);
                assert.equal(mine['x-amz-date'], theirs['x-amz-date']);
                assert.equal(mine['x-amz-security-token'], theirs['x-amz-security-token']);
                checked++;
              }
            }
          }
        }
      }
    }
    assert.equal(checked, 2 * 2 * 2 * paths.length * extras.length * dates.length);
  });
});
