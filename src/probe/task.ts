/**
 * A probe as data: what to read from one copy ({@link ProbeTask}) and what came of it
 * ({@link Verdict}). Both are plain objects, so the same task and verdict serve a probe run on
 * the calling thread and one carried to a pool worker and back (see executors/).
 */
import type { UsageLimitKind } from '../errors.js';
import type { HeadResult, ObjectLocation } from '../types.js';
import type { DecryptFailureKind } from '../encryption/format.js';
import type { StoredAs } from '../compression/degraded.js';
import { nonEmpty } from '../stores/row-mapping.js';

/** The part of a location row a probe needs. */
export interface ProbeLocation {
  contentHash: string | null;
  sizeBytes: number;
  encrypted: boolean;
  plaintextSize: number | null;
  /** An encrypted copy's key data: base nonce then wrapped data key (null when not encrypted). */
  encryptionKey?: Uint8Array | null;
  keyId?: string | null;
  /** Where the copy's bytes are on its backend, when not at the object key (see ObjectLocation.storageKey). */
  storageKey?: string;
  /** A compressed copy's `compression_algorithm` (absent: stored verbatim), logical size and layout version. */
  compression?: string;
  logicalSize?: number | null;
  compressionVersion?: number | null;
  /** The row's object identity (upstream's `etag`, `content_type`), when it has one. */
  etag?: string;
  contentType?: string;
  /** The row's created_at, ms since the epoch: the object's Last-Modified. */
  createdAt?: number;
}

/** One probe of one copy, described by data. */
export interface ProbeTask {
  op: 'head' | 'get';
  /** Configured backend name. */
  backend: string;
  key: string;
  /** Null in degraded-mode broadcasts. */
  location: ProbeLocation | null;
  /** GET: an HTTP `Range` (`bytes=a-b`). A ranged body is never verified. */
  range?: string;
  /** GET: verify the body against `location.contentHash` (default true). */
  verify?: boolean;
  /** GET with `verify` and no content_hash: check a plain-MD5 ETag (default true). */
  verifyEtag?: boolean;
  /**
   * GET into memory: the largest body to buffer; a bigger one is OBJECT_TOO_LARGE, refused on
   * its announced size before the body is read.
   */
  maxBytes?: number;
  /** GET: file: URL of a transform module run on the verified body. */
  transform?: string;
  /**
   * GET: a resolved directory the verified body is written under, at the key's path (see
   * sinks/file-sink.ts), instead of being returned.
   */
  out?: string;
  /** With `out`: the batch writing, within which the thread's knowledge of the tree holds. */
  outScope?: string;
  /**
   * The backend has an egress limit: each GET the probe sends (a HEAD probe's ranged reads of a
   * degraded copy included) reserves the bytes it can take before it is sent, and after the
   * headers the body's announced size replaces that reservation before the body is read.
   */
  egressLimited?: boolean;
  /** Names this probe's usage reservation to the usage port. */
  usageId?: number;
  /**
   * API requests reserved when the probe was admitted (set with `usageId` on a backend with
   * limits): the probe reserves any request past them before sending it (probe/request-budget.ts).
   */
  reservedApi?: number;
  /**
   * Degraded mode: the key this backend holds the object's latest write at, once a listing
   * found it (see probe/stored-copy.ts).
   */
  storedAt?: string;
}

/** Usage a probe consumed: settled by whoever admitted it. */
export interface ProbeUsage {
  api: number;
  egress: number;
}

/**
 * One running probe's tally: its usage so far, and when it began (`performance.now()` where it
 * runs), which every backend call it makes passes on as `since` — `server.backend_timeout`
 * bounds the probe's requests together, not each alone.
 */
export interface ProbeTally extends ProbeUsage {
  readonly since: number;
}

/** HEAD fields of an answer (Dates survive structured clone). */
export type VerdictHead = Omit<HeadResult, 'size'> & {
  /** Degraded mode: where and how the copy that answered is stored (found by listing and from its bytes). */
  storedAs?: StoredAs;
};

/** A probe that succeeded. */
export interface OkVerdict extends ProbeUsage {
  kind: 'ok';
  /** Bytes read (GET) or the object's size (HEAD). */
  size: number;
  /** The object's size: as the backend reported it, or for an encrypted copy its plaintext size (HEAD). */
  objectSize: number;
  head: VerdictHead;
  /** GET without transform: the whole body. */
  body?: Uint8Array;
  /** GET with `out`: the path written, relative to the directory. */
  path?: string;
  /**
   * GET with `out`: why the verified body could not be written (the read itself succeeded) —
   * the thrown value on the thread that ran the probe, a SerializedError across threads.
   */
  writeError?: unknown;
  verified?: boolean;
  /** GET with transform: the transform's result (on the thread that ran it). */
  value?: unknown;
  /** GET with transform, across threads: a bytes result (transferred). */
  bytes?: Uint8Array;
  /** GET with transform, across threads: any other result as `v8.serialize` bytes (transferred). */
  serialized?: Uint8Array;
  /** An encrypted copy was decrypted. */
  decrypted?: true;
  /** A compressed copy was decoded. */
  decompressed?: true;
}

/** A probe declined for usage limits after its request was sent. */
export interface SkipVerdict extends ProbeUsage {
  kind: 'skip';
  limit: UsageLimitKind;
}

/** A probe that failed. */
export interface ErrorVerdict extends ProbeUsage {
  kind: 'error';
  /** Why the copy could not be decrypted, for metrics (the kind does not survive serialization). */
  decryptFailure?: DecryptFailureKind;
  /**
   * What failed: the thrown value on the thread that ran the probe; a SerializedError once
   * carried across threads (structured clone loses an Error's `code` and `cause`).
   */
  error: unknown;
}

/** What a probe answers. */
export type Verdict = OkVerdict | SkipVerdict | ErrorVerdict;

/** The probe's view of a location row (null in degraded mode). */
export function probeLocation(l: ObjectLocation | null): ProbeLocation | null {
  if (l === null) return null;
  const p: ProbeLocation = {
    contentHash: l.contentHash ?? null,
    sizeBytes: l.sizeBytes,
    encrypted: l.encrypted,
    plaintextSize: l.plaintextSize ?? null,
    createdAt: l.createdAt.getTime(),
  };
  if (l.encrypted) {
    p.encryptionKey = l.encryptionKey ?? null;
    p.keyId = l.keyId ?? null;
  }
  if (l.storageKey !== undefined && l.storageKey !== null) p.storageKey = l.storageKey;
  if (nonEmpty(l.compression)) {
    p.compression = l.compression;
    p.logicalSize = l.logicalSize ?? null;
    p.compressionVersion = l.compressionVersion ?? null;
  }
  if (nonEmpty(l.etag)) p.etag = l.etag;
  if (nonEmpty(l.contentType)) p.contentType = l.contentType;
  return p;
}

/**
 * The key to ask the backend for: where the row says the copy's bytes are, or in degraded mode
 * where a listing found them, else the object key. Everything else — messages, `--out` paths,
 * caches — goes by the object key.
 */
export function backendKey(task: Pick<ProbeTask, 'key' | 'location' | 'storedAt'>): string {
  return task.location?.storageKey ?? task.storedAt ?? task.key;
}
