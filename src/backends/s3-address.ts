/**
 * Where an S3 object request goes: the origin to connect to, the Host header and the request
 * path, for path-style (`http://host/bucket/key`) and virtual-host (`http://bucket.host/key`)
 * addressing, with keys percent-encoded the way S3 (and the AWS SDK) expect.
 *
 * The rules follow the SDK's S3 endpoint rules for a custom endpoint, so both transports send
 * the same request line for the same options (test/unit/s3-address.test.ts compares them):
 * virtual-host style unless `forcePathStyle`, the endpoint's host is an IP address, or the
 * bucket is not a DNS-compatible name (dotted names only over http, where no wildcard
 * certificate has to cover them, and only when every label is 3 to 63 characters).
 */
import { isIP } from 'node:net';

/** The fixed part of one backend's request targets. */
export interface S3Address {
  /** `scheme://host[:port]` to connect to (the bucket's host name in virtual-host style). */
  origin: string;
  /** The Host header value (and the signed `host`): host name plus any non-default port. */
  host: string;
  /** `http:` or `https:`. */
  protocol: string;
  /** Host name to sign (no port, no brackets removed: what URL.hostname gives). */
  hostname: string;
  /** Port number, when the endpoint names a non-default one. */
  port: number | undefined;
  /** Encoded path before the key, ending in `/`: `/bucket/` or `/` (plus any endpoint path). */
  prefix: string;
  /** True for virtual-host addressing. */
  virtualHost: boolean;
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A URL's host name as sockets take it: an IPv6 address without its brackets. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/**
 * True when `bucket` can go in the host name (the SDKs' `isVirtualHostableS3Bucket`): with
 * `allowDots`, every dot-separated label must pass the single-label rule, 3 to 63 characters
 * included — so `my.data` goes path-style, as the AWS SDKs (and s3-orchestrator) send it.
 */
export function isVirtualHostableBucket(bucket: string, allowDots: boolean): boolean {
  if (isIP(bucket) !== 0) return false;
  return (allowDots ? bucket.split('.') : [bucket]).every((label) => label.length >= 3 && label.length <= 63 && DNS_LABEL.test(label));
}

/**
 * Percent-encode one key for the request path: every byte of its UTF-8 form except the
 * unreserved characters `A-Z a-z 0-9 - . _ ~` and the `/` separators (so `+`, `%`, spaces,
 * `!'()*` and non-ASCII are all encoded), exactly as SigV4's canonical URI for S3 wants it.
 */
export function encodeKey(key: string): string {
  // Fast path: nothing to encode (the common case for generated keys).
  if (/^[A-Za-z0-9\-._~/]*$/.test(key)) return key;
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/');
}

/** Resolve an endpoint and bucket to the request target's fixed part. */
export function s3Address(endpoint: string, bucket: string, forcePathStyle: boolean): S3Address {
  const url = new URL(endpoint);
  const basePath = url.pathname.replace(/\/+$/, '');
  const hostnameBare = bareHost(url.hostname);
  const virtualHost =
    !forcePathStyle && isIP(hostnameBare) === 0 && isVirtualHostableBucket(bucket, url.protocol === 'http:');
  const hostname = virtualHost ? `${bucket}.${url.hostname}` : url.hostname;
  const port = url.port === '' ? undefined : Number(url.port);
  const host = port === undefined ? hostname : `${hostname}:${port}`;
  return {
    origin: `${url.protocol}//${host}`,
    host,
    protocol: url.protocol,
    hostname,
    port,
    prefix: virtualHost ? `${basePath}/` : `${basePath}/${encodeKey(bucket)}/`,
    virtualHost,
  };
}

/** The request path of `key` under `address`. */
export function objectPath(address: S3Address, key: string): string {
  return address.prefix + encodeKey(key);
}
