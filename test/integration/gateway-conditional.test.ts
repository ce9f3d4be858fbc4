/**
 * Conditional GETs through `readpath serve`: a revalidation (If-None-Match, If-Modified-Since)
 * that comes to 304 is decided on a HEAD and fetches no body; one that comes to 200 is served
 * and checked again on what is served; If-Match alone goes straight to the GET. Over memory
 * backends that count their calls, with the AWS SDK.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { startMemoryGateway, type MemoryGateway } from '../helpers/memory-gateway.js';

const AKID = 'AKIACONDITIONAL00001';
const SECRET = 'conditional-secret-0123456789';
const BODY = Buffer.from('revalidated, not refetched\n'.repeat(100));

describe('readpath serve: conditional GETs', () => {
  let g: MemoryGateway;
  let m: MemoryGateway['m'];
  let s3: S3Client;
  let etag: string;
  let lastModified: Date;

  before(async () => {
    g = await startMemoryGateway('web', { id: AKID, secret: SECRET });
    ({ m, s3 } = g);
    m.seed('web/page.html', BODY);
    const first = await s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'page.html' }));
    assert.ok(Buffer.from(await first.Body!.transformToByteArray()).equals(BODY));
    etag = first.ETag ?? '';
    lastModified = first.LastModified ?? new Date(0);
  });

  after(() => g?.close());

  const calls = (): { get: number; head: number } => ({ get: m.backend('b1').calls.get + m.backend('b2').calls.get, head: m.backend('b1').calls.head + m.backend('b2').calls.head });
  /** The status a conditional GET came to, and its body. */
  const conditional = async (input: Partial<ConstructorParameters<typeof GetObjectCommand>[0]>): Promise<{ status: number; body?: Buffer }> => {
    try {
      const o = await s3.send(new GetObjectCommand({ Bucket: 'web', Key: 'page.html', ...input }));
      return { status: o.$metadata.httpStatusCode ?? 0, body: Buffer.from(await o.Body!.transformToByteArray()) };
    } catch (err) {
      if (err instanceof S3ServiceException) return { status: err.$metadata.httpStatusCode ?? 0 };
      throw err;
    }
  };

  it('If-None-Match the ETag, or If-Modified-Since its time: 304 on a HEAD, no body fetched', async () => {
    for (const input of [{ IfNoneMatch: etag }, { IfNoneMatch: '*' }, { IfModifiedSince: new Date(lastModified.getTime() + 1000) }]) {
      const before = calls();
      assert.equal((await conditional(input)).status, 304, JSON.stringify(input));
      const now = calls();
      assert.equal(now.get, before.get, `${JSON.stringify(input)}: no backend GET`);
      assert.equal(now.head, before.head + 1, `${JSON.stringify(input)}: one HEAD`);
    }
  });

  it('a revalidation that does not match is served whole; If-Match alone goes straight to the GET', async () => {
    let before = calls();
    const changed = await conditional({ IfNoneMatch: '"not-the-etag"' });
    assert.equal(changed.status, 200);
    assert.ok(changed.body?.equals(BODY));
    assert.deepEqual(calls(), { get: before.get + 1, head: before.head + 1 });
    before = calls();
    const matched = await conditional({ IfMatch: etag });
    assert.equal(matched.status, 200);
    assert.ok(matched.body?.equals(BODY));
    assert.deepEqual(calls(), { get: before.get + 1, head: before.head });
    before = calls();
    assert.equal((await conditional({ IfMatch: '"another"' })).status, 412);
    assert.equal(calls().head, before.head, 'If-Match: no HEAD');
  });
});
