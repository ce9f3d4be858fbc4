/**
 * Child of test/integration/s3-tls-endpoints.test.ts, started with NODE_EXTRA_CA_CERTS naming a
 * CA the test made (READPATH_CA_DIR holds it, a server certificate it signed for 127.0.0.1, ::1
 * and localhost, and one signed by a CA nobody trusts). It puts HTTP and HTTPS fronts on
 * s3rver — on IPv4 and IPv6 loopback, under a path prefix they strip as gateways do — and reads
 * through each with both transports, HTTP(S)_PROXY naming a proxy that counts what reaches it.
 * One JSON line: per transport and case, what the read and the listing gave.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readBody } from '../../src/backends/body.js';
import { createS3Backend } from '../../src/backends/s3-options.js';
import { startS3Fleet } from './s3-fleet.js';

const dir = process.env.READPATH_CA_DIR as string;
const pem = (f: string): string => readFileSync(join(dir, f), 'utf8');
const trusted = { key: pem('server.key'), cert: pem('server.pem') };
const untrusted = { key: pem('other.key'), cert: pem('other.pem') };

const fleet = await startS3Fleet({ count: 1 });
await fleet.seed('dir/a key', 'hello');
const upstream = new URL(fleet.backend('b1').directEndpoint);

let proxied = 0;
const proxy = http.createServer((_req, res) => {
  proxied++;
  res.writeHead(502).end();
});
proxy.on('connect', (_req, socket) => {
  proxied++;
  socket.destroy();
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
process.env.HTTP_PROXY = process.env.HTTPS_PROXY = process.env.http_proxy = process.env.https_proxy = proxyUrl;

/** A front on `host` passing requests to s3rver, with `prefix` taken off their paths. */
async function front(tls: { key: string; cert: string } | undefined, host: string, prefix: string): Promise<{ url: string; server: http.Server }> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = req.url ?? '/';
    if (!url.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: url.slice(prefix.length - 1), headers: { ...req.headers, host: upstream.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}${prefix}`, server };
}

const cases: Record<string, { url: string; server: http.Server }> = {
  'https, custom CA': await front(trusted, '127.0.0.1', '/'),
  'https, IPv6': await front(trusted, '::1', '/'),
  'https, path prefix': await front(trusted, '127.0.0.1', '/s3/'),
  'http, IPv6, path prefix': await front(undefined, '::1', '/gw/'),
  'https, untrusted CA': await front(untrusted, '127.0.0.1', '/'),
};

const out: Record<string, Record<string, string>> = {};
for (const client of ['lean', 'sdk'] as const) {
  const results: Record<string, string> = {};
  out[client] = results;
  for (const [name, c] of Object.entries(cases)) {
    const b = createS3Backend({ client, name: 'b', endpoint: c.url, bucket: fleet.bucket, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', timeoutMs: 20_000 });
    try {
      const body = Buffer.from(await readBody(await b.get('dir/a key'))).toString();
      const listed = (await (b.list as NonNullable<typeof b.list>).call(b, { prefix: 'dir/' })).objects.map((o) => o.key).join(',');
      results[name] = `${body} [${listed}]`;
    } catch (err) {
      const e = err as { code?: unknown; message?: string; cause?: { code?: unknown } };
      results[name] = `${String(e.code)} ${String(e.cause?.code)}`;
    } finally {
      await b.close();
    }
  }
}
for (const c of Object.values(cases)) {
  c.server.closeAllConnections();
  c.server.close();
}
proxy.close();
await fleet.close();
console.log(JSON.stringify({ results: out, proxied }));
