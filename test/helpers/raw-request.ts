/**
 * One HTTP(S) request with its path sent exactly as given (no normalising of the URL), the
 * whole answer collected: for tests of servers that must see a client's own encoding (the
 * gateway's SigV4 canonical forms).
 */
import http from 'node:http';
import https from 'node:https';

/** A collected answer. */
export interface RawAnswer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** Send `url` as is, with `opts`, on a connection of its own. */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: string; timeoutMs?: number } = {}): Promise<RawAnswer> {
  const u = new URL(url);
  const pathAndQuery = url.slice(url.indexOf('/', u.protocol.length + 2));
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: pathAndQuery, headers: opts.headers ?? {}, agent: false,
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 0} ms`)));
    req.end();
  });
}
