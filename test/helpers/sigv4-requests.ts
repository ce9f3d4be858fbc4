/**
 * Signed requests for the gateway's SigV4 verifier tests, as S3 clients send them: signed with
 * @smithy/signature-v4 (the AWS SDK's signer) the way the S3 client configures it (path signed as
 * sent, once encoded), and put on the wire with the encodings clients differ in — `+` raw or
 * `%2B`, `~` raw or `%7E`, upper- or lower-case hex, sub-delimiters raw, query spaces as `+`.
 */
import { createHash, createHmac } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256, deriveSigningKey } from '../../src/backends/s3-signer.js';
import type { GatewayCredential, VerifyInput } from '../../src/gateway/sigv4-verify.js';

export const HOST = '127.0.0.1:9000';
export const T0 = new Date('2026-03-01T12:00:00Z');
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const ALICE: GatewayCredential = { accessKeyId: 'AKIAALICEGATEWAY', secretAccessKey: 'alice/Secret+Key=0123456789abcdefghij', buckets: ['photos'] };
export const BOB: GatewayCredential = { accessKeyId: 'AKIABOBGATEWAY00', secretAccessKey: 'bob-secret', buckets: ['logs', 'photos-archive'] };

/** SigV4's encoding (what the AWS SDK's extendedEncodeURIComponent does): unreserved kept. */
export function sigv4Encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A key in SigV4's encoding with `/` kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(sigv4Encode).join('/');
}

/** How a client may put an (SigV4-encoded) path or query on the wire. */
export type WireStyle = 'strict' | 'raw-plus' | 'tilde-encoded' | 'lower-hex' | 'sub-delims-raw' | 'form-spaces';
export const WIRE_STYLES: readonly WireStyle[] = ['strict', 'raw-plus', 'tilde-encoded', 'lower-hex', 'sub-delims-raw', 'form-spaces'];

const SUB_DELIMS: Record<string, string> = {
  '%21': '!', '%24': '$', '%26': '&', '%27': "'", '%28': '(', '%29': ')', '%2A': '*', '%2C': ',', '%3B': ';', '%3D': '=', '%3A': ':', '%40': '@',
};

/**
 * A path in SigV4 encoding as a client may send it instead. `form-spaces` is the path as
 * strict (paths have no form encoding); `raw-plus` sends `+` raw, which in a path is a plus.
 */
export function wirePath(encoded: string, style: WireStyle): string {
  switch (style) {
    case 'strict': case 'form-spaces': return encoded;
    case 'raw-plus': return encoded.replace(/%2B/g, '+');
    case 'tilde-encoded': return encoded.replace(/~/g, '%7E');
    case 'lower-hex': return encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    case 'sub-delims-raw': return encoded.replace(/%(?:21|24|26|27|28|29|2A|2C|3B|3D|3A|40|2B)/g, (m) => SUB_DELIMS[m] ?? '+');
  }
}

/**
 * One query component as a client may send it: in a query `+` means a space, so `%2B` stays;
 * `=` may go raw in a value (the first `=` splits), not in a name; `&` never.
 */
export function wireQueryComponent(value: string, style: WireStyle, name = false): string {
  const encoded = sigv4Encode(value);
  switch (style) {
    case 'strict': case 'raw-plus': return encoded;
    case 'tilde-encoded': return encoded.replace(/~/g, '%7E');
    case 'lower-hex': return encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    case 'sub-delims-raw': return encoded.replace(name ? /%(?:21|24|27|28|29|2A|2C|3B|3A|40)/g : /%(?:21|24|27|28|29|2A|2C|3B|3D|3A|40)/g, (m) => SUB_DELIMS[m] as string);
    case 'form-spaces': return encoded.replace(/%20/g, '+');
  }
}

export type Query = Record<string, string | string[] | null>;

/** A query string as a client sends it (`null`: a parameter without `=`, as botocore sends `?location`). */
export function wireQuery(query: Query, style: WireStyle): string {
  const parts: string[] = [];
  for (const [name, v] of Object.entries(query)) {
    const n = wireQueryComponent(name, style, true);
    if (v === null) parts.push(n);
    else for (const one of Array.isArray(v) ? v : [v]) parts.push(`${n}=${wireQueryComponent(one, style)}`);
  }
  return parts.join('&');
}

