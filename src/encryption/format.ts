/**
 * s3-orchestrator's encrypted object format (see ENCRYPTION.md): a 32-byte header, then chunks of
 * `nonce (12) | AES-256-GCM ciphertext | tag (16)`, each holding `chunk size` plaintext bytes
 * except the last. The arithmetic and checks every reader of the format shares live here.
 */
import { ReadPathError } from '../errors.js';
import { StartSniffer } from '../start-sniffer.js';

export const HEADER_SIZE = 32;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
/** Per-chunk bytes beyond the plaintext: nonce and tag. */
export const CHUNK_OVERHEAD = NONCE_SIZE + TAG_SIZE;
/**
 * The largest chunk size readpath accepts from a header. Upstream writes 4 KiB..1 MiB; a reader
 * holds one chunk at a time, so a header claiming more is refused rather than trusted.
 */
export const MAX_CHUNK_SIZE = 1024 * 1024;
/** `SENC` and version 1: how an encrypted object begins. */
export const MAGIC = Buffer.from([0x53, 0x45, 0x4e, 0x43]);
export const VERSION = 0x01;

/** Why a copy could not be decrypted, as the metrics group them. */
export type DecryptFailureKind = 'header' | 'key_data' | 'unknown_key' | 'unwrap' | 'key_service' | 'nonce' | 'tag' | 'length';

/** An error that carries its {@link DecryptFailureKind}, for metrics. */
export interface DecryptFailure extends ReadPathError {
  decryptKind: DecryptFailureKind;
}

/** A DECRYPTION_FAILED error of `kind` (the next copy is tried). */
export function decryptionFailed(kind: DecryptFailureKind, message: string, cause?: unknown): DecryptFailure {
  const err = new ReadPathError('DECRYPTION_FAILED', message, cause === undefined ? {} : { cause }) as DecryptFailure;
  err.decryptKind = kind;
  return err;
}

/** The kind of a decryption failure, on the thread that raised it; undefined for any other error. */
export function decryptFailureKind(err: unknown): DecryptFailureKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; decryptKind?: unknown };
  if (e.code !== 'DECRYPTION_FAILED') return undefined;
  return typeof e.decryptKind === 'string' ? (e.decryptKind as DecryptFailureKind) : 'tag';
}

/** What a header says. */
export interface SencHeader {
  chunkSize: number;
  baseNonce: Buffer;
}

/** How many leading bytes tell an encrypted object (`SENC` and the version byte). */
export const START_SIZE = 5;

/** True when `bytes` begin like an encrypted object (`SENC` and version 1). */
export function looksEncrypted(bytes: Uint8Array): boolean {
  return bytes.length >= START_SIZE && bytes[0] === 0x53 && bytes[1] === 0x45 && bytes[2] === 0x4e && bytes[3] === 0x43 && bytes[4] === VERSION;
}

/**
 * Watches a body's first {@link START_SIZE} bytes, fed chunk by chunk in order however they are
 * split, for an encrypted object's start: degraded reads (no row to say a copy is encrypted)
 * refuse such a copy as soon as its first bytes arrive. Costs one comparison per chunk after.
 */
export class EncryptedStartSniffer extends StartSniffer {
  constructor() {
    super(START_SIZE, looksEncrypted);
  }
}

