/**
 * AWS Signature Version 4 verification for the S3 gateway (`readpath serve`, API.md §5): decides
 * whether a request was signed with one of the gateway's client credentials, in the
 * Authorization header or presigned in the query, and answers every refusal with the S3 error
 * code and status the server sends back as XML. Synchronous, never throws, and cheap: one
 * SHA-256 of the canonical request and one HMAC per request; the signing key is derived once per
 * (access key, day, region) and kept.
 *
 * ## The signing arithmetic
 * The key derivation is src/backends/s3-signer.ts's `deriveSigningKey` (node:crypto), which
 * test/unit/s3-signer.test.ts holds equal to `@smithy/signature-v4`'s `getSigningKey` (and to
 * AWS's published examples), and the canonical request / string to sign are assembled here. Why
 * not `@smithy/signature-v4` itself, as the issue suggests "where it fits": it does not fit a
 * verifier. Its `SignatureV4` signs an `HttpRequest` it canonicalizes itself — from a decoded
 * query map and a path taken as given — and adds its own `x-amz-date`, so verifying with it means
 * rebuilding a request to make it reproduce what the client computed, which is the canonical
 * request this module has to compute anyway (from the URL exactly as received, see
 * canonical.ts). What it would add is the key derivation and the hashes, at the price of a
 * promise per hash and an extra HMAC per request to look its key cache up — side by side on the
 * 2-core dev machine (Node 20.20.2, loaded, so noisy), this whole `verify` took 21–47 µs where
 * smithy's `sign()` of the same GET took 56–144 µs — and 49–89 ms of import on the gateway's
 * start (s3-signer.ts's measurement; the package is a devDependency, moved there to cut CLI
 * start-up). It stays the oracle instead: test/unit/gateway-sigv4.test.ts signs requests with
 * it, with the AWS SDK's own client (over HTTP) and presigner, and with our S3Signer, and
 * verifies them here.
 *
 * ## What is accepted
 * - Header signing: `Authorization: AWS4-HMAC-SHA256 Credential=AK/yyyymmdd/region/s3/aws4_request,
 *   SignedHeaders=a;b;host, Signature=<64 hex>`, the time in `x-amz-date` (or, without it, an
 *   HTTP `Date`), within `maxSkewMs` (15 min) of the clock either way. The payload hash is the
 *   `x-amz-content-sha256` header: `UNSIGNED-PAYLOAD`, a SHA-256 in hex, or a `STREAMING-…` value
 *   (the server refuses writes anyway; here it only has to sign). Without the header — S3
 *   requires it, generic SigV4 signers don't send it — the empty body's hash is signed, which is
 *   what those signers compute for a GET or HEAD.
 *   GET and HEAD carry no body and the gateway never reads one, so a hex hash other than the
 *   empty body's is accepted as signed rather than checked against a body; `payloadHash` in the
 *   result says what was signed, should the server want to refuse it.
 * - Presigned: `X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential, X-Amz-Date, X-Amz-Expires`
 *   (1…604800 s), `X-Amz-SignedHeaders, X-Amz-Signature`; valid from `X-Amz-Date` (less the
 *   skew) until `X-Amz-Date + X-Amz-Expires` inclusive. The payload hash is `UNSIGNED-PAYLOAD`,
 *   or the query's `X-Amz-Content-Sha256` (any case) where the presigner put one (the AWS SDK's
 *   does), or a signed `x-amz-content-sha256` header.
 * - The canonical URI and query are computed from `rawUrl` as S3 does (canonical.ts): every
 *   client encoding of the same key signs alike; in the query `+` is a space. A server that
 *   decodes keys and parameters with canonical.ts's `decodePathComponent` /
 *   `decodeQueryComponent` serves exactly what was signed.
 * - The region is whatever the client's credential scope says (S3 clients sign with the region
 *   they are configured with — `us-east-1`, `auto`, anything); it only has to be consistent.
 *   Give `region` to insist on one.
 * - `host` must be signed. Other headers need not be: S3 also insists that every `x-amz-*`
 *   header be signed, which matters for writes (SSE-C keys, ACLs) and not for a read-only
 *   gateway, while a proxy in front (CloudFront adds `x-amz-cf-id`) would otherwise break every
 *   request.
 * - A session token (`X-Amz-Security-Token`, `x-amz-security-token`) is signed like any other
 *   parameter or header and otherwise ignored: gateway credentials are static keys.
 * - Signed header values come from `rawHeaders` when given (`req.rawHeaders`: a header sent twice
 *   signs as its values joined with `,`, which `req.headers` can't tell apart from `, ` inside
 *   one value), else from `headers`.
 *
 * ## Refusals (status, code)
 * No signature at all → 403 AccessDenied. Unknown access key → 403 InvalidAccessKeyId. A
 * signature that does not match → 403 SignatureDoesNotMatch (with the string to sign and the
 * canonical request in `details`, as S3 gives them, so a client's encoding bug can be seen). Time
 * off by more than the skew → 403 RequestTimeTooSkewed. No or invalid date → 403 AccessDenied. A
 * presigned URL past its expiry → 403 AccessDenied "Request has expired". A malformed
 * Authorization header → 400 AuthorizationHeaderMalformed; malformed presigned parameters → 400
 * AuthorizationQueryParametersError (also: credential date not the request's day, service not
 * `s3`, `host` not signed, the wrong region when one is required). Signature V2, SigV4a → 400
 * InvalidRequest. Both header and query signatures → 400 InvalidArgument. A bad
 * `x-amz-content-sha256` → 400 InvalidArgument. An unparsable URL (bad `%` escape) → 400
 * InvalidURI. Whether a credential may read the bucket asked for is the server's decision:
 * `credential.buckets` in the result.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { digestHex } from '../probe/digest.js';
import type { IncomingHttpHeaders } from 'node:http';
import { deriveSigningKey } from '../backends/s3-signer.js';
import {
  canonicalHeaderValue, canonicalQueryString, canonicalUri, parseCanonicalQuery, type CanonicalParam,
} from './canonical.js';

/** A client credential of the gateway (`buckets[].credentials`): it may read only `buckets`. */
export interface GatewayCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly buckets: readonly string[];
}

