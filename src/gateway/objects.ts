/**
 * GetObject and HeadObject: the object's body streams through `getStream` (bounded memory,
 * backpressure from the client's socket, mid-body failover), with S3's headers, a single byte
 * range, and the conditional headers in RFC 9110's order. A body that fails verification after
 * the headers went out ends the connection without completing the response: the client sees a
 * truncated body, never a wrong one.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ReadPath, HeadOutcome, StreamOutcome } from '../read-path.js';
import { RangeNotSatisfiableError, canonicalRange, endsBeforeStart, parseRange, resolveRange, type ByteSpan } from '../ranges/byte-range.js';
import { hasCode } from '../errors.js';
import { VERIFY_WINDOW } from '../streams/object-stream.js';
import { checksumSha256 } from './s3-xml.js';
import type { BodyBuffers, SizedBodyBuffers } from '../backends/body-buffers.js';
import { readChunks } from '../backends/body.js';
import type { OffloadedDigest } from '../streams/digest-thread.js';

/** A GET or HEAD of one object. */
export interface ObjectRequest {
  method: 'GET' | 'HEAD';
  bucket: string;
  key: string;
  headers: IncomingHttpHeaders;
  signal: AbortSignal;
  /** Response headers the request's `response-*` query parameters set (see {@link responseOverrides}). */
  overrides?: ReadonlyMap<string, string>;
  /** The `partNumber` query parameter as sent, if any. */
  partNumber?: string | undefined;
}

/** A request an object handler refuses with an S3 error, before anything was written. */
export class ObjectRequestError extends Error {
  /**
   * `extra`: elements the error document carries besides Code, Message, Resource and RequestId;
   * `headers`: response headers that go with it.
   */
  constructor(readonly status: number, readonly code: string, message: string, readonly extra: Readonly<Record<string, string>> = {}, readonly headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = code;
  }
}

/**
 * A failed read of `key` as S3 words it: NoSuchKey names the key; InvalidRange the range asked
 * for and the object's size (with `Content-Range: bytes *\/size`, RFC 9110 §15.5.17). Other
 * failures pass through.
 */
function asS3Failure(err: unknown, key: string, range: string | undefined): unknown {
  if (err instanceof RangeNotSatisfiableError) {
    const extra: Record<string, string> = { ActualObjectSize: String(err.objectSize) };
    if (range !== undefined) extra['RangeRequested'] = range;
    return new ObjectRequestError(416, 'InvalidRange', 'The requested range is not satisfiable', extra, { 'Content-Range': `bytes */${err.objectSize}` });
  }
  if (hasCode(err, 'OBJECT_NOT_FOUND')) return new ObjectRequestError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
  return err;
}

/** S3's `response-*` query parameters and the response header each one sets. */
const RESPONSE_OVERRIDES: ReadonlyMap<string, string> = new Map([
  ['response-content-type', 'Content-Type'],
  ['response-content-language', 'Content-Language'],
  ['response-expires', 'Expires'],
  ['response-cache-control', 'Cache-Control'],
  ['response-content-disposition', 'Content-Disposition'],
  ['response-content-encoding', 'Content-Encoding'],
]);

/** A header value Node sends as is and no client misreads: printable ASCII (and tabs). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * The response headers a GET or HEAD's query asks for, as S3 honours them on signed requests
 * (presigned download links set `response-content-disposition` to name the saved file). A
 * value that cannot be a header is refused with 400 `InvalidArgument` before anything is read.
 */
export function responseOverrides(query: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [param, name] of RESPONSE_OVERRIDES) {
    const v = query.get(param);
    if (v === undefined) continue;
    if (!HEADER_VALUE.test(v)) {
      throw new ObjectRequestError(400, 'InvalidArgument', `${param}: a response header value must be printable ASCII (percent-encode a UTF-8 file name as filename*=UTF-8''…)`);
    }
    out.set(name, v);
  }
  return out;
}

/**
 * The Range header when it is one S3 honours: a single `bytes=` range read as the read path reads
 * it (ranges/byte-range.ts: any case of the unit, empty list elements and whitespace accepted as
 * RFC 9110 has them), in its canonical `bytes=FIRST-LAST` form. Anything else (several ranges,
 * other units, garbage, an end before its start — by its digits, past 2^53 too) is ignored and
 * the whole object served, as RFC 9110 lets a server do and S3 does.
 */
