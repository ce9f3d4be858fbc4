/**
 * Decrypting s3-orchestrator's chunked AES-256-GCM as the ciphertext arrives, in pieces of any
 * size: one chunk buffered at most (≤ 1 MiB + 28 bytes), each chunk's nonce checked against the
 * one derived from the row's base nonce, its tag checked before any of its plaintext is handed
 * on, and the plaintext cut to the window a range asked for.
 */
import { createDecipheriv } from 'node:crypto';
import {
  CHUNK_OVERHEAD, HEADER_SIZE, NONCE_SIZE, TAG_SIZE, checkCipherSize, chunkNonce, decryptionFailed, parseHeader,
} from './format.js';

/** What to decrypt. */
export interface DecryptorOptions {
  /** The copy's data key (32 bytes). */
  dek: Uint8Array;
  /** The base nonce from the copy's row. */
  baseNonce: Uint8Array;
  /**
   * The bytes begin with the 32-byte header (a whole object): the chunk size comes from it and
   * its base nonce must be the row's. Otherwise `chunkSize` and `firstChunk` say where they start.
   */
  header: boolean;
  chunkSize?: number;
  firstChunk?: number;
  /** Plaintext bytes of the first chunk to drop (a range starting mid-chunk). */
  skip?: number;
  /**
   * Plaintext bytes to deliver; the end checks exactly these came, and a chunk arriving once
   * they have is refused. Undefined: no check.
   */
  take?: number;
  /**
   * A whole object (`header`): its stored size per its row. Once the header gives the chunk
   * size, `take` plaintext bytes must be exactly this many stored bytes.
   */
  cipherSize?: number;
  /** Names the copy in errors (`backend: key`). */
  where: string;
}

/** Where decrypted plaintext goes, piece by piece, in order. */
export type PlainSink = (plain: Buffer) => void;

/** An incremental decryptor of one copy's ciphertext. */
export class ChunkDecryptor {
  readonly #dek: Uint8Array;
  readonly #baseNonce: Uint8Array;
  readonly #where: string;
  #chunkSize = 0;
  /** Bytes of one whole chunk on the wire (chunk size + 28). */
  #wire = 0;
  #index: number;
  #skip: number;
  readonly #take: number | undefined;
  readonly #cipherSize: number | undefined;
  #delivered = 0;
  /** The header still to read (a whole object), else null. */
  #header: Buffer | null;
  #headerFill = 0;
  #buf: Buffer | null = null;
  #fill = 0;

  constructor(o: DecryptorOptions) {
    this.#dek = o.dek;
    this.#baseNonce = o.baseNonce;
    this.#where = o.where;
    this.#index = o.firstChunk ?? 0;
    this.#skip = o.skip ?? 0;
    this.#take = o.take;
    this.#cipherSize = o.cipherSize;
    this.#header = o.header ? Buffer.alloc(HEADER_SIZE) : null;
    if (!o.header) {
      const cs = o.chunkSize ?? 0;
      if (!(cs > 0)) throw decryptionFailed('header', `${o.where}: no chunk size to decrypt a range with`);
      this.#setChunkSize(cs);
    }
  }

  /** Plaintext bytes delivered so far. */
  get delivered(): number {
    return this.#delivered;
  }

