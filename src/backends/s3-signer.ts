/**
 * SigV4 request signing for the lean S3 transport, over `node:crypto` alone: the signing key is
 * derived here (kDate/kRegion/kService/kSigning, as AWS documents and `@smithy/signature-v4`'s
 * `getSigningKey` does) and kept per backend for its day, region and credentials, so a request
 * costs two hash operations: the canonical request's SHA-256 and the signature's HMAC. The path
 * is signed as given: S3 wants the once-encoded key (s3-address.ts), and the payload is
 * `UNSIGNED-PAYLOAD` (GET and HEAD carry none).
 *
 * Why not `@smithy/signature-v4`'s `getSigningKey`, as before: it was the only thing the lean
 * transport used from the package, and importing the package costs 49–89 ms (measured on the
 * 2-core dev machine, Node 20.20.2, @smithy/signature-v4 5.7.5) on every thread that signs —
 * the main thread inline, and each pool worker — for four HMACs a day. That load dominated
 * short `readpath batch` runs. The package stays the oracle: test/unit/s3-signer.test.ts holds
 * our keys to its `getSigningKey` and our signatures to its `SignatureV4`.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { digestHex } from '../probe/digest.js';
import { byCodeUnits, insertionSort } from '../small-sort.js';
import type { S3Address } from './s3-address.js';
import type { S3Credentials } from './s3-backend.js';

/** The header S3 reads the payload hash from; GET/HEAD send no payload. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * SHA-256 (or HMAC-SHA-256 when given a secret) over node:crypto, in the shape of the SDK's
 * `Checksum` constructors (`@smithy/hash-node`'s `Hash`, without its extra dependencies): what
 * the tests hand `@smithy/signature-v4` when they use it as the oracle for this module.
 */
export class NodeSha256 {
  readonly #secret: Buffer | string | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : toBuffer(secret);
    this.#hash = this.#make();
  }

  #make(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hash.digest());
  }

  reset(): void {
    this.#hash = this.#make();
  }
}

/**
 * The SigV4 signing key of one day (`YYYYMMDD`), region, service and secret:
 * HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request"), strings as
 * UTF-8 — what @smithy/signature-v4's `getSigningKey` computes, synchronously and uncached.
 */
export function deriveSigningKey(secretAccessKey: string, day: string, region: string, service: string): Buffer {
  let key: Buffer = createHmac('sha256', `AWS4${secretAccessKey}`).update(day).digest();
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return key;
}

/** How many derived keys the process keeps (@smithy/signature-v4 keeps 50 too). */
const KEY_CACHE_SIZE = 50;
/** Derived keys by day, region, service and secret, oldest first (see {@link signingKey}). */
const keyCache = new Map<string, Buffer>();

/**
 * {@link deriveSigningKey}, cached per day, region, service and secret across the process, so
 * backends that share credentials derive each day's key once, as @smithy/signature-v4's
 * module-level cache did. The cache is bounded ({@link KEY_CACHE_SIZE}, oldest evicted first);
 * its keys hold the secret, which the credentials they came from hold anyway.
 */
export function signingKey(secretAccessKey: string, day: string, region: string, service: string): Buffer {
  const id = `${day}\n${region}\n${service}\n${secretAccessKey}`;
  let key = keyCache.get(id);
  if (key === undefined) {
    key = deriveSigningKey(secretAccessKey, day, region, service);
    keyCache.set(id, key);
    while (keyCache.size > KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value as string);
  }
  return key;
}