/** The request to verify, as node:http received it. */
export interface VerifyInput {
  /** `req.method`. */
  method: string;
  /** `req.url` exactly as received: the path and `?query`, still percent-encoded. */
  rawUrl: string;
  /** `req.headers`. */
  headers: IncomingHttpHeaders;
  /** `req.rawHeaders`, for the exact values of headers sent more than once (optional). */
  rawHeaders?: readonly string[];
  /** The time to check against (default: the verifier's clock). */
  now?: Date;
}

/** The S3 error codes a verification can answer. */
export type SigV4ErrorCode =
  | 'AccessDenied'
  | 'InvalidAccessKeyId'
  | 'SignatureDoesNotMatch'
  | 'RequestTimeTooSkewed'
  | 'AuthorizationHeaderMalformed'
  | 'AuthorizationQueryParametersError'
  | 'InvalidArgument'
  | 'InvalidRequest'
  | 'InvalidURI';

/** A verified request. */
export interface VerifySuccess {
  ok: true;
  accessKeyId: string;
  /** The credential that signed; `buckets` are the buckets it may read. */
  credential: GatewayCredential;
  /** True for a presigned (query) signature. */
  presigned: boolean;
  /** The region of the credential scope. */
  region: string;
  /** The payload hash that was signed (`UNSIGNED-PAYLOAD`, a hex SHA-256, `STREAMING-…`). */
  payloadHash: string;
}

/** A refused request: answer `status` with an S3 error `code` and `message`. */
export interface VerifyFailure {
  ok: false;
  status: 400 | 403;
  code: SigV4ErrorCode;
  message: string;
  /**
   * Extra elements for the error XML, as S3 sends them (`AWSAccessKeyId`, `StringToSign`,
   * `CanonicalRequest`, `SignatureProvided`, `RequestTime`, `ServerTime`, `Expires`, `Region`…).
   * Never secrets; values are raw text the server must XML-escape.
   */
  details?: Readonly<Record<string, string>>;
}

export type VerifyResult = VerifySuccess | VerifyFailure;

