/**
 * s3-orchestrator's compressed-at-rest layout (its `internal/compression`, written with the
 * zstd seekable format): one Zstandard frame per logical chunk (1 MiB by default, 16 KiB–64 MiB),
 * then one skippable frame holding the seek table:
 *
 * ```
 * frame 0 | frame 1 | ... | 5E 2A 4D 18 | u32 size | entries | u32 frames | descriptor | B1 EA 92 8F
 * entry: u32 compressed size | u32 decompressed size [| u32 checksum]   (little-endian)
 * descriptor: bit 7 = entries carry a checksum (upstream always sets it); bits 6–2 reserved, 0
 * ```
 *
 * The table is what lets a range read fetch only the frames it needs; a whole read decodes the
 * frames in order and checks the table against what it saw.
 */
import { ReadPathError } from '../errors.js';

/** The value of `object_locations.compression_algorithm` this reader decodes. */
export const ZSTD = 'zstd';
/** Layouts this reader understands (`compression_format_version`). */
export const FORMAT_VERSION = 1;
/** Upstream's bounds on the logical chunk size: no frame may decode to more. */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
/** A Zstandard frame's magic number. */
export const FRAME_MAGIC = 0xfd2fb528;
/** The skippable frame the seek table is in (skippable frames are 0x184D2A50–0x184D2A5F). */
export const SEEK_TABLE_MAGIC = 0x184d2a5e;
/** The footer's magic number. */
export const SEEKABLE_MAGIC = 0x8f92eab1;
/** Skippable frame header (magic, size) and footer (frames, descriptor, magic). */
export const SKIPPABLE_HEADER = 8;
export const FOOTER_SIZE = 9;
/** How much of a copy's end one read fetches to find its table: covers ~680 frames (680 MiB). */
export const TAIL_PREFETCH = 8 * 1024;

/** One frame as the table describes it, with its offsets worked out. */
export interface SeekFrame {
  /** Offset of the frame in the compressed stream. */
  storedOffset: number;
  storedSize: number;
  /** Offset of its first byte in the object. */
  logicalOffset: number;
  logicalSize: number;
  /** Low 32 bits of XXH64 of the frame's content, when the table carries checksums. */
  checksum?: number;
}

/** A parsed seek table. */
export interface SeekTable {
  frames: SeekFrame[];
  /** Bytes of the stream the table's own skippable frame takes (at its end). */
  tableSize: number;
  logicalSize: number;
}

/** Why a compressed copy could not be decoded (the next copy is tried). */
export function decompressionFailed(message: string, cause?: unknown): ReadPathError {
  return new ReadPathError('DECOMPRESSION_FAILED', message, cause === undefined ? {} : { cause });
}

/**
 * The size of the seek table frame at the end of a stream from its footer (the last 9 bytes of
 * `tail`), or an error naming what is wrong.
 */
export function tableSizeFromFooter(tail: Uint8Array, where: string): number {
  if (tail.byteLength < FOOTER_SIZE) throw decompressionFailed(`${where}: ${tail.byteLength} bytes cannot hold a seek table footer`);
  const v = view(tail);
  const at = tail.byteLength - FOOTER_SIZE;
  const frames = v.getUint32(at, true);
  const descriptor = v.getUint8(at + 4);
  if (v.getUint32(at + 5, true) !== SEEKABLE_MAGIC) throw decompressionFailed(`${where}: no seek table at the end of the stored bytes (not s3-orchestrator's compressed layout)`);
  if ((descriptor & 0x7c) !== 0) throw decompressionFailed(`${where}: seek table descriptor 0x${descriptor.toString(16)} has reserved bits set`);
  const entry = (descriptor & 0x80) !== 0 ? 12 : 8;
  return SKIPPABLE_HEADER + frames * entry + FOOTER_SIZE;
}

/**
 * Parse the seek table at the end of a `storedSize`-byte compressed stream. `tail` is the
 * stream's last bytes and must hold the whole table ({@link tableSizeFromFooter} says how many).
 * Checks the frames fill the stream exactly and none decodes to more than a chunk can be.
 */
export function parseSeekTable(tail: Uint8Array, storedSize: number, where: string): SeekTable {
  const tableSize = tableSizeFromFooter(tail, where);
  if (tableSize > tail.byteLength || tableSize > storedSize) {
    throw decompressionFailed(`${where}: the seek table claims ${tableSize} bytes; the stored stream has ${Math.min(storedSize, tail.byteLength)}`);
  }
  const v = view(tail);
  const start = tail.byteLength - tableSize;
  if (v.getUint32(start, true) !== SEEK_TABLE_MAGIC || v.getUint32(start + 4, true) !== tableSize - SKIPPABLE_HEADER) {
    throw decompressionFailed(`${where}: the seek table's frame header does not match its footer`);
  }
  const count = v.getUint32(tail.byteLength - FOOTER_SIZE, true);
  const checksums = (v.getUint8(tail.byteLength - FOOTER_SIZE + 4) & 0x80) !== 0;
  const entry = checksums ? 12 : 8;
  const frames: SeekFrame[] = [];
  let stored = 0;
  let logical = 0;
  for (let i = 0; i < count; i++) {
    const at = start + SKIPPABLE_HEADER + i * entry;
    const f: SeekFrame = { storedOffset: stored, storedSize: v.getUint32(at, true), logicalOffset: logical, logicalSize: v.getUint32(at + 4, true) };
    if (checksums) f.checksum = v.getUint32(at + 8, true);
    if (f.logicalSize > MAX_CHUNK_SIZE) throw decompressionFailed(`${where}: seek table frame ${i} decodes to ${f.logicalSize} bytes, more than any chunk (${MAX_CHUNK_SIZE})`);
    if (f.storedSize === 0) throw decompressionFailed(`${where}: seek table frame ${i} has no stored bytes`);
    stored += f.storedSize;
    logical += f.logicalSize;
    frames.push(f);
  }
  if (stored + tableSize !== storedSize) {
    throw decompressionFailed(`${where}: the seek table's frames take ${stored} bytes plus ${tableSize} for the table; ${storedSize} are stored`);
  }
  return { frames, tableSize, logicalSize: logical };
}

/** The frames holding logical bytes `start..end` (inclusive, within the object). */
export function framesFor(t: SeekTable, start: number, end: number): { first: number; last: number } {
  const first = frameAt(t.frames, start);
  const last = frameAt(t.frames, end);
  return { first, last };
}

function frameAt(frames: readonly SeekFrame[], offset: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((frames[mid] as SeekFrame).logicalOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
