/**
 * Seeding backends and `object_locations` rows with encrypted (SENC v1) and plain copies, the
 * way the encryption tests need them: each copy its own data key and base nonce (as upstream
 * writes them), a chunk size per copy, optionally damaged bytes for one copy, replicas that are
 * byte-for-byte the same, and rows whose `created_at` increase in seeding order (so the copy
 * seeded first is the one tried first). Where the bytes go is the caller's: an s3rver fleet, a
 * MemoryBackend.
 */
import { sha256Hex } from '../../src/probe/verify.js';
import type { ObjectLocation } from '../../src/types.js';
import { encryptForRow, type EncryptedRow } from './senc-encoder.js';

/** Put `body` under `key` on each named backend. */
export type PutCopies = (key: string, body: Uint8Array, on: string[]) => Promise<void> | void;

/** How {@link EncryptedSeeding.encrypted} encrypts and stores each copy. */
export interface CopyOptions {
  /** The master key wrapping the data keys (default: the seeding's). */
  masterKey?: Uint8Array;
  /** Chunk size of the copy at each index of `on` (4096 where none is given). */
  chunkSizes?: readonly number[];
  /** `key_id` of the rows (default `config-0`). */
  keyId?: string;
  /** What the backend stores for a copy (default: the ciphertext itself), e.g. a damaged copy. */
  body?: (row: EncryptedRow, backend: string) => Uint8Array;
}

/** Copies put through `put`, and the rows that describe them, in seeding order. */
export class EncryptedSeeding {
  /** The rows seeded so far, for the store. */
  readonly rows: ObjectLocation[] = [];
  readonly #put: PutCopies;
  readonly #masterKey: Uint8Array;
  readonly #onRow: ((row: ObjectLocation) => void) | undefined;
  #t: number;

  /**
   * `createdAt` of the first row is `o.start` (ms); each next row's is 1 ms later. `o.onRow` also
   * gets each row as it is made (a store that takes rows one at a time).
   */
  constructor(put: PutCopies, masterKey: Uint8Array, o: { start?: number; onRow?: (row: ObjectLocation) => void } = {}) {
    this.#put = put;
    this.#masterKey = masterKey;
    this.#t = o.start ?? Date.parse('2026-04-01T00:00:00Z');
    this.#onRow = o.onRow;
  }

  /** Encrypt `plain` once per backend in `on`, store each copy and record its row. */
  async encrypted(key: string, plain: Uint8Array, on: string[], o: CopyOptions = {}): Promise<EncryptedRow[]> {
    const rows = on.map((_, i) => encryptForRow(plain, {
      masterKey: o.masterKey ?? this.#masterKey,
      chunkSize: o.chunkSizes?.[i] ?? 4096,
      ...(o.keyId === undefined ? {} : { keyId: o.keyId }),
    }));
    for (const [i, name] of on.entries()) {
      const row = rows[i]!;
      await this.#put(key, o.body?.(row, name) ?? row.body, [name]);
      this.add(key, name, row);
    }
    return rows;
  }

  /** One encryption of `plain` stored on every backend in `on` (byte-for-byte replicas, one key). */
  async replicas(key: string, plain: Uint8Array, on: string[], chunkSize = 4096): Promise<EncryptedRow> {
    const row = encryptForRow(plain, { masterKey: this.#masterKey, chunkSize });
    await this.#put(key, row.body, on);
    for (const name of on) this.add(key, name, row);
    return row;
  }

  /** `bytes` stored in the clear on every backend in `on`, with its content hash. */
  async plain(key: string, bytes: Uint8Array, on: string[]): Promise<void> {
    await this.#put(key, bytes, on);
    for (const name of on) {
      this.#record({ objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: this.#next(), encrypted: false, contentHash: sha256Hex(bytes) });
    }
  }

  /** Record the row of an encrypted copy stored by the caller. */
  add(key: string, backend: string, row: EncryptedRow): void {
    this.#record({
      objectKey: key, backendName: backend, sizeBytes: row.sizeBytes, createdAt: this.#next(), encrypted: true,
      encryptionKey: row.encryptionKey, keyId: row.keyId, plaintextSize: row.plaintextSize, contentHash: row.contentHash,
    });
  }

  #record(row: ObjectLocation): void {
    this.rows.push(row);
    this.#onRow?.(row);
  }

  #next(): Date {
    return new Date(this.#t++);
  }
}
