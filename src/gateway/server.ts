/**
 * `readpath serve`: a read-only S3 endpoint in front of a ReadPath, on node:http(s). Path-style
 * addressing (`/{bucket}/{key}`, the store's key being `{bucket}/{key}` as s3-orchestrator
 * stores it), and virtual-hosted style under `server.virtual_host_domains`, SigV4 (header or
 * presigned) against `buckets[].credentials` — a credential reads only its own buckets —,
 * GetObject / HeadObject / ListObjects(V2) / ListObjectVersions / ListBuckets / HeadBucket /
 * GetBucketLocation and the configuration subresources (./subresources.ts), every write refused
 * before any backend is asked. `/metrics` and a health
 * endpoint live beside the S3 namespace on the same port. An admission limit answers 503
 * SlowDown beyond `server.max_concurrent_reads`; close() stops accepting, lets requests in
 * flight finish (bounded), and closes every connection.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ReadPath } from '../read-path.js';
import { ReadPathError, hasCode } from '../errors.js';
import type { ResolvedConfig } from '../config/types.js';
import { bucketsXml, errorXml, listXml, locationXml, objectAttributesXml, taggingXml, uploadsXml, versionsXml, type ListPage } from './s3-xml.js';
import { s3ErrorOf, type S3Error } from './s3-errors.js';
import { ObjectRequestError, responseOverrides, serveObject } from './objects.js';
import { continuationToken, listPage, listStart, parseContinuationToken, toListPage, type ListKeys, type ListRequest } from './listing.js';
import { SigV4Verifier, type GatewayCredential } from './sigv4-verify.js';
import { decodePathComponent, decodeQueryComponent } from './canonical.js';
import { addressOf, maxS3KeyBytes, requestTarget, virtualHostBucket } from './addressing.js';
import { RateLimiter } from './rate-limit.js';
import { Admission, type Refusal } from './admission.js';
import { SizedBodyBuffers } from '../backends/body-buffers.js';
import { lazyDigestThread } from '../streams/digest-thread.js';
import { VERIFY_WINDOW } from '../streams/object-stream.js';
import { METRIC } from '../telemetry/recorder.js';
import { bucketConfigDocument, bucketSubresource, checkVersionId, objectConfigDocument, objectSubresource, requestedAttributes, type Subresource } from './subresources.js';

/** The gateway's settings (`server:` and `buckets:` of the configuration). */
export type GatewaySettings = ResolvedConfig['gateway'];

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  settings: GatewaySettings;
  /** Access log and errors; silent when absent. */
  logger?: Logger | undefined;
  /** Override `settings.listenAddr`'s host and port (`--listen`). */
  host?: string;
  port?: number;
  /** Clock for signature checks and rate limits (tests). */
  now?: () => number;
  /** Random numbers for load shedding (tests). */
  random?: () => number;
  /**
   * This process's place in a gateway of several (`server.processes`): it admits its share of
   * the admission limit, and health answers name it.
   */
  process?: { index: number; count: number } | undefined;
  /**
   * The rate limit's decision, made for every process in one place (the primary's token buckets)
   * instead of by this process's own; the client is resolved here (trusted proxies).
   */
  sharedRateLimit?: ((client: string) => Promise<boolean>) | undefined;
  /** The `/metrics` exposition, instead of this process's own (a gateway of several processes). */
  metrics?: (() => Promise<string>) | undefined;
}

/**
 * Process `index`'s share of a limit over `count` processes: the limit split as evenly as
 * whole numbers allow (shares add up to it), at least 1 each; 0 (unlimited) stays 0.
 */
export function shareOf(limit: number, index: number, count: number): number {
  if (limit <= 0 || count <= 1) return limit;
  return Math.max(1, Math.floor(limit / count) + (index < limit % count ? 1 : 0));
}

