/**
 * An HTTP proxy in front of one S3 server that injects faults on demand.
 *
 * It forwards over HTTP to the upstream port (rather than wrapping s3rver's `callback()`) so
 * the backend can be stopped and restarted behind it, tests can also reach the server
 * directly, and the same proxy works in front of any S3-compatible server. Request headers
 * (Host included) pass through unchanged, so SigV4 signatures still verify upstream.
 *
 * Faults are rules: `inject(fault, { times, match })` applies to the next `times` matching
 * requests (default: every one until `clear()`); the first rule that matches wins.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A fault the proxy can inject into one request. */
export type Fault =
  /** Wait `ms` before forwarding. */
  | { kind: 'latency'; ms: number }
  /** Hold the request until `until` settles, then forward it (a test-controlled latency). */
  | { kind: 'gate'; until: Promise<unknown> }
  /** Answer 503 SlowDown, as S3 does under throttling. */
  | { kind: 'slowdown' }
  /** Answer an S3 error document with this status and code. */
  | { kind: 'status'; status: number; code: string; message?: string }
  /** Never answer (until the client gives up or the proxy closes). */
  | { kind: 'hang' }
  /** Reset the connection as soon as the request arrives. */
  | { kind: 'reset' }
  /** Send the upstream headers (full Content-Length) and only `keepBytes` of the body (default half), then cut the connection. */
  | { kind: 'truncate'; keepBytes?: number }
  /** Send the upstream headers and `keepBytes` of the body (default half), then stall forever. */
  | { kind: 'stallBody'; keepBytes?: number }
  /** Flip one byte of the upstream body (at `offset`, default the middle); same length, same headers. */
  | { kind: 'corrupt'; offset?: number }
  /** Answer `status` (default 500) with a body that is not valid XML. */
  | { kind: 'invalidXml'; status?: number }
  /**
   * Answer a redirect instead of forwarding: 301 as S3's `PermanentRedirect` error document,
   * otherwise (302, 307, 308) `TemporaryRedirect` with a `Location` header (default: this
   * proxy, same path). A client must not follow it.
   */
  | { kind: 'redirect'; status: 301 | 302 | 307 | 308; location?: string }
  /**
   * Forward, but announce `Content-Length` = real length + `delta`, send the whole body and cut
   * the connection: with `delta` > 0 the client sees a body shorter than announced; with
   * `delta` < 0 it reads a complete, shorter body (the surplus bytes arrive after the response).
   */
  | { kind: 'wrongLength'; delta: number }
  /** Forward the body unchanged with another ETag header (default: the MD5 of different bytes). */
  | { kind: 'etag'; etag?: string }
  /** Forward the body chunked, without a Content-Length header. */
  | { kind: 'chunked' }
  /**
   * Answer `status` with `headers` and `body` instead of forwarding (Content-Length is the
   * body's): e.g. a 200 with the whole object to a ranged GET, as a server that ignores Range.
   */
  | { kind: 'answer'; status: number; headers?: Record<string, string>; body: string | Uint8Array };

/** Which requests a rule applies to. */
export interface FaultMatch {
  /** HTTP method, e.g. 'GET' or 'HEAD'. */
  method?: string;
  /** The object key (path after the bucket, decoded). */
  key?: string;
  /** The Range header: a value to equal, or null for requests without one (whole-object GETs). */
  range?: string | null;
}

/** One request the proxy saw. */
export interface SeenRequest {
  method: string;
  url: string;
  /** The object key, when the path names one. */
  key: string | undefined;
  fault: Fault['kind'] | undefined;
}

interface Rule {
  fault: Fault;
  remaining: number;
  match: FaultMatch | undefined;
}

/** Options for {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  upstreamPort: number;
  upstreamHost?: string;
  /** Port to listen on; default 0 (any free port). */
  port?: number;
}

const HOST = '127.0.0.1';

function s3ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

/** Parse `/bucket/key...` (path-style) into the decoded key. */
function keyOf(url: string): string | undefined {
  const path = url.split('?', 1)[0] ?? '';
  const slash = path.indexOf('/', 1);
  if (slash < 0 || slash === path.length - 1) return undefined;
  try {
    return decodeURIComponent(path.slice(slash + 1));
  } catch {
    return undefined;
  }
}

/** A fault-injecting HTTP proxy. Create with {@link FaultProxy.start}. */
export class FaultProxy {
  readonly #upstreamHost: string;
  #upstreamPort: number;
  #port: number;
  #server: http.Server | undefined;
  #agent = new http.Agent({ keepAlive: true });
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #rules: Rule[] = [];
  readonly #seen: SeenRequest[] = [];
  readonly #headers: http.IncomingHttpHeaders[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];
  #closed = false;
  #closedCount = 0;
  #pending = 0;