export interface SigV4VerifierOptions {
  /** Require this region in credential scopes (default: accept the scope's region as given). */
  region?: string;
  /** Allowed difference between the request's time and the clock (default 15 minutes). */
  maxSkewMs?: number;
  /** The clock, in milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
}

/** The hash of an empty payload. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ALGORITHM = 'AWS4-HMAC-SHA256';
const DEFAULT_SKEW_MS = 15 * 60 * 1000;
/** The longest presigned validity SigV4 allows: one week. */
export const MAX_PRESIGNED_EXPIRES_S = 604_800;
/** Signing keys kept per verifier (oldest dropped first). */
const KEY_CACHE_SIZE = 512;
/** Longest region name accepted in a scope (keeps attacker-chosen cache keys small). */
const MAX_REGION_LENGTH = 64;
/** What verify answers should it ever meet an exception (a bug): never a crash. */
export const INTERNAL_FAILURE_MESSAGE = 'The request could not be verified.';

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const SIGNATURE = /^[0-9a-fA-F]{64}$/;
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const STREAMING = /^STREAMING-[A-Z0-9-]{1,64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const REGION = /^[A-Za-z0-9._-]+$/;
const DAY = /^\d{8}$/;

/** The presigning query parameters (names in canonical encoding: they have no reserved bytes). */
const Q_ALGORITHM = 'X-Amz-Algorithm';
const Q_CREDENTIAL = 'X-Amz-Credential';
const Q_DATE = 'X-Amz-Date';
const Q_EXPIRES = 'X-Amz-Expires';
const Q_SIGNED_HEADERS = 'X-Amz-SignedHeaders';
const Q_SIGNATURE = 'X-Amz-Signature';
/** Matched in any case: @smithy/signature-v4 hoists the S3 presigner's header as `x-amz-content-sha256`. */
const Q_CONTENT_SHA256 = 'x-amz-content-sha256';
const PRESIGN_PARAMS = [Q_ALGORITHM, Q_CREDENTIAL, Q_DATE, Q_EXPIRES, Q_SIGNED_HEADERS, Q_SIGNATURE] as const;

function fail(status: 400 | 403, code: SigV4ErrorCode, message: string, details?: Record<string, string>): VerifyFailure {
  return details === undefined ? { ok: false, status, code, message } : { ok: false, status, code, message, details };
}

/** Milliseconds of an `x-amz-date` (`YYYYMMDDTHHMMSSZ`), or NaN when it is not a real time. */
function parseAmzDate(s: string): number {
  const m = AMZ_DATE.exec(s);
  if (m === null) return NaN;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return NaN;
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  return new Date(t).getUTCDate() === d ? t : NaN;
}

/** ISO 8601 of a time, or its number when it is no time (a broken clock must not throw). */
function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/** `YYYYMMDDTHHMMSSZ` of a time. */
function amzDate(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** What a header-signed or presigned request says about its signature, once parsed. */
interface Claim {
  presigned: boolean;
  accessKeyId: string;
  day: string;
  region: string;
  /** `day/region/s3/aws4_request`. */
  scope: string;
  signedHeaders: readonly string[];
  signature: string;
}

/** Where a malformed signature's 400 comes from. */
type Malformed = 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError';

/**
 * The access key and scope of a `Credential` value (`AK/day/region/s3/aws4_request`; the key
 * itself may hold `/`, the scope is the last four parts), or the failure.
 */
function parseCredential(
  value: string, code: Malformed, requiredRegion: string | undefined,
): Scope | VerifyFailure {
  const parts = value.split('/');
  if (parts.length < 5) {
    return fail(400, code, `The credential is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request", got "${value}".`);
  }
  const [day, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '') return fail(400, code, 'The credential is malformed: no access key id.');
  if (!DAY.test(day)) return fail(400, code, `The credential is malformed: invalid date "${day}".`);
  if (region === '' || region.length > MAX_REGION_LENGTH || !REGION.test(region)) {
    return fail(400, code, `The credential is malformed: invalid region "${region}".`);
  }
  if (service !== 's3') {
    return fail(400, code, `The credential is malformed: incorrect service "${service}". This endpoint belongs to "s3".`);
  }
  if (terminator !== 'aws4_request') {
    return fail(400, code, `The credential is malformed: incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  }
  if (requiredRegion !== undefined && region !== requiredRegion) {
    return fail(400, code, `The region '${region}' is wrong; expecting '${requiredRegion}'.`, { Region: requiredRegion });
  }
  return { accessKeyId, day, region, scope: `${day}/${region}/s3/aws4_request` };
}

/** A `SignedHeaders` list (`a;b;host`), or the failure. */
function parseSignedHeaders(value: string, code: Malformed): readonly string[] | VerifyFailure {
  const names = value.split(';');
  const seen = new Set<string>();
  for (const name of names) {
    if (!HEADER_NAME.test(name)) return fail(400, code, `SignedHeaders is malformed: ${JSON.stringify(name)} is not a lower-case header name.`);
    if (seen.has(name)) return fail(400, code, `SignedHeaders is malformed: ${name} appears twice.`);
    seen.add(name);
  }
  if (!seen.has('host')) return fail(400, code, 'The host header must be signed (it is not in SignedHeaders).');
  return names;
}

/**
 * A bounded memo of successful parses (the oldest dropped first): a client sends the same
 * credential scope and signed-header list request after request, so each is parsed once. Only
 * successes of at most {@link MEMO_KEY_LENGTH} characters are kept, so malformed or oversized
 * input can neither crowd them out nor grow the memory held (256 entries of ≤ 1 KiB each).
 */
const MEMO_KEY_LENGTH = 1024;

class Memo<V extends object> {
  readonly #map = new Map<string, V>();
  readonly #size: number;

  constructor(size: number) {
    this.#size = size;
  }

  get<F extends object>(key: string, parse: (key: string) => V | F, isValue: (v: V | F) => v is V): V | F {
    const known = this.#map.get(key);
    if (known !== undefined) return known;
    const v = parse(key);
    if (isValue(v) && key.length <= MEMO_KEY_LENGTH) {
      this.#map.set(key, v);
      if (this.#map.size > this.#size) this.#map.delete(this.#map.keys().next().value as string);
    }
    return v;
  }
}

const MEMO_SIZE = 256;
type Scope = Pick<Claim, 'accessKeyId' | 'day' | 'region' | 'scope'>;
const isScope = (v: Scope | VerifyFailure): v is Scope => !('ok' in v);
const isNames = (v: readonly string[] | VerifyFailure): v is readonly string[] => Array.isArray(v);

/**
 * Verifies SigV4 signatures against a fixed set of client credentials. Build one per
 * configuration and share it across requests; `verify` is synchronous.
 */
export class SigV4Verifier {
  readonly #credentials = new Map<string, GatewayCredential>();
  readonly #region: string | undefined;
  readonly #maxSkewMs: number;
  readonly #now: () => number;
  /** Signing keys by `accessKeyId \n day \n region`, oldest first. */
  readonly #keys = new Map<string, Buffer>();
  #derivations = 0;
  /** Parsed credential scopes by `Credential` value, for header and query signatures. */
  readonly #headerScopes = new Memo<Scope>(MEMO_SIZE);
  readonly #queryScopes = new Memo<Scope>(MEMO_SIZE);
  /** Parsed `SignedHeaders` lists. */
  readonly #headerNames = new Memo<readonly string[]>(MEMO_SIZE);
  readonly #queryNames = new Memo<readonly string[]>(MEMO_SIZE);
  /** The last request time parsed (requests of one second share it). */
  #lastStamp = '';
  #lastTime = NaN;

  /**
   * `credentials` may list one access key several times (one entry per bucket it reads, as
   * `buckets[].credentials` does): entries with the same key and secret merge, their buckets
   * joined. The same key with two different secrets is a configuration error (TypeError).
   */
  constructor(credentials: readonly GatewayCredential[], opts: SigV4VerifierOptions = {}) {
    for (const c of credentials) {
      if (typeof c.accessKeyId !== 'string' || c.accessKeyId === '') throw new TypeError('a gateway credential needs an access key id');
      if (typeof c.secretAccessKey !== 'string' || c.secretAccessKey === '') {
        throw new TypeError(`gateway credential ${c.accessKeyId} needs a secret access key`);
      }
      const known = this.#credentials.get(c.accessKeyId);
      if (known === undefined) {
        this.#credentials.set(c.accessKeyId, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, buckets: [...new Set(c.buckets)] });
      } else if (known.secretAccessKey !== c.secretAccessKey) {
        throw new TypeError(`gateway credential ${c.accessKeyId} is listed with two different secret access keys`);
      } else {
        this.#credentials.set(c.accessKeyId, { ...known, buckets: [...new Set([...known.buckets, ...c.buckets])] });
      }
    }
    const skew = opts.maxSkewMs ?? DEFAULT_SKEW_MS;
    if (!(skew >= 0)) throw new RangeError(`maxSkewMs must be a non-negative number, got ${skew}`);
    this.#region = opts.region;
    this.#maxSkewMs = skew;
    this.#now = opts.now ?? Date.now;
  }

  /** How many signing keys this verifier has derived (each is derived once per access key, day and region). */
  get keyDerivations(): number {
    return this.#derivations;
  }

  /** The credential of an access key id, merged across buckets. */
  credential(accessKeyId: string): GatewayCredential | undefined {
    return this.#credentials.get(accessKeyId);
  }

  /** Verify one request's signature. Never throws. */
  verify(input: VerifyInput): VerifyResult {
    try {
      return this.#verify(input);
    } catch {
      return fail(400, 'InvalidRequest', INTERNAL_FAILURE_MESSAGE);
    }
  }

  #signingKey(cred: GatewayCredential, day: string, region: string): Buffer {
    const id = `${cred.accessKeyId}\n${day}\n${region}`;
    let key = this.#keys.get(id);
    if (key === undefined) {
      key = deriveSigningKey(cred.secretAccessKey, day, region, 's3');
      this.#derivations++;
      this.#keys.set(id, key);
      if (this.#keys.size > KEY_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value as string);
    }
    return key;
  }

  #parseAmzDate(stamp: string): number {
    if (stamp !== this.#lastStamp) {
      this.#lastTime = parseAmzDate(stamp);
      this.#lastStamp = stamp;
    }
    return this.#lastTime;
  }

  #verify(input: VerifyInput): VerifyResult {
    let now = input.now?.getTime() ?? NaN;
    if (!Number.isFinite(now)) now = this.#now();
    const headers = input.headers;
    const rawUrl = input.rawUrl;
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const params = q < 0 ? [] : parseCanonicalQuery(rawUrl.slice(q + 1));
    if (params === null) return fail(400, 'InvalidURI', "Couldn't parse the specified URI (invalid percent-encoding in the query).");

    const authorization = single(header(headers, 'authorization'));
    const presigned = params.some((p) => p.name === Q_ALGORITHM || p.name === Q_CREDENTIAL || p.name === Q_SIGNATURE || p.name === Q_SIGNED_HEADERS);
    if (authorization !== undefined && presigned) {
      return fail(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.');
    }
    if (authorization === undefined && !presigned) {
      if (params.some((p) => p.name === 'AWSAccessKeyId' || p.name === 'Signature')) {
        return fail(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
      }
      return fail(403, 'AccessDenied', 'Access Denied: anonymous requests are not allowed; sign requests with AWS Signature Version 4.');
    }

    const claimOrFailure = authorization !== undefined ? this.#parseHeader(authorization) : this.#parseQuery(params);
    if ('ok' in claimOrFailure) return claimOrFailure;
    const claim = claimOrFailure;
    const malformed: Malformed = claim.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed';

    const cred = this.#credentials.get(claim.accessKeyId);
    if (cred === undefined) {
      return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: claim.accessKeyId });
    }

    // The request's time.
    let stamp: string;
    let time: number;
    if (claim.presigned) {
      stamp = decodedParam(params, Q_DATE) ?? '';
      time = this.#parseAmzDate(stamp);
      if (Number.isNaN(time)) return fail(400, malformed, 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'".');
    } else {
      const xAmzDate = single(header(headers, 'x-amz-date'));
      if (xAmzDate !== undefined) {
        stamp = xAmzDate;
        time = this.#parseAmzDate(xAmzDate);
      } else {
        const date = single(header(headers, 'date'));
        time = date !== undefined && HTTP_DATE.test(date) ? Date.parse(date) : NaN;
        stamp = Number.isNaN(time) ? '' : amzDate(time);
      }
      if (Number.isNaN(time)) return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header.');
    }
    if (stamp.slice(0, 8) !== claim.day) {
      return fail(400, malformed, `Invalid credential date "${claim.day}". This date is not the same as ${claim.presigned ? 'X-Amz-Date' : 'the request date'}: "${stamp.slice(0, 8)}".`);
    }
    const skewDetails = (): Record<string, string> => ({
      RequestTime: stamp, ServerTime: isoTime(now), MaxAllowedSkewMilliseconds: String(this.#maxSkewMs),
    });
    if (claim.presigned) {
      const expiresText = decodedParam(params, Q_EXPIRES) ?? '';
      const expires = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN;
      if (!(expires >= 1)) return fail(400, malformed, `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_EXPIRES_S}, got "${expiresText}".`);
      if (expires > MAX_PRESIGNED_EXPIRES_S) {
        return fail(400, malformed, `X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGNED_EXPIRES_S}, got ${expires}.`);
      }
      if (!(time - now <= this.#maxSkewMs)) {
        // A URL signed for later is not valid yet: S3's own words for it.
        return fail(403, 'AccessDenied', 'Request is not yet valid', { 'X-Amz-Date': stamp, ServerTime: isoTime(now) });
      }
      if (!(now <= time + expires * 1000)) {
        return fail(403, 'AccessDenied', 'Request has expired', {
          'X-Amz-Expires': String(expires), Expires: isoTime(time + expires * 1000), ServerTime: isoTime(now),
        });
      }
    } else if (!(Math.abs(now - time) <= this.#maxSkewMs)) {
      return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', skewDetails());
    }

    // The payload hash that was signed.
    let payloadHash: string;
    if (claim.presigned) {
      const inQuery = params.find((p) => p.name.length === Q_CONTENT_SHA256.length && p.name.toLowerCase() === Q_CONTENT_SHA256);
      payloadHash = inQuery !== undefined ? inQuery.value
        : claim.signedHeaders.includes('x-amz-content-sha256') ? single(header(headers, 'x-amz-content-sha256')) ?? 'UNSIGNED-PAYLOAD'
          : 'UNSIGNED-PAYLOAD';
    } else {
      payloadHash = single(header(headers, 'x-amz-content-sha256')) ?? EMPTY_SHA256;
    }
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && !HEX_SHA256.test(payloadHash) && !STREAMING.test(payloadHash)) {
      return fail(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-…, or a valid sha256 value.');
    }

    const uri = canonicalUri(rawPath);
    if (uri === null) return fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
    const query = canonicalQueryString(params, claim.presigned ? Q_SIGNATURE : undefined);
    const signedHeaders = claim.signedHeaders.join(';');
    const canonicalRequest = `${input.method}\n${uri}\n${query}\n${canonicalHeaders(claim.signedHeaders, headers, input.rawHeaders)}\n${signedHeaders}\n${payloadHash}`;
    const stringToSign = `${ALGORITHM}\n${stamp}\n${claim.scope}\n${digestHex('sha256', canonicalRequest)}`;
    const expected = createHmac('sha256', this.#signingKey(cred, claim.day, claim.region)).update(stringToSign).digest();
    if (!SIGNATURE.test(claim.signature) || !timingSafeEqual(expected, Buffer.from(claim.signature, 'hex'))) {
      return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
        AWSAccessKeyId: claim.accessKeyId, StringToSign: stringToSign, SignatureProvided: claim.signature, CanonicalRequest: canonicalRequest,
      });
    }
    return { ok: true, accessKeyId: cred.accessKeyId, credential: cred, presigned: claim.presigned, region: claim.region, payloadHash };
  }

  /** The claim of an Authorization header, or its failure. */
  #parseHeader(authorization: string): Claim | VerifyFailure {
    const code = 'AuthorizationHeaderMalformed';
    const space = authorization.search(/[ \t]/);
    const algorithm = space < 0 ? authorization : authorization.slice(0, space);
    if (algorithm !== ALGORITHM) {
      if (algorithm === 'AWS' || algorithm === 'AWS4-ECDSA-P256-SHA256') {
        return fail(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
      }
      return fail(400, code, `The authorization header is malformed; the authorization header requires the algorithm ${ALGORITHM}.`);
    }
    if (space < 0) return fail(400, code, 'The authorization header is malformed; it needs Credential, SignedHeaders and Signature.');
    const fields = new Map<string, string>();
    for (const part of authorization.slice(space + 1).split(',')) {
      const item = part.trim();
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq);
      if (name !== 'Credential' && name !== 'SignedHeaders' && name !== 'Signature') {
        return fail(400, code, `The authorization header is malformed; unexpected component ${JSON.stringify(item.slice(0, 64))}.`);
      }
      if (eq < 0 || fields.has(name)) return fail(400, code, `The authorization header is malformed; ${name} is ${eq < 0 ? 'empty' : 'given twice'}.`);
      fields.set(name, item.slice(eq + 1));
    }
    const credential = fields.get('Credential');
    const signedHeaders = fields.get('SignedHeaders');
    const signature = fields.get('Signature');
    if (credential === undefined || signedHeaders === undefined || signature === undefined) {
      return fail(400, code, 'The authorization header is malformed; it needs Credential, SignedHeaders and Signature.');
    }
    const scope = this.#headerScopes.get(credential, (c) => parseCredential(c, code, this.#region), isScope);
    if (!isScope(scope)) return scope;
    const names = this.#headerNames.get(signedHeaders, (h) => parseSignedHeaders(h, code), isNames);
    if (!isNames(names)) return names;
    return { presigned: false, ...scope, signedHeaders: names, signature };
  }

  /** The claim of a presigned query, or its failure. */
  #parseQuery(params: readonly CanonicalParam[]): Claim | VerifyFailure {
    const code = 'AuthorizationQueryParametersError';
    const values = new Map<string, string>();
    for (const name of PRESIGN_PARAMS) {
      const found = params.filter((p) => p.name === name);
      if (found.length === 0) {
        return fail(400, code, 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
      }
      if (found.length > 1) return fail(400, code, `${name} is given more than once.`);
      const value = decodedParam(found, name);
      if (value === undefined) return fail(400, code, `${name} is not valid UTF-8.`);
      values.set(name, value);
    }
    const algorithm = values.get(Q_ALGORITHM) ?? '';
    if (algorithm !== ALGORITHM) {
      if (algorithm === 'AWS4-ECDSA-P256-SHA256') {
        return fail(400, 'InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
      }
      return fail(400, code, `X-Amz-Algorithm only supports "${ALGORITHM}".`);
    }
    const scope = this.#queryScopes.get(values.get(Q_CREDENTIAL) ?? '', (c) => parseCredential(c, code, this.#region), isScope);
    if (!isScope(scope)) return scope;
    const names = this.#queryNames.get(values.get(Q_SIGNED_HEADERS) ?? '', (h) => parseSignedHeaders(h, code), isNames);
    if (!isNames(names)) return names;
    return { presigned: true, ...scope, signedHeaders: names, signature: values.get(Q_SIGNATURE) ?? '' };
  }
}

/**
 * The value(s) of a header by its lower-case name: node:http's names are lower case already, so
 * that is one property read; a caller's map in another case is searched (and its values merged).
 */
function header(headers: IncomingHttpHeaders, name: string): string | string[] | undefined {
  const v = headers[name];
  if (v !== undefined) return v;
  let found: string[] | undefined;
  for (const k of Object.keys(headers)) {
    if (k.length !== name.length || k.toLowerCase() !== name) continue;
    const w = headers[k];
    if (w !== undefined) (found ??= []).push(...(Array.isArray(w) ? w : [w]));
  }
  return found !== undefined && found.length === 1 ? found[0] : found;
}

/** One header value (the first of several). */
function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The text of a presigning parameter (its canonical value decoded), undefined when absent or not UTF-8. */
function decodedParam(params: readonly CanonicalParam[], name: string): string | undefined {
  const p = params.find((x) => x.name === name);
  if (p === undefined) return undefined;
  if (!p.value.includes('%')) return p.value;
  try {
    return decodeURIComponent(p.value);
  } catch {
    return undefined;
  }
}

/** The canonical headers block: `name:value\n` for each signed header, in the order signed. */
function canonicalHeaders(signed: readonly string[], headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined): string {
  let out = '';
  if (rawHeaders !== undefined) {
    const wanted = new Map<string, string[]>();
    for (const name of signed) wanted.set(name, []);
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const values = wanted.get((rawHeaders[i] as string).toLowerCase());
      if (values !== undefined) values.push(canonicalHeaderValue(rawHeaders[i + 1] as string));
    }
    for (const name of signed) out += `${name}:${(wanted.get(name) as string[]).join(',')}\n`;
    return out;
  }
  for (const name of signed) {
    const v = header(headers, name);
    const value = v === undefined ? '' : Array.isArray(v) ? v.map(canonicalHeaderValue).join(',') : canonicalHeaderValue(v);
    out += `${name}:${value}\n`;
  }
  return out;
}