/** A running gateway. */
export interface Gateway {
  /** `http(s)://HOST:PORT`, the port the server really listens on. */
  readonly url: string;
  readonly port: number;
  /** Requests being served. */
  inFlight(): number;
  /**
   * Stop accepting, drain requests in flight for up to `drainMs` (default 60 s), close; resolves
   * with the number of requests still in flight then, whose connections were cut. Idempotent.
   */
  close(drainMs?: number): Promise<number>;
  /**
   * Take new settings without a restart (`readpath serve` on SIGHUP): buckets and their
   * credentials, the TLS certificate and key, the admission limit, timeouts, region, paths and
   * virtual-host domains apply to requests from now on; requests in flight finish as they began.
   * Returns the settings that changed but need a restart to apply (the listen address, the header
   * size limit, turning TLS on or off, the client CA), as configuration keys; those keep their
   * current values.
   */
  reload(settings: GatewaySettings): string[];
  /**
   * Stop reporting ready: `{health_path}/ready` answers 503 from now on while S3 requests are
   * still served, so a load balancer stops sending new ones before close() (`readpath serve`
   * calls it on SIGTERM, before `server.shutdown_delay`). close() implies it.
   */
  notReady(): void;
}

/** The credentials SigV4 checks: each bucket's, reading that bucket only. */
function credentialsOf(s: GatewaySettings): GatewayCredential[] {
  return s.buckets.flatMap((b) => b.credentials.map((c) => ({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, buckets: [b.name] })));
}

const MAX_URL_BYTES = 8192;
/** A caller's X-Request-Id the gateway adopts: 1–128 characters that need no escaping anywhere. */
const CALLER_REQUEST_ID = /^[A-Za-z0-9._~:/+=@-]{1,128}$/;
const XML = 'application/xml';

/** A request's S3 answer, as thrown by the routing (never with anything written yet). */
class S3Refusal extends Error {
  constructor(readonly s3: S3Error, readonly headers: Record<string, string> = {}) {
    super(s3.message);
  }
}

function refuse(status: number, code: string, message: string, headers?: Record<string, string>): never {
  throw new S3Refusal({ status, code, message }, headers);
}

