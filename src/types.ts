/**
 * The shapes the failover core talks in (API.md §2): location rows, backend and store
 * interfaces, and the probe contract.
 */
import type { Readable } from 'node:stream';
import type { Recorder } from './telemetry/recorder.js';

/** One row of s3-orchestrator's `object_locations` table. */
export interface ObjectLocation {
  objectKey: string;
  backendName: string;
  sizeBytes: number;
  createdAt: Date;
  encrypted: boolean;
  encryptionKey?: Uint8Array | null;
  keyId?: string | null;
  plaintextSize?: number | null;
  /** Hex SHA-256 of the stored bytes, when known. */
  contentHash?: string | null;
  /**
   * Where this copy's bytes are on its backend when that is not {@link objectKey}:
   * s3-orchestrator (since its `storage_key` column) stores each write under a path of its own,
   * `{object_key}!{id}`, so two writes of one key never share one. Absent, null or equal to the
   * object key: the bytes are at the object key.
   */
  storageKey?: string | null;
  /**
   * s3-orchestrator's `compression_algorithm`: how the copy's bytes are encoded at rest
   * (`'zstd'`, its seekable layout; see docs/compression.md). Absent, null or '': stored
   * verbatim. `sizeBytes` is then the stored size (for an encrypted copy, `plaintextSize` is
   * the compressed size) and {@link logicalSize} the object's own.
   */
  compression?: string | null;
  /** `logical_size`: the object's size when the copy is stored compressed. */
  logicalSize?: number | null;
  /** `compression_format_version`: the layout's version (1); null when the row does not say. */
  compressionVersion?: number | null;
  /**
   * s3-orchestrator's `etag` (since its object-identity columns): the ETag its clients were
   * given — the MD5 of the object's bytes, or the multipart composite — quoted, whatever the
   * copy's stored form. Reads report it instead of the backend's (which describes the stored
   * bytes); absent or null when unknown (older rows).
   */
  etag?: string | null;
  /** `content_type`: the Content-Type the object was written with; absent or null when unknown. */
  contentType?: string | null;
  /**
   * `user_metadata`: the object's user metadata (`x-amz-meta-*`, names without the prefix) as
   * upstream recorded it; `{}` when it carries none, absent or null when never recorded. A HEAD
   * answered from the row reports it (see `head.from_metadata`); GETs take the backend's.
   */
  userMetadata?: Readonly<Record<string, string>> | null;
  /**
   * How many tags the object has (s3-orchestrator's `object_tags`, counted with the lookup where
   * the database has the table); absent when none. GETs and HEADs report it (`x-amz-tagging-count`).
   */
  tagCount?: number;
}

/** What a HEAD answers. */
export interface HeadResult {
  size: number;
  etag?: string;
  contentType?: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
}

/** What a GET answers: the HEAD fields and a body stream the caller must consume or destroy. */
export interface GetResult extends HeadResult {
  body: Readable;
  /**
   * A ranged answer (206): the whole object's size, from its `Content-Range` (`bytes a-b/N`).
   * Absent for a whole answer, or when the server did not say (`/*`). A degraded HEAD learns the
   * size from it (one ranged GET); a backend that leaves it out costs a HEAD request as well.
   */
  totalSize?: number;
}

/**
 * Conditional request headers (RFC 7232) a backend passes through to the server. A failed
 * condition is a `BACKEND_ERROR` with `backendStatus` 304 (If-None-Match, If-Modified-Since) or
 * 412 (If-Match, If-Unmodified-Since).
 */
export interface ConditionalOptions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  ifUnmodifiedSince?: Date;
}

/** Options of {@link ObjectBackend.head}. */
export interface BackendHeadOptions extends ConditionalOptions {
  signal?: AbortSignal;
  /**
   * When the operation this call is part of began, as `performance.now()` on the calling thread:
   * a backend with a timeout counts it from then, so the calls of one probe (an encrypted copy's
   * header and body, a degraded key's listing and GET) share one `server.backend_timeout`, and a
   * call that would start past it fails with `TIMEOUT` unsent. Backends without a timeout ignore it.
   */
  since?: number;
}

/** Options of {@link ObjectBackend.get}. */
export interface BackendGetOptions extends BackendHeadOptions {
  /** An HTTP `Range` header value, e.g. `bytes=0-99`. */
  range?: string;
  /**
   * Whether the backend's timeout bounds the body too (this call only; default: the backend's
   * own setting). Streams pass false: their consumer sets the pace, and they watch for stalls
   * themselves.
   */
  timeoutCoversBody?: boolean;
  /**
   * A buffer the backend may read a body of known length no larger than it into, instead of
   * allocating memory per socket read (the lean transport does, over plain HTTP; others ignore
   * it). The body's chunks are then views of `into`, in order from its byte 0: the caller must
   * not reuse `into` while the body or any of its chunks is still in use.
   */
  into?: Buffer;
  /**
   * The body's chunks may be views of memory the backend reuses once they have been emitted:
   * each is valid only until the body's 'data' listeners it was emitted to return. For callers
   * that take a body synchronously in 'data' events (hash it, write it to a file), never with
   * `read()` or async iteration. The lean transport then reads a body of known length that does
   * not fit `into` through one buffer per connection, so a body costs no memory of its own and
   * the pages are touched once; other backends ignore it.
   */
  transient?: boolean;
}

