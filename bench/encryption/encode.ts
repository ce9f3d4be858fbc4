/**
 * A bench-only writer of s3-orchestrator's encrypted object format (SENC v1, see
 * /work/shared/ENCRYPTION.md): header, then `nonce | AES-256-GCM ciphertext | tag` per chunk,
 * and the `object_locations` columns that describe it (data key wrapped by a local master key).
 *
 * test/helpers/senc-encoder.ts is the checked encoder (known-answer vectors), but test/ is not
 * compiled into dist/, which the benches run from; this is the same construction, kept short.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export const HEADER_SIZE = 32;
export const CHUNK_OVERHEAD = 28;
/** Upstream's default `encryption.chunk_size`. */
export const DEFAULT_CHUNK_SIZE = 65536;

function seal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Buffer[] {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  return [c.update(plain), c.final(), c.getAuthTag()];
}

/** Chunk `i`'s nonce: the base nonce with bytes 4..11 XORed with uint64_BE(i). */
function chunkNonce(base: Uint8Array, i: number): Buffer {
  const n = Buffer.from(base);
  n.writeBigUInt64BE(n.readBigUInt64BE(4) ^ BigInt(i), 4);
  return n;
}

/** The stored bytes of `plain` under `dek` and `baseNonce` in chunks of `chunkSize`. */
export function encryptObject(plain: Uint8Array, dek: Uint8Array, baseNonce: Uint8Array, chunkSize = DEFAULT_CHUNK_SIZE): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.write('SENC', 0, 'latin1');
  header[4] = 1;
  header.writeUInt32BE(chunkSize, 5);
  header.set(baseNonce, 9);
  const parts: Buffer[] = [header];
  for (let at = 0, i = 0; at < plain.length; at += chunkSize, i++) {
    const nonce = chunkNonce(baseNonce, i);
    parts.push(nonce, ...seal(dek, nonce, plain.subarray(at, at + chunkSize)));
  }
  return Buffer.concat(parts);
}

/** An encrypted object and its row's columns. */
export interface EncryptedRow {
  body: Buffer;
  /** `encryption_key`: base nonce (12) | wrap nonce (12) | AES-256-GCM(DEK) (32) | tag (16). */
  encryptionKey: Buffer;
  keyId: string;
  plaintextSize: number;
  /** Ciphertext size. */
  sizeBytes: number;
  /** Hex SHA-256 of the plaintext. */
  contentHash: string;
  dek: Buffer;
  baseNonce: Buffer;
}

/** Encrypt `plain` under a fresh data key wrapped by `masterKey` (key id `config-0`). */
export function encryptForRow(plain: Uint8Array, o: { masterKey: Uint8Array; chunkSize?: number }): EncryptedRow {
  const dek = randomBytes(32);
  const baseNonce = randomBytes(12);
  const body = encryptObject(plain, dek, baseNonce, o.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const wrapNonce = randomBytes(12);
  const encryptionKey = Buffer.concat([baseNonce, wrapNonce, ...seal(o.masterKey, wrapNonce, dek)]);
  return {
    body, encryptionKey, keyId: 'config-0', plaintextSize: plain.length, sizeBytes: body.length,
    contentHash: createHash('sha256').update(plain).digest('hex'), dek, baseNonce,
  };
}
