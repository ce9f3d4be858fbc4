/**
 * Prometheus scrape endpoint for the CLI's `--metrics-port N`: `GET /metrics` on 127.0.0.1
 * only (metrics name backends and keys' fate; they are not for the network at large), served
 * with node:http and closed, connections included, when the command ends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { maskString } from './logger.js';

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Produces the exposition text (e.g. `readPath.metrics()`). */
  render: () => Promise<string> | string;
  /** Content type of the text. Default Prometheus text 0.0.4. */
  contentType?: string;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>/metrics` */
  readonly url: string;
  /** Stop listening and drop open connections. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const HOST = '127.0.0.1';

/** Listen on 127.0.0.1:`port`; rejects when the port is taken or invalid. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const contentType = opts.contentType ?? DEFAULT_CONTENT_TYPE;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    Promise.resolve()
      .then(() => opts.render())
      .then((text) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      }, (err: unknown) => {
        // Masked as a log line would be: a store's error can quote its connection URL.
        const why = maskString(err instanceof Error ? err.message : String(err));
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics unavailable: ${why}\n`);
      });
  });
  // A scrape in progress must not keep the command alive after it finished.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${HOST}:${port}/metrics`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