  private constructor(opts: FaultProxyOptions) {
    this.#upstreamHost = opts.upstreamHost ?? HOST;
    this.#upstreamPort = opts.upstreamPort;
    this.#port = opts.port ?? 0;
  }

  /** Start a proxy listening on 127.0.0.1. */
  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    const p = new FaultProxy(opts);
    await p.#listen();
    return p;
  }

  /** The port the proxy listens on (kept across stop/start). */
  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://${HOST}:${this.#port}`;
  }

  /** True while accepting connections. */
  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Requests seen so far (faulted or not). */
  get requestCount(): number {
    return this.#seen.length;
  }

  /** A copy of the request log. */
  requests(): SeenRequest[] {
    return this.#seen.slice();
  }

  /** The headers of every request seen (lower-cased names), in the order of {@link requests}. */
  requestHeaders(): http.IncomingHttpHeaders[] {
    return this.#headers.slice();
  }

  /** Client connections currently open. */
  get openConnections(): number {
    return this.#sockets.size;
  }

  /**
   * Requests whose response has not closed yet: answered in full, or given up by the client
   * (its socket destroyed). A hung request a client cancelled stops counting here at once.
   */
  get pendingRequests(): number {
    return this.#pending;
  }

  /** Client connections closed so far (by either side). */
  get closedConnections(): number {
    return this.#closedCount;
  }

  /** Point the proxy at another upstream port (e.g. after the server moved). */
  setUpstreamPort(port: number): void {
    this.#upstreamPort = port;
  }

  /** Apply `fault` to the next `times` matching requests (default: all until cleared). */
  inject(fault: Fault, opts: { times?: number; match?: FaultMatch } = {}): this {
    this.#rules.push({ fault, remaining: opts.times ?? Number.POSITIVE_INFINITY, match: opts.match });
    return this;
  }

  /** Apply `fault` to the next `n` matching requests. */
  failNext(n: number, fault: Fault, match?: FaultMatch): this {
    return this.inject(fault, match === undefined ? { times: n } : { times: n, match });
  }

  /** Remove every rule: requests pass through again. */
  clear(): this {
    this.#rules = [];
    return this;
  }

  /** Resolves once the proxy has seen at least `n` requests in total. */
  waitForRequests(n: number): Promise<void> {
    if (this.#seen.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  /** Stop listening and cut every open connection: clients now get ECONNREFUSED. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    server.closeAllConnections();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#agent.destroy();
    this.#agent = new http.Agent({ keepAlive: true });
    await closed;
  }

  /** Listen again, on the same port. */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('fault proxy closed');
    if (this.#server !== undefined) return;
    await this.#listen();
  }

  /** Stop for good: close the listener, hung requests, timers and upstream sockets. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.stop();
    this.#agent.destroy();
  }

  async #listen(): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#closedCount++;
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  #take(method: string, key: string | undefined, range: string | undefined): Fault | undefined {
    for (const rule of this.#rules) {
      if (rule.remaining <= 0) continue;
      if (rule.match?.method !== undefined && rule.match.method !== method) continue;
      if (rule.match?.key !== undefined && rule.match.key !== key) continue;
      if (rule.match?.range !== undefined && rule.match.range !== (range ?? null)) continue;
      rule.remaining--;
      return rule.fault;
    }
    return undefined;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const key = keyOf(url);
    const fault = this.#take(method, key, req.headers.range);
    this.#seen.push({ method, url, key, fault: fault?.kind });
    this.#headers.push({ ...req.headers });
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((w) => this.#seen.length >= w.n);
      this.#waiters = this.#waiters.filter((w) => this.#seen.length < w.n);
      for (const w of ready) w.resolve();
    }
    this.#pending++;
    res.once('close', () => this.#pending--);
    // Swallow client-side errors (resets we cause, clients giving up): not the test's business.
    req.on('error', () => {});
    res.on('error', () => {});

    switch (fault?.kind) {
      case undefined:
        this.#forward(req, res);
        return;
      case 'latency': {
        const t = setTimeout(() => {
          this.#timers.delete(t);
          this.#forward(req, res);
        }, fault.ms);
        this.#timers.add(t);
        return;
      }
      case 'gate':
        fault.until.then(
          () => this.#forward(req, res),
          () => this.#forward(req, res),
        );
        return;
      case 'slowdown':
        this.#sendXml(res, 503, s3ErrorXml('SlowDown', 'Please reduce your request rate.'));
        return;
      case 'status':
        this.#sendXml(res, fault.status, s3ErrorXml(fault.code, fault.message ?? fault.code));
        return;
      case 'invalidXml':
        this.#sendXml(res, fault.status ?? 500, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>Internal');
        return;
      case 'hang':
        // Drain the request so the client is not blocked writing; never answer.
        req.resume();
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'redirect': {
        const location = fault.location ?? `${this.url}${url}`;
        if (fault.status === 301) {
          res.setHeader('location', location);
          this.#sendXml(res, 301, s3ErrorXml('PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.'));
        } else {
          res.setHeader('location', location);
          this.#sendXml(res, fault.status, s3ErrorXml('TemporaryRedirect', 'Please re-send this request to the specified temporary endpoint.'));
        }
        return;
      }
      case 'answer':
        res.writeHead(fault.status, { ...fault.headers, 'content-length': typeof fault.body === 'string' ? Buffer.byteLength(fault.body) : fault.body.byteLength });
        res.end(fault.body);
        return;
      case 'truncate':
      case 'stallBody':
      case 'corrupt':
      case 'wrongLength':
      case 'etag':
      case 'chunked':
        this.#forward(req, res, fault);
        return;
    }
  }

  #sendXml(res: http.ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /**
   * Send `req` on to the upstream and play its answer to `res` (with `bodyFault`, if any).
   * `retry`: a GET or HEAD whose reused keep-alive connection fails before any answer is sent
   * once more on a new connection, as HTTP clients do. The upstream may be closing an idle
   * connection just as the request goes out on it; without this, a copy the test serves as
   * good now and then became a 502 that no rule asked for (a chaos run failed that way).
   */
  #forward(req: http.IncomingMessage, res: http.ServerResponse, bodyFault?: Extract<Fault, { kind: 'truncate' | 'stallBody' | 'corrupt' | 'wrongLength' | 'etag' | 'chunked' }>, retry = true): void {
    if (res.destroyed || res.writableEnded || this.#server === undefined) {
      res.destroy();
      return;
    }
    const up = http.request(
      {
        host: this.#upstreamHost,
        port: this.#upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: this.#agent,
      },
      (upRes) => {
        upRes.on('error', () => res.destroy());
        const status = upRes.statusCode ?? 502;
        if (bodyFault === undefined) {
          res.writeHead(status, upRes.headers);
          upRes.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers = { ...upRes.headers };
          delete headers['transfer-encoding'];
          if (req.method !== 'HEAD') headers['content-length'] = String(body.length);
          if (bodyFault.kind === 'chunked') {
            delete headers['content-length'];
            res.writeHead(status, headers);
            // Two writes: Node sends them as chunks (Transfer-Encoding: chunked).
            res.write(body.subarray(0, body.length >> 1));
            res.end(body.subarray(body.length >> 1));
            return;
          }
          if (bodyFault.kind === 'etag') {
            headers['etag'] = bodyFault.etag ?? `"${createHash('md5').update(body).update('other bytes').digest('hex')}"`;
            res.writeHead(status, headers);
            res.end(body);
            return;
          }
          if (bodyFault.kind === 'wrongLength') {
            if (req.method !== 'HEAD') headers['content-length'] = String(Math.max(0, body.length + bodyFault.delta));
            headers['connection'] = 'close';
            res.writeHead(status, headers);
            res.flushHeaders();
            // Raw socket write: the HTTP layer would refuse a body of another length.
            const socket = res.socket;
            if (socket === null) return;
            socket.write(body, () => socket.destroy());
            return;
          }
          if (bodyFault.kind === 'corrupt') {
            if (body.length > 0) {
              const at = Math.min(Math.max(0, bodyFault.offset ?? Math.floor(body.length / 2)), body.length - 1);
              body[at] = (body[at] ?? 0) ^ 0xff;
            }
            res.writeHead(status, headers);
            res.end(body);
            return;
          }
          const keep = Math.min(body.length, Math.max(0, bodyFault.keepBytes ?? Math.floor(body.length / 2)));
          res.writeHead(status, headers);
          // flushHeaders + write callback: the partial body reaches the client before the cut.
          res.flushHeaders();
          const cut = (): void => {
            if (bodyFault.kind === 'truncate') res.socket?.destroy();
          };
          if (keep > 0) res.write(body.subarray(0, keep), cut);
          else res.write('', cut);
        });
      },
    );
    const bodiless = req.method === 'GET' || req.method === 'HEAD';
    // A client that gives up (timeout, abort) must not leave the upstream request running.
    const onClientClose = (): void => {
      if (!res.writableFinished) up.destroy();
    };
    up.on('error', () => {
      res.off('close', onClientClose);
      if (retry && bodiless && up.reusedSocket && !res.headersSent && !res.destroyed && this.#server !== undefined) {
        this.#forward(req, res, bodyFault, false);
        return;
      }
      if (!res.headersSent && !res.destroyed) this.#sendXml(res, 502, s3ErrorXml('BadGateway', 'upstream unreachable'));
      else res.destroy();
    });
    res.on('close', onClientClose);
    // A GET or HEAD has no body to pipe (and a retry could not read it again).
    if (bodiless) up.end();
    else req.pipe(up);
  }
}
