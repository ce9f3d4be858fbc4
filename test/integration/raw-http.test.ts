/**
 * The lean transport's own HTTP/1.1 connections (src/backends/raw-http.ts): bodies read into the
 * caller's buffer, or into windows of its own, against s3rver, and the protocol's edges against hand-written servers on
 * loopback (a head split byte by byte, 100 Continue, chunked and close-delimited bodies, a kept
 * connection the server closed, bytes after a body, backpressure, aborts in the queue).
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { LeanS3Backend } from '../../src/backends/lean-s3-backend.js';
import { AbortEmitter } from '../../src/backends/call-deadline.js';
import { IDLE_CONNECTION_MS, RawHttpPool, type RawResponse } from '../../src/backends/raw-http.js';
import { hasCode } from '../../src/errors.js';
import { eventually } from '../helpers/handles.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function chunksOf(body: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(c as Buffer);
  return out;
}

/** A loopback server whose every connection is handled by `onConnection`; counts connections. */
async function rawServer(onConnection: (s: net.Socket, n: number) => void): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s, ++n);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => n,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Run `fn` with a pool of `connections` to a fresh {@link rawServer}; both closed after. */
async function withPool(onConnection: (s: net.Socket, n: number) => void, connections: number, fn: (pool: RawHttpPool, srv: Awaited<ReturnType<typeof rawServer>>) => Promise<void>): Promise<void> {
  const srv = await rawServer(onConnection);
  const pool = new RawHttpPool('127.0.0.1', srv.port, { connections });
  try {
    await fn(pool, srv);
  } finally {
    await pool.close();
    await srv.close();
  }
}

/** Call `answer(request head)` for each request on the connection (one at a time). */
function onRequests(s: net.Socket, answer: (head: string, index: number) => void): void {
  let buf = '';
  let i = 0;
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      answer(head, i++);
    }
  });
}

const GET = (path = '/x'): { method: 'GET'; path: string; headers: Record<string, string> } => ({ method: 'GET', path, headers: { host: '127.0.0.1' } });

const SMALL_COUNT = 30;
/** 5,000 bytes of their own for each small object: 30 of them span more than one 64 KiB slab. */
const smallBody = (i: number): Buffer => Buffer.alloc(5000, i + 1);

/** Copies of a body's chunks as they are emitted (a transient chunk is valid only then), once it ended. */
async function copiesOf(body: Readable): Promise<Buffer> {
  const copies: Buffer[] = [];
  body.on('data', (c: Buffer) => copies.push(Buffer.from(c)));
  await once(body, 'end');
  return Buffer.concat(copies);
}

