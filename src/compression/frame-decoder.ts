/**
 * Decoding a compressed copy's stored bytes as they arrive, in pieces of any size: frames are
 * found by walking their block headers (Zstandard frames do not say their compressed length),
 * each whole frame is decoded at once (at most one frame, ≤ a chunk's compressed size, is held),
 * and the output is cut to the window a range asked for.
 *
 * A whole stream must end with its seek table, which is checked against the frames seen: the
 * same count, sizes and checksums. A span (a range read) must hold exactly the frames its table
 * entries name.
 */
import { FRAME_MAGIC, MAX_CHUNK_SIZE, SEEK_TABLE_MAGIC, SKIPPABLE_HEADER, decompressionFailed, parseSeekTable, type SeekFrame } from './seek-table.js';
import { decodeFrame } from './zstd.js';

/** What to decode. */
export interface FrameDecoderOptions {
  /** Names the copy in errors (`backend: key`). */
  where: string;
  /**
   * The frames the bytes hold, from the seek table (a range read). Undefined: the whole
   * stream, which must end with its seek table.
   */
  frames?: readonly SeekFrame[];
  /** Decoded bytes of the first frame to drop (a range starting mid-frame). */
  skip?: number;
  /** Decoded bytes to deliver; the end checks exactly these came. Undefined: no check. */
  take?: number;
}

/** Where decoded bytes go, piece by piece, in order. */
export type DecodedSink = (b: Buffer) => void;

/** A block may hold at most 128 KiB (Block_Maximum_Size), so a frame's overhead is bounded. */
const MAX_BLOCK = 128 * 1024;
/** The most stored bytes one frame of a chunk can take (all raw blocks, header, checksum). */
const MAX_FRAME = MAX_CHUNK_SIZE + Math.ceil(MAX_CHUNK_SIZE / MAX_BLOCK) * 3 + 18 + 4;
/** A seek table bigger than this would describe more than a petabyte. */
const MAX_TABLE = 128 * 1024 * 1024;

/** A frame being walked. */
interface Walk {
  /** Offset of the next block header (or, once `end` is set, unused). */
  scan: number;
  checksum: boolean;
  /** Content size from the header, or undefined. */
  contentSize: number | undefined;
  /** The frame's total length once its last block was seen. */
  end: number | undefined;
}

/** An incremental decoder of one copy's compressed stream. */
export class FrameDecoder {
  readonly #where: string;
  readonly #frames: readonly SeekFrame[] | undefined;
  #skip: number;
  readonly #take: number | undefined;
  #delivered = 0;
  #buf: Buffer = Buffer.alloc(0);
  #fill = 0;
  /** Stored bytes consumed before the buffer's start. */
  #consumed = 0;
  #walk: Walk | undefined;
  /** Whole stream: the frames decoded so far, for the table check. */
  readonly #seen: SeekFrame[] = [];
  #logical = 0;
  #index = 0;
  #tableSeen = false;

  constructor(o: FrameDecoderOptions) {
    this.#where = o.where;
    this.#frames = o.frames;
    this.#skip = o.skip ?? 0;
    this.#take = o.take;
  }

