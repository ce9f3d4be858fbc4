/**
 * An HTTP proxy in front of one S3 server that gives every request the latency and fate its
 * backend model draws for that object key (the same draws as the sim world), then forwards it.
 * A failing request is answered with S3's 503 SlowDown after its latency; a `down` backend
 * refuses connections (`down`) or resets them after `down(MS)`. Headers, Host included, pass
 * through unchanged so SigV4 signatures still verify upstream.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Draws } from './rng.js';
import { sampleModel, type BackendModel } from './latency-spec.js';

const HOST = '127.0.0.1';

/** Options of {@link LatencyProxy.start}. */
export interface LatencyProxyOptions {
  upstreamPort: number;
  model: BackendModel;
  /** The backend's position (b1 = 0): part of the draw, as in the sim world. */
  index: number;
  seed: number;
}

/** Parse `/bucket/key...` (path-style) into the decoded key. */
export function objectKeyOf(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  const slash = path.indexOf('/', 1);
  if (slash < 0) return '';
  try {
    return decodeURIComponent(path.slice(slash + 1));
  } catch {
    return path.slice(slash + 1);
  }
}

const SLOWDOWN = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>bench</RequestId></Error>';

/** A latency-injecting proxy. */
export class LatencyProxy {
  readonly #o: LatencyProxyOptions;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: http.Server | undefined;
  #port = 0;
  /** Requests received. */
  requests = 0;

  private constructor(o: LatencyProxyOptions) {
    this.#o = o;
  }

  /** Start listening on 127.0.0.1 (a `down` backend only reserves a port nobody answers on). */
  static async start(o: LatencyProxyOptions): Promise<LatencyProxy> {
    const p = new LatencyProxy(o);
    await p.#listen();
    return p;
  }

  get url(): string {
    return `http://${HOST}:${this.#port}`;
  }

  async #listen(): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, HOST, () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    const m = this.#o.model;
    if (m.down && m.downMs <= 0) {
      // Refused connections: the port was free a moment ago and nothing listens on it now.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return;
    }
    this.#server = server;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    req.on('error', () => {});
    res.on('error', () => {});
    const o = this.#o;
    const s = sampleModel(o.model, new Draws(o.seed, o.index, objectKeyOf(req.url ?? '/')));
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (res.destroyed) return;
      if (o.model.down) {
        req.socket.destroy();
        return;
      }
      if (s.fail) {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOWDOWN) });
        res.end(SLOWDOWN);
        return;
      }
      this.#forward(req, res);
    }, s.ms);
    this.#timers.add(t);
    // A client that gave up (a cancelled loser) frees its slot at once.
    res.once('close', () => {
      if (!res.writableFinished) {
        clearTimeout(t);
        this.#timers.delete(t);
      }
    });
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const up = http.request(
      { host: HOST, port: this.#o.upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: this.#agent },
      (upRes) => {
        upRes.on('error', () => res.destroy());
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.once('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  /** Stop listening, cut open connections, release timers and upstream sockets. Idempotent. */
  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.#sockets) s.destroy();
      server.closeAllConnections();
      await closed;
    }
    this.#agent.destroy();
  }
}
