/**
 * Degraded mode (no row says how a copy is stored): s3-orchestrator's compressed layout is
 * recognised from the copy's own bytes and decoded, as upstream's degraded reads do — never
 * served as the object. The layout is known by both ends: it begins with a Zstandard frame and
 * ends with the seek table's footer. The frame magic alone would also match a `.zst` file a
 * client uploaded, which is served as it is; plain zstd never writes the footer.
 */
import { FOOTER_SIZE, FRAME_MAGIC, SEEKABLE_MAGIC } from './seek-table.js';
import { StartSniffer } from '../start-sniffer.js';

/**
 * Where and how the copy that answered a degraded-mode read is stored — what a row would have
 * said. Carried on the HEAD outcome, so a stream opens that copy without listing its backend
 * again and plans a compressed copy's reads.
 */
export interface StoredAs {
  /** Where the copy's bytes are on the backend that answered (the key, or a `{key}!{id}` copy). */
  storageKey: string;
  /** The stored bytes' size: the object's, unless the copy is compressed. */
  storedSize: number;
  /** The copy is s3-orchestrator's compressed layout (decoded; the outcome's `size` is the object's). */
  compression?: 'zstd';
  /** The stored bytes' ETag as the backend gave it (what a resume's If-Match must name). */
  etag?: string;
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
 * The ETag a decoded copy is reported with when no row gives the object's: the backend's is the
 * compressed bytes' MD5, which a client checking ETags against the body it got would find wrong.
 * The same digest in the multipart form (`"…-1"`, which no client takes for an MD5) stays a
 * validator that changes when the stored bytes do; a multipart ETag is kept as it is. Undefined
 * for anything else.
 */
export function decodedEtag(stored: string | undefined): string | undefined {
  const m = stored === undefined ? null : /^(?:W\/)?"?([0-9a-fA-F]{32})(-\d+)?"?$/.exec(stored);
  if (m === null || m[1] === undefined) return undefined;
  return `"${m[1].toLowerCase()}${m[2] ?? '-1'}"`;
}

/** Watches a body's first 4 bytes for a Zstandard frame magic at byte 0 (see {@link StartSniffer}). */
export class ZstdStartSniffer extends StartSniffer {
  constructor() {
    super(4, startsLikeZstd);
  }
}
