/**
 * The probe, written once: read one copy as a {@link ProbeTask} says — HEAD, or GET with the
 * egress check, the whole body, SHA-256 (or ETag) verification, decryption of an encrypted copy,
 * decoding of a compressed one (found from its bytes in degraded mode) and an optional
 * transform — and answer with a {@link Verdict}. The inline executor calls it on
 * the calling thread; the pool's probe actors call it in a worker. It never throws: every
 * outcome, failures included, is a verdict carrying what the probe used, so whoever admitted
 * the probe can settle its usage.
 */
import { ReadPathError, UsageLimitSkipError, abortedError, backendStatusOf } from '../errors.js';
import { collectBody, discardBody, readChunks, tooLarge, type CollectBodyOptions } from '../backends/body.js';
import { EncryptedStartSniffer, decryptFailureKind, looksEncrypted } from '../encryption/format.js';
import { noPlaintextSize } from '../encryption/cipher-read.js';
import { lacksPlaintextSize } from '../stores/row-mapping.js';
import type { KeyRing } from '../encryption/key-ring.js';
import type { BackendGetOptions, GetResult, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import { backendKey, type ErrorVerdict, type ProbeTally, type ProbeTask, type Verdict } from './task.js';
import { BodyVerifier, verifyBody } from './verify.js';
import { billed, differsFromRow, egressSkip, finishGet, headBilled, headFields, objectHead, ok, rowStoredSize, unsatisfiable, wholeDiffersFromRow, wholeRowSize } from './answer.js';
import { toFile } from './to-file.js';
import { withinReservation } from './request-budget.js';
import { storedKeyOf } from './stored-copy.js';
import { getCompressed, getEncrypted, getFound } from './get-encrypted.js';
import { ZstdStartSniffer, endsLikeSeekable, startsLikeZstd, type StoredAs } from '../compression/degraded.js';
import { compressedEnd, decodeWhole, degradedHead, encryptedWithoutRow, inspectCopy, inspectsFirst } from './degraded-copy.js';

/**
 * An encrypted copy where no key is configured: serving ciphertext as the object would be
 * wrong. 503, as upstream answers for encrypted objects it cannot decrypt; no backend is called.
 */
export function encryptedUnsupported(key: string): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${key} is stored encrypted and readpath has no key for it: configure the encryption: section (see README, Encryption)`);
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
  const used: ProbeTally = { api: 0, egress: 0, since: performance.now() };
  backend = withinReservation(backend, task, usage, signal);
  try {
    const refused = refusal(task, keys !== undefined);
    if (refused !== undefined) throw refused;
    if (signal.aborted) throw abortedError(signal);
    // Degraded mode: find which of the key and its per-write copies this backend holds last.
    if (task.location === null && task.storedAt === undefined) {
      task = { ...task, storedAt: await storedKeyOf(backend, task.key, signal, () => (used.api += 1), used.since) };
    }
    if (task.op === 'head') return await head(task, backend, signal, used);
    if (task.location?.compression !== undefined) return await getCompressed(task, task.location, backend, signal, usage, used, keys);
    if (task.location?.encrypted === true && keys !== undefined) return await getEncrypted(task, task.location, backend, signal, usage, used, keys);
    return await get(task, backend, signal, usage, used);
  } catch (err) {
    // A request its reservation had no room for: the copy is declined for usage, as one whose
    // body the egress limit declines.
    if (err instanceof UsageLimitSkipError && err.limit !== undefined) return { kind: 'skip', limit: err.limit, api: used.api, egress: used.egress };
    const v: ErrorVerdict = { kind: 'error', error: err, api: used.api, egress: used.egress };
    const kind = decryptFailureKind(err);
    if (kind !== undefined) v.decryptFailure = kind;
    return v;
  }
}

async function head(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeTally): Promise<Verdict> {
  const l = task.location;
  if (l === null) {
    // Degraded: the copy's first bytes are looked at before its size is believed (ciphertext,
    // the compressed layout), and the outcome says where it was found.
    const { described: h, found } = await degradedHead(task, backend, signal, used);
    if (found !== undefined) {
      const size = found.table.logicalSize;
      return ok(size, size, { ...objectHead(headFields(h), found.location), storedAs: found.storedAs }, used.egress, used.api);
    }
    const storedAs: StoredAs = { storageKey: backendKey(task), storedSize: h.size };
    if (h.etag !== undefined) storedAs.etag = h.etag;
    return ok(h.size, h.size, { ...headFields(h), storedAs }, used.egress, used.api);
  }
  // As a GET of it is refused: the stored size is the ciphertext's, not the object's.
  if (lacksPlaintextSize(l)) throw noPlaintextSize(`${task.backend}: ${task.key}`);
  const h = await headBilled(backend, backendKey(task), signal, used);
  // A copy whose stored size is not its row's is another object than the row describes: a GET of
  // it is refused (its hash or length check fails), and so is its HEAD — the next copy answers.
  const stored = rowStoredSize(l);
  if (stored !== undefined && h.size >= 0 && h.size !== stored) {
    throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: HEAD answered ${h.size} stored bytes where the row says ${stored} (the copy differs from its row)`);
  }
  // An encrypted or compressed copy's stored size is not the object's; callers want its own.
  const size = l.compression !== undefined ? (l.logicalSize ?? h.size) : l.encrypted ? (l.plaintextSize as number) : h.size;
  return ok(size, size, objectHead(headFields(h), l), used.egress, used.api);
}

/** Thrown from a degraded body read into a file as soon as its first bytes begin like zstd. */
class ZstdStart extends Error {
  constructor() {
    super('the body begins like zstd');
  }
}

