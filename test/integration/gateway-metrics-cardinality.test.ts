/**
 * /metrics stays bounded whatever the gateway is asked: random paths, buckets, methods, forged
 * signatures, missing keys, ranges and listings each leave at most the series their first
 * request made, so a gateway hit by random URLs does not grow its exposition (no label carries a
 * key, a bucket a client named, an access key id or an error message).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startMemoryGateway } from '../helpers/memory-gateway.js';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { rawRequest } from '../helpers/raw-request.js';

/** The exposition's series (name and labels), values left out. */
function seriesOf(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' '))));
}

describe('gateway /metrics under many distinct bad requests', () => {
  it('the set of series stops growing after the first request of each kind', async () => {
    const cred = { id: 'AKIDCARDINALITY01', secret: 'cardinality/Secret+Key=0123456789' };
    const g = await startMemoryGateway('b', cred, { rate_limit: { enabled: true, requests_per_sec: 1_000_000, burst: 1_000_000 } });
    const forged = gatewaySdk(g.gw.url, { id: 'AKIDNOBODY', secret: 'not-a-secret-0000' });
    try {
      g.m.seed('b/k', 'hello', ['b1', 'b2']);
      const methods = ['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'PROPFIND'];
      const round = async (i: number): Promise<void> => {
        const r = `${i.toString(36)}-${'x'.repeat(i % 7)}`;
        await rawRequest(`${g.gw.url}/${r}/${r}?${r}=1`, { method: methods[i % methods.length] ?? 'GET' });
        await rawRequest(`${g.gw.url}/b/${r}`, { headers: { authorization: `AWS4-HMAC-SHA256 Credential=AKID${r}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${r}` } });
        await g.s3.send(new GetObjectCommand({ Bucket: 'b', Key: `missing/${r}` })).catch(() => undefined);
        await g.s3.send(new HeadObjectCommand({ Bucket: 'b', Key: `missing/${r}` })).catch(() => undefined);
        await g.s3.send(new GetObjectCommand({ Bucket: `other-${r}`, Key: 'k' })).catch(() => undefined);
        await g.s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k', Range: `bytes=${i % 9}-${i + 100}` })).then((o) => o.Body?.transformToString(), () => undefined);
        await g.s3.send(new ListObjectsV2Command({ Bucket: 'b', Prefix: r })).catch(() => undefined);
        await forged.send(new GetObjectCommand({ Bucket: 'b', Key: r })).catch(() => undefined);
      };
      const metrics = async (): Promise<string> => (await rawRequest(`${g.gw.url}/metrics`)).body.toString();
      for (let i = 0; i < 10; i++) await round(i);
      const first = seriesOf(await metrics());
      assert.ok([...first].some((s) => s.startsWith('readpath_operation_duration_seconds_count{operation="GetObject"')), 'the reads were recorded');
      for (let i = 10; i < 150; i++) await round(i);
      const text = await metrics();
      assert.deepEqual([...seriesOf(text)].filter((s) => !first.has(s)), [], 'no series added by another 140 rounds');
      for (const leaked of ['missing/', 'other-', 'AKIDNOBODY', 'AKID1', cred.id]) assert.equal(text.includes(leaked), false, `${leaked} in /metrics`);
    } finally {
      forged.destroy();
      await g.close();
    }
  });
});
