/**
 * Test helpers for s3-orchestrator's at-rest encryption format (SENC v1): the encoder itself
 * (bench/encryption/encode.ts, shared with the encryption bench, which runs from dist/ where
 * test/ is not compiled), tamper helpers for negative tests, and the Python-generated
 * known-answer vectors in test/fixtures/encryption/vectors.json that the encoder is checked
 * against (test/unit/senc-encoder.test.ts).
 */
import { readFileSync } from 'node:fs';
import { SENC_CHUNK_OVERHEAD, SENC_HEADER_SIZE } from '../../bench/encryption/encode.js';

export * from '../../bench/encryption/encode.js';

// ---- tamper helpers for negative tests (all return copies) ----

/** A copy of `buf` with the byte at `offset` XORed with `mask` (default 0x01). */
export function flipByte(buf: Uint8Array, offset: number, mask = 0x01): Buffer {
  if (offset < 0 || offset >= buf.length) throw new RangeError(`offset ${offset} outside 0..${buf.length - 1}`);
  const out = Buffer.from(buf);
  out[offset] = out[offset]! ^ mask;
  return out;
}

/** Byte offset of chunk `index` in an object with `chunkSize` (the header comes first). */
export function chunkOffset(chunkSize: number, index: number): number {
  return SENC_HEADER_SIZE + index * (chunkSize + SENC_CHUNK_OVERHEAD);
}

/**
 * A copy of the object `buf` with chunks `i` and `j` exchanged. Both must be full chunks, so
 * the result has the same length and a reader can only notice by the nonce/tag.
 */
export function swapChunks(buf: Uint8Array, chunkSize: number, i: number, j: number): Buffer {
  const len = chunkSize + SENC_CHUNK_OVERHEAD;
  const [a, b] = [chunkOffset(chunkSize, i), chunkOffset(chunkSize, j)];
  if (i < 0 || j < 0 || a + len > buf.length || b + len > buf.length) {
    throw new RangeError(`chunks ${i} and ${j} must both be full chunks of a ${buf.length}-byte object`);
  }
  const out = Buffer.from(buf);
  out.set(buf.subarray(a, a + len), b);
  out.set(buf.subarray(b, b + len), a);
  return out;
}

/** A copy of the first `n` bytes of `buf` (a negative `n` drops that many bytes from the end). */
export function truncate(buf: Uint8Array, n: number): Buffer {
  const keep = n < 0 ? buf.length + n : n;
  if (keep < 0 || keep > buf.length) throw new RangeError(`cannot keep ${keep} of ${buf.length} bytes`);
  return Buffer.from(buf.subarray(0, keep));
}

// ---- the Python-generated known-answer vectors ----

/** How a vector's plaintext is given (see `plaintextKinds` in vectors.json). */
export type PlaintextSpec =
  | { kind: 'hex'; hex: string }
  | { kind: 'lcg32'; seed: number; length: number };

/** One object vector from vectors.json. */
export interface SencVector {
  id: string;
  note?: string;
  chunkSize: number;
  plaintext: PlaintextSpec;
  plaintextSize: number;
  plaintextSha256: string;
  dek: string;
  baseNonce: string;
  chunkCount: number;
  header: string;
  ciphertextSize: number;
  ciphertextSha256: string;
  ciphertextMd5: string;
  /** Present only for ciphertexts of at most 10 KiB. */
  ciphertext?: string;
  keyWrap: {
    keyId: string;
    masterKey: string;
    masterKeyBase64: string;
    wrapNonce: string;
    wrapped: string;
    encryptionKeyColumn: string;
  };
}

/**
 * One range vector from vectors.json: a 416, a suffix of an empty object (200: all of it,
 * nothing), or the ciphertext bytes that cover the range.
 */
export type SencRangeVector = {
  object: string;
  chunkSize: number;
  plaintextSize: number;
  ciphertextSize: number;
  /** The request's `Range` header, e.g. `bytes=5000-9000`, `bytes=100-`, `bytes=-17`. */
  range: string;
} & (
  | { status: 416; contentRange: string }
  | { status: 200; first: number; last: number }
  | {
    contentRange: string;
    status: 206;
    first: number;
    last: number;
    firstChunk: number;
    lastChunk: number;
    /** Inclusive ciphertext byte offsets to fetch, clamped to the object. */
    ciphertextFirst: number;
    ciphertextLast: number;
    ciphertextRange: string;
    /** Plaintext bytes to drop from the start of the first decrypted chunk. */
    skip: number;
    length: number;
    plaintextSha256: string;
  }
);

/** The whole of vectors.json. */
export interface SencVectorFile {
  keys: { dek: string; baseNonce: string; masterKey: string; masterKeyBase64: string; wrapNonce: string; keyId: string };
  vectors: SencVector[];
  ranges: SencRangeVector[];
}

/** Path of the checked-in vectors (written by generate_vectors.py next to it). */
export const VECTORS_PATH = new URL('../fixtures/encryption/vectors.json', import.meta.url);

/** Reads test/fixtures/encryption/vectors.json. */
export function loadVectors(): SencVectorFile {
  return JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as SencVectorFile;
}

/** Regenerates a vector's plaintext from its spec, exactly as generate_vectors.py does. */
export function fixturePlaintext(spec: PlaintextSpec): Buffer {
  if (spec.kind === 'hex') return Buffer.from(spec.hex, 'hex');
  const out = Buffer.alloc(spec.length);
  let x = spec.seed >>> 0;
  for (let i = 0; i < spec.length; i++) {
    // Math.imul keeps the product's low 32 bits exactly, as the Python's `mod 2^32` does.
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