describe('lean transport: GETs read into a caller buffer (s3rver)', () => {
  let fleet: S3Fleet;
  const body = Buffer.from(Array.from({ length: 300 * 1024 + 5 }, (_, i) => (i * 7 + 3) & 0xff));
  /** Over 4 times the connection's 256 KiB buffer for transient reads. */
  const huge = Buffer.from(Array.from({ length: 1024 * 1024 + 777 }, (_, i) => (i * 13 + 5) & 0xff));
  before(async () => {
    fleet = await startS3Fleet({ count: 1 });
    await fleet.seed('big.bin', body);
    await fleet.seed('huge.bin', huge);
    for (let i = 0; i < SMALL_COUNT; i++) await fleet.seed(`small-${i}`, smallBody(i));
  });
  after(() => fleet.close());

  /** Run `fn` with a lean backend of one connection to b1, closed after. */
  async function withOneConnection(fn: (b: LeanS3Backend) => Promise<void>): Promise<void> {
    const b = new LeanS3Backend({ ...fleet.backendOptions('b1'), maxSockets: 1 });
    try {
      await fn(b);
    } finally {
      await b.close();
    }
  }

  it('a body that fits lands in the buffer: every chunk a view of it, in order, no copy', async () => {
    const b = new LeanS3Backend(fleet.backendOptions('b1'));
    try {
      const into = Buffer.alloc(body.length + 100);
      const r = await b.get('big.bin', { into });
      assert.equal(r.size, body.length);
      const chunks = await chunksOf(r.body);
      assert.ok(chunks.length > 1, 'several reads');
      let at = 0;
      for (const c of chunks) {
        assert.equal(c.buffer, into.buffer, 'a view of the buffer given');
        assert.equal(c.byteOffset, into.byteOffset + at, 'in order from byte 0');
        at += c.byteLength;
      }
      assert.equal(at, body.length);
      assert.equal(sha(into.subarray(0, body.length)), sha(body));
      assert.ok(await eventually(() => b.sockets().active === 0 && b.sockets().free === 1), 'the connection is kept');
    } finally {
      await b.close();
    }
  });

  it('a body larger than the buffer is read whole, into memory of its own (the buffer untouched)', async () => {
    const b = new LeanS3Backend(fleet.backendOptions('b1'));
    try {
      const into = Buffer.alloc(1024, 0xee);
      const r = await b.get('big.bin', { into });
      const chunks = await chunksOf(r.body);
      for (const c of chunks) assert.notEqual(c.buffer, into.buffer);
      assert.equal(sha(Buffer.concat(chunks)), sha(body));
      assert.ok(into.every((x) => x === 0xee), 'the buffer was not written');
    } finally {
      await b.close();
    }
  });

  it('a body read without a buffer lands in windows of up to 256 KiB, one allocation each, none reused', async () => {
    const b = new LeanS3Backend(fleet.backendOptions('b1'));
    try {
      const chunks = await chunksOf((await b.get('big.bin')).body);
      assert.ok(chunks.every((c) => c.byteLength <= 256 * 1024));
      // Read whole before comparing: a window written again would show here.
      assert.equal(sha(Buffer.concat(chunks)), sha(body));
      assert.equal(new Set(chunks.map((c) => c.buffer)).size, Math.ceil(body.length / (256 * 1024)), 'one buffer per window, not one per socket read');
    } finally {
      await b.close();
    }
  });

  it('small bodies read without a buffer share slabs, never memory: all intact once all are read', async () => {
    const b = new LeanS3Backend({ ...fleet.backendOptions('b1'), maxSockets: 8 });
    try {
      const bodies = await Promise.all(Array.from({ length: SMALL_COUNT }, async (_, i) => chunksOf((await b.get(`small-${i}`)).body)));
      bodies.forEach((chunks, i) => assert.ok(Buffer.concat(chunks).equals(smallBody(i)), `small-${i} intact`));
      const buffers = new Set(bodies.flat().map((c) => c.buffer));
      assert.ok(buffers.size > 1 && buffers.size < SMALL_COUNT, `cut from a few slabs: ${buffers.size} buffers for ${SMALL_COUNT} bodies`);
    } finally {
      await b.close();
    }
  });

  it('transient bodies pass through one buffer per connection, taken in data events: whole, and the same buffer body after body', async () => {
    await withOneConnection(async (b) => {
      const buffers = new Set<ArrayBufferLike>();
      for (const [key, want] of [['huge.bin', huge], ['big.bin', body], ['huge.bin', huge]] as const) {
        const r = await b.get(key, { transient: true });
        const h = createHash('sha256');
        let chunks = 0;
        r.body.on('data', (c: Buffer) => {
          h.update(c);
          buffers.add(c.buffer);
          chunks++;
        });
        await once(r.body, 'end');
        assert.equal(h.digest('hex'), sha(want), key);
        assert.ok(chunks > 1, 'several chunks');
      }
      assert.equal(buffers.size, 1, 'every chunk of the three bodies was in one buffer');
      const [only] = buffers;
      assert.equal(only?.byteLength, 256 * 1024, 'the connection\'s buffer, not one per body');
    });
  });

  it('a transient body still queued unread is not written over by the next answer on its connection', async () => {
    await withOneConnection(async (b) => {
      // Nothing listens to the first body yet: its bytes wait in its queue while the second
      // request takes the connection and its answer arrives.
      const first = await b.get('small-0', { transient: true });
      const second = await b.get('small-1', { transient: true });
      const seconds = await copiesOf(second.body);
      assert.equal(sha(await copiesOf(first.body)), sha(smallBody(0)), 'the queued body is intact');
      assert.equal(sha(seconds), sha(smallBody(1)));
    });
  });

  it('a transient body whose consumer pauses mid-way arrives whole', async () => {
    await withOneConnection(async (b) => {
      const r = await b.get('huge.bin', { transient: true });
      const h = createHash('sha256');
      let n = 0;
      r.body.on('data', (c: Buffer) => {
        h.update(c);
        if (n++ % 2 === 0) {
          r.body.pause();
          setTimeout(() => r.body.resume(), 5);
        }
      });
      await once(r.body, 'end');
      assert.equal(h.digest('hex'), sha(huge));
    });
  });

  it('a range into the buffer, and a missing key is the 404 verdict', async () => {
    const b = new LeanS3Backend(fleet.backendOptions('b1'));
    try {
      const into = Buffer.alloc(64 * 1024);
      const r = await b.get('big.bin', { into, range: 'bytes=1000-1999' });
      assert.equal(r.totalSize, body.length);
      assert.deepEqual(Buffer.concat(await chunksOf(r.body)), body.subarray(1000, 2000));
      await assert.rejects(b.get('missing', { into }), (err: unknown) => hasCode(err, 'BACKEND_ERROR') && (err as { backendStatus?: number }).backendStatus === 404);
      assert.ok(await eventually(() => b.sockets().active === 0), 'both answers gave the connection back');
      assert.equal(b.sockets().free, 1, 'one connection served both');
    } finally {
      await b.close();
    }
  });
});

