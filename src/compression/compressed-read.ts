/**
 * From a logical span of a copy s3-orchestrator stored compressed to the request that covers it
 * and the decoder for what comes back — the one planner the buffered probe, streams and striped
 * parts all use, as encryption/cipher-read.ts is for encrypted copies.
 *
 * A whole object is fetched whole and decoded frame by frame, its seek table checked at the end.
 * Any other span needs the seek table first (one read of the stream's last 8 KiB, remembered
 * per thread), then fetches only the frames that hold the span. Upstream compresses before it
 * encrypts, so for an encrypted copy the compressed stream is the plaintext: its spans are
 * planned as plaintext spans (cipher-read.ts) and decrypted before they are decoded.
 */
import { BoundedCache } from '../encryption/bounded-cache.js';
import { planCipherRead, type EncryptedCopy } from '../encryption/cipher-read.js';
import { HEADER_SIZE } from '../encryption/format.js';
import type { KeyRing } from '../encryption/key-ring.js';
import { FrameDecoder, type DecodedSink } from './frame-decoder.js';
import {
  FORMAT_VERSION, TAIL_PREFETCH, ZSTD, decompressionFailed, framesFor, parseSeekTable, tableSizeFromFooter, type SeekTable,
} from './seek-table.js';
import { loadZstd } from './zstd.js';

/** A compressed copy as its row describes it. */
export interface CompressedCopy {
  backend: string;
  /** The object key (for messages and the cache; the request goes wherever `fetch` sends it). */
  key: string;
  /** Where the bytes are on the backend (the object key unless the row says otherwise). */
  storageKey: string;
  algorithm: string;
  version: number | null;
  /** The object's size (`logical_size`). */
  logicalSize: number;
  /** The compressed stream's size: `size_bytes`, or an encrypted copy's `plaintext_size`. */
  storedSize: number;
  contentHash: string | null;
  /** The row's ETag (the object's; in degraded mode derived from the stored bytes'), for the cache. */
  etag: string | null;
  /** The copy's encryption, when it is encrypted (then `keys` must be given). */
  encrypted: EncryptedCopy | undefined;
  /** Its seek table, when already read (degraded mode reads it to recognise the layout). */
  table?: SeekTable;
}

/** Stored bytes in, decoded bytes out, in pieces of any size. */
export interface StoredDecoder {
  push(chunk: Uint8Array, out: DecodedSink): void;
  end(out: DecodedSink): void;
}

/** What to request from a copy and how to decode the answer. */
export interface StoredRead {
  /** Range on the stored object; undefined for the whole object. */
  range: string | undefined;
  /** Bytes the backend must send. */
  storedBytes: number;
  decoder: StoredDecoder;
}

/** A ranged GET of the stored object, whole body returned; the caller accounts for it. */
export type FetchStored = (range: string) => Promise<Uint8Array>;

/** Seek tables by copy, per thread: a range read of a copy read before needs one request. */
const tables = new BoundedCache<string, SeekTable>(1024, 10 * 60_000);

/** The copy a row describes, or a DECOMPRESSION_FAILED when this reader cannot decode it. */
export function compressedCopy(backend: string, key: string, l: {
  sizeBytes: number; encrypted: boolean; plaintextSize?: number | null; contentHash?: string | null;
  compression?: string | null; logicalSize?: number | null; compressionVersion?: number | null; storageKey?: string | null;
  etag?: string | null;
}, encrypted: EncryptedCopy | undefined): CompressedCopy {
  const where = `${backend}: ${key}`;
  const algorithm = l.compression ?? '';
  if (algorithm !== ZSTD) throw decompressionFailed(`${where}: stored with compression_algorithm ${JSON.stringify(algorithm)}; readpath decodes only ${JSON.stringify(ZSTD)}`);
  const version = l.compressionVersion ?? null;
  if (version !== null && version !== FORMAT_VERSION) throw decompressionFailed(`${where}: compression_format_version ${version}; readpath reads version ${FORMAT_VERSION}`);
  if (l.logicalSize === undefined || l.logicalSize === null) throw decompressionFailed(`${where}: the row of a compressed copy has no logical_size`);
  const storedSize = l.encrypted ? l.plaintextSize : l.sizeBytes;
  if (storedSize === undefined || storedSize === null) throw decompressionFailed(`${where}: the row of an encrypted, compressed copy has no plaintext_size`);
  return {
    backend, key, storageKey: l.storageKey ?? key, algorithm, version, logicalSize: l.logicalSize, storedSize,
    contentHash: l.contentHash ?? null, etag: l.etag ?? null, encrypted,
  };
}

