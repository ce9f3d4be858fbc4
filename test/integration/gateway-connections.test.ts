/**
 * The gateway's connections under clients that misbehave (found by an operations audit): a
 * refused upload's body is not read, oversized or late headers get S3's XML answers, the header
 * timeout is enforced near its setting, and a client that stops reading a body is let go after
 * idle_timeout, giving back its admission slot.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { startMemoryGateway, type MemoryGateway } from '../helpers/memory-gateway.js';

const CRED = { id: 'AKCONN', secret: 'SKconn' };

/** Everything a raw connection receives until the server closes it. */
function exchange(port: number, send: (sock: net.Socket) => void): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    sock.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true }));
    sock.on('connect', () => send(sock));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('gateway connections: clients that misbehave', () => {
  let g: MemoryGateway;
  let port: number;
  before(async () => {
    g = await startMemoryGateway('conn', CRED, {
      server: { listen_addr: '127.0.0.1:0', read_header_timeout: '1s', idle_timeout: '3s', max_concurrent_reads: 1 },
    });
    port = g.gw.port;
    g.m.seed('conn/big.bin', new Uint8Array(16 * 1024 * 1024).fill(3));
    g.m.seed('conn/small.txt', 'small');
  });
  after(() => g.close());

  it('an anonymous upload is refused without its body being read: the connection closes with the answer', async () => {
    const r = await exchange(port, (sock) => {
      sock.write('PUT /conn/up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n');
      sock.write(Buffer.alloc(64 * 1024));
      // The rest of the gigabyte is never sent: the server must not wait for it.
    });
    assert.match(r.text, /^HTTP\/1\.1 403 /);
    assert.match(r.text, /\r\nconnection: close\r\n/i);
    assert.match(r.text, /<Code>AccessDenied<\/Code>/);
  });

  it('headers too large, and headers not in within read_header_timeout, get S3\'s XML errors', async () => {
    const big = await exchange(port, (sock) => sock.write(`GET /conn/small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`));
    assert.match(big.text, /^HTTP\/1\.1 400 /);
    assert.match(big.text, /<Code>RequestHeaderSectionTooLarge<\/Code>/);
    // Half a request, then silence: closed near the 1 s timeout (Node's default check would take up to 30 s more;
    // the test's own timeout is the bound, no time is asserted).
    const slow = await exchange(port, (sock) => sock.write('GET /conn/small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    assert.match(slow.text, /^HTTP\/1\.1 400 /);
    assert.match(slow.text, /<Code>RequestTimeout<\/Code>/);
  });

  it('a client that stops reading a body is let go after idle_timeout, and its admission slot serves others', async () => {
    const stalled = await g.s3.send(new GetObjectCommand({ Bucket: 'conn', Key: 'big.bin' }));
    assert.equal(stalled.$metadata.httpStatusCode, 200);
    // Its body is never read. Meanwhile the only slot is taken: others are turned away.
    await assert.rejects(g.s3.send(new HeadObjectCommand({ Bucket: 'conn', Key: 'small.txt' })), (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 503);
    let served = false;
    for (let i = 0; i < 100 && !served; i++) {
      await sleep(200);
      served = await g.s3.send(new HeadObjectCommand({ Bucket: 'conn', Key: 'small.txt' })).then(() => true, () => false);
    }
    assert.ok(served, 'the stalled connection was closed and its slot given back');
    (stalled.Body as NodeJS.ReadableStream & { destroy(): void }).destroy();
  });

  it('close() lets a request in flight finish for its drain time, then cuts it and says so', async () => {
    const own = await startMemoryGateway('conn', CRED, { server: { listen_addr: '127.0.0.1:0' } });
    own.m.seed('conn/big.bin', new Uint8Array(16 * 1024 * 1024).fill(3));
    const held = await own.s3.send(new GetObjectCommand({ Bucket: 'conn', Key: 'big.bin' }));
    // Never read: it cannot finish, and close() must not wait past its drain time for it.
    assert.equal(await own.gw.close(300), 1);
    (held.Body as NodeJS.ReadableStream & { destroy(): void }).destroy();
    await own.close();
    const idle = await startMemoryGateway('conn', CRED, { server: { listen_addr: '127.0.0.1:0' } });
    assert.equal(await idle.gw.close(300), 0, 'nothing in flight: nothing cut');
    await idle.close();
  });
});
