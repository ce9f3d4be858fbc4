/**
 * The lean S3 transport: an ObjectBackend that signs GET/HEAD with SigV4 (s3-signer.ts) and
 * sends them, without the AWS SDK's middleware stack (~0.1 ms of client CPU per GET instead of
 * ~1.2 ms; bench/RESULTS.md), on one set of keep-alive connections per backend: readpath's own
 * HTTP/1.1 client (raw-http.ts) to a plain-HTTP endpoint, undici's `Pool` to a TLS one.
 *
 * It behaves as {@link S3Backend} does, error for error: non-2xx answers (3xx included: a
 * redirect is not followed) become SDK-shaped errors mapped by {@link mapS3Error}, so a missing
 * copy is `BACKEND_ERROR` with `backendStatus` 404 and every other answer keeps its status;
 * network failures are `BACKEND_ERROR` without one; the call deadline (`timeoutMs` and the
 * caller's signal, {@link CallDeadline}) covers the body until it is read or destroyed, and
 * ends the call with `TIMEOUT`/`ABORTED`. A destroyed body aborts its request, which frees the
 * socket. A body that ends short of its Content-Length errors (both clients report the early close),
 * so readBody/collectBody see a `BACKEND_ERROR`. A ranged GET's answer is held to the range
 * asked for (range-answer.ts), as S3Backend's is.
 */
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import type { Pool } from 'undici';
import { ReadPathError, abortedError } from '../errors.js';
import type { BackendGetOptions, BackendHeadOptions, BackendListOptions, BackendListPage, ConditionalOptions, GetResult, HeadResult, ObjectBackend } from '../types.js';
import { CallDeadline, destroyQuietly } from './call-deadline.js';
import { contentRangeTotal } from './body.js';
import { leanS3Deps, type LeanS3Deps } from './lean-s3-deps.js';
import { bareHost, objectPath, s3Address, type S3Address } from './s3-address.js';
import {
  DEFAULT_BACKEND_TIMEOUT_MS,
  DEFAULT_MAX_SOCKETS,
  mapS3Error,
  validateS3BackendOptions,
  type S3BackendOptions,
  type S3Credentials,
  type SocketStats,
} from './s3-backend.js';
import { CredentialCache, defaultChainProvider } from './s3-credentials.js';
import { S3ResponseError, locationOf, parseS3ErrorXml, readErrorBody } from './s3-error-xml.js';
import { S3Signer, UNSIGNED_PAYLOAD, canonicalQuery } from './s3-signer.js';
import { parseListObjectsV2 } from './s3-list-xml.js';
import { holdToRange } from './range-answer.js';
import { canonicalRange } from '../ranges/byte-range.js';
import { RawHttpPool } from './raw-http.js';

type Operation = 'HEAD' | 'GET' | 'LIST';

/** The most bytes of a listing page read (a page of 1,000 long keys is well under it). */
const MAX_LIST_BYTES = 8 * 1024 * 1024;
type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What {@link LeanS3Backend}'s two ways of sending answer with. */
interface Answer {
  statusCode: number;
  headers: ResponseHeaders;
  body: Readable;
}

const META_PREFIX = 'x-amz-meta-';

