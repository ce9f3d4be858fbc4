/**
 * The probe, written once: read one copy as a {@link ProbeTask} says — HEAD, or GET with the
 * egress check, the whole body, SHA-256 (or ETag) verification, decryption of an encrypted copy
 * and an optional transform — and answer with a {@link Verdict}. The inline executor calls it on
 * the calling thread; the pool's probe actors call it in a worker. It never throws: every
 * outcome, failures included, is a verdict carrying what the probe used, so whoever admitted
 * the probe can settle its usage.
 */
import { ReadPathError, abortedError, backendStatusOf } from '../errors.js';
import { collectBody, discardBody, readChunks, tooLarge } from '../backends/body.js';
import { EncryptedStartSniffer, decryptFailureKind, looksEncrypted } from '../encryption/format.js';
import type { KeyRing } from '../encryption/key-ring.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import { backendKey, type ErrorVerdict, type ProbeTask, type ProbeUsage, type Verdict } from './task.js';
import { BodyVerifier, verifyBody } from './verify.js';
import { billed, egressSkip, finishGet, headFields, objectHead, ok, unsatisfiable } from './answer.js';
import { toFile } from './to-file.js';
import { storedKeyOf } from './stored-copy.js';
import { getCompressed, getEncrypted } from './get-encrypted.js';
import { CompressedLayoutSniffer, compressedWithoutRow, endsLikeSeekable, startsLikeZstd } from '../compression/degraded.js';
import { FOOTER_SIZE } from '../compression/seek-table.js';

/**
 * An encrypted copy where no key is configured: serving ciphertext as the object would be
 * wrong. 503, as upstream answers for encrypted objects it cannot decrypt; no backend is called.
 */
export function encryptedUnsupported(key: string): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${key} is stored encrypted and readpath has no key for it: configure the encryption: section (see README, Encryption)`);
}

/**
 * A degraded-mode copy whose bytes begin like s3-orchestrator's ciphertext: without the
 * database there is no key data, so this copy is refused (503) while plaintext objects are
 * still served.
 */
export function encryptedWithoutRow(task: { backend: string; key: string }): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${task.backend}: ${task.key} is stored encrypted; its key data is in the metadata store, which is unavailable`);
}

/**
 * Why this copy must not be read at all, decided from the task alone; undefined when it may.
 * `decrypts`: encryption is configured where the probe runs. Executors ask before admitting a
 * probe (a refused copy costs no usage and no dispatch), and {@link runProbe} asks again, so a
 * task is refused wherever it runs.
 */
export function refusal(task: ProbeTask, decrypts: boolean): ReadPathError | undefined {
  return !decrypts && task.op === 'get' && task.location?.encrypted === true ? encryptedUnsupported(task.key) : undefined;
}

/**
 * Run one probe of `task` against `backend`. `keys`: the thread's keys when encryption is
 * configured. Resolves with its verdict; never rejects.
 */
export async function runProbe(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, keys?: KeyRing): Promise<Verdict> {
  const used: ProbeUsage = { api: 0, egress: 0 };
  try {
    const refused = refusal(task, keys !== undefined);
    if (refused !== undefined) throw refused;
    if (signal.aborted) throw abortedError(signal);
    // Degraded mode: find which of the key and its per-write copies this backend holds last.
    if (task.location === null && task.storedAt === undefined) {
      task = { ...task, storedAt: await storedKeyOf(backend, task.key, signal, () => (used.api += 1)) };
    }
    if (task.op === 'head') return await head(task, backend, signal, used);
    if (task.location?.compression !== undefined) return await getCompressed(task, task.location, backend, signal, usage, used, keys);
    if (task.location?.encrypted === true && keys !== undefined) return await getEncrypted(task, task.location, backend, signal, usage, used, keys);
    return await get(task, backend, signal, usage, used);
  } catch (err) {
    const v: ErrorVerdict = { kind: 'error', error: err, api: used.api, egress: used.egress };
    const kind = decryptFailureKind(err);
    if (kind !== undefined) v.decryptFailure = kind;
    return v;
  }
}

async function head(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeUsage): Promise<Verdict> {
  let h: HeadResult;
  try {
    h = await backend.head(backendKey(task), { signal });
  } catch (err) {
    billed(used, err);
  }
  used.api += 1;
  const l = task.location;
  // Degraded: an object big enough to be ciphertext is looked at before its size is believed.
  if (l === null && h.size >= FOOTER_SIZE) await refuseCiphertext(task, backend, signal, used, h.size);
  // An encrypted or compressed copy's stored size is not the object's; callers want its own.
  const size = l === null ? h.size : l.compression !== undefined ? (l.logicalSize ?? h.size) : l.encrypted ? (l.plaintextSize ?? h.size) : h.size;
  return ok(size, size, objectHead(headFields(h), l), used.egress, used.api);
}

/**
 * Degraded mode (no row): read the copy's first bytes and refuse it if they are an encrypted
 * object's header, or begin s3-orchestrator's compressed layout (then its footer is read too) —
 * for a HEAD (whose size would be the stored bytes') and a range not starting at byte 0 (which
 * cannot show the start). A request the database would have saved; never serving ciphertext or
 * compressed bytes as the object, whether or not this reader could decode them, is worth it
 * during an outage.
 */
async function refuseCiphertext(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeUsage, size?: number): Promise<void> {
  const start = await fetchOptional(task, backend, 'bytes=0-4', signal, used);
  if (start === undefined) return;
  if (looksEncrypted(start)) throw encryptedWithoutRow(task);
  if (startsLikeZstd(start)) await refuseCompressed(task, backend, signal, used, size);
}

