/**
 * `cache:` behind `readpath serve`: hot objects read by S3 clients again and again are answered
 * from memory — the AWS SDK's second GET reaches no backend, with the same bytes, ETag and
 * checksum (which the SDK checks) — and a changed row is read afresh at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startMemoryGateway, type MemoryGateway } from '../helpers/memory-gateway.js';

const AKID = 'AKIAOBJECTCACHE00001';
const SECRET = 'object-cache-secret-0123456789';

describe('readpath serve with the object data cache', () => {
  let g: MemoryGateway;
  let m: MemoryGateway['m'];
  let s3: S3Client;

  before(async () => {
    g = await startMemoryGateway('hot', { id: AKID, secret: SECRET }, { cache: { enabled: true } });
    ({ m, s3 } = g);
  });

  after(() => g?.close());

  const gets = (): number => m.backend('b1').calls.get + m.backend('b2').calls.get;
  const get = async (key: string): Promise<{ bytes: Buffer; etag: string | undefined; checksum: string | undefined }> => {
    const o = await s3.send(new GetObjectCommand({ Bucket: 'hot', Key: key, ChecksumMode: 'ENABLED' }));
    return { bytes: Buffer.from(await o.Body!.transformToByteArray()), etag: o.ETag, checksum: o.ChecksumSHA256 };
  };

  it('the second GET of a hot object reaches no backend; the answer is the same, its checksum checked by the SDK', async () => {
    for (const [key, bytes] of [['small.json', Buffer.from('{"hot":true}\n')], ['two-mib.bin', randomBytes(2 * 1024 * 1024 + 5)]] as const) {
      m.seed(`hot/${key}`, bytes);
      const first = await get(key);
      const n = gets();
      const second = await get(key);
      assert.equal(gets(), n, `${key}: no backend GET the second time`);
      assert.ok(second.bytes.equals(bytes), key);
      assert.equal(second.etag, first.etag);
      assert.equal(second.checksum, createHash('sha256').update(bytes).digest('base64'));
    }
    assert.ok(m.rp.recorder.count('object_cache_hits_total') >= 2);
    // What it holds is on /metrics: both objects, their bytes.
    const metrics = await (await fetch(`${g.gw.url}/metrics`)).text();
    assert.match(metrics, /^readpath_object_cache_objects 2$/m);
    assert.match(metrics, new RegExp(`^readpath_object_cache_bytes ${13 + 2 * 1024 * 1024 + 5}$`, 'm'));
  });

  it('a row that changes (the object rewritten) is read from a backend at once', async () => {
    m.seed('hot/changing.txt', 'before');
    assert.equal((await get('changing.txt')).bytes.toString(), 'before');
    m.store.remove('hot/changing.txt');
    m.seed('hot/changing.txt', 'after!');
    const n = gets();
    assert.equal((await get('changing.txt')).bytes.toString(), 'after!');
    assert.equal(gets(), n + 1);
  });
});
