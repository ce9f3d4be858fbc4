/**
 * An ObjectBackend over any S3-compatible endpoint (AWS, MinIO, B2, R2, OCI, s3rver), on
 * @aws-sdk/client-s3 with a keep-alive agent of bounded size.
 *
 * Failover is readpath's job, so the SDK never retries (`maxAttempts: 1`); a request lost to a
 * stale keep-alive connection is sent once more (stale-socket.ts), as any HTTP client does. Checksums are only
 * computed/validated when an operation requires them (s3rver would otherwise store aws-chunked
 * framing). Every call is bounded by `timeoutMs` and the caller's signal; for GET the bound
 * covers the body too, until it is read, destroyed or fails.
 *
 * The SDK is imported on first need (see s3-sdk.ts): a backend built before
 * {@link S3Backend.preload} has resolved creates its client on its first call.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { ReadPathError, abortedError, isReadPathErrorLike, messageOf } from '../errors.js';
import type { BackendGetOptions, BackendHeadOptions, BackendListOptions, BackendListPage, BackendListedObject, ConditionalOptions, GetResult, HeadResult, ObjectBackend } from '../types.js';
import { CallDeadline, destroyQuietly } from './call-deadline.js';
import { contentRangeTotal } from './body.js';
import { holdToRange } from './range-answer.js';
import { canonicalRange } from '../ranges/byte-range.js';
import { withoutSdkNodeVersionWarning } from './sdk-warning.js';
import { s3Sdk, type S3Sdk } from './s3-sdk.js';
import { StaleAwareHttpAgent, StaleAwareHttpsAgent, retryStale } from './stale-socket.js';

/** Default per-call bound (server.backend_timeout's default, 30s). */
export const DEFAULT_BACKEND_TIMEOUT_MS = 30_000;
/** Default keep-alive socket limit per backend. */
export const DEFAULT_MAX_SOCKETS = 50;

/** Which S3 transport a backend uses: `lean` (SigV4 over readpath's own HTTP/1.1 client; undici for TLS) or `sdk` (@aws-sdk/client-s3). */
export type S3ClientKind = 'lean' | 'sdk';

/** Credentials as the AWS SDK's identity providers return them. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When they stop working; absent: they do not expire. */
  expiration?: Date;
}

/** A source of credentials, called again when the last ones near their expiration. */
export type S3CredentialProvider = () => Promise<S3Credentials>;

/** Options for {@link S3Backend}: API.md `backends[]` keys, camelCased, plus client tuning. */
export interface S3BackendOptions {
  /**
   * The transport {@link createS3Backend} builds (`backends[].client`). Default `lean`. The
   * backend classes themselves ignore it.
   */
  client?: S3ClientKind;
  name: string;
  endpoint: string;
  /** Default `us-east-1`. */
  region?: string;
  bucket: string;
  /** With `secretAccessKey`: static credentials. Without both: the SDK's default chain. */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /**
   * A credential source used instead of static keys and the default chain (tests, embedding;
   * a function, so it does not cross into pool workers). Called again before the credentials'
   * `expiration` (5 minutes ahead); concurrent calls share one refresh.
   */
  credentials?: S3CredentialProvider;
  /** Resolve endpoint host names with this instead of DNS (tests, pinning). In-process only. */
  lookup?: LookupFunction;
  /** Path-style addressing (MinIO, s3rver). Default false. */
  forcePathStyle?: boolean;
  /** Keep-alive sockets per backend. Default {@link DEFAULT_MAX_SOCKETS}. */
  maxSockets?: number;
  /**
   * Bound on each call (server.backend_timeout), in ms, counted from the call's `since` when it
   * has one (a probe's calls share it); 0 disables it. Default {@link DEFAULT_BACKEND_TIMEOUT_MS}.
   * Ends a call with `TIMEOUT`.
   */
  timeoutMs?: number;
  /**
   * Whether the timeout and the caller's signal keep bounding a GET body after `get`
   * resolves, destroying it with `TIMEOUT`/`ABORTED`. Default true (API.md: the backend
   * timeout bounds a whole probe, body included). Turn off to stream large bodies yourself.
   */
  timeoutCoversBody?: boolean;
}

/** Socket usage of one backend's agent. */
export interface SocketStats {
  /** Sockets carrying a request. */
  active: number;
  /** Idle keep-alive sockets. */
  free: number;
  /** Requests waiting for a socket. */
  queued: number;
}

type Operation = 'HEAD' | 'GET' | 'LIST';

