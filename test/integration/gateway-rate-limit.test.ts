/**
 * `rate_limit:` in front of the gateway (s3-orchestrator's section): per-client token buckets,
 * checked before the signature, answered with 429 SlowDown, which the AWS SDK treats as
 * throttling and retries; clients told apart by X-Forwarded-For only behind a trusted proxy;
 * the health endpoint never limited; a reload changing the limits. The gateway runs in-process
 * over memory backends with a clock the test moves: no test here waits for time to pass.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { ReadPath } from '../../src/read-path.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

const AKID = 'AKIARATELIMIT0000001';
const SECRET = 'rate-limit-secret-0123456789';
const BODY = Buffer.from('rate limited object\n');

describe('gateway rate_limit: per-client token buckets before the signature', () => {
  let rp: ReadPath;
  let gw: Gateway;
  let t = Date.now();

  before(async () => {
    const m = await openMemoryReadPath(2, {
      buckets: [{ name: 'photos', credentials: [{ access_key_id: AKID, secret_access_key: SECRET }] }],
      server: { listen_addr: '127.0.0.1:0' },
      rate_limit: { enabled: true, requests_per_sec: 2, burst: 3, trusted_proxies: ['127.0.0.1/32', '10.0.0.0/8'] },
    });
    m.seed('photos/a.txt', BODY);
    rp = m.rp;
    gw = await startGateway(rp, { settings: rp.config.gateway, now: () => t });
  });

  after(async () => {
    await gw?.close(1000);
    await rp?.close();
  });

  /** An SDK client; `forwardedFor` is sent as X-Forwarded-For on every request. */
  const sdk = (o: { forwardedFor?: string; maxAttempts?: number; secret?: string; via?: Gateway } = {}): S3Client => {
    const c = gatewaySdk((o.via ?? gw).url, { id: AKID, secret: o.secret ?? SECRET }, { maxAttempts: o.maxAttempts ?? 1 });
    if (o.forwardedFor !== undefined) {
      const xff = o.forwardedFor;
      c.middlewareStack.add((next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-forwarded-for'] = xff;
        return next(args);
      }, { step: 'build' });
    }
    return c;
  };
  /** What a GET of photos/a.txt came to: 'ok', or the S3 error code and status. */
  const get = async (c: S3Client): Promise<string> => {
    try {
      const g = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'a.txt' }));
      assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(BODY));
      return 'ok';
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      return `${e.name ?? '?'} ${e.$metadata?.httpStatusCode ?? '?'}`;
    }
  };
  const limitedCount = async (): Promise<number> => {
    const m = /^readpath_gateway_rate_limited_total (\d+)$/m.exec(await rp.metrics());
    return Number(m?.[1] ?? 0);
  };

  it('a client gets its burst, then 429 SlowDown (before its signature is even checked); tokens come back at requests_per_sec', async () => {
    const c = sdk();
    const wrong = sdk({ secret: 'not-the-secret' });
    try {
      const before = await limitedCount();
      assert.deepEqual([await get(c), await get(c), await get(c)], ['ok', 'ok', 'ok'], 'the burst of 3');
      assert.equal(await get(c), 'SlowDown 429');
      // Refused before SigV4: a wrong secret gets SlowDown too, not SignatureDoesNotMatch.
      assert.equal(await get(wrong), 'SlowDown 429');
      assert.equal(await limitedCount(), before + 2);
      // The health endpoint is outside the S3 namespace and never limited.
      assert.equal((await fetch(`${gw.url}/health`)).status, 200);
      t += 500; // 2 a second: one token back
      assert.equal(await get(c), 'ok');
      assert.equal(await get(c), 'SlowDown 429');
      t += 10_000; // no more than the burst accumulates
      assert.deepEqual([await get(c), await get(c), await get(c), await get(c)], ['ok', 'ok', 'ok', 'SlowDown 429']);
    } finally {
      c.destroy();
      wrong.destroy();
    }
  });

  it('behind a trusted proxy each X-Forwarded-For client has its own bucket (the rightmost untrusted hop); the AWS SDK retries SlowDown as throttling', async () => {
    t += 60_000;
    const direct = sdk();
    const alice = sdk({ forwardedFor: '203.0.113.7' });
    const aliceViaTwoProxies = sdk({ forwardedFor: '203.0.113.7, 10.1.2.3' });
    const bob = sdk({ forwardedFor: '198.51.100.9, 203.0.113.7' });
    const retrying = sdk({ forwardedFor: '192.0.2.55', maxAttempts: 3 });
    try {
      assert.deepEqual([await get(direct), await get(direct), await get(direct), await get(direct)], ['ok', 'ok', 'ok', 'SlowDown 429']);
      // 127.0.0.1 is a trusted proxy: the client is the forwarded address, with a bucket of its own.
      assert.deepEqual([await get(alice), await get(alice), await get(aliceViaTwoProxies)], ['ok', 'ok', 'ok'], '10.1.2.3 is trusted: still alice');
      assert.equal(await get(alice), 'SlowDown 429');
      // A client cannot pick its address by prepending one: the rightmost untrusted hop counts.
      assert.equal(await get(bob), 'SlowDown 429', '203.0.113.7 is the client here, whatever comes before it');
      for (let i = 0; i < 3; i++) assert.equal(await get(retrying), 'ok');
      const before = await limitedCount();
      let attempts: number | undefined;
      try {
        await retrying.send(new GetObjectCommand({ Bucket: 'photos', Key: 'a.txt' }));
      } catch (err) {
        attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts;
        assert.equal((err as { name?: string }).name, 'SlowDown');
      }
      assert.equal(attempts, 3, 'the SDK retried the 429 as throttling');
      assert.equal(await limitedCount(), before + 3);
    } finally {
      for (const c of [direct, alice, aliceViaTwoProxies, bob, retrying]) c.destroy();
    }
  });

  it('the access log names the client as rate limiting counts it: the forwarded address behind a trusted proxy, else the peer', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>); } });
    t += 60_000;
    const logged = await startGateway(rp, { settings: rp.config.gateway, logger, now: () => t });
    const plain = await startGateway(rp, { settings: { ...rp.config.gateway, rateLimit: { ...rp.config.gateway.rateLimit, enabled: false } }, logger });
    const a = sdk({ via: logged, forwardedFor: '198.51.100.42' });
    const b = sdk({ via: plain, forwardedFor: '198.51.100.43' });
    try {
      assert.equal(await get(a), 'ok');
      assert.equal(await get(b), 'ok');
      await logged.close(1000);
      await plain.close(1000);
      const requests = lines.filter((l) => l['msg'] === 'request' && l['op'] === 'GetObject');
      assert.deepEqual(requests.map((l) => l['client']).sort(), ['127.0.0.1', '198.51.100.42'], JSON.stringify(requests));
    } finally {
      a.destroy();
      b.destroy();
      await logged.close(1000);
      await plain.close(1000);
    }
  });

  it('a reload without trusted proxies counts the peer, not X-Forwarded-For; one disabling it lets every request through', async () => {
    t += 60_000;
    gw.reload({ ...rp.config.gateway, rateLimit: { ...rp.config.gateway.rateLimit, trustedProxies: [], burst: 2 } });
    const a = sdk({ forwardedFor: '203.0.113.70' });
    const b = sdk({ forwardedFor: '203.0.113.71' });
    try {
      assert.deepEqual([await get(a), await get(b), await get(a)], ['ok', 'ok', 'SlowDown 429'], 'both are 127.0.0.1 now, sharing a burst of 2');
      gw.reload({ ...rp.config.gateway, rateLimit: { ...rp.config.gateway.rateLimit, enabled: false } });
      for (let i = 0; i < 10; i++) assert.equal(await get(a), 'ok');
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