/** `YYYYMMDDTHHMMSSZ` of a time, as SigV4 writes it. */
function amzDate(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** A header value as SigV4 canonicalizes it (what @smithy/signature-v4's getCanonicalHeaders does). */
function canonicalValue(v: string): string {
  return v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

/**
 * Signs S3 GET/HEAD requests for one backend.
 *
 * The key is {@link signingKey}'s; the canonical request and the signature over it are
 * assembled here, synchronously, for the one request shape the transport sends (no query, no
 * payload, a handful of headers). @smithy's general `sign()` costs ~35 us a request on this
 * machine — each hash a promise, and an extra HMAC per request to look its key cache up — this
 * costs a few (bench/RESULTS.md); test/unit/s3-signer.test.ts holds the two to the same
 * signatures.
 */
export class S3Signer {
  readonly #address: S3Address;
  readonly #region: string;
  readonly #credentials: () => Promise<S3Credentials>;
  /** The signing key of `#keyDay` for `#keyCreds`. */
  #key: Uint8Array | undefined;
  #keyDay = '';
  #keyCreds: S3Credentials | undefined;
  #scope = '';
  /** The last second's `x-amz-date`, reused within that second. */
  #dateSecond = -1;
  #date = '';

  constructor(address: S3Address, region: string, credentials: () => Promise<S3Credentials>) {
    this.#address = address;
    this.#region = region;
    this.#credentials = credentials;
  }

  /** The address requests are signed for. */
  get address(): S3Address {
    return this.#address;
  }

  #signingKey(creds: S3Credentials, day: string): Uint8Array {
    const k = this.#keyCreds;
    if (this.#key !== undefined && this.#keyDay === day && k !== undefined && (k === creds || (k.accessKeyId === creds.accessKeyId
      && k.secretAccessKey === creds.secretAccessKey && k.sessionToken === creds.sessionToken))) {
      return this.#key;
    }
    const key = signingKey(creds.secretAccessKey, day, this.#region, 's3');
    this.#key = key;
    this.#keyDay = day;
    this.#keyCreds = creds;
    this.#scope = `${day}/${this.#region}/s3/aws4_request`;
    return key;
  }

  /**
   * Sign a request: returns `headers` plus `x-amz-date`, `authorization` and, with session
   * credentials, `x-amz-security-token`. `headers` must hold `host` and
   * `x-amz-content-sha256`; everything in it is signed. `query`: the canonical query string
   * (parameters sorted by name, names and values encoded as {@link encodeQueryValue} does), as
   * it is sent.
   */
  async sign(method: string, path: string, headers: Record<string, string>, signingDate?: Date, query = ''): Promise<Record<string, string>> {
    const creds = await this.#credentials();
    let date: string;
    if (signingDate !== undefined) {
      date = amzDate(signingDate);
    } else {
      const now = Date.now();
      const second = Math.floor(now / 1000);
      if (second !== this.#dateSecond) {
        this.#dateSecond = second;
        this.#date = amzDate(new Date(second * 1000));
      }
      date = this.#date;
    }
    const key = this.#signingKey(creds, date.slice(0, 8));
    const out: Record<string, string> = {};
    for (const n in headers) out[n.toLowerCase()] = headers[n] as string;
    out['x-amz-date'] = date;
    if (creds.sessionToken !== undefined) out['x-amz-security-token'] = creds.sessionToken;
    const names = insertionSort(Object.keys(out), byCodeUnits);
    let canonicalHeaders = '';
    for (const n of names) canonicalHeaders += `${n}:${canonicalValue(out[n] ?? '')}\n`;
    const signedHeaders = names.join(';');
    const canonicalRequest = `${method}\n${path}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${out['x-amz-content-sha256'] ?? UNSIGNED_PAYLOAD}`;
    const scope = this.#scope;
    const stringToSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${digestHex('sha256', canonicalRequest)}`;
    const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
    out['authorization'] = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return out;
  }
}

/** A query parameter's name or value as SigV4 canonicalises it: every byte but A-Z a-z 0-9 - . _ ~ percent-encoded. */
export function encodeQueryValue(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonical query string of `params` (undefined values left out): sorted by name, encoded. */
export function canonicalQuery(params: Record<string, string | undefined>): string {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .sort()
    .map((k) => `${encodeQueryValue(k)}=${encodeQueryValue(params[k] as string)}`)
    .join('&');
}
