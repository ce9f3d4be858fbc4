/**
 * Which bucket and key a request names. Path style (`/{bucket}/{key}`) always works;
 * virtual-hosted style (`Host: {bucket}.{domain}`, path `/{key}`) — what DuckDB, Spark's S3A
 * and the AWS SDKs use by default — works for the domains in `server.virtual_host_domains`, as
 * S3 itself, MinIO (`MINIO_DOMAIN`) and Ceph RGW (`rgw_dns_name`) do it: a Host that is one of
 * those domains is path style, a Host under one of them names its bucket in the labels before
 * the domain (bucket names may hold dots), any other Host is path style.
 *
 * A request line in absolute form (`GET http://host/path`, RFC 9112 §3.2.2: a server must
 * accept it; a client sends it to something it takes for a proxy) is read as its origin form,
 * and its authority, not the Host header, is the host.
 */
import { MAX_KEY_BYTES, S3_MAX_KEY_BYTES } from '../engine/keys.js';

/** A request's target split into what the gateway routes on. */
export interface RequestTarget {
  /** The origin-form target (`/path?query`): what SigV4 signed. */
  url: string;
  /** The host named (the absolute form's authority, else the Host header), lower case, without port; '' when none. */
  host: string;
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/;

/** Split an incoming request's target and Host header (see {@link RequestTarget}). */
export function requestTarget(rawUrl: string, hostHeader: string | undefined): RequestTarget {
  const m = ABSOLUTE.exec(rawUrl);
  if (m === null) return { url: rawUrl, host: hostName(hostHeader ?? '') };
  const rest = rawUrl.slice(m[0].length);
  const url = rest.startsWith('/') ? rest : `/${rest}`;
  // RFC 9112 §3.2.2: with an absolute-form target the server uses its authority, not the Host header.
  return { url, host: hostName(m[1] ?? '') };
}

/** `host[:port]` → host in lower case, without the port (`[::1]:80` → `[::1]`); userinfo dropped. */
export function hostName(authority: string): string {
  const a = authority.slice(authority.lastIndexOf('@') + 1).trim().toLowerCase();
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    return close < 0 ? a : a.slice(0, close + 1);
  }
  const colon = a.indexOf(':');
  const h = colon < 0 ? a : a.slice(0, colon);
  // A fully qualified name may end with a dot: `photos.s3.local.` is `photos.s3.local`.
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * The bucket a Host names under one of `domains` (lower case, no port), or undefined for path
 * style. The longest matching domain wins, so `s3.example.com` and `example.com` can both be
 * listed.
 */
export function virtualHostBucket(host: string, domains: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestLength = -1;
  for (const d of domains) {
    if (host.length > d.length + 1 && host.endsWith(d) && host.charCodeAt(host.length - d.length - 1) === 46 /* . */ && d.length > bestLength) {
      best = host.slice(0, host.length - d.length - 1);
      bestLength = d.length;
    } else if (host === d && d.length > bestLength) {
      best = undefined;
      bestLength = d.length;
    }
  }
  return best;
}

/** Bucket and key of a request, both still percent-encoded as they came. */
export interface RawAddress {
  bucket: string;
  key: string;
  /** Whether the bucket came from the Host header. */
  virtualHosted: boolean;
}

/** Split an origin-form path into bucket and key, the bucket from `vhostBucket` when there is one. */
export function addressOf(rawPath: string, vhostBucket: string | undefined): RawAddress {
  if (vhostBucket !== undefined) return { bucket: vhostBucket, key: rawPath.slice(1), virtualHosted: true };
  const slash = rawPath.indexOf('/', 1);
  return { bucket: slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash), key: slash < 0 ? '' : rawPath.slice(slash + 1), virtualHosted: false };
}

/**
 * The most UTF-8 bytes an S3 key may take in `bucket`: S3's 1024 — the store's key,
 * `{bucket}/{key}`, then fits MAX_KEY_BYTES for any bucket name S3 allows — or what is left of
 * MAX_KEY_BYTES after a longer name (s3-orchestrator's configuration does not bound its length).
 */
export function maxS3KeyBytes(bucket: string): number {
  return Math.min(S3_MAX_KEY_BYTES, MAX_KEY_BYTES - Buffer.byteLength(bucket, 'utf8') - 1);
}