/** The lower-case header map node:http would give. */
export function lower(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

export interface SignSpec {
  method?: string;
  bucket?: string;
  key?: string;
  /** The path signed and sent (SigV4-encoded); default `/bucket/encodeKey(key)`. */
  path?: string;
  query?: Query;
  headers?: Record<string, string>;
  cred?: Pick<GatewayCredential, 'accessKeyId' | 'secretAccessKey'> & { sessionToken?: string };
  region?: string;
  date?: Date;
  style?: WireStyle;
}

function specPath(spec: SignSpec): string {
  return spec.path ?? `/${spec.bucket ?? 'photos'}/${encodeKey(spec.key ?? 'some/key.txt')}`;
}

/** smithy's query map for a {@link Query} (a parameter without `=` signs with the value ''). */
function smithyQuery(query: Query): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(query)) out[k] = v ?? '';
  return out;
}

function signer(spec: SignSpec): SignatureV4 {
  return new SignatureV4({
    service: 's3', region: spec.region ?? 'us-east-1', credentials: spec.cred ?? ALICE, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false,
  });
}

/** A header-signed request, signed by @smithy/signature-v4 and sent in `spec.style`. */
export async function smithySigned(spec: SignSpec = {}): Promise<VerifyInput> {
  const path = specPath(spec);
  const query = spec.query ?? {};
  const method = spec.method ?? 'GET';
  const signed = await signer(spec).sign({
    method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query: smithyQuery(query),
    headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...spec.headers },
  }, { signingDate: spec.date ?? T0 });
  const style = spec.style ?? 'strict';
  const qs = wireQuery(query, style);
  return { method, rawUrl: wirePath(path, style) + (qs === '' ? '' : `?${qs}`), headers: lower(signed.headers) };
}

/**
 * A presigned request as @smithy/signature-v4 presigns it for S3 (with `x-amz-content-sha256:
 * UNSIGNED-PAYLOAD`, which the S3 presigner sets and smithy hoists into the query).
 */
export async function smithyPresigned(spec: SignSpec & { expiresIn?: number } = {}): Promise<VerifyInput> {
  const path = specPath(spec);
  const method = spec.method ?? 'GET';
  const presigned = await signer(spec).presign({
    method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query: smithyQuery(spec.query ?? {}),
    headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...spec.headers },
  }, { signingDate: spec.date ?? T0, expiresIn: spec.expiresIn ?? 3600 });
  const style = spec.style ?? 'strict';
  const qs = wireQuery(presigned.query as Query, style);
  return { method, rawUrl: `${wirePath(path, style)}?${qs}`, headers: lower(presigned.headers) };
}

/** `YYYYMMDDTHHMMSSZ`. */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/**
 * A reference header signer for shapes smithy cannot make (an HTTP `Date` instead of
 * `x-amz-date`, a header sent twice): the canonical request is given in parts, exactly.
 */
export function manualAuthorization(o: {
  cred?: Pick<GatewayCredential, 'accessKeyId' | 'secretAccessKey'>; method?: string; canonicalUri: string; canonicalQuery?: string;
  canonicalHeaders: [string, string][]; payloadHash?: string; stamp: string; region?: string;
}): string {
  const cred = o.cred ?? ALICE;
  const region = o.region ?? 'us-east-1';
  const day = o.stamp.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const signedHeaders = o.canonicalHeaders.map(([n]) => n).join(';');
  const canonicalRequest = [
    o.method ?? 'GET', o.canonicalUri, o.canonicalQuery ?? '', ...o.canonicalHeaders.map(([n, v]) => `${n}:${v}`), '', signedHeaders, o.payloadHash ?? EMPTY_SHA256,
  ].join('\n');
  const stringToSign = `AWS4-HMAC-SHA256\n${o.stamp}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  const signature = createHmac('sha256', deriveSigningKey(cred.secretAccessKey, day, region, 's3')).update(stringToSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${cred.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

/** Keys every encoding test goes through. */
export const TRICKY_KEYS: readonly string[] = [
  'plain.txt',
  'dir with space/file name.txt',
  'ünïcödé/日本語/😀 emoji.bin',
  'a+b+c.txt',
  'literal%2Fpercent-two-f',
  'tilde~home/~x',
  "sub-delims !$&'()*,;=:@.txt",
  'brackets[]{}^`|"<>#?\\.txt',
  'dots/./../x',
  'double//slash',
  '/leading-slash',
  'trailing-slash/',
  'x'.repeat(1024),
  'é'.repeat(512),
  '\u0001control\u007f',
];

