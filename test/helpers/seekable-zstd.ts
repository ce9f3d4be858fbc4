/**
 * s3-orchestrator's compressed-at-rest layout, written for tests the way upstream writes it:
 * the object cut into chunks (1 MiB by default), each compressed into one Zstandard frame by the
 * `zstd` command (Debian's, libzstd — not the decoder under test; content size and checksum in
 * every frame, as klauspost's encoder writes them), then the seek table as a skippable frame:
 * one 12-byte entry per frame (compressed size, decompressed size, the low 32 bits of XXH64 of
 * the chunk — which is exactly the frame's own content checksum), and the 9-byte footer.
 */
import { execFileSync } from 'node:child_process';
import { sha256Hex } from '../../src/probe/verify.js';
import type { ObjectLocation } from '../../src/types.js';

/** How {@link seekableZstd} encodes. */
export interface SeekableOptions {
  /** Logical bytes per frame (default 1 MiB). */
  chunkSize?: number;
  /** zstd level (default 3, upstream's "default"). */
  level?: number;
  /** Frames without their content size in the header (default false). */
  noContentSize?: boolean;
  /** Seek table entries without checksums (descriptor bit 7 clear; upstream always sets it). */
  noChecksums?: boolean;
}

/** One frame as the table records it. */
export interface WrittenFrame {
  storedOffset: number;
  storedSize: number;
  logicalOffset: number;
  logicalSize: number;
}

/** The stored stream and where its frames are. */
export interface SeekableObject {
  body: Buffer;
  frames: WrittenFrame[];
  /** Bytes of the trailing seek table frame. */
  tableSize: number;
}

/** Encode `data` in s3-orchestrator's seekable layout. */
export function seekableZstd(data: Uint8Array, o: SeekableOptions = {}): SeekableObject {
  const chunk = o.chunkSize ?? 1024 * 1024;
  const parts: Buffer[] = [];
  const frames: WrittenFrame[] = [];
  const entries: Buffer[] = [];
  let stored = 0;
  for (let at = 0; at < data.byteLength; at += chunk) {
    const piece = data.subarray(at, Math.min(at + chunk, data.byteLength));
    const args = ['-q', '-c', `-${o.level ?? 3}`, '--check', o.noContentSize === true ? '--no-content-size' : `--stream-size=${piece.byteLength}`];
    const frame = execFileSync('zstd', args, { input: piece, maxBuffer: 256 * 1024 * 1024 });
    parts.push(frame);
    frames.push({ storedOffset: stored, storedSize: frame.byteLength, logicalOffset: at, logicalSize: piece.byteLength });
    const e = Buffer.alloc(o.noChecksums === true ? 8 : 12);
    e.writeUInt32LE(frame.byteLength, 0);
    e.writeUInt32LE(piece.byteLength, 4);
    if (o.noChecksums !== true) frame.copy(e, 8, frame.byteLength - 4);
    entries.push(e);
    stored += frame.byteLength;
  }
  const footer = Buffer.alloc(9);
  footer.writeUInt32LE(frames.length, 0);
  footer.writeUInt8(o.noChecksums === true ? 0 : 0x80, 4);
  footer.writeUInt32LE(0x8f92eab1, 5);
  const content = Buffer.concat([...entries, footer]);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a5e, 0);
  head.writeUInt32LE(content.byteLength, 4);
  const table = Buffer.concat([head, content]);
  return { body: Buffer.concat([...parts, table]), frames, tableSize: table.byteLength };
}

/** Plain zstd of `data` (what a client might upload as a `.zst` file): frames, no seek table. */
export function zstdCliEncode(data: Uint8Array): Buffer {
  return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 256 * 1024 * 1024 });
}

/** A copy of a stored stream with one byte inside `frame`'s compressed data XORed with `mask`. */
export function damagedFrame(s: SeekableObject, frame: number, mask = 0x55): Buffer {
  const b = Buffer.from(s.body);
  const f = s.frames[frame];
  if (f === undefined) throw new RangeError(`no frame ${frame} (${s.frames.length} frames)`);
  const at = f.storedOffset + Math.floor(f.storedSize / 2);
  b[at] = b[at]! ^ mask;
  return b;
}

/**
 * A copy of a stored stream whose seek table lies: its first entry claims one compressed byte
 * more than the frame has, so the table no longer adds up to the stream.
 */
export function lyingTable(s: SeekableObject): Buffer {
  const b = Buffer.from(s.body);
  const entry = b.byteLength - s.tableSize + 8;
  b.writeUInt32LE(b.readUInt32LE(entry) + 1, entry);
  return b;
}

/** Decode a stored stream with the `zstd` command (it skips the seek table's skippable frame). */
export function zstdCliDecode(stored: Uint8Array): Buffer {
  return execFileSync('zstd', ['-q', '-d', '-c'], { input: stored, maxBuffer: 1024 * 1024 * 1024 });
}

/** Compressible bytes: lines of a JSON log, `n` bytes of it. */
export function logLines(n: number, seed = 1): Buffer {
  const lines: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const line = `{"ts":${1_700_000_000 + i},"seed":${seed},"level":"${i % 7 === 0 ? 'warn' : 'info'}","msg":"request ${(i * 7919) % 100_003} served","bytes":${(i * 31_337 + seed) % 65_536}}\n`;
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('').slice(0, n));
}

/**
 * The row s3-orchestrator writes for a compressed, unencrypted copy of `logical` stored as
 * `stored` on `backend` (`size_bytes` the stored size, `logical_size` the object's, content
 * hash of the object).
 */
export function compressedRow(key: string, backend: string, logical: Uint8Array, stored: Uint8Array, createdAt: Date, extra: Partial<ObjectLocation> = {}): ObjectLocation {
  return {
    objectKey: key,
    backendName: backend,
    sizeBytes: stored.byteLength,
    createdAt,
    encrypted: false,
    contentHash: sha256Hex(logical),
    compression: 'zstd',
    logicalSize: logical.byteLength,
    compressionVersion: 1,
    ...extra,
  };
}
