/**
 * A writer of s3-orchestrator's at-rest encryption format (SENC v1, see
 * /work/shared/ENCRYPTION.md) over node:crypto, for tests and benches only (bench/ is compiled
 * into dist/ but never packed): the bytes a backend stores and the `object_locations` columns
 * that go with them, so decryption can be exercised without upstream.
 *
 * test/unit/senc-encoder.test.ts checks it against the Python-generated known-answer vectors in
 * test/fixtures/encryption/vectors.json, so it is not merely consistent with readpath's own
 * decoder; test/helpers/senc-encoder.ts re-exports it with those vectors and tamper helpers.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

/** Bytes of the object header: "SENC", version, chunk size, base nonce, 11 zero bytes. */
export const SENC_HEADER_SIZE = 32;
/** Per-chunk overhead: the chunk's nonce (12) and GCM tag (16). */
export const SENC_CHUNK_OVERHEAD = 28;
/** Upstream's default `encryption.chunk_size`. */
export const DEFAULT_CHUNK_SIZE = 65536;
/** Length of a DEK wrapped by a local master key: nonce (12) | ciphertext (32) | tag (16). */
export const WRAPPED_DEK_SIZE = 60;

const NONCE_SIZE = 12;
const KEY_SIZE = 32;

function checkLength(name: string, bytes: Uint8Array, want: number): void {
  if (bytes.length !== want) throw new RangeError(`${name} must be ${want} bytes, got ${bytes.length}`);
}

function checkChunkSize(chunkSize: number): void {
  // The header field is a uint32 and upstream rejects 0.
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 0xffffffff) {
    throw new RangeError(`chunk size must be an integer in 1..2^32-1, got ${chunkSize}`);
  }
}

function gcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

/** The 32-byte SENC v1 header for `baseNonce` and `chunkSize`. */
export function sencHeader(baseNonce: Uint8Array, chunkSize: number): Buffer {
  checkLength('base nonce', baseNonce, NONCE_SIZE);
  checkChunkSize(chunkSize);
  const h = Buffer.alloc(SENC_HEADER_SIZE); // the trailing 11 bytes stay zero
  h.write('SENC', 0, 'latin1');
  h[4] = 1;
  h.writeUInt32BE(chunkSize, 5);
  h.set(baseNonce, 9);
  return h;
}

/** The nonce of chunk `index`: `baseNonce` with bytes 4..11 XORed with uint64_BE(index). */
export function chunkNonce(baseNonce: Uint8Array, index: number | bigint): Buffer {
  checkLength('base nonce', baseNonce, NONCE_SIZE);
  const n = Buffer.from(baseNonce);
  n.writeBigUInt64BE(n.readBigUInt64BE(4) ^ BigInt(index), 4);
  return n;
}

/** Size of the stored object for `plaintextSize` bytes at `chunkSize` (ENCRYPTION.md's formula). */
export function ciphertextSize(plaintextSize: number, chunkSize: number): number {
  checkChunkSize(chunkSize);
  const rest = plaintextSize % chunkSize;
  return SENC_HEADER_SIZE + Math.floor(plaintextSize / chunkSize) * (chunkSize + SENC_CHUNK_OVERHEAD)
    + (rest > 0 ? rest + SENC_CHUNK_OVERHEAD : 0);
}

/** Parameters for {@link encryptObject}. */
export interface EncryptObjectOptions {
  /** The 32-byte data key. */
  dek: Uint8Array;
  /** The 12-byte base nonce (also stored in the header and in `encryption_key`). */
  baseNonce: Uint8Array;
  /** Plaintext bytes per chunk. */
  chunkSize: number;
}

/**
 * Encrypts `plaintext` into the bytes a backend stores: header, then one chunk per `chunkSize`
 * plaintext bytes (the last holding 1..chunkSize); an empty plaintext is the header alone.
 */
export function encryptObject(plaintext: Uint8Array, o: EncryptObjectOptions): Buffer {
  checkLength('DEK', o.dek, KEY_SIZE);
  const parts: Buffer[] = [sencHeader(o.baseNonce, o.chunkSize)];
  for (let start = 0, i = 0; start < plaintext.length; start += o.chunkSize, i++) {
    const nonce = chunkNonce(o.baseNonce, i);
    parts.push(nonce, gcmSeal(o.dek, nonce, plaintext.subarray(start, start + o.chunkSize)));
  }
  return Buffer.concat(parts);
}

/**
 * Wraps a DEK with a local master key as upstream does: `wrapNonce | AES-256-GCM(DEK) | tag`,
 * 60 bytes, no AAD. `wrapNonce` defaults to 12 random bytes.
 */