/** One S3-compatible backend. */
export interface ObjectBackend {
  readonly name: string;
  /**
   * True when the backend bounds its own calls by `server.backend_timeout`, counted from each
   * call's `since` (readpath's S3 transports do). For any other backend, the runtime bounds each
   * probe itself: past the timeout the probe fails with `TIMEOUT` and its calls' signal is aborted.
   */
  readonly boundsCalls?: boolean;
  head(key: string, opts?: BackendHeadOptions): Promise<HeadResult>;
  get(key: string, opts?: BackendGetOptions): Promise<GetResult>;
  /**
   * One page of the bucket's keys under a prefix, in S3's order (UTF-8 bytes). Optional: degraded
   * mode uses it to find where an object's latest write is stored (upstream's `{key}!{id}`
   * storage keys); a backend without it is read at the object key.
   */
  list?(opts: BackendListOptions): Promise<BackendListPage>;
}

/** Options of {@link ObjectBackend.list}. */
export interface BackendListOptions {
  prefix: string;
  /** Keys after this one (S3's `start-after`). */
  startAfter?: string;
  /** The previous page's {@link BackendListPage.nextToken}. */
  continuationToken?: string;
  /** At most this many keys (S3's `max-keys`; servers may answer fewer). */
  maxKeys?: number;
  signal?: AbortSignal;
  /** As {@link BackendHeadOptions.since}. */
  since?: number;
}

/** One object of a backend listing. */
export interface BackendListedObject {
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

/** One page of a backend listing. */
export interface BackendListPage {
  objects: BackendListedObject[];
  /** More keys follow: ask again with {@link nextToken} (or start after the last key). */
  truncated: boolean;
  nextToken?: string;
}

/** Options of {@link MetadataStore.listKeys}. */
export interface ListKeysOptions {
  /** Only keys that start with this string (default: every key). */
  prefix?: string;
  /** Only keys after this one, exclusive (S3's start-after / marker / continuation). */
  startAfter?: string;
  /** At most this many objects: a non-negative integer (0 answers an empty page). */
  limit: number;
  signal?: AbortSignal;
}

/** One object of a key listing: one entry per object key, whatever its number of copies. */
export interface ListedObject {
  key: string;
  /**
   * The object's size as a client reads it, from its first copy by createdAt (the copy reads
   * try first): `logicalSize` for a compressed copy, `plaintextSize` for an encrypted copy that
   * has one, else `sizeBytes`.
   */
  size: number;
  /** That copy's createdAt. */
  lastModified: Date;
  /**
   * The ETag reads of it report: that copy's row ETag (s3-orchestrator's `etag`, where the table
   * has it and the row is not NULL), else one derived from its content_hash (`"…-1"`). Absent
   * when the row has neither: reads then report the backend's.
   */
  etag?: string;
}

/** One tag of an object's tag set (S3 object tagging; s3-orchestrator's `object_tags` table). */
export interface ObjectTag {
  key: string;
  value: string;
}

/** Where objects live: s3-orchestrator's metadata database. */
export interface MetadataStore {
  /**
   * Rows for key ordered by createdAt ascending. Throws OBJECT_NOT_FOUND when there are none,
   * DB_UNAVAILABLE when the store cannot be reached.
   */
  getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]>;
  /**
   * One page of a key listing: the distinct object keys greater than `startAfter` that start
   * with `prefix`, ascending in UTF-8 byte order (S3's order; the same as code point order),
   * at most `limit` of them. The next page starts after the last key answered; a page shorter
   * than `limit` is the last. Throws DB_UNAVAILABLE when the store cannot be reached,
   * METADATA_ERROR (naming key and column) for a row it cannot read.
   *
   * Optional, so stores written before listing existed still type-check: the built-in stores
   * implement it, and the store circuit breaker has it exactly when its inner store does.
   */
  listKeys?(opts: ListKeysOptions): Promise<ListedObject[]>;
  /**
   * An object's tag set as s3-orchestrator keeps it (`object_tags`: the object's, shared by its
   * copies), ascending by tag key; `[]` when it has none or the database has no such table. Does
   * not say whether the object exists. DB_UNAVAILABLE when the store cannot be reached,
   * METADATA_ERROR (naming key and column) for a row it cannot read.
   *
   * Optional, as {@link listKeys}: the built-in stores implement it.
   */
  getObjectTags?(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectTag[]>;
  close?(): Promise<void>;
}

/** Remembers which backend served a key in degraded mode. */
export interface LocationCache {
  get(key: string): string | undefined;
  set(key: string, backendName: string): void;
}

/** The configured fleet and its accounting, as the failover core sees them. */
export interface Core {
  backends(): ReadonlyMap<string, ObjectBackend>;
  /** Backend names in configuration order: the degraded broadcast's order. */
  backendOrder(): readonly string[];
  acct(): Recorder;
}

/** One attempt to read a key from one backend. */
export interface ProbeRequest {
  signal: AbortSignal;
  backendName: string;
  /** The location row; null in degraded-mode broadcasts. */
  location: ObjectLocation | null;
  backend: ObjectBackend;
}

/** What a successful probe yields. `cleanup` releases per-attempt resources. */
export interface ProbeResult<T> {
  size: number;
  value: T;
  cleanup?: () => void;
}

/** A probe: read one copy. Rejects with a readpath error on failure. */
export type Probe<T> = (req: ProbeRequest) => Promise<ProbeResult<T>>;

/** A cleanup that does nothing. */
export const noopCleanup = (): void => {};
