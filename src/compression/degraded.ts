/**
 * Degraded mode (no row says how a copy is stored) must never serve s3-orchestrator's
 * compressed layout as the object, as it never serves its ciphertext. The layout is known by
 * both ends: it begins with a Zstandard frame and ends with the seek table's footer. The frame
 * magic alone would also match a `.zst` file a client uploaded, which is served as it is; plain
 * zstd never writes the footer (upstream's InspectStored tells them apart the same way).
 */
import { ReadPathError } from '../errors.js';
import { FOOTER_SIZE, FRAME_MAGIC, SEEKABLE_MAGIC } from './seek-table.js';

/** A degraded-mode copy stored compressed: without its row (logical size, layout) it is refused (503). */
export function compressedWithoutRow(task: { backend: string; key: string }): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${task.backend}: ${task.key} is stored compressed (s3-orchestrator's zstd layout); reading it needs its row in the metadata store, which is unavailable`);
}

/** `bytes` begin with a Zstandard frame's magic number. */
export function startsLikeZstd(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0) === FRAME_MAGIC;
}

/** `tail` (a stored object's last bytes) ends with a seek table footer. */
export function endsLikeSeekable(tail: Uint8Array): boolean {
  if (tail.byteLength < FOOTER_SIZE) return false;
  const b = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  return b.readUInt32LE(b.byteLength - 4) === SEEKABLE_MAGIC && (b[b.byteLength - 5]! & 0x7c) === 0;
}

/**
 * Watches a body from byte 0, fed chunk by chunk in order however they are split: whether it
 * begins like zstd, and its last {@link FOOTER_SIZE} bytes (the footer, when the body is the
 * whole object). Costs a copy of at most 9 bytes per chunk.
 */
export class CompressedLayoutSniffer {
  readonly #start = Buffer.alloc(4);
  #have = 0;
  readonly #tail = Buffer.alloc(FOOTER_SIZE);
  #tailFill = 0;

  feed(chunk: Uint8Array): void {
    if (this.#have < 4) {
      const n = Math.min(4 - this.#have, chunk.byteLength);
      this.#start.set(chunk.subarray(0, n), this.#have);
      this.#have += n;
    }
    if (chunk.byteLength >= FOOTER_SIZE) {
      this.#tail.set(chunk.subarray(chunk.byteLength - FOOTER_SIZE));
      this.#tailFill = FOOTER_SIZE;
    } else {
      const keep = Math.min(this.#tailFill, FOOTER_SIZE - chunk.byteLength);
      this.#tail.copy(this.#tail, 0, this.#tailFill - keep, this.#tailFill);
      this.#tail.set(chunk, keep);
      this.#tailFill = keep + chunk.byteLength;
    }
  }

  /** The body began with a zstd frame's magic. */
  get zstdStart(): boolean {
    return this.#have === 4 && startsLikeZstd(this.#start);
  }

  /**
   * The body is the whole object: whether it is the compressed layout. For part of an object
   * from byte 0, ask the object's own footer instead.
   */
  wholeIsCompressed(): boolean {
    return this.zstdStart && endsLikeSeekable(this.#tail.subarray(0, this.#tailFill));
  }
}