/**
 * Degraded mode, a body that began like zstd: refuse it if the object ends with a seek table.
 * The footer is asked for by its offsets (after a HEAD when the size is not known yet): not
 * every S3 server answers a suffix range right (s3rver serves `bytes=-9` as `bytes=0-9`).
 */
async function refuseCompressed(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeUsage, size?: number): Promise<void> {
  let total = size;
  if (total === undefined) {
    try {
      total = (await backend.head(backendKey(task), { signal })).size;
    } catch (err) {
      billed(used, err);
    }
    used.api += 1;
  }
  if (total < FOOTER_SIZE) return;
  const tail = await fetchOptional(task, backend, `bytes=${total - FOOTER_SIZE}-${total - 1}`, signal, used);
  if (tail !== undefined && endsLikeSeekable(tail)) throw compressedWithoutRow(task);
}

/** A small ranged read, accounted; undefined when the object is too short for it (416). */
async function fetchOptional(task: ProbeTask, backend: ObjectBackend, range: string, signal: AbortSignal, used: ProbeUsage): Promise<Uint8Array | undefined> {
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), { signal, range });
  } catch (err) {
    if (backendStatusOf(err) === 416) return undefined;
    billed(used, err);
  }
  used.api += 1;
  const bytes = await collectBody(res.body, { signal, maxBytes: 64 });
  used.egress += bytes.byteLength;
  return bytes;
}

/** A range that does not start at byte 0. */
function offStart(range: string | undefined): boolean {
  return range !== undefined && !/^\s*bytes=0-/.test(range);
}

async function get(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeUsage): Promise<Verdict> {
  const range = task.range;
  const maxBytes = task.maxBytes;
  const stored = task.location?.sizeBytes;
  if (maxBytes !== undefined && range === undefined && stored !== undefined && stored > maxBytes) {
    // The row says how big it is: no request is worth sending.
    throw tooLarge(stored, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  const degraded = task.location === null;
  if (degraded && offStart(range)) await refuseCiphertext(task, backend, signal, used);
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), range === undefined ? { signal } : { signal, range });
  } catch (err) {
    billed(used, backendStatusOf(err) === 416 ? unsatisfiable(task, err) : err);
  }
  used.api += 1;
  const skip = await egressSkip(task, usage, res, res.size < 0 ? 0 : res.size, signal, used);
  if (skip !== undefined) return skip;
  // Degraded mode: a body that begins like ciphertext is refused as its first bytes arrive; one
  // that is s3-orchestrator's compressed layout once it is whole (before it is written or returned).
  const checkStart = degraded && !offStart(range);
  if (task.out !== undefined) {
    const verify = task.verify ?? true;
    const sized = res.size >= 0 ? { signal, expectedSize: res.size } : { signal };
    const layout = checkStart ? new CompressedLayoutSniffer() : undefined;
    return toFile(task, task.out, {
      head: objectHead(headFields(res), task.location),
      objectSize: res.size,
      verifier: verify ? new BodyVerifier({ backendName: task.backend, location: task.location }, task.key, (task.verifyEtag ?? true) ? res.etag : undefined) : undefined,
      read: async (onBytes) => {
        const n = await readChunks(res.body, layout !== undefined ? refuseStoredLayout(task, layout, onBytes) : onBytes, sized);
        if (layout !== undefined) await refuseCompressedEnd(task, backend, layout, range === undefined, signal, used);
        return n;
      },
      discard: () => discardBody(res),
    }, used);
  }
  if (maxBytes !== undefined && res.size > maxBytes) {
    discardBody(res);
    throw tooLarge(res.size, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  // -1 means the backend announced no length: then there is nothing to check the body against.
  const body = await collectBody(res.body, res.size >= 0 ? { signal, expectedSize: res.size, ...(maxBytes === undefined ? {} : { maxBytes }) } : { signal, ...(maxBytes === undefined ? {} : { maxBytes }) });
  used.egress += body.byteLength;
  if (checkStart && looksEncrypted(body)) throw encryptedWithoutRow(task);
  if (checkStart) {
    const layout = new CompressedLayoutSniffer();
    layout.feed(body);
    await refuseCompressedEnd(task, backend, layout, range === undefined, signal, used);
  }
  const verified = (task.verify ?? true) && range === undefined
    ? verifyBody({ backendName: task.backend, location: task.location }, task.key, body, (task.verifyEtag ?? true) ? res.etag : undefined)
    : false;
  return finishGet(task, ok(body.byteLength, res.size, objectHead(headFields(res), task.location), used.egress, used.api), body, verified);
}

/**
 * Pass bytes on, but refuse the copy once its first bytes are an encrypted object's header;
 * `layout` sees them all (for the compressed-layout check at the end).
 */
function refuseStoredLayout(task: ProbeTask, layout: CompressedLayoutSniffer, onBytes: (b: Uint8Array) => void): (b: Uint8Array) => void {
  const sniffer = new EncryptedStartSniffer();
  return (b) => {
    if (sniffer.feed(b)) throw encryptedWithoutRow(task);
    layout.feed(b);
    onBytes(b);
  };
}

/**
 * Degraded mode, a body read from byte 0: refuse it if it is s3-orchestrator's compressed layout
 * — by its own last bytes when it is the `whole` object, else by the object's footer (more
 * requests, only for a body that began like zstd).
 */
async function refuseCompressedEnd(task: ProbeTask, backend: ObjectBackend, layout: CompressedLayoutSniffer, whole: boolean, signal: AbortSignal, used: ProbeUsage): Promise<void> {
  if (!layout.zstdStart) return;
  if (whole) {
    if (layout.wholeIsCompressed()) throw compressedWithoutRow(task);
    return;
  }
  await refuseCompressed(task, backend, signal, used);
}
