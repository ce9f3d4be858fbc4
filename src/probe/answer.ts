/**
 * Pieces every GET and HEAD probe answers with: the verdict of a success, the HEAD fields it
 * carries, and the errors a backend's answer turns into.
 */
import { ReadPathError, hasCode, messageOf } from '../errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import { discardBody } from '../backends/body.js';
import type { UsagePort } from './billing.js';
import { isBilledFailure } from './billing.js';
import type { OkVerdict, ProbeTally, ProbeTask, ProbeUsage, SkipVerdict, Verdict, VerdictHead } from './task.js';
import { runTransform } from './transform.js';
import { decodedEtag } from '../compression/degraded.js';
import { lacksPlaintextSize, nonEmpty, objectSizeOf, rowEtag, storedDiffers } from '../stores/row-mapping.js';
import type { ObjectLocation } from '../types.js';

function setEtag(h: { etag?: string }, etag: string | undefined): void {
  if (etag === undefined) delete h.etag;
  else h.etag = etag;
}

/** The HEAD fields of an answer, without `size` (that travels apart). */
export function headFields(r: HeadResult): VerdictHead {
  const h: VerdictHead = {};
  if (r.etag !== undefined) h.etag = r.etag;
  if (r.contentType !== undefined) h.contentType = r.contentType;
  if (r.lastModified !== undefined) h.lastModified = r.lastModified;
  if (r.metadata !== undefined) h.metadata = r.metadata;
  return h;
}

/** The parts of a row (or the probe's view of it) that say what a client is told about the object. */
export interface IdentityRow {
  encrypted: boolean;
  compression?: string | null | undefined;
  contentHash?: string | null | undefined;
  etag?: string | null | undefined;
  contentType?: string | null | undefined;
  /** The row's created_at (a Date, or ms since the epoch as the probe carries it). */
  createdAt?: Date | number | undefined;
}

/**
 * What a client is told about copy `l`'s object, over what its backend answered (`h`, changed in
 * place and returned): the row's ETag and Content-Type where upstream recorded them (its clients
 * were given those, whatever form the copy is stored in); else an ETag derived from content_hash
 * (see rowEtag: what a listing gives too, for every copy and stored form); without either, the
 * backend's ETag, in the multipart form (`"…-1"`) for a copy stored encrypted or compressed,
 * whose stored bytes' MD5 is not the body's. Last-Modified is the serving copy's row created_at, as upstream answers since it stopped
 * taking the backend's (which a rebalance or repair rewrites, so a revalidating client would see
 * the object change when it did not). Degraded mode (no row): the backend's, as they are.
 */
export function objectHead<T extends { etag?: string; contentType?: string; lastModified?: Date }>(h: T, l: IdentityRow | null | undefined): T {
  if (l === null || l === undefined) return h;
  if (l.createdAt !== undefined) h.lastModified = new Date(typeof l.createdAt === 'number' ? l.createdAt : l.createdAt.getTime());
  const etag = rowEtag(l);
  if (etag !== undefined) h.etag = etag;
  // Only a backend knows an ETag now; the stored bytes' MD5 of a copy stored in another form
  // would fail a client's check of the body, in the multipart form it is still a validator.
  else if (storedDiffers(l)) setEtag(h, decodedEtag(h.etag));
  if (nonEmpty(l.contentType)) h.contentType = l.contentType;
  return h;
}

/**
 * A HEAD answered from row `l` alone, when it carries the object's ETag (s3-orchestrator's
 * identity columns): the object's size, that ETag, its Content-Type and user metadata where
 * recorded, and the row's created_at as Last-Modified — what a backend HEAD through
 * {@link objectHead} would report, less the backend's own Content-Type and metadata where the row
 * has none. Undefined without an ETag: a HEAD must carry a validator, and only a backend has one
 * then. Upstream answers the same way. Undefined too for an encrypted row without its plaintext
 * size, which no HEAD can report.
 */
export function headFromRow(l: ObjectLocation): HeadResult | undefined {
  if (!nonEmpty(l.etag)) return undefined;
  // Its size would be the ciphertext's: the probe refuses such a copy, as a GET of it is refused.
  if (lacksPlaintextSize(l)) return undefined;
  const h: HeadResult = { size: objectSizeOf(l), etag: l.etag, lastModified: l.createdAt };
  if (nonEmpty(l.contentType)) h.contentType = l.contentType;
  if (l.userMetadata !== undefined && l.userMetadata !== null) h.metadata = { ...l.userMetadata };
  return h;
}

/**
 * A success: `size` bytes read (or the object's size for HEAD), of an object of `objectSize`,
 * having made `api` requests.
 */
export function ok(size: number, objectSize: number, head: VerdictHead, egress: number, api = 1): OkVerdict {
  return { kind: 'ok', size, objectSize, head, api, egress };
}

