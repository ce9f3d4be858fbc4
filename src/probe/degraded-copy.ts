/**
 * What a copy read in degraded mode (no row) is, from its own bytes: s3-orchestrator's
 * ciphertext (refused: its key data is in the database), its compressed layout (decoded, as
 * upstream's degraded reads do: the seek table gives the object's size and the frames a range
 * needs), or the object's bytes as they are — a client's own `.zst` upload among them.
 *
 * Looking costs requests the row would have saved, and only for copies that need it: a whole
 * buffered GET sees both ends in its body; a HEAD, a range past byte 0 and a read into a file
 * look at the first bytes, and at the end only when those begin like zstd.
 */
import { ReadPathError, backendStatusOf } from '../errors.js';
import { parseRange } from '../ranges/byte-range.js';
import { readChunks, tooLarge } from '../backends/body.js';
import { looksEncrypted } from '../encryption/format.js';
import { decodedEtag, endsLikeSeekable, startsLikeZstd, type StoredAs } from '../compression/degraded.js';
import { FrameDecoder } from '../compression/frame-decoder.js';
import { foundSeekTable, rememberFoundSeekTable } from '../compression/compressed-read.js';
import { FOOTER_SIZE, TAIL_PREFETCH, ZSTD, decompressionFailed, parseSeekTable, tableSizeFromFooter, type SeekTable } from '../compression/seek-table.js';
import { loadZstd } from '../compression/zstd.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import { backendKey, type ProbeLocation, type ProbeTask, type ProbeTally } from './task.js';
import { billed, headBilled, headFields } from './answer.js';
import { fetchStored } from './get-encrypted.js';

/**
 * A degraded-mode copy whose bytes begin like s3-orchestrator's ciphertext: without the
 * database there is no key data, so this copy is refused (503) while plaintext objects are
 * still served.
 */
export function encryptedWithoutRow(task: { backend: string; key: string }): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${task.backend}: ${task.key} is stored encrypted; its key data is in the metadata store, which is unavailable`);
}

/** A degraded copy found stored compressed: the row it would have had, and its seek table. */
export interface FoundCompressed {
  location: ProbeLocation;
  table: SeekTable;
  storedAs: StoredAs;
}

/** What a backend said of a copy besides its bytes. */
type Described = Pick<HeadResult, 'size' | 'etag' | 'lastModified'>;

/**
 * A range whose bytes cannot show what a degraded copy is: one that does not start at byte 0, or
 * one from byte 0 shorter than the {@link START} bytes an encrypted header or a zstd frame is
 * recognised by (`bytes=0-2` of ciphertext is `SEN`, not the object). Such a copy is looked at
 * first ({@link inspectCopy}).
 */
export function inspectsFirst(range: string | undefined): boolean {
  if (range === undefined) return false;
  const r = parseRange(range);
  if (r === undefined || r.first !== 0) return true;
  return r.last !== undefined && r.last < START - 1;
}

/**
 * Look at a degraded copy's first bytes (and its end when they begin like zstd). Throws
 * {@link encryptedWithoutRow} for ciphertext; resolves with the layout when it is compressed,
 * undefined when its bytes are the object's.
 */
export async function inspectCopy(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeTally): Promise<FoundCompressed | undefined> {
  const s = await startOf(task, backend, signal, used);
  if (s === undefined) return undefined;
  if (looksEncrypted(s.bytes)) throw encryptedWithoutRow(task);
  return startsLikeZstd(s.bytes) ? compressedEnd(task, backend, signal, used, s.described) : undefined;
}

/**
 * A degraded HEAD: the copy's first bytes by a ranged GET, whose Content-Range gives the object's
 * size and whose headers the HEAD's fields — one request where a HEAD and that GET were two —
 * then its end when they begin like zstd. A HEAD is asked only when the answer does not say the
 * size (416 for an empty object; a server that reports no total). Throws
 * {@link encryptedWithoutRow} for ciphertext.
 */
export async function degradedHead(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeTally): Promise<{ described: HeadResult; found: FoundCompressed | undefined }> {
  const s = await startOf(task, backend, signal, used);
  const described = s?.described ?? await headBilled(backend, backendKey(task), signal, used);
  if (s === undefined) return { described, found: undefined };
  if (looksEncrypted(s.bytes)) throw encryptedWithoutRow(task);
  const found = startsLikeZstd(s.bytes) ? await compressedEnd(task, backend, signal, used, described) : undefined;
  return { described, found };
}

/** Bytes a degraded copy's first bytes are read for: the SENC header's magic, a zstd frame's. */
const START = 5;

/**
 * A degraded copy's first {@link START} bytes, by a ranged GET, and what its answer says of the
 * object when it says its size: `Content-Range`'s total, which the S3 transports also give for a
 * whole answer from a server that ignored the range (cut to the range: range-answer.ts). Undefined
 * for a 416 (an empty object).
 */
async function startOf(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeTally): Promise<{ bytes: Uint8Array; described: HeadResult | undefined } | undefined> {
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), { signal, range: `bytes=0-${START - 1}`, since: used.since });
  } catch (err) {
    if (backendStatusOf(err) !== 416) billed(used, err);
    used.api += 1;
    return undefined;
  }
  used.api += 1;
  const parts: Buffer[] = [];
  let have = 0;
  try {
    await readChunks(res.body, (b) => {
      parts.push(Buffer.from(b));
      have += b.byteLength;
      // More than the range holds: a whole answer, not worth reading on.
      if (have > START) throw new Enough();
    }, { signal });
  } catch (err) {
    if (!(err instanceof Enough)) throw err;
  }
  used.egress += have;
  // Without a total, an answer longer than the range is the whole object; a short one says nothing.
  const size = res.totalSize ?? (res.size > START ? res.size : undefined);
  return { bytes: Buffer.concat(parts).subarray(0, START), described: size === undefined ? undefined : { ...headFields(res), size } };
}

/** Thrown to stop reading a body once its first bytes are in. */
class Enough extends Error {}

/**
 * A degraded copy whose first bytes began like zstd: its layout when it ends with a seek table
 * (read from its end: after a HEAD when its size is not known yet, since not every S3 server
 * answers a suffix range right — s3rver serves `bytes=-9` as `bytes=0-9`), else undefined.
 * A table that does not describe the copy is DECOMPRESSION_FAILED (the next copy is tried).
 */
export async function compressedEnd(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeTally, described?: Described): Promise<FoundCompressed | undefined> {
  const storageKey = backendKey(task);
  const d = described ?? await headBilled(backend, storageKey, signal, used);
  const size = d.size;
  if (size < FOOTER_SIZE) return undefined;
  const known = foundSeekTable(task.backend, storageKey, size, d.etag);
  if (known !== undefined) return found(task, size, known, d);
  const n = Math.min(TAIL_PREFETCH, size);
  let tail = await fetchTail(task, backend, `bytes=${size - n}-${size - 1}`, signal, used);
  if (tail === undefined || !endsLikeSeekable(tail)) return undefined;
  const where = `${task.backend}: ${task.key}`;
  const tableSize = tableSizeFromFooter(tail, where);
  if (tableSize > tail.byteLength && tableSize <= size) {
    tail = await fetchTail(task, backend, `bytes=${size - tableSize}-${size - 1}`, signal, used);
    if (tail === undefined) throw decompressionFailed(`${where}: the seek table's end could not be read`);
  }
  const table = parseSeekTable(tail, size, where);
  rememberFoundSeekTable(task.backend, storageKey, size, d.etag, table);
  return found(task, size, table, d);
}

