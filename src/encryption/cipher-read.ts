/**
 * From a plaintext span of an encrypted copy to the ciphertext request that covers it and the
 * decryptor for what comes back — the one planner the buffered probe, streams and striped parts
 * all use. A whole object is fetched with its header (the chunk size comes from it); any other
 * span fetches only the covering chunks, which needs the copy's chunk size first: from the
 * thread's cache, else from a 32-byte read of the header.
 */
import { ChunkDecryptor } from './chunk-decryptor.js';
import { HEADER_SIZE, checkCipherSize, cipherSpanFor, decryptionFailed, parseHeader, rowKeyData, type DecryptFailure } from './format.js';
import { copyId, type KeyRing } from './key-ring.js';
import { readRange } from '../backends/body.js';
import type { ObjectBackend } from '../types.js';

/** An encrypted copy as its row describes it. */
export interface EncryptedCopy {
  backend: string;
  key: string;
  /** Ciphertext size (`size_bytes`). */
  sizeBytes: number;
  plaintextSize: number | null;
  encryptionKey: Uint8Array | null;
  keyId: string | null;
}

/** What to request from a copy and how to decrypt the answer. */
export interface CipherRead {
  /** Range on the ciphertext; undefined for the whole object. */
  range: string | undefined;
  /** Ciphertext bytes the answer must carry. */
  cipherBytes: number;
  decryptor: ChunkDecryptor;
}

/** The copy `backend` holds of `key`, as its row (or the probe's view of it) describes it. */
export function encryptedCopy(backend: string, key: string, l: {
  sizeBytes: number; plaintextSize?: number | null; encryptionKey?: Uint8Array | null; keyId?: string | null;
}): EncryptedCopy {
  return { backend, key, sizeBytes: l.sizeBytes, plaintextSize: l.plaintextSize ?? null, encryptionKey: l.encryptionKey ?? null, keyId: l.keyId ?? null };
}

/** Read a copy's 32-byte header (a ranged GET); the caller accounts for the request. */
export function readHeader(backend: ObjectBackend, key: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
  return readRange(backend, key, `bytes=0-${HEADER_SIZE - 1}`, signal);
}

/** Why a copy whose row has no plaintext_size is not read (`where`: `backend: key`). */
export function noPlaintextSize(where: string): DecryptFailure {
  return decryptionFailed('key_data', `${where}: the row of an encrypted copy has no plaintext_size`);
}

/** A copy's plaintext size: its row's `plaintext_size`. */
export function plainSizeOf(c: { sizeBytes: number; plaintextSize: number | null }): number {
  return c.plaintextSize ?? -1;
}

/**
 * Plan the read of plaintext `start..end` (inclusive) of `c`. `readHeader` fetches the copy's
 * first 32 bytes when its chunk size is not known yet. Throws DECRYPTION_FAILED for key data
 * that cannot give a data key, or a header that is not one.
 */
export async function planCipherRead(
  c: EncryptedCopy,
  keys: KeyRing,
  start: number,
  end: number,
  readHeader: () => Promise<Uint8Array>,
  signal?: AbortSignal,
): Promise<CipherRead> {
  const where = `${c.backend}: ${c.key}`;
  const plain = plainSizeOf(c);
  if (plain < 0) throw noPlaintextSize(where);
  const kd = rowKeyData(c.encryptionKey, c.keyId, where);
  const dek = await keys.dataKey(kd, where, signal);
  if (start === 0 && end >= plain - 1) {
    return {
      range: undefined,
      cipherBytes: c.sizeBytes,
      decryptor: new ChunkDecryptor({ dek, baseNonce: kd.baseNonce, header: true, take: plain, cipherSize: c.sizeBytes, where }),
    };
  }
  const id = copyId(c.backend, c.key, kd.baseNonce);
  let cs = keys.chunkSize(id);
  if (cs === undefined) {
    const h = await readHeader();
    if (h.length !== HEADER_SIZE) throw decryptionFailed('header', `${where}: header read returned ${h.length} bytes, not ${HEADER_SIZE}`);
    const parsed = parseHeader(h, where);
    if (!parsed.baseNonce.equals(kd.baseNonce)) {
      throw decryptionFailed('header', `${where}: the header's base nonce is not the row's (the copy is not the one the row describes)`);
    }
    cs = parsed.chunkSize;
    keys.rememberChunkSize(id, cs);
  }
  checkCipherSize(plain, cs, c.sizeBytes, where);
  const s = cipherSpanFor(start, end, plain, cs);
  return {
    range: `bytes=${s.start}-${s.end}`,
    cipherBytes: s.end - s.start + 1,
    decryptor: new ChunkDecryptor({ dek, baseNonce: kd.baseNonce, header: false, chunkSize: cs, firstChunk: s.firstChunk, skip: s.skip, take: s.take, where }),
  };
}
