/**
 * Body buffers (src/backends/body-buffers.ts): one goes back for reuse only once
 * both the body read into it and the response written from it have closed, at most `keep` are
 * held, and `readpath serve` hands the same few to getStream request after request.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { BodyBuffers, SizedBodyBuffers } from '../../src/backends/body-buffers.js';
import { startGateway } from '../../src/gateway/server.js';
import type { ReadPath } from '../../src/read-path.js';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

const closeOf = async (s: PassThrough): Promise<void> => {
  s.destroy();
  await new Promise((resolve) => setImmediate(resolve));
};

describe('BodyBuffers', () => {
  it('a buffer goes back only once both its body and its response have closed, in either order', async () => {
    for (const bodyFirst of [true, false]) {
      const b = new BodyBuffers(1024, 4);
      const buf = b.acquire() as Buffer;
      assert.equal(buf.length, 1024);
      const body = new PassThrough();
      const res = new PassThrough();
      b.releaseAfter(buf, body, res);
      await closeOf(bodyFirst ? body : res);
      assert.equal(b.idle, 0, 'still in use by the other');
      await closeOf(bodyFirst ? res : body);
      assert.equal(b.idle, 1);
      assert.equal(b.acquire(), buf, 'reused');
    }
  });

  it('already-closed streams release at once; unused buffers go straight back', async () => {
    const b = new BodyBuffers(16, 4);
    const body = new PassThrough();
    const res = new PassThrough();
    await closeOf(body);
    await closeOf(res);
    b.releaseAfter(b.acquire() as Buffer, body, res);
    assert.equal(b.idle, 1);
    b.releaseUnused(b.acquire() as Buffer);
    assert.equal(b.idle, 1);
  });

  it('holds at most keep idle buffers; keep 0 hands out none; lowering keep lets extra ones go', () => {
    const b = new BodyBuffers(16, 2);
    const bufs = [b.acquire(), b.acquire(), b.acquire()] as Buffer[];
    assert.equal(new Set(bufs).size, 3);
    for (const x of bufs) b.releaseUnused(x);
    assert.equal(b.idle, 2);
    b.keep = 1;
    assert.equal(b.idle, 1);
    b.keep = 0;
    assert.equal(b.acquire(), undefined);
  });
});

describe('SizedBodyBuffers', () => {
  it('the smallest class that holds the body; none past the largest; keep applies to every class', () => {
    const b = new SizedBodyBuffers([16, 64], 2);
    assert.equal(b.take(0)?.buf.length, 16);
    assert.equal(b.take(16)?.buf.length, 16);
    const mid = b.take(17);
    assert.equal(mid?.buf.length, 64);
    assert.equal(b.take(65), undefined);
    mid?.pool.releaseUnused(mid.buf);
    assert.equal(b.take(40)?.buf, mid?.buf, 'back in its own class');
    b.keep = 0;
    assert.equal(b.take(1), undefined);
  });
});

describe('readpath serve reads bodies into its body buffers', () => {
  const AKID = 'AKIABODYBUFFERS00001';
  const SECRET = 'body-buffers-secret-0123456789';

  async function serveWith(bodyBuffers: number, fn: (get: (key: string) => Promise<Buffer>, intos: (Buffer | undefined)[], seed: (k: string, v: Buffer) => void) => Promise<void>): Promise<void> {
    const m = await openMemoryReadPath(2, {
      buckets: [{ name: 'b', credentials: [{ access_key_id: AKID, secret_access_key: SECRET }] }],
      server: { listen_addr: '127.0.0.1:0', body_buffers: bodyBuffers },
    });
    const rp: ReadPath = m.rp;
    const intos: (Buffer | undefined)[] = [];
    const getStream = rp.getStream.bind(rp);
    rp.getStream = (key, opts) => {
      const into = opts?.into;
      if (typeof into !== 'function') {
        intos.push(into);
        return getStream(key, opts);
      }
      // The gateway picks the buffer once the span's length is known: note which it picked.
      return getStream(key, { ...opts, into: (n) => {
        const b = into(n);
        intos.push(b);
        return b;
      } });
    };
    const gw = await startGateway(rp, { settings: rp.config.gateway });
    const s3 = gatewaySdk(gw.url, { id: AKID, secret: SECRET });
    try {
      await fn(async (key) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'b', Key: key }))).Body!.transformToByteArray()), intos, (k, v) => m.seed(`b/${k}`, v));
    } finally {
      s3.destroy();
      await gw.close(1000);
      await rp.close();
    }
  }

  it('request after request, the same few buffers (body_buffers: 2), every body intact under concurrency', async () => {
    await serveWith(2, async (get, intos, seed) => {
      const objects = Array.from({ length: 6 }, (_, i) => Buffer.alloc(3000 + i * 1000, i + 1));
      objects.forEach((o, i) => seed(`o${i}`, o));
      for (let i = 0; i < objects.length; i++) assert.ok((await get(`o${i}`)).equals(objects[i] as Buffer));
      assert.equal(intos.length, 6);
      assert.ok(intos.every((b) => b !== undefined && b.length === 64 * 1024), 'the small class for small objects');
      assert.equal(new Set(intos).size, 1, 'one buffer served the sequential GETs');
      const big = Buffer.alloc(700 * 1024, 7);
      seed('big', big);
      assert.ok((await get('big')).equals(big));
      assert.equal(intos.at(-1)?.length, 1024 * 1024, 'the 1 MiB class for a larger one');
      intos.length = 6;
      const got = await Promise.all(objects.map((_, i) => get(`o${i}`)));
      got.forEach((g, i) => assert.ok(g.equals(objects[i] as Buffer), `o${i}`));
      assert.ok(new Set(intos).size <= 6);
    });
  });

  it('body_buffers: 0 reads without one', async () => {
    await serveWith(0, async (get, intos, seed) => {
      seed('x', Buffer.from('plain'));
      assert.equal((await get('x')).toString(), 'plain');
      assert.deepEqual(intos, [undefined]);
    });
  });
});