export function wrapDek(dek: Uint8Array, masterKey: Uint8Array, wrapNonce: Uint8Array = randomBytes(NONCE_SIZE)): Buffer {
  checkLength('DEK', dek, KEY_SIZE);
  checkLength('master key', masterKey, KEY_SIZE);
  checkLength('wrap nonce', wrapNonce, NONCE_SIZE);
  return Buffer.concat([wrapNonce, gcmSeal(masterKey, wrapNonce, dek)]);
}

/** The `object_locations.encryption_key` value: base nonce (12) followed by the wrapped DEK. */
export function encryptionKeyColumn(baseNonce: Uint8Array, wrapped: Uint8Array): Buffer {
  checkLength('base nonce', baseNonce, NONCE_SIZE);
  return Buffer.concat([baseNonce, wrapped]);
}

/** An encrypted object and the `object_locations` column values describing it. */
export interface EncryptedRow {
  /** What the backend stores (the ciphertext object). */
  body: Buffer;
  /** `encryption_key`: base nonce followed by the wrapped DEK. */
  encryptionKey: Buffer;
  /** `key_id`. */
  keyId: string;
  /** `plaintext_size`. */
  plaintextSize: number;
  /** `size_bytes`: the ciphertext size. */
  sizeBytes: number;
  /** `content_hash`: hex SHA-256 of the plaintext. */
  contentHash: string;
  /** The DEK used, for assertions. */
  dek: Buffer;
  /** The base nonce used, for assertions. */
  baseNonce: Buffer;
}

/** Parameters shared by {@link encryptForRow} and {@link encryptForVaultRow}. */
export interface RowEncryptOptions {
  /** Defaults to {@link DEFAULT_CHUNK_SIZE}. */
  chunkSize?: number;
  /** Defaults to 12 random bytes. */
  baseNonce?: Uint8Array;
}

/** Parameters for {@link encryptForRow}. */
export interface LocalRowEncryptOptions extends RowEncryptOptions {
  /** The 32-byte master key wrapping the DEK. */
  masterKey: Uint8Array;
  /** Defaults to `config-0` (upstream's id for `encryption.master_key`). */
  keyId?: string;
  /** Defaults to 32 random bytes. */
  dek?: Uint8Array;
  /** Defaults to 12 random bytes. */
  wrapNonce?: Uint8Array;
}

function sealRow(plaintext: Uint8Array, dek: Uint8Array, o: RowEncryptOptions): Omit<EncryptedRow, 'encryptionKey' | 'keyId'> {
  const baseNonce = Buffer.from(o.baseNonce ?? randomBytes(NONCE_SIZE));
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const body = encryptObject(plaintext, { dek, baseNonce, chunkSize });
  return {
    body,
    plaintextSize: plaintext.length,
    sizeBytes: body.length,
    contentHash: createHash('sha256').update(plaintext).digest('hex'),
    dek: Buffer.from(dek),
    baseNonce,
  };
}

/** Encrypts `plaintext` under a fresh (or given) DEK wrapped by a local master key. */
export function encryptForRow(plaintext: Uint8Array, o: LocalRowEncryptOptions): EncryptedRow {
  const dek = o.dek ?? randomBytes(KEY_SIZE);
  const sealed = sealRow(plaintext, dek, o);
  const wrapped = wrapDek(dek, o.masterKey, o.wrapNonce);
  return { ...sealed, encryptionKey: encryptionKeyColumn(sealed.baseNonce, wrapped), keyId: o.keyId ?? 'config-0' };
}

/** Parameters for {@link encryptForVaultRow}. */
export interface VaultRowEncryptOptions extends RowEncryptOptions {
  /** The DEK that `vaultCiphertextOfDek` wraps; the body is encrypted under it. */
  dek: Uint8Array;
}

/**
 * Encrypts `plaintext` for a Vault-transit row: `encryption_key` is the base nonce followed by
 * the ASCII text of Vault's ciphertext of the DEK (`vault:vN:...`), `key_id` is e.g.
 * `vault:transit/readpath`. The DEK itself must be passed in `o.dek`, since only the caller
 * (or the mock Vault's `wrap`) knows which DEK the ciphertext holds.
 */
export function encryptForVaultRow(plaintext: Uint8Array, vaultCiphertextOfDek: string, keyId: string, o: VaultRowEncryptOptions): EncryptedRow {
  const sealed = sealRow(plaintext, o.dek, o);
  return { ...sealed, encryptionKey: encryptionKeyColumn(sealed.baseNonce, Buffer.from(vaultCiphertextOfDek, 'utf8')), keyId };
}