  /** The chunk size, once known (0 before a whole object's header was read). */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  #setChunkSize(cs: number): void {
    this.#chunkSize = cs;
    this.#wire = cs + CHUNK_OVERHEAD;
  }

  /** Feed ciphertext; whole chunks it completes are decrypted into `sink`. Throws DECRYPTION_FAILED. */
  push(bytes: Uint8Array, sink: PlainSink): void {
    let b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#header !== null) {
      const n = Math.min(HEADER_SIZE - this.#headerFill, b.length);
      b.copy(this.#header, this.#headerFill, 0, n);
      this.#headerFill += n;
      b = b.subarray(n);
      if (this.#headerFill < HEADER_SIZE) return;
      this.#readHeader(this.#header);
      this.#header = null;
    }
    const wire = this.#wire;
    if (this.#fill > 0) {
      const buf = this.#buf as Buffer;
      const n = Math.min(wire - this.#fill, b.length);
      b.copy(buf, this.#fill, 0, n);
      this.#fill += n;
      b = b.subarray(n);
      if (this.#fill < wire) return;
      this.#fill = 0;
      this.#open(buf, sink);
    }
    // Whole chunks straight from the arriving bytes: no copy.
    while (b.length >= wire) {
      this.#open(b.subarray(0, wire), sink);
      b = b.subarray(wire);
    }
    if (b.length > 0) {
      this.#buf ??= Buffer.allocUnsafe(wire);
      b.copy(this.#buf, 0);
      this.#fill = b.length;
    }
  }

  /** The ciphertext ended: decrypt the last, short chunk and check the length. Throws DECRYPTION_FAILED. */
  end(sink: PlainSink): void {
    if (this.#header !== null) {
      throw decryptionFailed('header', `${this.#where}: header truncated: ${this.#headerFill} of ${HEADER_SIZE} bytes`);
    }
    if (this.#fill > 0) {
      // A last chunk holds 1..chunk size plaintext bytes: 28 bytes or fewer is no chunk at all.
      if (this.#fill <= CHUNK_OVERHEAD) {
        throw decryptionFailed('length', `${this.#where}: ${this.#fill} trailing bytes after chunk ${this.#index - 1} are not a chunk`);
      }
      const last = (this.#buf as Buffer).subarray(0, this.#fill);
      this.#fill = 0;
      this.#open(last, sink);
    }
    if (this.#take !== undefined && this.#delivered !== this.#take) {
      throw decryptionFailed('length', `${this.#where}: decrypted ${this.#delivered} plaintext bytes where ${this.#take} were expected`);
    }
  }

  #readHeader(h: Buffer): void {
    const parsed = parseHeader(h, this.#where);
    if (!parsed.baseNonce.equals(Buffer.from(this.#baseNonce.buffer, this.#baseNonce.byteOffset, this.#baseNonce.byteLength))) {
      throw decryptionFailed('header', `${this.#where}: the header's base nonce is not the row's (the copy is not the one the row describes)`);
    }
    this.#setChunkSize(parsed.chunkSize);
    if (this.#take !== undefined && this.#cipherSize !== undefined) checkCipherSize(this.#take, parsed.chunkSize, this.#cipherSize, this.#where);
  }

  /** Check and decrypt one chunk (`nonce | ciphertext | tag`), then hand on the part wanted. */
  #open(chunk: Buffer, sink: PlainSink): void {
    const i = this.#index;
    const nonce = chunkNonce(this.#baseNonce, i);
    if (!nonce.equals(chunk.subarray(0, NONCE_SIZE))) {
      throw decryptionFailed('nonce', `${this.#where}: chunk ${i}: stored nonce is not the one derived for chunk ${i} (chunks reordered or replaced)`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#dek, nonce, { authTagLength: TAG_SIZE });
    decipher.setAuthTag(chunk.subarray(chunk.length - TAG_SIZE));
    let plain = decipher.update(chunk.subarray(NONCE_SIZE, chunk.length - TAG_SIZE));
    try {
      decipher.final();
    } catch (err) {
      throw decryptionFailed('tag', `${this.#where}: chunk ${i}: authentication failed (damaged ciphertext or wrong data key)`, err);
    }
    this.#index = i + 1;
    if (this.#skip > 0) {
      const s = Math.min(this.#skip, plain.length);
      plain = plain.subarray(s);
      this.#skip -= s;
    }
    if (this.#take !== undefined) {
      const room = this.#take - this.#delivered;
      if (room <= 0) {
        throw decryptionFailed('length', `${this.#where}: chunk ${i} arrived after the ${this.#take} plaintext bytes expected`);
      }
      if (plain.length > room) plain = plain.subarray(0, room);
    }
    if (plain.length === 0) return;
    this.#delivered += plain.length;
    sink(plain);
  }
}