/**
 * Plan the read of logical bytes `start..end` (inclusive) of `c`. `fetch` makes the extra
 * requests a span needs (the seek table; an encrypted copy's header). Throws
 * DECOMPRESSION_FAILED for a copy whose table does not describe it, DECRYPTION_FAILED as
 * cipher-read.ts does.
 */
export async function planCompressedRead(
  c: CompressedCopy,
  keys: KeyRing | undefined,
  start: number,
  end: number,
  fetch: FetchStored,
  signal?: AbortSignal,
): Promise<StoredRead> {
  await loadZstd();
  const where = `${c.backend}: ${c.key}`;
  const take = Math.max(0, end - start + 1);
  let first = 0;
  let last = c.storedSize - 1;
  let decoder: FrameDecoder;
  if (start === 0 && end >= c.logicalSize - 1) {
    decoder = new FrameDecoder({ where, take: c.logicalSize });
  } else {
    const table = await seekTable(c, keys, fetch, signal);
    const span = framesFor(table, start, end);
    const frames = table.frames.slice(span.first, span.last + 1);
    const f0 = frames[0];
    const fn = frames[frames.length - 1];
    if (f0 === undefined || fn === undefined) throw decompressionFailed(`${where}: the seek table has no frame for bytes ${start}-${end}`);
    first = f0.storedOffset;
    last = fn.storedOffset + fn.storedSize - 1;
    decoder = new FrameDecoder({ where, frames, skip: start - f0.logicalOffset, take });
  }
  const whole = first === 0 && last === c.storedSize - 1;
  if (c.encrypted === undefined) {
    return { range: whole ? undefined : `bytes=${first}-${last}`, storedBytes: last - first + 1, decoder };
  }
  const plan = await planCipherRead(c.encrypted, need(keys), first, last, () => fetch(`bytes=0-${HEADER_SIZE - 1}`), signal);
  const dec = plan.decryptor;
  return {
    range: plan.range,
    storedBytes: plan.cipherBytes,
    decoder: {
      push: (chunk, out) => dec.push(chunk, (b) => decoder.push(b, out)),
      end: (out) => {
        dec.end((b) => decoder.push(b, out));
        decoder.end(out);
      },
    },
  };
}

/** The copy's seek table: from this thread's cache, else from the end of its compressed stream. */
async function seekTable(c: CompressedCopy, keys: KeyRing | undefined, fetch: FetchStored, signal?: AbortSignal): Promise<SeekTable> {
  if (c.table !== undefined) return c.table;
  const where = `${c.backend}: ${c.key}`;
  const id = cacheKey(c);
  const cached = tables.get(id);
  if (cached !== undefined) return cached;
  const n = Math.min(TAIL_PREFETCH, c.storedSize);
  let tail = await readCompressed(c, keys, c.storedSize - n, c.storedSize - 1, fetch, signal);
  const size = tableSizeFromFooter(tail, where);
  if (size > tail.byteLength && size <= c.storedSize) tail = await readCompressed(c, keys, c.storedSize - size, c.storedSize - 1, fetch, signal);
  const table = parseSeekTable(tail, c.storedSize, where);
  if (table.logicalSize !== c.logicalSize) throw decompressionFailed(`${where}: the seek table describes ${table.logicalSize} bytes; the row's logical_size is ${c.logicalSize}`);
  tables.set(id, table);
  return table;
}

