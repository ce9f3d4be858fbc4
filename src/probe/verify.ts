/**
 * Integrity checks a body passes before its copy may win: SHA-256 against the location's
 * content_hash, or, with no hash to check, the backend's ETag when it is a plain MD5.
 */
import { createHash, type Hash } from 'node:crypto';
import { ReadPathError } from '../errors.js';
import { digestHex, type DigestAlgorithm } from './digest.js';

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return digestHex('sha256', bytes);
}

// A single-part upload's ETag is the MD5 of the object: quoted 32 hex digits, no `-N` suffix.
const MD5_ETAG = /^"?([0-9a-fA-F]{32})"?$/;

/**
 * A location's content_hash as the checks use it: lower-case hex, or null when the row has
 * none (NULL, empty, degraded mode's missing row).
 */
export function storedHash(location: { contentHash?: string | null } | null | undefined): string | null {
  const h = location?.contentHash;
  return h === undefined || h === null || h === '' ? null : h.toLowerCase();
}

/** A location's content_hash when it is a well-formed SHA-256 (64 hex digits, lower-cased); undefined otherwise. */
export function storedSha256(location: { contentHash?: string | null } | null | undefined): string | undefined {
  const h = storedHash(location);
  return h !== null && /^[0-9a-f]{64}$/.test(h) ? h : undefined;
}

/** Where a body came from, for the check and its message. */
export interface BodySource {
  backendName: string;
  location: { contentHash?: string | null } | null;
}

/**
 * Check a body before its copy may win. With the location's content_hash: SHA-256, returning
 * true when it matches. Without one (NULL column, degraded mode) and given the backend's
 * ETag: when that ETag is a plain MD5, the body must match it (a copy damaged at rest keeps
 * the ETag of what was written), returning false since nothing was checked against
 * content_hash. Throws INTEGRITY_MISMATCH on a mismatch.
 */
export function verifyBody(src: BodySource, key: string, body: Uint8Array, etag?: string): boolean {
  const expected = src.location?.contentHash;
  if (expected === undefined || expected === null || expected === '') {
    const md5 = etag === undefined ? null : MD5_ETAG.exec(etag);
    if (md5 !== null && md5[1] !== undefined) {
      const actual = digestHex('md5', body);
      if (actual !== md5[1].toLowerCase()) {
        throw new ReadPathError('INTEGRITY_MISMATCH', `${src.backendName}: ${key}: body MD5 ${actual} does not match the backend's ETag ${etag ?? ''}`);
      }
    }
    return false;
  }
  const actual = sha256Hex(body);
  if (actual !== expected.toLowerCase()) {
    throw new ReadPathError('INTEGRITY_MISMATCH', `${src.backendName}: ${key}: body hash ${actual} does not match stored ${expected}`);
  }
  return true;
}

/**
 * {@link verifyBody} over a body that arrives in chunks (streamed to a file, never held whole):
 * the same rules — SHA-256 against content_hash, else a plain-MD5 ETag, else nothing to check —
 * decided up front, the digest fed as the chunks pass.
 */
export class BodyVerifier {
  readonly #src: BodySource;
  readonly #key: string;
  readonly #expected: string | undefined;
  readonly #etag: string | undefined;
  readonly #algorithm: DigestAlgorithm | undefined;
  #hash: Hash | undefined;

  constructor(src: BodySource, key: string, etag?: string) {
    this.#src = src;
    this.#key = key;
    const hash = storedHash(src.location);
    if (hash !== null) {
      this.#expected = hash;
      this.#algorithm = 'sha256';
      return;
    }
    const md5 = etag === undefined ? null : MD5_ETAG.exec(etag);
    if (md5 !== null && md5[1] !== undefined) {
      this.#expected = md5[1].toLowerCase();
      this.#etag = etag;
      this.#algorithm = 'md5';
    }
  }

  /** The digest the check compares (undefined: nothing to check), for a caller that computes it elsewhere ({@link check}). */
  get algorithm(): DigestAlgorithm | undefined {
    return this.#algorithm;
  }

  update(chunk: Uint8Array): void {
    if (this.#algorithm === undefined) return;
    // Made on the first chunk: a body whose digest is computed elsewhere never builds one.
    (this.#hash ??= createHash(this.#algorithm)).update(chunk);
  }

  /** True when the body matched content_hash; false when there was none. Throws INTEGRITY_MISMATCH. */
  finish(): boolean {
    if (this.#algorithm === undefined) return false;
    return this.check((this.#hash ?? createHash(this.#algorithm)).digest('hex'));
  }

  /**
   * {@link finish} with the body's hex digest (of {@link algorithm}) computed by the caller, for
   * a body hashed off this thread; the verifier's own digest is not used.
   */
  check(actual: string): boolean {
    if (this.#expected === undefined) return false;
    if (actual === this.#expected) return this.#etag === undefined;
    const b = this.#src.backendName;
    throw this.#etag === undefined
      ? new ReadPathError('INTEGRITY_MISMATCH', `${b}: ${this.#key}: body hash ${actual} does not match stored ${this.#expected}`)
      : new ReadPathError('INTEGRITY_MISMATCH', `${b}: ${this.#key}: body MD5 ${actual} does not match the backend's ETag ${this.#etag}`);
  }
}