/**
 * GET the copy: buffered, or into a file. Degraded mode (no row) looks at the copy's bytes too
 * (degraded-copy.ts): ciphertext is refused as its first bytes arrive; the compressed layout is
 * decoded. `plain`: the copy was found not to be the compressed layout, though it begins like zstd.
 */
async function get(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeTally, plain = false): Promise<Verdict> {
  const range = task.range;
  const maxBytes = task.maxBytes;
  const stored = task.location?.sizeBytes;
  if (maxBytes !== undefined && range === undefined && stored !== undefined && stored > maxBytes) {
    // The row says how big it is: no request is worth sending.
    throw tooLarge(stored, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  const degraded = task.location === null;
  const inspected = degraded && inspectsFirst(range);
  if (inspected) {
    const found = await inspectCopy(task, backend, signal, used);
    if (found !== undefined) return getFound(task, found, backend, signal, usage, used);
  }
  let res: GetResult;
  const opts: BackendGetOptions = { signal, since: used.since };
  if (range !== undefined) opts.range = range;
  // Into a file, the body is taken chunk by chunk in 'data' events (readChunks): its bytes may
  // pass through memory the backend reuses.
  if (task.out !== undefined) opts.transient = true;
  try {
    res = await backend.get(backendKey(task), opts);
  } catch (err) {
    billed(used, backendStatusOf(err) === 416 ? unsatisfiable(task, err) : err);
  }
  used.api += 1;
  differsFromRow(task, res);
  const rowSize = wholeRowSize(task);
  wholeDiffersFromRow(task, res, rowSize);
  // The length the body must have: the one announced, else (no Content-Length) the row's.
  const expectedSize = res.size >= 0 ? res.size : rowSize;
  const skip = await egressSkip(task, usage, res, res.size < 0 ? 0 : res.size, signal, used);
  if (skip !== undefined) return skip;
  const checkStart = degraded && !inspected;
  if (task.out !== undefined) {
    const verify = task.verify ?? true;
    const sized: CollectBodyOptions = { signal, billFailureTo: used };
    if (expectedSize !== undefined) sized.expectedSize = expectedSize;
    const watch = checkStart ? startWatch(task, !plain) : undefined;
    try {
      return await toFile(task, task.out, {
        head: objectHead(headFields(res), task.location),
        objectSize: res.size,
        verifier: verify ? new BodyVerifier({ backendName: task.backend, location: task.location }, task.key, (task.verifyEtag ?? true) ? res.etag : undefined) : undefined,
        read: (onBytes) => readChunks(res.body, watch === undefined ? onBytes : watch(onBytes), sized),
        discard: () => discardBody(res),
      }, used);
    } catch (err) {
      if (!(err instanceof ZstdStart)) throw err;
      // Nothing was written (what came is billed: billFailureTo): find out what the copy is, then read it as that.
      const found = await compressedEnd(task, backend, signal, used, range === undefined && res.size >= 0 ? res : undefined);
      if (found !== undefined) return getFound(task, found, backend, signal, usage, used);
      return get(task, backend, signal, usage, used, true);
    }
  }
  if (maxBytes !== undefined && res.size > maxBytes) {
    discardBody(res);
    throw tooLarge(res.size, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  // -1 means the backend announced no length: then only a row's size can check the body.
  const collect: CollectBodyOptions = { signal, billFailureTo: used };
  if (expectedSize !== undefined) collect.expectedSize = expectedSize;
  if (maxBytes !== undefined) collect.maxBytes = maxBytes;
  const body = await collectBody(res.body, collect);
  used.egress += body.byteLength;
  const verify = task.verify ?? true;
  const etag = (task.verifyEtag ?? true) ? res.etag : undefined;
  if (checkStart && looksEncrypted(body)) throw encryptedWithoutRow(task);
  if (checkStart && !plain && startsLikeZstd(body)) {
    if (range === undefined && endsLikeSeekable(body)) {
      // The whole stored stream is here: its own end is its seek table.
      if (verify) verifyBody({ backendName: task.backend, location: null }, task.key, body, etag);
      const { body: decoded, found } = await decodeWhole(task, body, res);
      const v = ok(decoded.byteLength, decoded.byteLength, { ...objectHead(headFields(res), found.location), storedAs: found.storedAs }, used.egress, used.api);
      v.decompressed = true;
      return finishGet(task, v, decoded, false);
    }
    if (range !== undefined) {
      const found = await compressedEnd(task, backend, signal, used);
      if (found !== undefined) return getFound(task, found, backend, signal, usage, used);
    }
  }
  const verified = verify && range === undefined ? verifyBody({ backendName: task.backend, location: task.location }, task.key, body, etag) : false;
  return finishGet(task, ok(body.byteLength, res.size, objectHead(headFields(res), task.location), used.egress, used.api), body, verified);
}

/**
 * Degraded mode, a body read into a file from byte 0: pass bytes on, but refuse the copy once its
 * first bytes are an encrypted object's header, and (`zstd`) stop at once when they begin like
 * zstd — the copy may be the compressed layout, whose stored bytes must not reach the file.
 */
function startWatch(task: ProbeTask, zstd: boolean): (onBytes: (b: Uint8Array) => void) => (b: Uint8Array) => void {
  const encrypted = new EncryptedStartSniffer();
  const compressed = zstd ? new ZstdStartSniffer() : undefined;
  return (onBytes) => (b) => {
    if (encrypted.feed(b)) throw encryptedWithoutRow(task);
    if (compressed?.feed(b) === true) throw new ZstdStart();
    onBytes(b);
  };
}
