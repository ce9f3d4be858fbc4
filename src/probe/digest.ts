/** Hex digests of whole buffers. */
import * as crypto from 'node:crypto';

/*
 * One-shot digests (`crypto.hash`, Node >= 20.12) build no Hash object: a Hash holds a native
 * digest context that is freed only when its wrapper is collected, and a wrapper that outlives
 * a young-generation GC keeps it until the next full one. Older Node 20 releases fall back to
 * createHash.
 */
const oneShotHash = (crypto as { hash?: (alg: string, data: Uint8Array | string, enc: 'hex') => string }).hash;

/** The algorithms the checks use (BodyVerifier: SHA-256 against content_hash, MD5 against an ETag). */
export type DigestAlgorithm = 'sha256' | 'md5';

/** Hex digest of bytes (a string: of its UTF-8) with `algorithm`. */
export function digestHex(algorithm: DigestAlgorithm, bytes: Uint8Array | string): string {
  return oneShotHash !== undefined ? oneShotHash(algorithm, bytes, 'hex') : crypto.createHash(algorithm).update(bytes).digest('hex');
}
