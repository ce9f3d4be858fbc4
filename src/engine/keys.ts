/**
 * Object key validation at the edge: what S3 and s3-orchestrator accept as a key.
 */
import { ReadPathError } from '../errors.js';

/** The longest key S3 accepts, in UTF-8 bytes: what a client of the gateway may ask for. */
export const S3_MAX_KEY_BYTES = 1024;

/** The longest bucket name S3 accepts, in bytes. */
export const S3_MAX_BUCKET_NAME_BYTES = 63;

/**
 * The longest key readpath reads, in UTF-8 bytes. A key is s3-orchestrator's `object_key`,
 * which is `{bucket}/{key}` — its S3 client's bucket, a slash, then the S3 key — so an object
 * whose S3 key takes S3's 1024 bytes in a bucket whose name takes S3's 63 has a 1088-byte key.
 * (It was 1024, S3's limit for the S3 key alone, which made long S3 keys unreadable.)
 */
export const MAX_KEY_BYTES = S3_MAX_KEY_BYTES + S3_MAX_BUCKET_NAME_BYTES + 1;

// A lone surrogate has no UTF-8 encoding: it would silently become U+FFFD on the wire and read
// a different object than the one asked for.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a key is invalid, or undefined when it is valid. */
export function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return `key must be a string, got ${key === null ? 'null' : typeof key}`;
  if (key.length === 0) return 'key is empty';
  if (key.includes('\0')) return 'key contains a NUL byte';
  if (LONE_SURROGATE.test(key)) return 'key contains an unpaired UTF-16 surrogate (not valid UTF-8)';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `key is ${bytes} UTF-8 bytes, over the ${MAX_KEY_BYTES}-byte limit`;
  return undefined;
}

/** A printable, bounded rendering of a key for messages. */
export function describeKey(key: unknown): string {
  const s = typeof key === 'string' ? key : String(key);
  const shown = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  return JSON.stringify(shown);
}

/** Throw INVALID_KEY when the key is not valid. */
export function assertValidKey(key: unknown): asserts key is string {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new ReadPathError('INVALID_KEY', `invalid key ${describeKey(key)}: ${problem}`);
}
