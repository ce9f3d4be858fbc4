/**
 * The s3 world and its latency proxy, smallest possible: a proxy in front of a plain HTTP
 * server, then one tiny bench over s3rver backends in the fleet child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LatencyProxy, objectKeyOf } from '../../bench/harness/latency-proxy.js';
import { parseDist } from '../../bench/harness/latency-spec.js';
import { runBroadcastBench } from '../../bench/harness/index.js';

async function upstream(): Promise<{ port: number; close(): Promise<void>; paths: string[] }> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.end(`hello ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    paths,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('objectKeyOf reads the key of a path-style URL', () => {
  assert.equal(objectKeyOf('/bench/obj-000001?x-id=GetObject'), 'obj-000001');
  assert.equal(objectKeyOf('/bench/a%20b/c'), 'a b/c');
  assert.equal(objectKeyOf('/bench'), '');
});

test('LatencyProxy forwards, answers 503 SlowDown for failing draws, and a down backend refuses connections', async () => {
  const up = await upstream();
  const ok = await LatencyProxy.start({ upstreamPort: up.port, model: parseDist('const(0)'), index: 0, seed: 1 });
  const failing = await LatencyProxy.start({ upstreamPort: up.port, model: parseDist('const(0)+fail(1)'), index: 1, seed: 1 });
  const down = await LatencyProxy.start({ upstreamPort: up.port, model: parseDist('down'), index: 2, seed: 1 });
  try {
    assert.deepEqual(await get(`${ok.url}/bench/k1`), { status: 200, body: 'hello /bench/k1' });
    const f = await get(`${failing.url}/bench/k1`);
    assert.equal(f.status, 503);
    assert.match(f.body, /<Code>SlowDown<\/Code>/);
    await assert.rejects(get(`${down.url}/bench/k1`), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    assert.equal(ok.requests, 1);
    assert.equal(failing.requests, 1);
    assert.equal(down.requests, 0);
    assert.deepEqual(up.paths, ['/bench/k1'], 'the failing draw never reached the server');
  } finally {
    await Promise.all([ok.close(), failing.close(), down.close()]);
    await up.close();
  }
});

test('a tiny s3 world run: s3rver backends behind proxies, direct SDK baseline and a parallel broadcast', async () => {
  const report = await runBroadcastBench({
    world: 's3', backends: 2, latency: 'b1=const(1),b2=fail(1)', strategies: 'direct:b1,sequential,parallel', reads: 6, warmup: 2, rounds: 1,
  });
  assert.deepEqual(report.results.map((r) => [r.strategy, r.world, r.reads, r.errors]), [
    ['direct:b1', 's3', 6, 0],
    ['sequential', 's3', 6, 0],
    ['parallel', 's3', 6, 0],
  ]);
  const seq = report.results[1];
  assert.deepEqual(seq?.backendRequests, { b1: 6, b2: 0 }, 'sequential stops at the first success');
  const par = report.results[2];
  assert.equal(par?.backendRequests['b1'], 6);
  assert.ok((par?.backendRequests['b2'] ?? 0) <= 6, 'b2 saw at most one request per read');
  assert.equal(par?.usage.egressBytes, 6 * 1024, 'egress of the six winning 1 KiB bodies');
});