/** A backend's 416: the range starts at or past the object's end, on every copy alike. */
export function unsatisfiable(task: ProbeTask, err: unknown): ReadPathError {
  return new ReadPathError('RANGE_NOT_SATISFIABLE', `${task.key}: range ${task.range ?? ''} is not satisfiable (${task.backend} answered 416)`, { cause: err, backendStatus: 416 });
}

/**
 * A ranged answer says how many bytes the copy holds (Content-Range's total): another size than
 * its row's is another object than the row describes, whose bytes must not be served as this one's
 * (a range is not hash-checked). The body is released and the copy refused.
 */
export function differsFromRow(task: ProbeTask, res: GetResult): void {
  const stored = task.location?.sizeBytes;
  if (res.totalSize === undefined || stored === undefined || res.totalSize === stored) return;
  discardBody(res);
  throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: holds ${res.totalSize} stored bytes where the row says ${stored} (the copy differs from its row)`);
}

/**
 * The stored size a whole GET of copy `task` must answer: its row's `size_bytes`. Undefined when
 * there is nothing to hold the answer to: degraded mode (no row), a range (differsFromRow checks
 * its Content-Range total), a copy stored encrypted or compressed (their readers check the lengths
 * their plans ask for), or a row whose size is not a byte count. Upstream's column is NOT NULL and
 * it records the bytes it stored (its PUT requires a Content-Length), so 0 is an empty object, not
 * an unknown size; only a row from a store of one's own can lack it.
 */
export function wholeRowSize(task: ProbeTask): number | undefined {
  const l = task.location;
  if (l === null || task.range !== undefined || storedDiffers(l)) return undefined;
  return rowStoredSize(l);
}

/** The stored size row `l` gives, when it gives a byte count (a store of one's own may not). */
export function rowStoredSize(l: { sizeBytes: number }): number | undefined {
  const stored = l.sizeBytes as unknown;
  return typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 ? stored : undefined;
}

/**
 * A whole GET that announces another size than its row's (`stored`, from {@link wholeRowSize}) is
 * another object than the row describes: without a content_hash nothing else would catch it, so
 * it is refused here, before its body is read or its egress reserved, as a stream refuses it.
 */
export function wholeDiffersFromRow(task: ProbeTask, res: GetResult, stored: number | undefined): void {
  if (stored === undefined || res.size < 0 || res.size === stored) return;
  discardBody(res);
  throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: answered ${res.size} stored bytes where the row says ${stored} (the copy differs from its row)`);
}

/** A failed backend call: record whether it cost a request, then rethrow. */
export function billed(used: ProbeUsage, err: unknown): never {
  if (isBilledFailure(err)) used.api += 1;
  throw err;
}

/** HEAD the copy at `key` with its request accounted (a failed one when it was billed). */
export async function headBilled(backend: ObjectBackend, key: string, signal: AbortSignal, used: ProbeTally): Promise<HeadResult> {
  let h: HeadResult;
  try {
    h = await backend.head(key, { signal, since: used.since });
  } catch (err) {
    billed(used, err);
  }
  used.api += 1;
  return h;
}

/** A write under `out` that failed: the read's WRITE_FAILED (INVALID_KEY as it is). */
export function writeFailure(task: ProbeTask, err: unknown): unknown {
  return hasCode(err, 'INVALID_KEY')
    ? err
    : new ReadPathError('WRITE_FAILED', `read from ${task.backend} but not written under --out: ${messageOf(err)}`, { cause: err });
}

/** A buffered GET's verdict: the body itself, or what the task's transform made of it. */
export async function finishGet(task: ProbeTask, v: OkVerdict, body: Uint8Array, verified: boolean): Promise<Verdict> {
  v.verified = verified;
  if (task.transform === undefined) {
    v.body = body;
    return v;
  }
  v.value = await runTransform(task.transform, body, {
    ...v.head,
    key: task.key,
    backend: task.backend,
    size: body.byteLength,
    verified,
    ...(task.range !== undefined ? { range: task.range } : {}),
  });
  return v;
}

/**
 * On a backend with an egress limit, reserve the `bytes` an answer announced before its body is
 * read: the skip verdict when the limit declines them (the body released unread), else undefined.
 */
export async function egressSkip(task: ProbeTask, usage: UsagePort, res: GetResult, bytes: number, signal: AbortSignal, used: ProbeUsage): Promise<SkipVerdict | undefined> {
  if (task.egressLimited !== true) return undefined;
  let limit;
  try {
    limit = await usage.reserveEgress(task, bytes, signal);
  } catch (err) {
    discardBody(res);
    throw err;
  }
  if (limit === null) return undefined;
  discardBody(res);
  return { kind: 'skip', limit, api: used.api, egress: used.egress };
}