/** Parse and check a 32-byte header; throws DECRYPTION_FAILED (kind `header`). */
export function parseHeader(bytes: Uint8Array, where: string): SencHeader {
  if (bytes.length < HEADER_SIZE) throw decryptionFailed('header', `${where}: header truncated: ${bytes.length} of ${HEADER_SIZE} bytes`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  if (!b.subarray(0, 4).equals(MAGIC)) throw decryptionFailed('header', `${where}: not an encrypted object (bad magic)`);
  if (b[4] !== VERSION) throw decryptionFailed('header', `${where}: unsupported encryption version ${b[4] ?? 0}`);
  const chunkSize = b.readUInt32BE(5);
  if (chunkSize === 0) throw decryptionFailed('header', `${where}: chunk size 0`);
  if (chunkSize > MAX_CHUNK_SIZE) throw decryptionFailed('header', `${where}: chunk size ${chunkSize} exceeds ${MAX_CHUNK_SIZE}`);
  return { chunkSize, baseNonce: Buffer.from(b.subarray(5 + 4, 5 + 4 + NONCE_SIZE)) };
}

/** Chunk `i`'s nonce: the base nonce with bytes 4..11 XORed with uint64_BE(i). */
export function chunkNonce(base: Uint8Array, i: number): Buffer {
  const n = Buffer.from(base);
  // Chunk indexes stay far below 2^53; split into two 32-bit halves for the XOR.
  const hi = Math.floor(i / 0x1_0000_0000);
  const lo = i >>> 0;
  n.writeUInt32BE((n.readUInt32BE(4) ^ hi) >>> 0, 4);
  n.writeUInt32BE((n.readUInt32BE(8) ^ lo) >>> 0, 8);
  return n;
}

/** Ciphertext size of `plain` plaintext bytes in chunks of `cs`. */
export function ciphertextSize(plain: number, cs: number): number {
  const rest = plain % cs;
  return HEADER_SIZE + Math.floor(plain / cs) * (cs + CHUNK_OVERHEAD) + (rest > 0 ? rest + CHUNK_OVERHEAD : 0);
}

/**
 * Check that a row's sizes fit a copy in chunks of `cs`: `plain` plaintext bytes take exactly
 * `cipher` stored bytes (ENCRYPTION.md: a reader checks both lengths itself). A row whose
 * plaintext_size is too small would otherwise be read as a shorter object without complaint
 * wherever there is no content hash to catch it (upstream's multipart objects have none).
 * Throws DECRYPTION_FAILED (`length`).
 */
export function checkCipherSize(plain: number, cs: number, cipher: number, where: string): void {
  const expected = ciphertextSize(plain, cs);
  if (expected !== cipher) {
    throw decryptionFailed('length', `${where}: ${plain} plaintext bytes in chunks of ${cs} are ${expected} bytes stored, but the row says ${cipher} (size_bytes and plaintext_size disagree)`);
  }
}

/** Plaintext size of a `cipher`-byte object in chunks of `cs`, or -1 when no plaintext has that size. */
export function plaintextSizeOf(cipher: number, cs: number): number {
  const body = cipher - HEADER_SIZE;
  if (body < 0) return -1;
  const full = Math.floor(body / (cs + CHUNK_OVERHEAD));
  const rest = body - full * (cs + CHUNK_OVERHEAD);
  if (rest === 0) return full * cs;
  if (rest <= CHUNK_OVERHEAD) return -1;
  return full * cs + rest - CHUNK_OVERHEAD;
}

/** The ciphertext to fetch for plaintext bytes `start..end` (inclusive) of an object. */
export interface CipherSpan {
  /** First and last ciphertext byte (inclusive). */
  start: number;
  end: number;
  /** Index of the first chunk fetched. */
  firstChunk: number;
  /** Plaintext bytes of the first chunk to drop. */
  skip: number;
  /** Plaintext bytes to deliver. */
  take: number;
}

/**
 * The covering chunks of plaintext `start..end` (inclusive, `start <= end < plain`) for an
 * object of `plain` bytes in chunks of `cs`: fetched from the first chunk's nonce to the last
 * chunk's tag, never the header.
 */
export function cipherSpanFor(start: number, end: number, plain: number, cs: number): CipherSpan {
  const sc = Math.floor(start / cs);
  const ec = Math.floor(end / cs);
  const total = ciphertextSize(plain, cs);
  return {
    start: HEADER_SIZE + sc * (cs + CHUNK_OVERHEAD),
    end: Math.min(HEADER_SIZE + (ec + 1) * (cs + CHUNK_OVERHEAD), total) - 1,
    firstChunk: sc,
    skip: start - sc * cs,
    take: end - start + 1,
  };
}

/** A row's `encryption_key`: the base nonce, then the wrapped data key. */
export interface RowKeyData {
  baseNonce: Buffer;
  wrapped: Buffer;
  keyId: string | null;
}

/** Split a row's `encryption_key` column; throws DECRYPTION_FAILED (kind `key_data`). */
export function rowKeyData(encryptionKey: Uint8Array | null | undefined, keyId: string | null | undefined, where: string): RowKeyData {
  if (encryptionKey === null || encryptionKey === undefined || encryptionKey.length <= NONCE_SIZE) {
    throw decryptionFailed('key_data', `${where}: the row has no usable encryption_key (${encryptionKey?.length ?? 0} bytes)`);
  }
  const k = Buffer.from(encryptionKey.buffer, encryptionKey.byteOffset, encryptionKey.byteLength);
  return { baseNonce: Buffer.from(k.subarray(0, NONCE_SIZE)), wrapped: Buffer.from(k.subarray(NONCE_SIZE)), keyId: keyId ?? null };
}