/** Decode a path component as the signature covered it; 400 InvalidURI when it is not valid percent-encoded UTF-8. */
function decodePath(s: string): string {
  const d = decodePathComponent(s);
  if (d === null) refuse(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
  return d;
}

/**
 * A key S3 could not hold is refused as S3 refuses it, before the store or a backend is asked:
 * past S3's 1024 bytes no S3 client can have written it (see {@link maxS3KeyBytes}).
 */
function checkKeyLength(bucket: string, key: string): void {
  const size = Buffer.byteLength(key, 'utf8');
  const allowed = maxS3KeyBytes(bucket);
  if (size > allowed) throw new S3Refusal({ status: 400, code: 'KeyTooLongError', message: 'Your key is too long', extra: { Size: String(size), MaxSizeAllowed: String(allowed) } });
}

/**
 * Parse a query string exactly as the signature verifier canonicalized it (`+` is a space in a
 * query, as form encoding has it): a value that signs the same must mean the same.
 */
function parseQuery(q: string): Map<string, string> {
  const m = new Map<string, string>();
  if (q === '') return m;
  for (const part of q.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeQueryComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeQueryComponent(part.slice(eq + 1));
    if (k === null || v === null) refuse(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
    m.set(k, v);
  }
  return m;
}

function intParam(q: Map<string, string>, name: string, dflt: number, max: number): number {
  const v = q.get(name);
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) refuse(400, 'InvalidArgument', `${name} must be a non-negative integer`);
  // As S3: beyond a 32-bit integer it is not capped but refused.
  if (v.replace(/^0+/, '').length > 10 || Number(v) > 2_147_483_647) refuse(400, 'InvalidArgument', `Provided ${name} not an integer or within integer range`);
  return Math.min(Number(v), max);
}

/** Start the gateway for `rp`; resolves once it listens. */
export async function startGateway(rp: ReadPath, opts: GatewayOptions): Promise<Gateway> {
  // Replaced whole by reload(): a request reads them once, at its start.
  let s = opts.settings;
  const log = opts.logger;
  // Any region a client signs with is accepted (rclone signs with whatever it was configured
  // with); server.region is only what GetBucketLocation reports.
  const newVerifier = (settings: GatewaySettings): SigV4Verifier => new SigV4Verifier(credentialsOf(settings), opts.now === undefined ? {} : { now: opts.now });
  let verifier = newVerifier(s);
  // Bodies up to the verify window are read whole before they are sent: into these, reused.
  // In shared memory, so that a body's SHA-256 can be computed by the digest thread in place.
  const bodyBuffers = new SizedBodyBuffers([64 * 1024, VERIFY_WINDOW], s.bodyBuffers, true);
  // Started by the first body big enough to hand over (see DigestThread.minBytes).
  const digests = lazyDigestThread();
  const place = opts.process ?? { index: 0, count: 1 };
  const admission = new Admission(() => ({
    limit: shareOf(s.maxConcurrentReads > 0 ? s.maxConcurrentReads : s.maxConcurrentRequests, place.index, place.count), waitMs: s.admissionWaitMs, shedThreshold: s.loadShedThreshold,
  }), opts.random === undefined ? {} : { random: opts.random });
  /** 503 SlowDown for a request not admitted, as upstream answers it (Retry-After: 1). */
  const refuseAdmission = (why: Refusal): never => {
    rp.recorder.inc(METRIC.gatewayAdmissionRejected, { reason: why === 'shed' ? 'load_shed' : 'full' });
    refuse(503, 'SlowDown', 'Server at capacity', { 'Retry-After': '1' });
  };
  const newLimiter = (settings: GatewaySettings): RateLimiter | undefined => (settings.rateLimit.enabled ? new RateLimiter(settings.rateLimit, opts.now === undefined ? {} : { now: opts.now }) : undefined);
  let limiter = newLimiter(s);
  let bucketNames = new Set(s.buckets.map((b) => b.name));
  const started = new Date();
  const listKeys: ListKeys = (o) => rp.listKeys(o);
  let inFlight = 0;
  let closing = false;
  let ready = true;
  // Request ids: unique per process start and request, without random bytes per request.
  const idPrefix = randomBytes(4).toString('hex').toUpperCase();
  let requests = 0;
  const sockets = new Set<Socket>();
  let drained: (() => void) | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A caller's own correlation id (X-Request-Id) is used as the request id, as s3-orchestrator
    // does, when it is short and plain enough to echo into headers, XML and logs.
    const given = req.headers['x-request-id'];
    const reqId = typeof given === 'string' && CALLER_REQUEST_ID.test(given) ? given : `${idPrefix}${(++requests).toString(16).toUpperCase().padStart(8, '0')}`;
    const t0 = performance.now();
    // Resolved now, once, for the rate limit and the log (the socket may be gone by the log line):
    // behind trusted proxies, the forwarded address.
    const client = limiter === undefined ? req.socket.remoteAddress : limiter.clientOf(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    /** This request holds an admission slot, given back when it ends. */
    let admitted = false;
    res.setHeader('x-amz-request-id', reqId);
    res.setHeader('Server', 'readpath');
    const ac = new AbortController();
    // A client that goes away mid-read cancels it: its copy's socket is freed at once.
    res.once('close', () => {
      if (!res.writableFinished) ac.abort(new ReadPathError('ABORTED', 'client closed the connection'));
    });
    let op = 'unknown';
    let access = '-';
    // Parsed once: routing, SigV4, the access log and error bodies all use the origin form.
    const target = requestTarget(req.url ?? '/', req.headers.host);
    const url = target.url;
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    // Virtual-hosted requests name their bucket in the Host: the log keeps it beside the path.
    let vhost: string | undefined;
    const finish = (): void => {
      inFlight--;
      if (admitted) admission.release();
      if (inFlight === 0 && drained !== undefined) drained();
      log?.info({ reqId, method: req.method, ...(vhost === undefined ? {} : { host: vhost }), path: rawPath, op, status: res.statusCode, ms: Math.round(performance.now() - t0), accessKey: access, client }, 'request');
    };
    inFlight++;
    res.once('close', finish);
    const method = req.method ?? 'GET';
    const vhostBucket = virtualHostBucket(target.host, s.virtualHostDomains);
    const fail = (err: unknown): void => {
      if (res.headersSent) {
        // The body was under way: end the connection without completing the response.
        res.destroy(err instanceof Error ? err : undefined);
        return;
      }
      if (hasCode(err, 'ABORTED') && ac.signal.aborted) {
        res.destroy();
        return;
      }
      const e = err instanceof S3Refusal ? err.s3 : s3ErrorOf(err);
      if (err instanceof S3Refusal || err instanceof ObjectRequestError) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      // A refused request's body is never wanted: the connection goes with the answer rather
      // than being kept alive by reading (and discarding) whatever a client sends.
      if (!req.complete && hasBody(req)) res.setHeader('Connection', 'close');
      if (e.status >= 500) log?.warn({ reqId, code: e.code, err: e.message }, 'request failed');
      const body = req.method === 'HEAD' ? '' : errorXml(e.code, e.message, rawPath, reqId, e.extra);
      res.writeHead(e.status, { 'Content-Type': XML, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      if (closing) {
        res.setHeader('Connection', 'close');
        refuse(503, 'ServiceUnavailable', 'The gateway is shutting down.');
      }
      if (Buffer.byteLength(req.url ?? '/') > MAX_URL_BYTES) refuse(414, 'RequestURITooLong', 'The request URI is too long.');
      if (vhostBucket !== undefined) vhost = target.host;
      if (vhostBucket === undefined && (rawPath === s.healthPath || rawPath === s.metricsPath || rawPath === `${s.healthPath}/ready`)) {
        op = rawPath === s.healthPath ? 'health' : rawPath === s.metricsPath ? 'metrics' : 'ready';
        void serveSide(rp, op, req, res, ready && !closing, opts).catch(fail);
        return;
      }
      // Before the signature: a client over its rate costs a map lookup, not an HMAC.
      if (limiter !== undefined) {
        if (opts.sharedRateLimit === undefined) {
          if (!limiter.allow(client ?? '')) rateLimited();
        } else {
          void opts.sharedRateLimit(client ?? '').then((ok) => {
            // Gone while the primary answered: nothing to admit (finish() has run).
            if (res.destroyed) return;
            try {
              if (!ok) rateLimited();
              admit();
            } catch (err) {
              fail(err);
            }
          }, fail);
          return;
        }
      }
      admit();
    } catch (err) {
      fail(err);
    }

    function rateLimited(): never {
      op = 'RateLimited';
      rp.recorder.inc(METRIC.gatewayRateLimited);
      refuse(429, 'SlowDown', 'Rate limit exceeded');
    }

    /** Take an admission slot (or wait for one, or refuse), then route. */
    function admit(): void {
      // Every request is a read: the limit is max_concurrent_reads, else upstream's max_concurrent_requests.
      const now = admission.tryAdmit();
      if (now === true) {
        admitted = true;
        route();
        return;
      }
      if (now !== undefined) refuseAdmission(now);
      void admission.wait(ac.signal).then((r) => {
        if (r === true) {
          admitted = true;
          route();
        } else if (r === 'gone') res.destroy();
        else {
          try {
            refuseAdmission(r);
          } catch (err) {
            fail(err);
          }
        }
      });
    }

    /** Authenticate and answer an admitted S3 request. */
    function route(): void {
      try {
        const auth = verifier.verify({ method, rawUrl: url, headers: req.headers, rawHeaders: req.rawHeaders });
        // As S3 does, the refusal's details (the canonical request and string to sign the
        // gateway computed, the times compared) go in the error document.
        if (!auth.ok) throw new S3Refusal({ status: auth.status, code: auth.code, message: auth.message, extra: auth.details });
        access = auth.accessKeyId;
        if (method !== 'GET' && method !== 'HEAD') {
          // The request body (an upload) is never read: the connection goes with the answer.
          res.setHeader('Connection', 'close');
          refuse(405, 'MethodNotAllowed', 'readpath serve is read-only: the specified method is not allowed against this resource.', { Allow: 'GET, HEAD' });
        }
        const query = parseQuery(q < 0 ? '' : url.slice(q + 1));
        const address = addressOf(rawPath, vhostBucket);
        const bucket = decodePath(address.bucket);
        const key = decodePath(address.key);
        const allowed = auth.credential.buckets;
        if (bucket === '') {
          op = 'ListBuckets';
          sendXml(res, method, bucketsXml(allowed.filter((b) => bucketNames.has(b)), started, access));
          return;
        }
        if (!bucketNames.has(bucket)) refuse(404, 'NoSuchBucket', 'The specified bucket does not exist.');
        if (!allowed.includes(bucket)) refuse(403, 'AccessDenied', 'Access Denied');
        if (key === '') {
          const sub = method === 'HEAD' || query.size === 0 ? undefined : bucketSubresource(query);
          op = method === 'HEAD' ? 'HeadBucket' : query.has('location') ? 'GetBucketLocation' : sub?.op ?? (query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects');
          void serveBucket(bucket, method, query, sub, res, ac.signal, access).catch(fail);
          return;
        }
        checkVersionId(query);
        const sub = query.size === 0 ? undefined : objectSubresource(query, method);
        op = sub?.op ?? (method === 'HEAD' ? 'HeadObject' : 'GetObject');
        checkKeyLength(bucket, key);
        if (sub !== undefined) {
          void serveObjectConfig(sub, method, `${bucket}/${key}`, req.headers, res, ac.signal, access).catch(fail);
          return;
        }
        const overrides = responseOverrides(query);
        void serveObject(rp, { method, bucket, key, headers: req.headers, signal: ac.signal, overrides, partNumber: query.get('partNumber') }, res, bodyBuffers, digests.digest).catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  };

  /** An object's subresource (`?acl`, `?tagging`, …): 404 NoSuchKey unless the object exists. */
  const serveObjectConfig = async (sub: Subresource, method: string, storeKey: string, headers: IncomingMessage['headers'], res: ServerResponse, signal: AbortSignal, owner: string): Promise<void> => {
    if (sub.name === 'uploadId') refuse(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    // Checked before the read: a request S3 would refuse reaches no backend.
    const attributes = sub.name === 'attributes' ? requestedAttributes(headers['x-amz-object-attributes']) : undefined;
    if (sub.name === 'tagging') {
      // The object's tags are upstream's object_tags rows; the lookup also says it exists.
      sendXml(res, method, taggingXml(await rp.tags(storeKey, { signal })));
      return;
    }
    const o = await rp.head(storeKey, { signal });
    if (attributes !== undefined) {
      if (o.lastModified !== undefined) res.setHeader('Last-Modified', o.lastModified.toUTCString());
      sendXml(res, method, objectAttributesXml(o, attributes));
      return;
    }
    sendXml(res, method, objectConfigDocument(sub, owner));
  };

  /** Bucket-level GETs and HEADs: listings, the location and the configuration subresources. */
  const serveBucket = async (bucket: string, method: string, q: Map<string, string>, sub: Subresource | undefined, res: ServerResponse, signal: AbortSignal, owner: string): Promise<void> => {
    if (method === 'HEAD') {
      res.setHeader('x-amz-bucket-region', s.region);
      res.writeHead(200);
      res.end();
      return;
    }
    if (q.has('location')) {
      sendXml(res, method, locationXml(s.region));
      return;
    }
    const enc = q.get('encoding-type');
    if (enc !== undefined && enc !== 'url') refuse(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request');
    const delimiter = q.get('delimiter');
    if (sub?.name === 'uploads') {
      sendXml(res, method, uploadsXml({
        bucket, prefix: q.get('prefix') ?? '', delimiter: delimiter === '' ? undefined : delimiter, keyMarker: q.get('key-marker') ?? '',
        uploadIdMarker: q.get('upload-id-marker') ?? '', maxUploads: intParam(q, 'max-uploads', 1000, 1000), encodeUrl: enc === 'url',
      }));
      return;
    }
    if (sub !== undefined && sub.name !== 'versions') {
      sendXml(res, method, bucketConfigDocument(sub, owner));
      return;
    }
    const r: ListRequest = {
      bucket, prefix: q.get('prefix') ?? '', delimiter: delimiter === '' ? undefined : delimiter,
      maxKeys: intParam(q, 'max-keys', 1000, 1000), after: undefined, afterPrefix: false, encodeUrl: enc === 'url', signal,
    };
    if (sub !== undefined) {
      sendXml(res, method, await versionsPage(r, q, owner));
      return;
    }
    const v2 = q.get('list-type') === '2';
    let page: ListPage;
    if (v2) {
      const token = q.get('continuation-token');
      const startAfter = q.get('start-after');
      if (token !== undefined) {
        let t: { after: string; prefix: boolean };
        try {
          t = parseContinuationToken(token);
        } catch {
          refuse(400, 'InvalidArgument', 'The continuation token provided is incorrect');
        }
        r.after = t.after;
        r.afterPrefix = t.prefix;
      } else if (startAfter !== undefined && startAfter !== '') {
        ({ after: r.after, afterPrefix: r.afterPrefix } = listStart(startAfter, r.prefix, r.delimiter));
      }
      const res2 = await listPage(listKeys, r);
      page = toListPage(r, res2);
      if (token !== undefined) page.continuationToken = token;
      if (startAfter !== undefined) page.startAfter = startAfter;
      if (res2.truncated && res2.next !== undefined) page.nextContinuationToken = continuationToken(res2.next);
      page.keyCount = res2.contents.length + res2.commonPrefixes.length;
      if (q.get('fetch-owner') === 'true') page.owner = owner;
    } else {
      const marker = q.get('marker') ?? '';
      if (marker !== '') ({ after: r.after, afterPrefix: r.afterPrefix } = listStart(marker, r.prefix, r.delimiter));
      const res1 = await listPage(listKeys, r);
      page = toListPage(r, res1);
      page.marker = marker;
      page.owner = owner;
      if (res1.truncated && r.delimiter !== undefined && res1.next !== undefined) page.nextMarker = res1.next.after;
    }
    sendXml(res, method, listXml(page, v2 ? 2 : 1));
  };

  /**
   * ListObjectVersions: the listing with each key's one version, `null`. A key marker is where
   * the previous page ended; a version-id marker, if given, can only be `null`, whose versions
   * after it in the same key are none.
   */
  const versionsPage = async (r: ListRequest, q: Map<string, string>, owner: string): Promise<string> => {
    const keyMarker = q.get('key-marker') ?? '';
    const versionIdMarker = q.get('version-id-marker') ?? '';
    if (versionIdMarker !== '' && keyMarker === '') refuse(400, 'InvalidArgument', 'A version-id marker cannot be specified without a key marker.');
    if (versionIdMarker !== '' && versionIdMarker !== 'null') refuse(400, 'InvalidArgument', 'Invalid version id specified');
    if (keyMarker !== '') ({ after: r.after, afterPrefix: r.afterPrefix } = listStart(keyMarker, r.prefix, r.delimiter));
    const res = await listPage(listKeys, r);
    const next = res.truncated ? res.next : undefined;
    return versionsXml({
      ...toListPage(r, res), keyMarker, versionIdMarker, owner,
      nextKeyMarker: next?.after, nextVersionIdMarker: next === undefined || next.prefix ? undefined : 'null',
    });
  };

  // Node checks the header timeout on this interval (30 s by default): often enough that
  // server.read_header_timeout is what a connection gets, not up to 30 s more.
  const checking = { connectionsCheckingInterval: Math.max(MIN_CHECK_MS, Math.min(DEFAULT_CHECK_MS, Math.floor(s.readHeaderTimeoutMs / 4))) };
  const server = s.tls === null
    ? http.createServer({ maxHeaderSize: s.maxHeaderBytes, requestTimeout: 0, ...checking }, handle)
    : https.createServer({
      maxHeaderSize: s.maxHeaderBytes, requestTimeout: 0, ...checking, cert: s.tls.cert, key: s.tls.key, minVersion: s.tls.minVersion,
      ...(s.tls.clientCa === null ? {} : { ca: s.tls.clientCa, requestCert: true, rejectUnauthorized: true }),
    }, handle);
  server.headersTimeout = s.readHeaderTimeoutMs;
  server.keepAliveTimeout = s.idleTimeoutMs;
  // A connection on which nothing moves for idle_timeout — a client that stopped reading a body,
  // one that sent part of a request — is closed: it would hold its admission slot, its socket and
  // its paused copy for as long as it liked.
  server.timeout = s.idleTimeoutMs;
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
  });
  // A malformed request line or headers: answer 400 as S3 does and drop the connection, never crash.
  server.on('clientError', (err: NodeJS.ErrnoException, sock: Socket) => {
    if (sock.writable) sock.end(clientErrorAnswer(err));
    else sock.destroy();
  });
  const host = opts.host ?? s.host;
  const port = opts.port ?? s.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${s.tls === null ? 'http' : 'https'}://${shownHost}:${addr.port}`;
  let closed: Promise<number> | undefined;
  const reload = (next: GatewaySettings): string[] => {
    const kept: string[] = [];
    if (next.listenAddr !== s.listenAddr) kept.push('server.listen_addr');
    if (next.maxHeaderBytes !== s.maxHeaderBytes) kept.push('server.max_header_bytes');
    if (next.processes !== s.processes) kept.push('server.processes');
    let tls = s.tls;
    if ((next.tls === null) !== (s.tls === null)) kept.push('server.tls');
    else if (next.tls !== null && s.tls !== null) {
      if (next.tls.clientCa !== s.tls.clientCa) kept.push('server.tls.client_ca_file');
      // The new certificate for new connections; open ones keep the session they have.
      (server as https.Server).setSecureContext({ cert: next.tls.cert, key: next.tls.key, minVersion: next.tls.minVersion, ...(s.tls.clientCa === null ? {} : { ca: s.tls.clientCa }) });
      tls = { ...next.tls, clientCa: s.tls.clientCa };
    }
    server.headersTimeout = next.readHeaderTimeoutMs;
    server.keepAliveTimeout = next.idleTimeoutMs;
    server.timeout = next.idleTimeoutMs;
    verifier = newVerifier(next);
    bodyBuffers.keep = next.bodyBuffers;
    if (JSON.stringify(next.rateLimit) !== JSON.stringify(s.rateLimit)) {
      // New limits start every client afresh, with a full burst.
      limiter?.close();
      limiter = newLimiter(next);
    }
    bucketNames = new Set(next.buckets.map((b) => b.name));
    s = { ...next, listenAddr: s.listenAddr, host: s.host, port: s.port, maxHeaderBytes: s.maxHeaderBytes, processes: s.processes, tls };
    return kept;
  };
  return {
    url,
    port: addr.port,
    reload,
    notReady: () => {
      ready = false;
    },
    inFlight: () => inFlight,
    close: (drainMs = DEFAULT_DRAIN_MS) => {
      closed ??= (async () => {
        closing = true;
        limiter?.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          await new Promise<void>((resolve) => {
            drained = resolve;
            const t = setTimeout(resolve, drainMs);
            t.unref();
          });
        }
        const cut = inFlight;
        server.closeAllConnections();
        for (const sock of sockets) sock.destroy();
        await stopped;
        await digests.close();
        return cut;
      })();
      return closed;
    },
  };
}

/** How long close() lets requests in flight finish by default (server.shutdown_timeout's default). */
const DEFAULT_DRAIN_MS = 60_000;

/** Node's interval for checking header timeouts, and the shortest we ask for. */
const DEFAULT_CHECK_MS = 30_000;
const MIN_CHECK_MS = 250;

/** Whether a request announces a body (an upload): a length above 0, or chunked. */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/**
 * The raw answer to a request Node could not parse, as S3 words it: headers too large
 * (RequestHeaderSectionTooLarge), headers not in within read_header_timeout (RequestTimeout),
 * anything else malformed (BadRequest); the connection is closed.
 */
export function clientErrorAnswer(err: NodeJS.ErrnoException): string {
  const [code, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? ['RequestHeaderSectionTooLarge', 'Your request header section exceeds the maximum allowed size.']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.']
      : ['BadRequest', 'The request could not be parsed.'];
  const body = errorXml(code, message, '/', '', undefined);
  return `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: ${XML}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** A 200 with an XML document (no body for HEAD). */
function sendXml(res: ServerResponse, method: string, body: string): void {
  res.writeHead(200, { 'Content-Type': XML, 'Content-Length': Buffer.byteLength(body) });
  res.end(method === 'HEAD' ? undefined : body);
}

/** This process, as health answers name it (several gateways behind one load balancer). */
const INSTANCE = hostname();

/**
 * `/metrics`, the health endpoint and its readiness check, as s3-orchestrator answers them:
 * health (liveness) is always 200, its status `degraded` while the metadata store's breaker is
 * not closed (reads still work, listings do not); readiness is 200 until the gateway stops
 * taking new work (SIGTERM), then 503.
 */
async function serveSide(rp: ReadPath, op: string, req: IncomingMessage, res: ServerResponse, ready: boolean, opts: GatewayOptions): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return;
  }
  let status = 200;
  let body: string;
  // Which of several processes answered (server.processes): pid, and its place among them.
  const who = opts.process === undefined ? { pid: process.pid } : { pid: process.pid, process: opts.process.index };
  if (op === 'metrics') body = await (opts.metrics ?? (() => rp.metrics()))();
  else if (op === 'ready') {
    status = ready ? 200 : 503;
    body = `${JSON.stringify({ status: ready ? 'ready' : 'not ready', instance: INSTANCE, ...who })}\n`;
  } else {
    const breakers = rp.breakerStates();
    body = `${JSON.stringify({ status: breakers.store === 'closed' ? 'ok' : 'degraded', instance: INSTANCE, ...who, breakers })}\n`;
  }
  res.writeHead(status, { 'Content-Type': op === 'metrics' ? rp.metricsContentType : 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