/** The S3RequestPresigner.presign shape (@aws-sdk/s3-request-presigner), and the SDK's request. */
interface SdkRequest {
  method: string; protocol: string; hostname: string; port?: number; path: string;
  query: Record<string, string | string[] | null>; headers: Record<string, string>;
}
interface SdkPresignOptions {
  expiresIn: number; signingDate?: Date; signingRegion?: string; signingService?: string;
  unsignableHeaders?: Set<string>; unhoistableHeaders?: Set<string>;
}
interface SdkSigner { presign(request: SdkRequest, options: SdkPresignOptions): Promise<SdkRequest> }
type Handler = (args: { request: SdkRequest }) => Promise<unknown>;
interface Stack { addRelativeTo(mw: (next: Handler, context: Record<string, unknown>) => Handler, options: Record<string, unknown>): void }
export interface Resolvable { input: unknown; resolveMiddleware(stack: Stack, config: unknown, options: unknown): (args: { input: unknown }) => Promise<{ output: { presigned: SdkRequest } }> }

/** @smithy/querystring-builder's buildQueryString, which @aws-sdk/util-format-url uses. */
function buildQueryString(query: SdkRequest['query']): string {
  const parts: string[] = [];
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    const k = sigv4Encode(key);
    if (Array.isArray(value)) for (const one of value) parts.push(`${k}=${sigv4Encode(one)}`);
    else parts.push(value === null || value === undefined ? k : `${k}=${sigv4Encode(value)}`);
  }
  return parts.join('&');
}

/**
 * `getSignedUrl` of @aws-sdk/s3-request-presigner (not a dependency here), step for step: the
 * client's own middleware stack builds the request, an interceptor placed before its signing
 * middleware drops the per-attempt headers and presigns it with the client's own configured
 * signer (SignatureV4MultiRegion) the way S3RequestPresigner does — `X-Amz-Content-Sha256:
 * UNSIGNED-PAYLOAD` (hoisted into the query), `content-type` unsigned, SSE headers kept as
 * headers — and formatUrl puts it on the wire. Checked against the real getSignedUrl
 * (@aws-sdk/s3-request-presigner 3.1178.0 with @aws-sdk/client-s3 3.1178.0, installed
 * outside the repo): byte-identical URLs for GetObject, HeadObject and ListObjectsV2 over every
 * TRICKY_KEYS key. gateway-sigv4.test.ts uses the real one whenever it can be imported.
 */
export async function sdkPresign(client: S3Client, command: Resolvable, options: { expiresIn: number; signingDate?: Date }): Promise<string> {
  const config = client.config as unknown as { signer: () => Promise<SdkSigner> };
  const signer = await config.signer();
  const stack = client.middlewareStack.clone() as unknown as Stack;
  stack.addRelativeTo((_next, context) => async ({ request }) => {
    delete request.headers['amz-sdk-invocation-id'];
    delete request.headers['amz-sdk-request'];
    delete request.headers['x-amz-user-agent'];
    const unhoistableHeaders = new Set(Object.keys(request.headers).map((h) => h.toLowerCase()).filter((h) => h.startsWith('x-amz-server-side-encryption')));
    request.headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
    const host = request.headers['host'];
    if (host === undefined || host === '' || (host === request.hostname && request.port !== undefined)) {
      request.headers['host'] = `${request.hostname}${request.port !== undefined ? `:${request.port}` : ''}`;
    }
    const presigned = await signer.presign(request, {
      ...options, unsignableHeaders: new Set(['content-type']), unhoistableHeaders,
      signingRegion: context['signing_region'] as string | undefined, signingService: context['signing_service'] as string | undefined,
    });
    return { response: {}, output: { $metadata: { httpStatusCode: 200 }, presigned } };
  }, { name: 'presignInterceptMiddleware', relation: 'before', step: 'finalizeRequest', toMiddleware: 'awsAuthMiddleware', override: true });
  const { output } = await command.resolveMiddleware(stack, client.config, {})({ input: command.input });
  const r = output.presigned;
  return `${r.protocol}//${r.hostname}${r.port !== undefined ? `:${r.port}` : ''}${r.path}?${buildQueryString(r.query)}`;
}
