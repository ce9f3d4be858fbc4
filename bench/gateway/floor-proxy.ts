/**
 * A floor for the gateway benchmark: the least a Node HTTP server in front of the stub does per
 * request — forward it over a keep-alive agent and pipe the answer back — with no SigV4 check, no
 * metadata lookup, no verification and no access log. Beside `readpath serve` in the same rounds
 * it shows what any Node gateway costs on the machine, and so how much of the gap to direct is
 * readpath's own work:
 *
 *   node dist/bench/gateway.bench.js --floor-variant        # row `gateway@floor`, not judged
 *
 * It takes what the bench gives a gateway (`serve -c CONFIG --listen HOST:PORT`), serves the
 * configuration's first bucket from its first backend — the bench's stub, which checks no
 * signature, holding the bucket's objects under `BUCKET/` as readpath's rows name them — and
 * says `readpath: serving S3 on URL` as readpath does. Not a product: path-style GET, HEAD and
 * ListObjects (v1 and v2) only, the stub's answers passed on as they are.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config/load.js';
import { parseListenAddr } from '../../src/config/listen-addr.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const configPath = flag('-c');
const listen = parseListenAddr(flag('--listen') ?? '127.0.0.1:0');
if (args[0] !== 'serve' || configPath === undefined || !listen.ok) {
  process.stderr.write('usage: floor-proxy serve -c CONFIG [--listen HOST:PORT]\n');
  process.exit(2);
}
// Read as readpath serve reads it, so both serve the same bucket from the same backend.
const config = await loadConfig(configPath);
const backend = config.backends[0];
const bucket = config.gateway.buckets[0]?.name;
if (backend === undefined || bucket === undefined) {
  process.stderr.write('floor-proxy: the configuration needs backends[0] and buckets[0]\n');
  process.exit(2);
}
const backendBucket = backend.bucket;
const upstream = new URL(backend.endpoint);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const FORWARDED = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'];
const ANSWERED = ['content-length', 'content-type', 'etag', 'last-modified', 'accept-ranges', 'content-range'];
/** Listing parameters that name keys: the stub's keys carry `BUCKET/` in front. */
const KEY_PARAMS = ['prefix', 'start-after', 'marker'];
const inBucket = `${bucket}/`;

/** The stub's request for a gateway request: the backend's bucket, the keys under `BUCKET/`. */
function upstreamPath(url: string): { path: string; listing: boolean } {
  const q = url.indexOf('?');
  const pathPart = q < 0 ? url : url.slice(0, q);
  if (pathPart === `/${bucket}` || pathPart === `/${bucket}/`) {
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    for (const p of KEY_PARAMS) {
      if (p !== 'prefix' && !params.has(p)) continue;
      params.set(p, inBucket + (params.get(p) ?? ''));
    }
    return { path: `/${backendBucket}?${params.toString()}`, listing: true };
  }
  return { path: `/${backendBucket}${pathPart}${q < 0 ? '' : url.slice(q)}`, listing: false };
}

/** A stub listing as the gateway's bucket: its name, and keys and prefixes without `BUCKET/`. */
function asBucketListing(xml: string): string {
  return xml
    .replaceAll(`<Name>${backendBucket}</Name>`, `<Name>${bucket}</Name>`)
    .replace(/<(Key|Prefix|StartAfter|Marker|NextMarker)>([^<]*)<\/\1>/g, (_m, tag: string, v: string) => `<${tag}>${v.startsWith(inBucket) ? v.slice(inBucket.length) : v}</${tag}>`);
}

const server = http.createServer((req, res) => {
  const { path, listing } = upstreamPath(req.url ?? '/');
  const headers: http.OutgoingHttpHeaders = { host: upstream.host };
  for (const h of FORWARDED) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
  const up = http.request({ host: upstream.hostname, port: upstream.port, path, method: req.method, agent, headers }, (answer) => {
    const out: http.OutgoingHttpHeaders = {};
    for (const h of ANSWERED) if (answer.headers[h] !== undefined) out[h] = answer.headers[h];
    if (!listing) {
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      return;
    }
    let xml = '';
    answer.setEncoding('utf8');
    answer.on('data', (s: string) => {
      xml += s;
    });
    answer.on('end', () => {
      const body = asBucketListing(xml);
      out['content-length'] = Buffer.byteLength(body);
      res.writeHead(answer.statusCode ?? 502, out);
      res.end(body);
    });
  });
  up.on('error', (err) => {
    if (res.headersSent) res.destroy(err);
    else res.writeHead(502).end(String(err));
  });
  up.end();
});

server.listen(listen.port, listen.host, () => {
  const a = server.address() as AddressInfo;
  process.stderr.write(`readpath: serving S3 on http://${a.address}:${a.port}\n`);
});
// As serve does on SIGTERM: stop accepting, let what is in flight finish, exit 0.
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
});