describe('RawHttpPool: the protocol edges', () => {
  it('a head and body sent a byte at a time, after a 100 Continue', async () => {
    const answer = Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Two: a\r\nx-two: b\r\n\r\nhello');
    await withPool((s) => onRequests(s, () => {
      let i = 0;
      const next = (): void => {
        if (i < answer.length) s.write(answer.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    }), 1, async (pool) => {
      const into = Buffer.alloc(16);
      const r = await pool.request({ ...GET(), into });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.headers['x-two'], ['a', 'b']);
      assert.equal(Buffer.concat(await chunksOf(r.body)).toString(), 'hello');
      assert.equal(into.subarray(0, 5).toString(), 'hello', 'the body landed in the buffer');
    });
  });

  it('a body holding a blank line is not taken for the end of the head, wherever the reads split them', async () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: 1';
    const answer = Buffer.from(`${head}\r\n\r\nab\r\n\r\ncd\r\n\r\n`, 'latin1');
    const blank = head.length;
    // Whole in one write (-1; with and without a buffer to read into), then split before each
    // byte from the head's last header to the body's first blank line.
    const plan: { at: number; into?: Buffer }[] = [{ at: -1 }, { at: -1, into: Buffer.alloc(64) }, ...Array.from({ length: 12 }, (_, k) => ({ at: blank - 3 + k }))];
    await withPool((s) => onRequests(s, (_h, i) => {
      const at = (plan[i] as { at: number }).at;
      if (at < 0) s.write(answer);
      else s.write(answer.subarray(0, at), () => setTimeout(() => s.write(answer.subarray(at)), 5));
    }), 1, async (pool) => {
      for (const { at, into } of plan) {
        const r = await pool.request(into === undefined ? GET() : { ...GET(), into });
        assert.equal(r.headers['x-a'], '1', `split at ${at}`);
        assert.equal(Buffer.concat(await chunksOf(r.body)).toString('latin1'), 'ab\r\n\r\ncd\r\n\r\n', `split at ${at}`);
      }
    });
  });

  it('a chunked body (extensions, trailers) reads whole, and the connection is kept for the next', async () => {
    await withPool((s) => onRequests(s, (_h, i) => {
      s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n${i === 0 ? 'A' : 'a'}\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n`);
    }), 4, async (pool, srv) => {
      for (let n = 0; n < 2; n++) {
        const r = await pool.request({ ...GET(), into: Buffer.alloc(64) });
        assert.equal(Buffer.concat(await chunksOf(r.body)).toString(), 'abc0123456789');
      }
      assert.equal(srv.connections(), 1, 'one connection for both');
      assert.equal(pool.stats.free, 1);
    });
  });

  it('a body without a length runs to the close, and that connection is not reused', async () => {
    await withPool((s) => onRequests(s, () => {
      s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ');
      setImmediate(() => s.end('part two'));
    }), 4, async (pool, srv) => {
      for (let n = 0; n < 2; n++) {
        const r = await pool.request(GET());
        assert.equal(Buffer.concat(await chunksOf(r.body)).toString(), 'part one, part two');
      }
      assert.equal(srv.connections(), 2);
      assert.ok(await eventually(() => pool.stats.connected === 0));
    });
  });

  it('a kept connection the server closed while idle: the next request goes again on a new one', async () => {
    await withPool((s) => onRequests(s, () => {
      // Answers, then closes the idle connection the way a keep-alive timeout does.
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', () => setTimeout(() => s.destroy(), 5));
    }), 1, async (pool, srv) => {
      const first = await pool.request(GET());
      assert.equal(Buffer.concat(await chunksOf(first.body)).toString(), 'ok');
      await new Promise((resolve) => setTimeout(resolve, 30));
      const second = await pool.request(GET());
      assert.equal(Buffer.concat(await chunksOf(second.body)).toString(), 'ok');
      assert.equal(srv.connections(), 2);
    });
  });

  it('a kept connection the server closed while idle is no longer counted, connected or free', async () => {
    await withPool((s) => onRequests(s, () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', () => setTimeout(() => s.end(), 5));
    }), 2, async (pool) => {
      await chunksOf((await pool.request(GET())).body);
      assert.deepEqual(pool.stats, { connected: 1, free: 1, queued: 0 });
      assert.ok(await eventually(() => pool.stats.connected === 0), 'the closed connection left the pool');
      assert.deepEqual(pool.stats, { connected: 0, free: 0, queued: 0 });
    });
  });

  it('a send the server drops at once on a kept connection is retried once; on a new connection it fails', async () => {
    await withPool((s, n) => onRequests(s, (_h, i) => {
      if (n === 1 && i === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1');
      else if (n === 1) s.destroy(); // the kept connection dies under the second request
      else s.destroy(); // and so does every new one
    }), 1, async (pool, srv) => {
      await chunksOf((await pool.request(GET())).body);
      await assert.rejects(pool.request(GET()), (err: unknown) => (err as { code?: string }).code === 'ECONNRESET');
      assert.equal(srv.connections(), 2, 'retried once, on one new connection');
    });
  });

  it(`a connection idle for ${IDLE_CONNECTION_MS} ms is closed; one used meanwhile is kept`, async () => {
    let closed = 0;
    await withPool((s) => {
      s.on('close', () => closed++);
      onRequests(s, () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    }, 2, async (pool, srv) => {
      mock.timers.enable({ apis: ['setTimeout', 'Date'] });
      try {
        await chunksOf((await pool.request(GET())).body);
        assert.equal(pool.stats.free, 1);
        mock.timers.tick(IDLE_CONNECTION_MS - 1);
        await chunksOf((await pool.request(GET())).body);
        assert.equal(srv.connections(), 1, 'reused before the idle time ran out');
        mock.timers.tick(IDLE_CONNECTION_MS - 1);
        assert.equal(pool.stats.connected, 1, 'used again since: still open');
        mock.timers.tick(1);
        assert.equal(pool.stats.connected, 0);
        assert.ok(await eventually(() => closed === 1), 'the server saw it close');
      } finally {
        mock.timers.reset();
      }
    });
  });

  it('bytes after a body end that connection; the next request opens another', async () => {
    await withPool((s) => onRequests(s, () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA');
    }), 1, async (pool, srv) => {
      const r = await pool.request({ ...GET(), into: Buffer.alloc(8) });
      assert.equal(Buffer.concat(await chunksOf(r.body)).toString(), 'abc');
      assert.ok(await eventually(() => pool.stats.connected === 0), 'the out-of-step connection is closed');
      const r2 = await pool.request(GET());
      assert.equal(Buffer.concat(await chunksOf(r2.body)).toString(), 'abc');
      assert.equal(srv.connections(), 2);
    });
  });

  it('a malformed status line, or Content-Length, is an error with a code', async () => {
    await withPool((s, n) => onRequests(s, () => {
      s.write(n === 1 ? 'HTTP/2 200 OK\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n');
    }), 1, async (pool) => {
      await assert.rejects(pool.request(GET()), (err: unknown) => (err as { code?: string }).code === 'ERR_BAD_RESPONSE' && /status line/.test((err as Error).message));
      await assert.rejects(pool.request(GET()), (err: unknown) => (err as { code?: string }).code === 'ERR_BAD_RESPONSE' && /Content-Length/.test((err as Error).message));
    });
  });

  it('a body not read holds the socket back: the server cannot finish writing until it is read', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 1);
    let server: net.Socket | undefined;
    let written = false;
    await withPool((s) => onRequests(s, () => {
      server = s;
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      s.write(big, () => {
        written = true;
      });
    }), 1, async (pool) => {
      const r: RawResponse = await pool.request(GET());
      assert.ok(await eventually(() => r.body.readableLength >= r.body.readableHighWaterMark), 'the body buffered up to its mark');
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.ok(r.body.readableLength < 1024 * 1024, `no more than a little over the mark was read (${r.body.readableLength})`);
      assert.equal(written, false, 'the server is still writing');
      assert.ok((server?.writableLength ?? 0) > 0);
      let n = 0;
      for await (const c of r.body) n += (c as Buffer).byteLength;
      assert.equal(n, big.length);
      assert.ok(await eventually(() => written));
    });
  });

  it('an abort while queued for a connection rejects with its reason and leaves the queue', async () => {
    await withPool((s) => onRequests(s, () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
    }), 1, async (pool) => {
      const busy = await pool.request(GET()); // holds the only connection: its body never ends
      const signal = new AbortEmitter();
      const queued = pool.request({ ...GET(), signal });
      assert.ok(await eventually(() => pool.stats.queued === 1));
      const reason = new Error('caller gave up');
      signal.abort(reason);
      await assert.rejects(queued, (err: unknown) => err === reason);
      assert.equal(pool.stats.queued, 0);
      assert.equal(signal.listenerCount('abort'), 0);
      busy.body.destroy();
    });
  });

  it('a header value with a line break is refused before anything is sent', async () => {
    await withPool(() => {}, 1, async (pool, srv) => {
      await assert.rejects(pool.request({ method: 'GET', path: '/x', headers: { host: 'h', 'if-match': 'a\r\nx-injected: 1' } }), (err: unknown) => (err as { code?: string }).code === 'ERR_INVALID_HEADER');
      assert.equal(srv.connections(), 0);
    });
  });
});