  /** Decode what `chunk` completes; decoded bytes go to `out` in order. Throws DECOMPRESSION_FAILED. */
  push(chunk: Uint8Array, out: DecodedSink): void {
    if (chunk.byteLength === 0) return;
    this.#append(chunk);
    while (this.#step(out)) { /* one frame or skippable frame per step */ }
  }

  /** The stored bytes ended: check nothing is missing. */
  end(out: DecodedSink): void {
    while (this.#step(out)) { /* drain */ }
    const at = this.#consumed;
    if (this.#fill > 0) throw this.#fail(`the stored bytes end inside a frame at offset ${at} (${this.#fill} bytes of it arrived)`);
    if (this.#frames !== undefined) {
      if (this.#index !== this.#frames.length) throw this.#fail(`${this.#index} of the ${this.#frames.length} frames asked for arrived`);
    } else if (!this.#tableSeen) {
      throw this.#fail(`the stored bytes end at offset ${at} without the seek table s3-orchestrator writes last`);
    }
    if (this.#take !== undefined && this.#delivered !== this.#take) {
      throw this.#fail(`decoded ${this.#delivered} of the ${this.#take} bytes the read needs`);
    }
  }

  #append(chunk: Uint8Array): void {
    const need = this.#fill + chunk.byteLength;
    if (need > this.#buf.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.#buf.byteLength * 2, MAX_FRAME + MAX_BLOCK), 64 * 1024));
      this.#buf.copy(grown, 0, 0, this.#fill);
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#fill);
    this.#fill = need;
  }

  /** Take one complete unit off the buffer's front; false when more bytes are needed. */
  #step(out: DecodedSink): boolean {
    if (this.#fill < 4) return false;
    if (this.#tableSeen) throw this.#fail(`bytes follow the seek table at offset ${this.#consumed}`);
    const magic = this.#buf.readUInt32LE(0);
    if (magic === FRAME_MAGIC) return this.#frame(out);
    if ((magic & 0xfffffff0) === 0x184d2a50) return this.#skippable(magic);
    throw this.#fail(`no zstd frame at stored offset ${this.#consumed} (magic 0x${magic.toString(16).padStart(8, '0')})`);
  }

  #frame(out: DecodedSink): boolean {
    const w = this.#walk ?? this.#header();
    if (w === undefined) return false;
    this.#walk = w;
    const b = this.#buf;
    while (w.end === undefined) {
      if (w.scan + 3 > this.#fill) return false;
      const h = b[w.scan]! | (b[w.scan + 1]! << 8) | (b[w.scan + 2]! << 16);
      const last = (h & 1) === 1;
      const type = (h >>> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw this.#fail(`a zstd block of the reserved type at stored offset ${this.#consumed + w.scan}`);
      if (size > MAX_BLOCK) throw this.#fail(`a zstd block of ${size} bytes (at most ${MAX_BLOCK}) at stored offset ${this.#consumed + w.scan}`);
      const next = w.scan + 3 + (type === 1 ? 1 : size);
      if (next > MAX_FRAME) throw this.#fail(`a frame longer than any chunk's (${MAX_FRAME} bytes) at stored offset ${this.#consumed}`);
      if (last) w.end = next + (w.checksum ? 4 : 0);
      else w.scan = next;
    }
    if (this.#fill < w.end) return false;
    const frame = b.subarray(0, w.end);
    const expect = this.#expected(w);
    const decoded = decodeFrame(frame, expect.logicalSize, this.#where);
    if (expect.checksum !== undefined && w.checksum && frame.readUInt32LE(w.end - 4) !== expect.checksum) {
      throw this.#fail(`frame ${this.#index}'s checksum is not the seek table's`);
    }
    if (this.#frames === undefined) {
      const f: SeekFrame = { storedOffset: this.#consumed, storedSize: w.end, logicalOffset: this.#logical, logicalSize: decoded.byteLength };
      if (w.checksum) f.checksum = frame.readUInt32LE(w.end - 4);
      this.#seen.push(f);
    }
    this.#logical += decoded.byteLength;
    this.#index++;
    this.#walk = undefined;
    this.#shift(w.end);
    this.#emit(decoded, out);
    return true;
  }

  /** Parse a frame header once enough of it is here; undefined while it is not. */
  #header(): Walk | undefined {
    if (this.#fill < 5) return undefined;
    const b = this.#buf;
    const fhd = b[4]!;
    if ((fhd & 0x08) !== 0) throw this.#fail(`a zstd frame header with its reserved bit set at stored offset ${this.#consumed}`);
    const fcsFlag = fhd >>> 6;
    const single = (fhd & 0x20) !== 0;
    const didSize = [0, 1, 2, 4][fhd & 3]!;
    const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
    const headerEnd = 5 + (single ? 0 : 1) + didSize;
    const size = headerEnd + fcsSize;
    if (this.#fill < size) return undefined;
    if (didSize > 0 && b.readUIntLE(headerEnd - didSize, didSize) !== 0) throw this.#fail('a zstd frame needs a dictionary, which s3-orchestrator never uses');
    let contentSize: number | undefined;
    if (fcsSize === 1) contentSize = b[headerEnd]!;
    else if (fcsSize === 2) contentSize = b.readUInt16LE(headerEnd) + 256;
    else if (fcsSize === 4) contentSize = b.readUInt32LE(headerEnd);
    else if (fcsSize === 8) {
      const big = b.readBigUInt64LE(headerEnd);
      contentSize = big > BigInt(MAX_CHUNK_SIZE) ? Number.MAX_SAFE_INTEGER : Number(big);
    }
    if (contentSize !== undefined && contentSize > MAX_CHUNK_SIZE) throw this.#fail(`a zstd frame declares ${contentSize} bytes, more than any chunk (${MAX_CHUNK_SIZE})`);
    return { scan: size, checksum: (fhd & 0x04) !== 0, contentSize, end: undefined };
  }

  /** What the frame just walked must decode to, from the table (a span) or its own header. */
  #expected(w: Walk): { logicalSize: number | undefined; checksum: number | undefined } {
    if (this.#frames === undefined) return { logicalSize: w.contentSize, checksum: undefined };
    const f = this.#frames[this.#index];
    if (f === undefined) throw this.#fail(`more frames arrived than the ${this.#frames.length} asked for`);
    if (f.storedSize !== w.end) throw this.#fail(`frame ${this.#index} takes ${String(w.end)} stored bytes; the seek table says ${f.storedSize}`);
    if (w.contentSize !== undefined && w.contentSize !== f.logicalSize) throw this.#fail(`frame ${this.#index} declares ${w.contentSize} bytes; the seek table says ${f.logicalSize}`);
    return { logicalSize: f.logicalSize, checksum: f.checksum };
  }

  #skippable(magic: number): boolean {
    if (this.#fill < SKIPPABLE_HEADER) return false;
    if (this.#frames !== undefined) throw this.#fail(`a skippable frame where frame ${this.#index} was expected`);
    const total = SKIPPABLE_HEADER + this.#buf.readUInt32LE(4);
    if (total > MAX_TABLE) throw this.#fail(`a skippable frame of ${total} bytes at stored offset ${this.#consumed}`);
    if (this.#fill < total) return false;
    if (magic === SEEK_TABLE_MAGIC) {
      this.#checkTable(this.#buf.subarray(0, total));
      this.#tableSeen = true;
    }
    this.#shift(total);
    return true;
  }

  /** The whole stream's table must describe exactly the frames that came before it. */
  #checkTable(table: Buffer): void {
    const t = parseSeekTable(table, this.#consumed + table.byteLength, this.#where);
    if (t.frames.length !== this.#seen.length) throw this.#fail(`the seek table lists ${t.frames.length} frames; ${this.#seen.length} came before it`);
    t.frames.forEach((f, i) => {
      const s = this.#seen[i]!;
      if (f.storedSize !== s.storedSize || f.logicalSize !== s.logicalSize) {
        throw this.#fail(`the seek table's frame ${i} (${f.storedSize} → ${f.logicalSize} bytes) is not the frame stored (${s.storedSize} → ${s.logicalSize})`);
      }
      if (f.checksum !== undefined && s.checksum !== undefined && f.checksum !== s.checksum) throw this.#fail(`the seek table's checksum of frame ${i} is not the frame's`);
    });
  }

  #shift(n: number): void {
    this.#buf.copy(this.#buf, 0, n, this.#fill);
    this.#fill -= n;
    this.#consumed += n;
    // A chunk-sized buffer is not kept once it is empty: a read of many small frames holds little.
    if (this.#fill === 0 && this.#buf.byteLength > 4 * 1024 * 1024) this.#buf = Buffer.alloc(0);
  }

  #emit(decoded: Uint8Array, out: DecodedSink): void {
    let b = Buffer.from(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    if (this.#skip > 0) {
      const drop = Math.min(this.#skip, b.byteLength);
      b = b.subarray(drop);
      this.#skip -= drop;
    }
    if (this.#take !== undefined) b = b.subarray(0, Math.max(0, this.#take - this.#delivered));
    if (b.byteLength === 0) return;
    this.#delivered += b.byteLength;
    out(b);
  }

  #fail(message: string): Error {
    return decompressionFailed(`${this.#where}: ${message}`);
  }
}