const SILENT_LOGGER = {
  debug: (): void => {},
  info: (): void => {},
  warn: (): void => {},
  error: (): void => {},
};

function invalid(field: string, why: string): ReadPathError {
  return new ReadPathError('INVALID_CONFIG', `backends[].${field}: ${why}`);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Check S3 backend options; throws `INVALID_CONFIG` naming the field. Shared by both transports. */
export function validateS3BackendOptions(o: S3BackendOptions): void {
  if (typeof o?.name !== 'string' || o.name.trim() === '') throw invalid('name', 'must be a non-empty string');
  const at = (f: string): string => `${f} (backend ${o.name})`;
  if (typeof o.endpoint !== 'string' || o.endpoint === '') throw invalid(at('endpoint'), 'must be a URL');
  let url: URL;
  try {
    url = new URL(o.endpoint);
  } catch {
    throw invalid(at('endpoint'), `not a URL: ${o.endpoint}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(at('endpoint'), 'must be http:// or https://');
  if (typeof o.bucket !== 'string' || o.bucket === '') throw invalid(at('bucket'), 'must be a non-empty string');
  // A lone surrogate has no UTF-8 form: no request could ever name this bucket.
  if (LONE_SURROGATE.test(o.bucket)) throw invalid(at('bucket'), 'must be well-formed Unicode');
  if (o.region !== undefined && (typeof o.region !== 'string' || o.region === '')) throw invalid(at('region'), 'must be a non-empty string');
  if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
    throw invalid(at(o.accessKeyId === undefined ? 'access_key_id' : 'secret_access_key'), 'access_key_id and secret_access_key go together');
  }
  if (o.maxSockets !== undefined && !(Number.isSafeInteger(o.maxSockets) && o.maxSockets > 0)) {
    throw invalid(at('max_sockets'), 'must be a positive integer');
  }
  if (o.timeoutMs !== undefined && !(Number.isFinite(o.timeoutMs) && o.timeoutMs >= 0)) {
    throw invalid(at('timeout'), 'must be a finite number of ms >= 0');
  }
  if (o.client !== undefined && o.client !== 'lean' && o.client !== 'sdk') throw invalid(at('client'), 'must be lean or sdk');
  if (o.credentials !== undefined && typeof o.credentials !== 'function') throw invalid(at('credentials'), 'must be a function');
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Map an SDK/transport failure to a readpath error. A missing copy (404 / NotFound /
 * NoSuchKey) is `BACKEND_ERROR` with `backendStatus: 404`; any other HTTP answer keeps its
 * status as `backendStatus`; network and parse failures are `BACKEND_ERROR` without one.
 */
export function mapS3Error(err: unknown, backend: string, op: Operation, key: string): ReadPathError {
  if (err instanceof ReadPathError) return err;
  if (isReadPathErrorLike(err)) {
    return new ReadPathError(err.code, err.message, err.backendStatus !== undefined ? { cause: err, backendStatus: err.backendStatus } : { cause: err });
  }
  const e = (err ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const what = `${backend}: ${op} ${JSON.stringify(key)}`;
  if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchKey') {
    return new ReadPathError('BACKEND_ERROR', `${what}: not found (404 ${e.name ?? 'NotFound'})`, { cause: err, backendStatus: 404 });
  }
  if (typeof status === 'number' && status > 0) {
    const label = e.Code ?? (e.name !== undefined && e.name !== 'Error' && e.name !== 'Unknown' ? e.name : undefined);
    return new ReadPathError('BACKEND_ERROR', `${what}: HTTP ${status}${label ? ` ${label}` : ''}: ${firstLine(messageOf(err))}`, {
      cause: err,
      backendStatus: status,
    });
  }
  if (e.name === 'AbortError') return new ReadPathError('ABORTED', `${what}: aborted`, { cause: err });
  const code = typeof e.code === 'string' ? ` ${e.code}` : '';
  return new ReadPathError('BACKEND_ERROR', `${what}: request failed${code}: ${firstLine(messageOf(err))}`, { cause: err });
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** An S3-compatible backend. Call {@link S3Backend.close} to release its sockets. */
export class S3Backend implements ObjectBackend {
  readonly name: string;
  /** Its calls share the probe's `server.backend_timeout`, counted from their `since`. */
  readonly boundsCalls = true;
  readonly bucket: string;
  readonly timeoutMs: number;
  readonly #agent: http.Agent;
  readonly #isHttps: boolean;
  readonly #config: S3ClientConfig;
  readonly #coversBody: boolean;
  #client: S3Client | undefined;
  #closed = false;

  /**
   * Load the AWS SDK now, so that backends built afterwards have their client from the start
   * and the first call does not wait for the import. `ReadPath.open` calls it.
   */
  static async preload(): Promise<void> {
    await s3Sdk.load();
  }

  constructor(options: S3BackendOptions) {
    validateS3BackendOptions(options);
    this.name = options.name;
    this.bucket = options.bucket;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_BACKEND_TIMEOUT_MS;
    this.#coversBody = options.timeoutCoversBody ?? true;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.#isHttps = new URL(options.endpoint).protocol === 'https:';
    const agentOptions = options.lookup !== undefined ? { keepAlive: true, maxSockets, lookup: options.lookup } : { keepAlive: true, maxSockets };
    this.#agent = this.#isHttps ? new StaleAwareHttpsAgent(agentOptions) : new StaleAwareHttpAgent(agentOptions);
    const config: S3ClientConfig = {
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? false,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Reuses the resolved middleware stack across sends: ~15% less client CPU per call.
      cacheMiddleware: true,
      logger: SILENT_LOGGER,
    };
    if (options.credentials !== undefined) {
      // The SDK memoizes it and refreshes 5 minutes before `expiration`, sharing one refresh.
      config.credentials = options.credentials;
    } else if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
      config.credentials = {
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
        ...(options.sessionToken !== undefined ? { sessionToken: options.sessionToken } : {}),
      };
    }
    this.#config = config;
    const sdk = s3Sdk.loaded();
    if (sdk !== undefined) this.#build(sdk);
  }

  #build(sdk: S3Sdk): S3Client {
    const client = withoutSdkNodeVersionWarning(() => new sdk.S3Client({
      ...this.#config,
      requestHandler: new sdk.NodeHttpHandler({
        ...(this.#isHttps ? { httpsAgent: this.#agent as https.Agent } : { httpAgent: this.#agent }),
        // Without a logger the handler warns about socket saturation on the console.
        logger: SILENT_LOGGER,
      }),
    }));
    this.#client = client;
    return client;
  }

  /** The client, built once the SDK has loaded (at once when it already has). */
  async #lazyClient(): Promise<S3Client> {
    const sdk = await s3Sdk.load();
    if (this.#closed) throw new ReadPathError('BACKEND_ERROR', `${this.name}: backend closed`);
    return this.#client ?? this.#build(sdk);
  }

  /** Current socket usage of this backend's agent. */
  sockets(): SocketStats {
    const count = (m: NodeJS.ReadOnlyDict<unknown[]>): number => {
      let n = 0;
      for (const k in m) n += m[k]?.length ?? 0;
      return n;
    };
    return { active: count(this.#agent.sockets), free: count(this.#agent.freeSockets), queued: count(this.#agent.requests) };
  }

  async head(key: string, opts?: BackendHeadOptions): Promise<HeadResult> {
    const call = this.#begin('HEAD', key, opts?.signal, opts?.since);
    try {
      const client = this.#client ?? (await this.#lazyClient());
      // Loaded: a client exists only once the SDK has.
      const sdk = s3Sdk.loaded() as S3Sdk;
      const input = withConditions({ Bucket: this.bucket, Key: key }, opts);
      const out = await retryStale(call.signal, () => client.send(new sdk.HeadObjectCommand(input), { abortSignal: call.signal }));
      if (call.failure !== undefined) throw call.failure;
      return toHead(out);
    } catch (err) {
      throw call.failure ?? mapS3Error(err, this.name, 'HEAD', key);
    } finally {
      call.release();
    }
  }

  async list(opts: BackendListOptions): Promise<BackendListPage> {
    const call = this.#begin('LIST', opts.prefix, opts.signal, opts.since);
    try {
      const client = this.#client ?? (await this.#lazyClient());
      // Loaded: a client exists only once the SDK has.
      const sdk = s3Sdk.loaded() as S3Sdk;
      const input: { Bucket: string; Prefix: string; StartAfter?: string; ContinuationToken?: string; MaxKeys?: number } = { Bucket: this.bucket, Prefix: opts.prefix };
      if (opts.startAfter !== undefined) input.StartAfter = opts.startAfter;
      if (opts.continuationToken !== undefined) input.ContinuationToken = opts.continuationToken;
      if (opts.maxKeys !== undefined) input.MaxKeys = opts.maxKeys;
      const out = await retryStale(call.signal, () => client.send(new sdk.ListObjectsV2Command(input), { abortSignal: call.signal }));
      if (call.failure !== undefined) throw call.failure;
      const objects = (out.Contents ?? []).flatMap((c) => {
        if (c.Key === undefined) return [];
        const o: BackendListedObject = { key: c.Key, size: c.Size ?? 0 };
        if (c.LastModified !== undefined) o.lastModified = c.LastModified;
        if (c.ETag !== undefined) o.etag = c.ETag;
        return [o];
      });
      const page: BackendListPage = { objects, truncated: out.IsTruncated === true };
      if (out.NextContinuationToken !== undefined) page.nextToken = out.NextContinuationToken;
      return page;
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
      // The range as every server reads it (`Bytes=0-4,` is `bytes=0-4`: s3rver and MinIO ignore the first).
      const input = withConditions(opts?.range !== undefined ? { Bucket: this.bucket, Key: key, Range: canonicalRange(opts.range) ?? opts.range } : { Bucket: this.bucket, Key: key }, opts);
      const client = this.#client ?? (await this.#lazyClient());
      // Loaded: a client exists only once the SDK has.
      const sdk = s3Sdk.loaded() as S3Sdk;
      const out = await retryStale(call.signal, () => client.send(new sdk.GetObjectCommand(input), { abortSignal: call.signal }));
      body = out.Body instanceof Readable ? out.Body : Readable.from([]);
      const result: GetResult = { ...toHead(out), body };
      const total = contentRangeTotal(out.ContentRange);
      if (total !== undefined) result.totalSize = total;
      if (opts?.range !== undefined) holdToRange(opts.range, out.$metadata.httpStatusCode ?? 200, out.ContentRange, result, `${this.name}: GET ${JSON.stringify(key)}`);
      call.handOver(result.body, opts?.timeoutCoversBody ?? this.#coversBody);
      return result;
    } catch (err) {
      call.release();
      if (body !== undefined) destroyQuietly(body, call.failure);
      throw call.failure ?? mapS3Error(err, this.name, 'GET', key);
    }
  }

  /**
   * Destroy the client and its agent (idle and in-flight sockets); resolves once every socket
   * has closed. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open: Socket[] = [];
    for (const m of [this.#agent.sockets, this.#agent.freeSockets]) {
      for (const k in m) for (const s of m[k] ?? []) if (!s.closed) open.push(s);
    }
    const closed = Promise.all(open.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))));
    this.#client?.destroy();
    this.#agent.destroy();
    await closed;
  }

  #begin(op: Operation, key: string, signal: AbortSignal | undefined, since: number | undefined): CallDeadline {
    if (this.#closed) throw new ReadPathError('BACKEND_ERROR', `${this.name}: backend closed`);
    if (signal?.aborted) throw abortedError(signal);
    return CallDeadline.start(signal, this.timeoutMs, () => `${this.name}: ${op} ${JSON.stringify(key)}`, since);
  }
}

/** The SDK's input fields for the conditional headers that are set. */
function withConditions<T extends object>(input: T, c: ConditionalOptions | undefined): T & {
  IfMatch?: string; IfNoneMatch?: string; IfModifiedSince?: Date; IfUnmodifiedSince?: Date;
} {
  if (c === undefined) return input;
  const out: T & { IfMatch?: string; IfNoneMatch?: string; IfModifiedSince?: Date; IfUnmodifiedSince?: Date } = input;
  if (c.ifMatch !== undefined) out.IfMatch = c.ifMatch;
  if (c.ifNoneMatch !== undefined) out.IfNoneMatch = c.ifNoneMatch;
  if (c.ifModifiedSince !== undefined) out.IfModifiedSince = c.ifModifiedSince;
  if (c.ifUnmodifiedSince !== undefined) out.IfUnmodifiedSince = c.ifUnmodifiedSince;
  return out;
}

function toHead(out: {
  ContentLength?: number | undefined;
  ETag?: string | undefined;
  ContentType?: string | undefined;
  LastModified?: Date | undefined;
  Metadata?: Record<string, string> | undefined;
}): HeadResult {
  // -1: the backend did not announce a length (readBody then skips its length check).
  const h: HeadResult = { size: out.ContentLength ?? -1 };
  if (out.ETag !== undefined) h.etag = out.ETag;
  if (out.ContentType !== undefined) h.contentType = out.ContentType;
  if (out.LastModified !== undefined) h.lastModified = out.LastModified;
  if (out.Metadata !== undefined) h.metadata = out.Metadata;
  return h;
}