function header(h: ResponseHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The HEAD fields of a response, as S3Backend reports them from the SDK's output. */
export function headFromHeaders(h: ResponseHeaders): HeadResult {
  const length = header(h, 'content-length');
  const n = length === undefined ? Number.NaN : Number(length);
  // -1: the backend did not announce a length (readBody then skips its length check).
  const out: HeadResult = { size: Number.isSafeInteger(n) && n >= 0 ? n : -1 };
  const etag = header(h, 'etag');
  if (etag !== undefined) out.etag = etag;
  const contentType = header(h, 'content-type');
  if (contentType !== undefined) out.contentType = contentType;
  const lastModified = header(h, 'last-modified');
  if (lastModified !== undefined) {
    const d = new Date(lastModified);
    if (!Number.isNaN(d.getTime())) out.lastModified = d;
  }
  let metadata: Record<string, string> | undefined;
  for (const name in h) {
    if (!name.startsWith(META_PREFIX)) continue;
    metadata ??= {};
    metadata[name.slice(META_PREFIX.length)] = header(h, name) ?? '';
  }
  out.metadata = metadata ?? {};
  return out;
}

/** An S3-compatible backend over SigV4 and its own HTTP/1.1 client (undici for TLS endpoints). Call {@link LeanS3Backend.close} to release its sockets. */
export class LeanS3Backend implements ObjectBackend {
  readonly name: string;
  /** Its calls share the probe's `server.backend_timeout`, counted from their `since`. */
  readonly boundsCalls = true;
  readonly bucket: string;
  readonly timeoutMs: number;
  readonly #address: S3Address;
  readonly #region: string;
  readonly #connections: number;
  readonly #lookup: LookupFunction | undefined;
  readonly #coversBody: boolean;
  readonly #credentials: () => Promise<S3Credentials> = noCredentials;
  /** The credential cache, when the credentials come from a provider. */
  readonly credentialCache: CredentialCache | undefined;
  /** TLS origins: undici's pool, built once undici has loaded. */
  #pool: Pool | undefined;
  /** Plain-HTTP origins: every request goes on readpath's own HTTP/1.1 connections. */
  readonly #raw: RawHttpPool | undefined;
  readonly #signer: S3Signer;
  #closed = false;

  /** Load undici's Pool now, so TLS backends built afterwards need not wait on their first call (plain-HTTP ones need no package). */
  static async preload(): Promise<void> {
    await leanS3Deps.load();
  }

  constructor(options: S3BackendOptions) {
    validateS3BackendOptions(options);
    this.name = options.name;
    this.bucket = options.bucket;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_BACKEND_TIMEOUT_MS;
    this.#coversBody = options.timeoutCoversBody ?? true;
    this.#connections = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.#lookup = options.lookup;
    this.#region = options.region ?? 'us-east-1';
    this.#address = s3Address(options.endpoint, options.bucket, options.forcePathStyle ?? false);
    let cache: CredentialCache | undefined;
    if (options.credentials !== undefined) {
      cache = new CredentialCache(options.credentials, { name: this.name });
    } else if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
      const creds: S3Credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
      if (options.sessionToken !== undefined) creds.sessionToken = options.sessionToken;
      const fixed = Promise.resolve(creds);
      this.#credentials = () => fixed;
    } else {
      const region = this.#region;
      cache = new CredentialCache(async () => (await defaultChainProvider(region))(), { name: this.name });
    }
    this.credentialCache = cache;
    if (cache !== undefined) this.#credentials = () => cache.get();
    this.#signer = new S3Signer(this.#address, this.#region, this.#credentials);
    if (this.#address.protocol === 'http:') {
      // One client, one connection limit, for everything this backend sends: undici's pool beside
      // it would hold max_sockets more, and costs more CPU per request (bench:transport).
      this.#raw = new RawHttpPool(bareHost(this.#address.hostname), this.#address.port ?? 80, { connections: this.#connections, lookup: this.#lookup });
    } else {
      const deps = leanS3Deps.loaded();
      if (deps !== undefined) this.#build(deps);
    }
  }

  #build(deps: LeanS3Deps): Pool {
    const pool = new deps.Pool(this.#address.origin, {
      connections: this.#connections,
      // The call deadline bounds headers and body; undici's own timers would only add work.
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(this.#lookup !== undefined ? { connect: { lookup: this.#lookup } } : {}),
    });
    this.#pool = pool;
    return pool;
  }

  /** The pool, built once the dependencies have loaded (at once when they already have). */
  async #lazyPool(): Promise<Pool> {
    const deps = await leanS3Deps.load();
    if (this.#closed) throw new ReadPathError('BACKEND_ERROR', `${this.name}: backend closed`);
    return this.#pool ?? this.#build(deps);
  }

  /** Current socket usage of this backend's connections. */
  sockets(): SocketStats {
    const s = this.#closed ? undefined : (this.#raw?.stats ?? this.#pool?.stats);
    if (s === undefined) return { active: 0, free: 0, queued: 0 };
    return { active: s.connected - s.free, free: s.free, queued: s.queued };
  }

  /** The request headers before signing. */
  #headers(opts: BackendGetOptions | undefined): Record<string, string> {
    const h: Record<string, string> = { host: this.#address.host, 'x-amz-content-sha256': UNSIGNED_PAYLOAD };
    if (opts === undefined) return h;
    // The range as every server reads it (`Bytes=0-4,` is `bytes=0-4`: s3rver and MinIO ignore the first).
    if (opts.range !== undefined) h['range'] = canonicalRange(opts.range) ?? opts.range;
    addConditions(h, opts);
    return h;
  }

  /** Send one signed request; resolves with the response once its headers have arrived. */
  async #send(method: 'HEAD' | 'GET', key: string, opts: BackendGetOptions | undefined, call: CallDeadline, query?: string): Promise<Answer> {
    const pool = this.#raw === undefined ? (this.#pool ?? (await this.#lazyPool())) : undefined;
    const path = query === undefined ? objectPath(this.#address, key) : this.#address.prefix;
    const headers = await this.#signer.sign(method, path, this.#headers(opts), undefined, query);
    if (call.failure !== undefined) throw call.failure;
    const target = query === undefined || query === '' ? path : `${path}?${query}`;
    if (pool === undefined) return (this.#raw as RawHttpPool).request({ method, path: target, headers, signal: call.emitter, into: opts?.into, transient: opts?.transient });
    // reset: false — undici closes the connection after every HEAD by default (for servers
    // that send a body with it); S3 servers do not, and the socket is worth keeping.
    const request = { method, path: target, headers, signal: call.emitter, reset: false };
    try {
      return await pool.request(request);
    } catch (err) {
      // undici fails a request lost to a stale kept connection rather than sending it again
      // (raw-http.ts does, for plain HTTP): send it once more, as HTTP clients do.
      if (!isStaleTlsConnection(err) || call.failure !== undefined) throw err;
      return pool.request(request);
    }
  }

  /** The error a non-2xx answer stands for; its body (an S3 XML document, or not) is consumed. */
  async #answerError(res: Answer): Promise<S3ResponseError> {
    const text = await readErrorBody(res.body);
    return new S3ResponseError(res.statusCode, parseS3ErrorXml(text), res.statusCode < 400 ? locationOf(res.headers) : undefined, text);
  }

  async head(key: string, opts?: BackendHeadOptions): Promise<HeadResult> {
    const call = this.#begin('HEAD', key, opts?.signal, opts?.since);
    try {
      const res = await this.#send('HEAD', key, opts, call);
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.#answerError(res);
      res.body.on('error', noop).resume();
      if (call.failure !== undefined) throw call.failure;
      return headFromHeaders(res.headers);
    } catch (err) {
      throw call.failure ?? mapS3Error(err, this.name, 'HEAD', key);
    } finally {
      call.release();
    }
  }

  /** One page of ListObjectsV2 (keys asked for URL-encoded: see s3-list-xml.ts). */
  async list(opts: BackendListOptions): Promise<BackendListPage> {
    const call = this.#begin('LIST', opts.prefix, opts.signal, opts.since);
    try {
      const query = canonicalQuery({
        'continuation-token': opts.continuationToken,
        'encoding-type': 'url',
        'list-type': '2',
        'max-keys': opts.maxKeys === undefined ? undefined : String(opts.maxKeys),
        prefix: opts.prefix,
        'start-after': opts.startAfter,
      });
      const res = await this.#send('GET', '', undefined, call, query);
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.#answerError(res);
      const text = await readText(res.body, MAX_LIST_BYTES, this.name);
      if (call.failure !== undefined) throw call.failure;
      return parseListObjectsV2(text, this.name);
    } catch (err) {
      throw call.failure ?? mapS3Error(err, this.name, 'LIST', opts.prefix);
    } finally {
      call.release();
    }
  }

  async get(key: string, opts?: BackendGetOptions): Promise<GetResult> {
    const call = this.#begin('GET', key, opts?.signal, opts?.since);
    let body: Readable | undefined;
    try {
      const res = await this.#send('GET', key, opts, call);
      body = res.body;
      // As Node's IncomingMessage (the SDK's body) does: an error reaches the body's listeners
      // but is never an uncaught 'error' event. Without this, a caller abort delivered from a
      // macrotask (a pool cancel message) raced a reader removing its listener: the deadline
      // destroys the body, the reader detaches, and the 'error' emitted on the next tick found
      // nobody — an uncaught exception that killed the worker.
      body.on('error', noop);
      if (res.statusCode < 200 || res.statusCode >= 300) throw await this.#answerError(res);
      const result = headFromHeaders(res.headers) as GetResult;
      result.body = body;
      const contentRange = header(res.headers, 'content-range');
      const total = res.statusCode === 206 ? contentRangeTotal(contentRange) : undefined;
      if (total !== undefined) result.totalSize = total;
      if (opts?.range !== undefined) holdToRange(opts.range, res.statusCode, contentRange, result, `${this.name}: GET ${JSON.stringify(key)}`);
      call.handOver(result.body, opts?.timeoutCoversBody ?? this.#coversBody);
      return result;
    } catch (err) {
      call.release();
      if (body !== undefined) destroyQuietly(body, call.failure);
      throw call.failure ?? mapS3Error(err, this.name, 'GET', key);
    }
  }

  /**
   * Destroy the pool: idle and in-flight sockets; resolves once every socket has closed.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#pool?.destroy(), this.#raw?.close()]);
  }

  #begin(op: Operation, key: string, signal: AbortSignal | undefined, since: number | undefined): CallDeadline {
    if (this.#closed) throw new ReadPathError('BACKEND_ERROR', `${this.name}: backend closed`);
    if (signal?.aborted) throw abortedError(signal);
    return CallDeadline.start(signal, this.timeoutMs, () => `${this.name}: ${op} ${JSON.stringify(key)}`, since);
  }
}

function noop(): void {}

/** A response body as UTF-8 text, refused past `max` bytes. */
async function readText(body: Readable, max: number, backend: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = c as Buffer;
    size += b.byteLength;
    if (size > max) {
      destroyQuietly(body);
      throw new ReadPathError('BACKEND_ERROR', `${backend}: LIST answered more than ${max} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function noCredentials(): Promise<S3Credentials> {
  return Promise.reject(new ReadPathError('BACKEND_ERROR', 'no credentials configured'));
}

/** Add the conditional headers that are set, in HTTP's formats. */
function addConditions(h: Record<string, string>, c: ConditionalOptions): void {
  if (c.ifMatch !== undefined) h['if-match'] = c.ifMatch;
  if (c.ifNoneMatch !== undefined) h['if-none-match'] = c.ifNoneMatch;
  if (c.ifModifiedSince !== undefined) h['if-modified-since'] = c.ifModifiedSince.toUTCString();
  if (c.ifUnmodifiedSince !== undefined) h['if-unmodified-since'] = c.ifUnmodifiedSince.toUTCString();
}

/**
 * Whether undici failed a request because its connection closed before any answer to it, on a
 * connection that had carried answers before (undici's socket counts bytes of the TLS session's
 * data: a new connection has read none). Such a request never reached the server's handler.
 * undici cannot tell half an answer on that connection from none, so a GET or HEAD whose answer
 * broke off within its head is sent again too — harmless for requests that change nothing.
 */
function isStaleTlsConnection(err: unknown): boolean {
  const e = err as { code?: unknown; socket?: { bytesRead?: unknown } } | null;
  return e?.code === 'UND_ERR_SOCKET' && typeof e.socket?.bytesRead === 'number' && e.socket.bytesRead > 0;
}