export function usableRange(h: string | undefined): string | undefined {
  if (h === undefined) return undefined;
  const r = parseRange(h);
  return r === undefined || endsBeforeStart(r) ? undefined : canonicalRange(h);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** A conditional header the object does not meet: S3's 412 PreconditionFailed. */
export class PreconditionFailed extends Error {
  constructor() {
    super('At least one of the pre-conditions you specified did not hold');
    this.name = 'PreconditionFailed';
  }
}

/**
 * An entity tag list holds this ETag, or is `*`. `strong` (If-Match, RFC 9110 §13.1.1): a weak
 * tag in the list never matches; If-None-Match compares weakly.
 */
function etagListHas(list: string, etag: string | undefined, strong: boolean): boolean {
  if (list.trim() === '*') return etag !== undefined;
  if (etag === undefined) return false;
  const bare = (t: string): string => t.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  const mine = bare(etag);
  return list.split(',').some((t) => !(strong && t.trim().startsWith('W/')) && bare(t) === mine);
}

function secondsOf(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

/** The answer conditional headers give (RFC 9110 §13.2.2): undefined to serve normally. */
export function conditionalStatus(h: IncomingHttpHeaders, etag: string | undefined, lastModified: Date | undefined): 304 | 412 | undefined {
  const ifMatch = header(h, 'if-match');
  const ifUnmodified = header(h, 'if-unmodified-since');
  if (ifMatch !== undefined) {
    if (!etagListHas(ifMatch, etag, true)) return 412;
  } else if (ifUnmodified !== undefined && lastModified !== undefined) {
    const t = Date.parse(ifUnmodified);
    if (!Number.isNaN(t) && secondsOf(lastModified) > Math.floor(t / 1000)) return 412;
  }
  const ifNoneMatch = header(h, 'if-none-match');
  const ifModified = header(h, 'if-modified-since');
  if (ifNoneMatch !== undefined) {
    if (etagListHas(ifNoneMatch, etag, false)) return 304;
  } else if (ifModified !== undefined && lastModified !== undefined) {
    const t = Date.parse(ifModified);
    if (!Number.isNaN(t) && secondsOf(lastModified) <= Math.floor(t / 1000)) return 304;
  }
  return undefined;
}

/**
 * The S3 response headers describing an object (not its length), then the request's overrides.
 * `checksum`: the answer is the whole object and the client asked for checksums
 * (`x-amz-checksum-mode: ENABLED`): the stored SHA-256 the body was verified against goes out as
 * `x-amz-checksum-sha256`, so the client checks the same hash readpath did, end to end.
 */
function objectHeaders(res: ServerResponse, o: HeadOutcome | StreamOutcome, overrides: ReadonlyMap<string, string> | undefined, checksum: boolean): void {
  if (o.etag !== undefined) res.setHeader('ETag', o.etag);
  if (checksum && o.contentSha256 !== undefined) {
    res.setHeader('x-amz-checksum-sha256', checksumSha256(o.contentSha256));
    res.setHeader('x-amz-checksum-type', 'FULL_OBJECT');
  }
  if (o.lastModified !== undefined) res.setHeader('Last-Modified', o.lastModified.toUTCString());
  res.setHeader('Content-Type', o.contentType ?? 'binary/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  if (o.tagCount !== undefined) res.setHeader('x-amz-tagging-count', String(o.tagCount));
  if (o.metadata !== undefined) {
    for (const [k, v] of Object.entries(o.metadata)) {
      // Header values must be visible ASCII; metadata a client cannot read back is dropped.
      if (/^[\x20-\x7e]*$/.test(v) && /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k)) res.setHeader(`x-amz-meta-${k}`, v);
    }
  }
  if (overrides !== undefined) for (const [name, v] of overrides) res.setHeader(name, v);
}

function lengthHeaders(res: ServerResponse, span: ByteSpan, ranged: boolean): void {
  const n = span.end - span.start + 1;
  res.setHeader('Content-Length', String(n));
  if (ranged) res.setHeader('Content-Range', `bytes ${span.start}-${span.end}/${span.total}`);
}

/** Answer a conditional request's 304 or 412. */
function notModifiedOr412(res: ServerResponse, status: 304 | 412, o: HeadOutcome | StreamOutcome): 'condition' {
  if (status === 304) {
    if (o.etag !== undefined) res.setHeader('ETag', o.etag);
    if (o.lastModified !== undefined) res.setHeader('Last-Modified', o.lastModified.toUTCString());
    res.writeHead(304);
    res.end();
    return 'condition';
  }
  throw new PreconditionFailed();
}

/**
 * The part a `partNumber` query asks for: S3 serves part 1 of an object stored in one piece as
 * the whole object in a 206 (a ranged answer covering all of it), and no part beyond it. The
 * gateway serves every object as one piece — what the backends hold is not its business — so
 * clients that download by part (the AWS SDKs' multipart downloaders ask for part 1, then for
 * `x-amz-mp-parts-count` parts) get the object in one request. Returns undefined without the
 * parameter; throws 400 for a malformed number or one given with a Range header.
 */
export function requestedPart(partNumber: string | undefined, range: string | undefined): number | undefined {
  if (partNumber === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(partNumber) || Number(partNumber) < 1 || Number(partNumber) > 10_000) {
    throw new ObjectRequestError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
  }
  if (range !== undefined) throw new ObjectRequestError(400, 'InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
  return Number(partNumber);
}

/** What an object request came to, for the access log. */
export type ObjectResult = 'ok' | 'condition';

/**
 * Serve one GET or HEAD. Throws before anything was written (the caller answers with the S3
 * error); after the headers, a failure destroys the response instead.
 */
export async function serveObject(rp: ReadPath, r: ObjectRequest, res: ServerResponse, buffers?: SizedBodyBuffers, digest?: OffloadedDigest): Promise<ObjectResult> {
  try {
    return await serve(rp, r, res, buffers, digest);
  } catch (err) {
    // InvalidRange names the range as the client wrote it, as S3's RangeRequested does.
    const h = header(r.headers, 'range');
    throw res.headersSent ? err : asS3Failure(err, r.key, usableRange(h) === undefined ? undefined : h?.trim());
  }
}

async function serve(rp: ReadPath, r: ObjectRequest, res: ServerResponse, buffers?: SizedBodyBuffers, digest?: OffloadedDigest): Promise<ObjectResult> {
  const storeKey = `${r.bucket}/${r.key}`;
  const range = usableRange(header(r.headers, 'range'));
  const part = requestedPart(r.partNumber, range);
  // S3 gives a checksum only for a whole object (part 1 of a one-piece object is all of it).
  const checksum = range === undefined && header(r.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
  if (r.method === 'HEAD' || (part !== undefined && part > 1)) {
    const o = await rp.head(storeKey, { signal: r.signal });
    if (part !== undefined && part > 1) throw new ObjectRequestError(416, 'InvalidPartNumber', 'The requested partnumber is not satisfiable');
    const cond = conditionalStatus(r.headers, o.etag, o.lastModified);
    if (cond !== undefined) return notModifiedOr412(res, cond, o);
    const span = resolveRange(range, o.size, storeKey);
    // Nothing to range over (a suffix of an empty object): the whole, empty object, as S3 answers.
    const ranged = (range !== undefined || part === 1) && o.size > 0;
    objectHeaders(res, o, r.overrides, checksum);
    lengthHeaders(res, span, ranged);
    res.writeHead(ranged ? 206 : 200);
    res.end();
    return 'ok';
  }
  if (header(r.headers, 'if-none-match') !== undefined || header(r.headers, 'if-modified-since') !== undefined) {
    // A revalidation (a browser's, a CDN's) is mostly answered 304: decided on a HEAD (or the
    // object cache), no body is fetched only to be thrown away. If-Match alone (s3transfer sends
    // it with every part) is mostly met, so it is checked on the GET's own answer below.
    const h = await rp.head(storeKey, { signal: r.signal });
    const early = conditionalStatus(r.headers, h.etag, h.lastModified);
    if (early !== undefined) return notModifiedOr412(res, early, h);
  }
  // A buffer of the size class the span needs, taken once the row said how long it is.
  let into: { buf: Buffer; pool: BodyBuffers } | undefined;
  const pick = buffers === undefined ? undefined : (n: number): Buffer | undefined => {
    into = buffers.take(n);
    return into?.buf;
  };
  let o: StreamOutcome;
  try {
    o = await rp.getStream(storeKey, { signal: r.signal, ...(range === undefined ? {} : { range }), ...(pick === undefined ? {} : { into: pick }), ...(digest === undefined ? {} : { digest }) });
  } catch (err) {
    // The copies tried were closed before this rejects: none still reads into the buffer.
    into?.pool.releaseUnused(into.buf);
    // Preconditions come before the range (RFC 9110 §13.2.2): a failed If-Match is 412, not 416.
    if (hasCode(err, 'RANGE_NOT_SATISFIABLE') && (header(r.headers, 'if-match') !== undefined || header(r.headers, 'if-unmodified-since') !== undefined)) {
      const h = await rp.head(storeKey, { signal: r.signal });
      if (conditionalStatus(r.headers, h.etag, h.lastModified) === 412) throw new PreconditionFailed();
    }
    throw err;
  }
  into?.pool.releaseAfter(into.buf, o.body, res);
  // Checked again on what is served: the object may have changed since the HEAD.
  const cond = conditionalStatus(r.headers, o.etag, o.lastModified);
  if (cond !== undefined) {
    o.body.destroy();
    return notModifiedOr412(res, cond, o);
  }
  const n = o.range.end - o.range.start + 1;
  // Part 1 is the whole object, answered as a range covering all of it; an empty span (a suffix
  // of an empty object) is the whole, empty object.
  const ranged = (range !== undefined || part === 1) && n > 0;
  if (n <= VERIFY_WINDOW) {
    // Held whole (and checked) by the stream anyway: read it before any header goes out, so a
    // failed read is still an S3 error, and send it in one write.
    // Collected with events (readChunks), not `for await`: an async iterator per small body was
    // ~3 KB of garbage per request.
    const chunks: Buffer[] = [];
    await readChunks(o.body, (c) => chunks.push(c as Buffer));
    objectHeaders(res, o, r.overrides, checksum);
    lengthHeaders(res, o.range, ranged);
    res.writeHead(ranged ? 206 : 200);
    // One writev of the chunks as they are: concatenating them would copy the body once more
    // and allocate a body-sized buffer per request (a fifth of the gateway's CPU at 1 MiB).
    res.cork();
    for (const c of chunks) res.write(c);
    res.end();
    return 'ok';
  }
  objectHeaders(res, o, r.overrides, checksum);
  lengthHeaders(res, o.range, ranged);
  res.writeHead(ranged ? 206 : 200);
  // A failure from here on (the body failed verification, every copy died mid-body) destroys
  // the response: a client must see a short body, never a completed wrong one.
  await pipeline(o.body, res);
  return 'ok';
}

