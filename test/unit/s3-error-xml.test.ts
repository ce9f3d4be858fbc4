/**
 * S3 error documents for the lean transport: parsed tolerantly, and mapped through mapS3Error
 * exactly like the SDK's service exceptions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { S3ResponseError, parseS3ErrorXml, readErrorBody, MAX_ERROR_BODY_BYTES } from '../../src/backends/s3-error-xml.js';
import { mapS3Error } from '../../src/backends/s3-backend.js';

const doc = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Key>k</Key><RequestId>R1</RequestId></Error>`;

describe('S3 error documents', () => {
  it('parses code, message and request id, with XML entities', () => {
    assert.deepEqual(parseS3ErrorXml(doc('NoSuchKey', 'The key &quot;a&amp;b&quot; does not exist &#x263A;')), {
      code: 'NoSuchKey', message: 'The key "a&b" does not exist ☺', requestId: 'R1',
    });
  });

  it('yields nothing for garbage, truncated XML, HTML and empty bodies', () => {
    for (const t of ['', 'garbage', '<?xml version="1.0"?>\n<Error><Code>Internal', '<html><body>502 Bad Gateway</body></html>', '<Error><Code>a b<c</Code></Error>']) {
      assert.equal(parseS3ErrorXml(t).code, undefined, t);
    }
  });

  const cases: [status: number, body: string, backendStatus: number, label: RegExp][] = [
    [404, doc('NoSuchKey', 'gone'), 404, /not found \(404 NoSuchKey\)/],
    [404, '', 404, /not found \(404 NotFound\)/],
    [503, doc('SlowDown', 'Please reduce your request rate.'), 503, /HTTP 503 SlowDown: Please reduce/],
    [500, '<Error><Code>Internal', 500, /HTTP 500 InternalServerError: the error body is not an S3 error document/],
    [403, doc('AccessDenied', 'Access Denied'), 403, /HTTP 403 AccessDenied: Access Denied/],
    [301, doc('PermanentRedirect', 'Use the other endpoint'), 301, /HTTP 301 PermanentRedirect/],
    [304, '', 304, /HTTP 304 NotModified/],
    [412, doc('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'), 412, /HTTP 412 PreconditionFailed/],
  ];
  for (const [status, body, backendStatus, label] of cases) {
    it(`HTTP ${status} ${parseS3ErrorXml(body).code ?? '(no document)'} maps to BACKEND_ERROR with backendStatus ${backendStatus}`, () => {
      const err = mapS3Error(new S3ResponseError(status, parseS3ErrorXml(body), undefined, body), 'b1', 'GET', 'k');
      assert.equal(err.code, 'BACKEND_ERROR');
      assert.equal(err.backendStatus, backendStatus);
      assert.match(err.message, label);
    });
  }

  it('a redirect names its Location', () => {
    const err = mapS3Error(new S3ResponseError(307, parseS3ErrorXml(doc('TemporaryRedirect', 'go')), 'http://elsewhere/x'), 'b1', 'GET', 'k');
    assert.match(err.message, /HTTP 307 TemporaryRedirect: go \(Location: http:\/\/elsewhere\/x\)/);
  });

  it('reads at most 64 KiB of an error body and releases the rest', async () => {
    const big = Readable.from([Buffer.alloc(MAX_ERROR_BODY_BYTES, 'a'), Buffer.alloc(10, 'b')]);
    const t = await readErrorBody(big);
    assert.ok(t.length >= MAX_ERROR_BODY_BYTES && !t.includes('b'));
    const broken = new Readable({ read() {} });
    broken.push('<Error><Code>Slow');
    const p = readErrorBody(broken);
    broken.destroy(new Error('reset'));
    assert.equal(await p, '<Error><Code>Slow');
  });
});