/**
 * A whole degraded body (`stored`, as `res` announced it) that is the compressed layout, decoded
 * in memory. The stored bytes were checked against a plain-MD5 ETag first when asked
 * (`etag`); the frames' checksums and the seek table check the rest.
 */
export async function decodeWhole(task: ProbeTask, stored: Uint8Array, res: GetResult): Promise<{ body: Uint8Array; found: FoundCompressed }> {
  const where = `${task.backend}: ${task.key}`;
  const table = parseSeekTable(stored, stored.byteLength, where);
  const size = table.logicalSize;
  if (task.maxBytes !== undefined && size > task.maxBytes) throw tooLarge(size, task.maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  await loadZstd();
  const body = new Uint8Array(size);
  let at = 0;
  const put = (b: Uint8Array): void => {
    if (at + b.byteLength > size) throw decompressionFailed(`${where}: decoded more than the ${size} bytes its seek table describes`);
    body.set(b, at);
    at += b.byteLength;
  };
  const dec = new FrameDecoder({ where, take: size });
  dec.push(stored, put);
  dec.end(put);
  // Decoded as the table says: worth remembering for this copy's ranges.
  rememberFoundSeekTable(task.backend, backendKey(task), stored.byteLength, res.etag, table);
  return { body, found: found(task, stored.byteLength, table, res) };
}

function found(task: ProbeTask, storedSize: number, table: SeekTable, d: Pick<HeadResult, 'etag' | 'lastModified'>): FoundCompressed {
  const storageKey = backendKey(task);
  const location: ProbeLocation = {
    contentHash: null, sizeBytes: storedSize, encrypted: false, plaintextSize: null,
    storageKey, compression: ZSTD, logicalSize: table.logicalSize, compressionVersion: null,
  };
  const etag = decodedEtag(d.etag);
  if (etag !== undefined) location.etag = etag;
  if (d.lastModified !== undefined) location.createdAt = d.lastModified.getTime();
  const storedAs: StoredAs = { compression: ZSTD, storedSize, storageKey };
  if (d.etag !== undefined) storedAs.etag = d.etag;
  return { location, table, storedAs };
}

/** {@link fetchStored}, undefined when the object is too short for the range (416). */
function fetchTail(task: ProbeTask, backend: ObjectBackend, range: string, signal: AbortSignal, used: ProbeTally): Promise<Uint8Array | undefined> {
  return fetchStored(task, backend, range, signal, used).catch((err: unknown) => {
    if (backendStatusOf(err) === 416) return undefined;
    throw err;
  });
}