/** Bytes `start..end` of the compressed stream: a ranged GET, decrypted for an encrypted copy. */
async function readCompressed(c: CompressedCopy, keys: KeyRing | undefined, start: number, end: number, fetch: FetchStored, signal?: AbortSignal): Promise<Uint8Array> {
  const where = `${c.backend}: ${c.key}`;
  const want = end - start + 1;
  if (c.encrypted === undefined) {
    const b = await fetch(`bytes=${start}-${end}`);
    if (b.byteLength !== want) throw decompressionFailed(`${where}: asked for ${want} bytes of the seek table's end, got ${b.byteLength}`);
    return b;
  }
  const plan = await planCipherRead(c.encrypted, need(keys), start, end, () => fetch(`bytes=0-${HEADER_SIZE - 1}`), signal);
  const cipher = await fetch(plan.range ?? `bytes=0-${plan.cipherBytes - 1}`);
  const out = Buffer.allocUnsafe(want);
  let at = 0;
  const put = (b: Uint8Array): void => {
    if (at + b.byteLength > want) throw decompressionFailed(`${where}: decrypting the seek table's end gave more than ${want} bytes`);
    out.set(b, at);
    at += b.byteLength;
  };
  plan.decryptor.push(cipher, put);
  plan.decryptor.end(put);
  return out.subarray(0, at);
}

function need(keys: KeyRing | undefined): KeyRing {
  if (keys === undefined) throw new Error('an encrypted copy planned without keys');
  return keys;
}

/**
 * What identifies one stored stream: a current upstream writes each under a path of its own,
 * and sizes, hash, ETag and an encrypted copy's base nonce tell older rows' rewrites apart (in
 * degraded mode, with no hash, the ETag derived from the stored bytes' does).
 */
function cacheKey(c: CompressedCopy): string {
  const nonce = c.encrypted?.encryptionKey === null || c.encrypted === undefined ? '' : Buffer.from(c.encrypted.encryptionKey.subarray(0, 12)).toString('hex');
  return [c.backend, c.storageKey, c.storedSize, c.logicalSize, c.contentHash ?? '', c.etag ?? '', nonce].join('\0');
}

/**
 * Seek tables of copies found stored compressed in degraded mode, per thread, by what a GET of
 * their first bytes shows: backend, storage key, stored size and the stored bytes' ETag (no row
 * gives their logical size, which {@link cacheKey} includes). A degraded range of a copy read
 * before then asks for its first bytes and its frames only, not the end of the stream again.
 * No ETag, nothing remembered: the ETag is what tells a rewritten copy apart.
 */
const foundTables = new BoundedCache<string, SeekTable>(1024, 10 * 60_000);

function foundKey(backend: string, storageKey: string, storedSize: number, storedEtag: string): string {
  return [backend, storageKey, storedSize, storedEtag].join('\0');
}

/** The seek table remembered for a copy found compressed in degraded mode, if any. */
export function foundSeekTable(backend: string, storageKey: string, storedSize: number, storedEtag: string | undefined): SeekTable | undefined {
  return storedEtag === undefined ? undefined : foundTables.get(foundKey(backend, storageKey, storedSize, storedEtag));
}

/** Remember the seek table of a copy found compressed in degraded mode (see {@link foundSeekTable}). */
export function rememberFoundSeekTable(backend: string, storageKey: string, storedSize: number, storedEtag: string | undefined, table: SeekTable): void {
  if (storedEtag !== undefined) foundTables.set(foundKey(backend, storageKey, storedSize, storedEtag), table);
}

/** Forget every remembered seek table (tests). */
export function clearSeekTables(): void {
  tables.clear();
  foundTables.clear();
}
