import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { settleTcpHandles } from '../helpers/handles.js';

const BODY = Buffer.from('0123456789abcdef');

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request without keep-alive; rejects with the socket/body error, if any. */
function request(url: string, method = 'GET', onResponse?: (res: http.IncomingMessage) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      onResponse?.(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('FaultProxy', () => {
  let upstream: http.Server;
  let upstreamHits = 0;
  let proxy: FaultProxy;

  before(async () => {
    upstream = http.createServer((req, res) => {
      upstreamHits++;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
      res.end(req.method === 'HEAD' ? undefined : BODY);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    proxy = await FaultProxy.start({ upstreamPort: (upstream.address() as AddressInfo).port });
  });

  beforeEach(() => {
    proxy.clear();
  });

  after(async () => {
    await proxy.close();
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    assert.deepEqual(await settleTcpHandles(), []);
  });

  it('passes requests through and logs them with their key', async () => {
    const before = proxy.requestCount;
    const a = await request(`${proxy.url}/bucket/some%20dir/key.bin`);
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, BODY);
    assert.equal(proxy.requestCount, before + 1);
    assert.deepEqual(proxy.requests().at(-1), { method: 'GET', url: '/bucket/some%20dir/key.bin', key: 'some dir/key.bin', fault: undefined });
  });

  it('holds a gated request until the gate opens', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    proxy.failNext(1, { kind: 'gate', until: gate });
    const hits = upstreamHits;
    const seen = proxy.requestCount;
    const p = request(`${proxy.url}/bucket/k`);
    await proxy.waitForRequests(seen + 1);
    assert.equal(upstreamHits, hits, 'not forwarded while gated');
    open();
    assert.deepEqual((await p).body, BODY);
    assert.equal(upstreamHits, hits + 1);
  });

  it('adds latency and then forwards', async () => {
    proxy.failNext(1, { kind: 'latency', ms: 5 });
    assert.deepEqual((await request(`${proxy.url}/bucket/k`)).body, BODY);
    assert.equal(proxy.requests().at(-1)?.fault, 'latency');
  });

  it('answers 503 SlowDown as S3 XML', async () => {
    proxy.failNext(1, { kind: 'slowdown' });
    const a = await request(`${proxy.url}/bucket/k`);
    assert.equal(a.status, 503);
    assert.match(a.body.toString(), /<Code>SlowDown<\/Code>/);
    assert.equal((await request(`${proxy.url}/bucket/k`)).status, 200, 'only the next one');
  });

  it('answers any S3 error, and an invalid XML body', async () => {
    proxy.failNext(1, { kind: 'status', status: 403, code: 'AccessDenied' });
    proxy.failNext(1, { kind: 'invalidXml' });
    const denied = await request(`${proxy.url}/bucket/k`);
    assert.equal(denied.status, 403);
    assert.match(denied.body.toString(), /AccessDenied/);
    const bad = await request(`${proxy.url}/bucket/k`);
    assert.equal(bad.status, 500);
    assert.doesNotMatch(bad.body.toString(), /<\/Error>/);
  });

  it('resets the connection', async () => {
    proxy.failNext(1, { kind: 'reset' });
    await assert.rejects(request(`${proxy.url}/bucket/k`), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
  });

  it('truncates a body after announcing its full length', async () => {
    proxy.failNext(1, { kind: 'truncate', keepBytes: 5 });
    let announced: string | undefined;
    await assert.rejects(request(`${proxy.url}/bucket/k`, 'GET', (res) => (announced = res.headers['content-length'])));
    assert.equal(announced, String(BODY.length));
  });

  it('corrupts one byte and keeps the length', async () => {
    proxy.failNext(1, { kind: 'corrupt' });
    const a = await request(`${proxy.url}/bucket/k`);
    assert.equal(a.body.length, BODY.length);
    const diffs = [...a.body].filter((b, i) => b !== BODY[i]).length;
    assert.equal(diffs, 1);
  });

  it('matches rules by method and key, and expires them after N requests', async () => {
    proxy.failNext(2, { kind: 'slowdown' }, { method: 'GET', key: 'hot' });
    assert.equal((await request(`${proxy.url}/bucket/hot`, 'HEAD')).status, 200);
    assert.equal((await request(`${proxy.url}/bucket/cold`)).status, 200);
    assert.equal((await request(`${proxy.url}/bucket/hot`)).status, 503);
    assert.equal((await request(`${proxy.url}/bucket/hot`)).status, 503);
    assert.equal((await request(`${proxy.url}/bucket/hot`)).status, 200);
  });

  it('applies an injected fault until cleared', async () => {
    proxy.inject({ kind: 'slowdown' });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${proxy.url}/bucket/k`)).status, 503);
    proxy.clear();
    assert.equal((await request(`${proxy.url}/bucket/k`)).status, 200);
  });

  it('refuses connections while stopped and comes back on the same port', async () => {
    const port = proxy.port;
    await proxy.stop();
    await assert.rejects(request(`${proxy.url}/bucket/k`), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    await proxy.start();
    assert.equal(proxy.port, port);
    assert.equal((await request(`${proxy.url}/bucket/k`)).status, 200);
  });

  it('hangs and stalled bodies end when the proxy stops', async () => {
    proxy.failNext(1, { kind: 'hang' });
    proxy.failNext(1, { kind: 'stallBody', keepBytes: 3 });
    const seen = proxy.requestCount;
    const hung = request(`${proxy.url}/bucket/k`);
    let gotHeaders!: () => void;
    const headers = new Promise<void>((resolve) => (gotHeaders = resolve));
    const stalled = request(`${proxy.url}/bucket/k`, 'GET', () => gotHeaders());
    await proxy.waitForRequests(seen + 2);
    await headers;
    await proxy.stop();
    await assert.rejects(hung);
    await assert.rejects(stalled);
    await proxy.start();
  });
});

describe('FaultProxy: an upstream that closes a kept-alive connection as a request arrives', () => {
  /**
   * Answers the first request on each connection (keep-alive) and drops the connection, without
   * an answer, when a second request arrives on it: what a server closing an idle connection
   * does to a request that was already on its way.
   */
  let upstream: net.Server;
  let connections = 0;
  let answered = 0;
  let proxy: FaultProxy;

  before(async () => {
    upstream = net.createServer((socket) => {
      connections++;
      let requests = 0;
      let head = '';
      socket.on('data', (b: Buffer) => {
        head += b.toString('latin1');
        while (head.includes('\r\n\r\n')) {
          const method = head.slice(0, head.indexOf(' '));
          head = head.slice(head.indexOf('\r\n\r\n') + 4);
          if (++requests > 1) {
            socket.destroy();
            return;
          }
          answered++;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\nConnection: keep-alive\r\n\r\n`);
          if (method !== 'HEAD') socket.write(BODY);
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    proxy = await FaultProxy.start({ upstreamPort: (upstream.address() as AddressInfo).port });
  });

  after(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('a GET whose reused connection fails before its answer is sent again on a new one: no 502 nobody asked for', async () => {
    for (const method of ['GET', 'HEAD', 'GET']) {
      const r = await request(`${proxy.url}/bucket/k`, method);
      assert.equal(r.status, 200, `${method}: ${r.body.toString()}`);
      assert.deepEqual(r.body, method === 'HEAD' ? Buffer.alloc(0) : BODY);
    }
    assert.equal(answered, 3);
    assert.equal(connections, 3, 'the second and third requests each found the kept connection closing, and went again on a new one');
  });
});
