import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMetricsServer, type MetricsServer } from '../../src/telemetry/metrics-server.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { settleTcpHandles } from '../helpers/handles.js';

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { body += s; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics endpoint (--metrics-port)', () => {
  let server: MetricsServer;
  let mem: Awaited<ReturnType<typeof openMemoryReadPath>>;

  before(async () => {
    mem = await openMemoryReadPath(2);
    server = await startMetricsServer({ port: 0, render: () => mem.rp.metrics(), contentType: mem.rp.metricsContentType });
  });
  after(async () => {
    await server.close();
    await mem.rp.close();
  });

  it('serves the reader\'s Prometheus text on 127.0.0.1 /metrics', async () => {
    mem.seed('k', 'body', ['b1']);
    await mem.rp.get('k');
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const r = await get(server.url);
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain/);
    assert.match(r.body, /^readpath_operation_duration_seconds_count\{operation="GetObject",backend="b1"\} 1$/m);
    assert.match(r.body, /readpath_circuit_breaker_state/);
    assert.equal((await get(server.url.replace('/metrics', '/other'))).status, 404);
    assert.equal((await get(server.url, 'POST')).status, 405);
  });

  it('a render that fails is a 500 whose message is masked as logs mask it', async () => {
    const failing = await startMetricsServer({
      port: 0,
      render: () => {
        throw new Error('store down: connect postgres://reader:hunter2secret@db.internal:5432/meta failed; presigned https://b.example/k?X-Amz-Signature=abcdef0123&x=1');
      },
    });
    try {
      const r = await get(failing.url);
      assert.equal(r.status, 500);
      assert.match(r.body, /^metrics unavailable: store down: connect postgres:\/\/reader:\(redacted\)@db\.internal:5432\/meta failed/);
      assert.match(r.body, /X-Amz-Signature=\(redacted\)&x=1/);
      assert.doesNotMatch(r.body, /hunter2secret|abcdef0123/);
    } finally {
      await failing.close();
    }
  });

  it('a taken port is an error; close() releases every socket', async () => {
    await assert.rejects(startMetricsServer({ port: server.port, render: () => '' }), { code: 'EADDRINUSE' });
    const extra = await startMetricsServer({ port: 0, render: () => 'x 1\n' });
    assert.equal((await get(extra.url)).body, 'x 1\n');
    await extra.close();
    await extra.close();
    await assert.rejects(get(extra.url), { code: 'ECONNREFUSED' });
    assert.ok((await settleTcpHandles(1)).length <= 1, 'only the other server listens');
  });
});
