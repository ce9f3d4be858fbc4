/**
 * SigV4 signing for the lean transport: AWS's published S3 example signs to the published
 * signature; the signing key is derived once per day/region/credentials and then reused (the
 * cost the transport's ~20 µs per request rests on); session tokens are added and signed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4, getSigningKey } from '@smithy/signature-v4';
import { Pool } from 'undici';
import { NodeSha256, S3Signer, UNSIGNED_PAYLOAD } from '../../src/backends/s3-signer.js';
import { s3Address } from '../../src/backends/s3-address.js';
import type { S3Credentials } from '../../src/backends/s3-backend.js';

const deps = { Pool, getSigningKey };
const EXAMPLE: S3Credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('S3Signer', () => {
  it("signs AWS's documented S3 GET Object example (Range: bytes=0-9) to its documented signature", async () => {
    const address = s3Address('https://s3.amazonaws.com', 'examplebucket', false);
    assert.equal(address.host, 'examplebucket.s3.amazonaws.com');
    const signer = new S3Signer(deps, address, 'us-east-1', async () => EXAMPLE);
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
    const signer = new S3Signer(deps, address, 'eu-west-1', async () => ({ ...EXAMPLE, sessionToken: 'tok/en+' }));
    const h = await signer.sign('GET', '/data/k', { host: address.host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD, 'if-match': '"abc"' });
    assert.equal(h['x-amz-security-token'], 'tok/en+');
    assert.match(h['authorization'] ?? '', /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    assert.equal(h['x-amz-content-sha256'], UNSIGNED_PAYLOAD);
  });

  it('derives the signing key once per day, region and credentials, then reuses it', async () => {
    let keyed = 0;
    let plain = 0;
    class Counting extends NodeSha256 {
      constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
        super(secret);
        if (secret === undefined) plain++;
        else keyed++;
      }
    }
    const creds = { accessKeyId: 'CACHECHECK', secretAccessKey: `secret-${Date.now()}` };
    const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: creds, sha256: Counting, uriEscapePath: false, applyChecksum: false });
    const request = { method: 'GET', protocol: 'http:', hostname: 'h', path: '/b/k', query: {}, headers: { host: 'h', 'x-amz-content-sha256': UNSIGNED_PAYLOAD } };
    const day = new Date('2026-03-01T10:00:00Z');
    await signer.sign(request, { signingDate: day });
    assert.deepEqual([keyed, plain], [1 + 4 + 1, 1], 'first: credentials hash, 4 key-derivation HMACs, the signature; the canonical request hash');
    keyed = 0;
    plain = 0;
    await signer.sign(request, { signingDate: new Date(day.getTime() + 3_600_000) });
    assert.deepEqual([keyed, plain], [1 + 1, 1], 'same day: the cached key, no derivation');
    keyed = 0;
    await signer.sign(request, { signingDate: new Date(day.getTime() + 86_400_000) });
    assert.equal(keyed, 1 + 4 + 1, 'a new day derives a new key');
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
        const fast = new S3Signer(deps, address, 'eu-west-1', async () => creds);
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
