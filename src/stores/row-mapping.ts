/**
 * Turning `object_locations` rows from SQLite or PostgreSQL into {@link ObjectLocation}s.
 *
 * Both drivers hand back loosely typed values (SQLite: TEXT timestamps, 0/1 booleans, Buffers;
 * pg: BIGINT as strings, Dates), and an s3-orchestrator database may hold rows written by
 * several upstream versions. Every column is checked here, and a bad one becomes a
 * METADATA_ERROR naming the key, backend and column, so one broken row fails only the lookup
 * of its own key.
 */
import { ReadPathError } from '../errors.js';
import type { ListedObject, ObjectLocation, ObjectTag } from '../types.js';
import { insertionSort } from '../small-sort.js';
import { compareKeys } from './key-listing.js';

/**
 * Every `object_locations` column readpath knows the meaning of: the ones it reads, and the ones
 * upstream added that do not change how a copy is read or described (`last_scrubbed_at`,
 * `compression_level`, `compression_probe_*`).
 */
export const KNOWN_LOCATION_COLUMNS: ReadonlySet<string> = new Set([
  'object_key', 'backend_name', 'size_bytes', 'encrypted', 'encryption_key', 'key_id', 'plaintext_size', 'content_hash', 'created_at',
  'storage_key', 'managed', 'last_scrubbed_at',
  'compression_algorithm', 'compression_level', 'compression_format_version', 'logical_size', 'compression_probe_size', 'compression_probe_level',
  'etag', 'content_type', 'user_metadata',
]);

/**
 * Columns of `object_locations` readpath does not know, in the table's order: a newer
 * s3-orchestrator may have added one that changes how copies must be read (as `storage_key`,
 * the compression and identity columns each did).
 */
export function unknownLocationColumns(columns: Iterable<string>): string[] {
  return [...columns].filter((c) => !KNOWN_LOCATION_COLUMNS.has(c));
}

/** The warning for {@link unknownLocationColumns}. */
export function unknownColumnsWarning(columns: readonly string[]): string {
  return `object_locations has column${columns.length === 1 ? '' : 's'} this readpath does not know: ${columns.join(', ')}. `
    + 'A newer s3-orchestrator may store or describe objects in a way this version cannot read; reads go on with the columns it knows (upgrade readpath).';
}

/** The raw column values of one `object_locations` row, as a driver returns them. */
export interface RawLocationRow {
  object_key: unknown;
  backend_name: unknown;
  size_bytes: unknown;
  encrypted: unknown;
  encryption_key: unknown;
  key_id: unknown;
  plaintext_size: unknown;
  content_hash: unknown;
  created_at: unknown;
  /** s3-orchestrator's `storage_key`, in databases that have the column. */
  storage_key?: unknown;
  /** s3-orchestrator's compression columns, in databases that have them. */
  compression_algorithm?: unknown;
  logical_size?: unknown;
  compression_format_version?: unknown;
  /** s3-orchestrator's object-identity columns, in databases that have them. */
  etag?: unknown;
  content_type?: unknown;
  user_metadata?: unknown;
  /** How many tags the object has in upstream's `object_tags`, in databases that have the table. */
  tag_count?: unknown;
}

/** A parsed timestamp: the Date (millisecond precision) and the nanoseconds below it, for ordering. */
export interface ParsedTimestamp {
  date: Date;
  /** Nanoseconds past `date`'s millisecond, 0..999_999: RFC3339Nano keeps them, Date cannot. */
  subMillisNanos: number;
}

// ISO-8601 / RFC 3339 with 'T' or a space, up to nanoseconds, and an optional zone: 'Z', ±HH,
// ±HHMM, ±HH:MM. Also the layout Go's time.Time.String() prints (what some Go SQLite drivers
// store for a time.Time): "2006-01-02 15:04:05.999999999 -0700 MST", monotonic suffix included.
const TIMESTAMP_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)? ?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?(?: [A-Z]{1,5})?(?: m=[+-]\d+(?:\.\d+)?)?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parse a textual timestamp as SQLite databases written by s3-orchestrator hold them
 * (RFC3339Nano, or SQLite's own `YYYY-MM-DD HH:MM:SS[.fff]`). A timestamp without a zone is UTC,
 * as SQLite's date functions assume. Returns undefined when the text is not a valid timestamp.
 */
export function parseTimestamp(text: string): ParsedTimestamp | undefined {
  const fast = parseCanonical(text);
  if (fast !== undefined) return { date: new Date(fast), subMillisNanos: 0 };
  const m = TIMESTAMP_RE.exec(text.trim());
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > (DAYS_IN_MONTH[month - 1] as number)) return undefined;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const fraction = (m[7] ?? '').padEnd(9, '0');
  const millis = Number(fraction.slice(0, 3));
  const subMillisNanos = Number(fraction.slice(3));
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = m[11] === undefined ? 0 : Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear rather than Date.UTC: Date.UTC maps years 0..99 to 1900..1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, millis);
  const ms = d.getTime() - offsetMinutes * 60_000;
  if (!Number.isFinite(ms)) return undefined;
  return { date: new Date(ms), subMillisNanos };
}

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * The hot path: `YYYY-MM-DDTHH:MM:SS.sssZ`, what readpath and upstream's SQLite defaults
 * write. Parsed by hand (a regex costs several times more); anything else, or anything out
 * of range, is left to the general parser, which decides.
 */
function parseCanonical(s: string): number | undefined {
  if (s.length !== 24 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 ||
    s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46 || s.charCodeAt(23) !== 90) {
    return undefined;
  }
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const ms = digits(s, 20, 3);
  // Days past 28 need the month's length and years below 100 Date.UTC's quirk: slow path.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
    second < 0 || second > 59 || ms < 0) {
    return undefined;
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The error a malformed column becomes. */
export function badColumn(key: string, backend: unknown, column: string, problem: string, cause?: unknown): ReadPathError {
  const where = typeof backend === 'string' ? ` on backend ${JSON.stringify(backend)}` : '';
  return new ReadPathError(
    'METADATA_ERROR',
    `object_locations row for key ${JSON.stringify(key)}${where}: column ${column}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

function show(value: unknown): string {
  let s: string;
  if (typeof value === 'string') s = JSON.stringify(value);
  else if (value instanceof Uint8Array) s = `<${value.length} bytes>`;
  else s = String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function integer(key: string, backend: unknown, column: string, value: unknown, nullable: boolean): number | null {
  if (value === null || value === undefined) {
    if (nullable) return null;
    throw badColumn(key, backend, column, 'is NULL');
  }
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'bigint') n = Number(value);
  // pg returns BIGINT columns as strings, since they may not fit a double.
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = Number(value);
  else throw badColumn(key, backend, column, `not an integer: ${show(value)}`);
  if (!Number.isSafeInteger(n) || n < 0) throw badColumn(key, backend, column, `not a non-negative safe integer: ${show(value)}`);
  return n;
}

function optionalString(key: string, backend: unknown, column: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  throw badColumn(key, backend, column, `not text: ${show(value)}`);
}

function boolean(key: string, backend: unknown, column: string, e: unknown): boolean {
  if (e === true || e === 1 || e === 1n) return true;
  if (e === false || e === 0 || e === 0n || e === null || e === undefined) return false;
  throw badColumn(key, backend, column, `not a boolean: ${show(e)}`);
}

const HASH_RE = /^[0-9a-fA-F]{64}$/;

/**
 * The created_at of a row, whatever the driver handed back; null when it is NULL: an undated
 * copy (upstream declares the column nullable, and neither engine fills one in for a row
 * inserted with an explicit NULL). Such a copy is still read: see {@link compareCopies} for
 * where it goes and {@link undatedTimestamp} for the time it is given.
 */
export function rowTimestamp(key: string, backend: unknown, value: unknown): ParsedTimestamp | null {
  if (value instanceof Date) {
    // pg maps 'infinity' to a non-Date and garbage to an Invalid Date: neither orders reads.
    if (Number.isNaN(value.getTime())) throw badColumn(key, backend, 'created_at', 'invalid date');
    return { date: value, subMillisNanos: 0 };
  }
  if (typeof value === 'string') {
    const t = parseTimestamp(value);
    if (t === undefined) throw badColumn(key, backend, 'created_at', `malformed timestamp ${show(value)}`);
    return t;
  }
  if (value === null || value === undefined) return null;
  throw badColumn(key, backend, 'created_at', `not a timestamp: ${show(value)}`);
}

/**
 * The time given to an undated copy (NULL created_at), `newest` being the newest created_at
 * among its key's dated copies, if any. Upstream, on PostgreSQL, reads NULL as Go's zero time
 * (year 1); readpath does not, because that time becomes the object's Last-Modified and a
 * listing's LastModified:
 * - with dated copies, the newest of their times. Every copy of a key holds the same write (an
 *   overwrite replaces them all), so the other copies' time is the object's, as a client would
 *   expect; the newest, because the undated copy is ordered after every dated one and the copies
 *   stay in ascending createdAt, as the MetadataStore contract says they are;
 * - with none, the Unix epoch: a fixed time (a listing or HEAD answers the same every time, so
 *   sync tools comparing times do not copy the object again and again), recognisable as
 *   "unknown", and the zero of the Unix times clients and sync tools keep, where year 1 is a
 *   large negative one.
 */
export function undatedTimestamp(newest: ParsedTimestamp | undefined): ParsedTimestamp {
  return newest === undefined ? { date: new Date(0), subMillisNanos: 0 } : { date: new Date(newest.date.getTime()), subMillisNanos: newest.subMillisNanos };
}

/**
 * Convert one raw row. `key` is the key the lookup asked for, so the error names it even when
 * the row's own object_key column is what is broken.
 */
export function toObjectLocation(key: string, row: RawLocationRow, createdAt: ParsedTimestamp): ObjectLocation {
  const backend = row.backend_name;
  if (typeof backend !== 'string' || backend === '') throw badColumn(key, backend, 'backend_name', `not a backend name: ${show(backend)}`);
  if (row.object_key !== key) throw badColumn(key, backend, 'object_key', `does not match the key looked up: ${show(row.object_key)}`);

  const sizeBytes = integer(key, backend, 'size_bytes', row.size_bytes, false) as number;

  const encrypted = boolean(key, backend, 'encrypted', row.encrypted);

  let encryptionKey: Uint8Array | null = null;
  const k = row.encryption_key;
  if (k instanceof Uint8Array) {
    // A copy on a plain Uint8Array: drivers hand out Buffers that may share a pooled slab,
    // which would travel whole to a worker thread.
    encryptionKey = new Uint8Array(k.length);
    encryptionKey.set(k);
  } else if (k !== null && k !== undefined) {
    throw badColumn(key, backend, 'encryption_key', `not binary: ${show(k)}`);
  }

  const contentHash = contentHashOf(key, backend, row.content_hash);
  const storageKey = storageKeyOf(key, backend, row.storage_key);
  const compression = optionalString(key, backend, 'compression_algorithm', row.compression_algorithm);
  return {
    objectKey: key,
    backendName: backend,
    sizeBytes,
    createdAt: createdAt.date,
    encrypted,
    encryptionKey,
    keyId: optionalString(key, backend, 'key_id', row.key_id),
    plaintextSize: integer(key, backend, 'plaintext_size', row.plaintext_size, true),
    contentHash,
    ...(storageKey === undefined ? {} : { storageKey }),
    // Upstream: "a NULL algorithm means the bytes are stored verbatim"; its code tests for ''.
    ...(compression === null || compression === '' ? {} : {
      compression,
      // Upstream writes it with the algorithm; without it no read could say the object's size.
      logicalSize: integer(key, backend, 'logical_size', row.logical_size, false),
      compressionVersion: integer(key, backend, 'compression_format_version', row.compression_format_version, true),
    }),
    ...identityOf(key, backend, row),
    ...tagCountOf(key, backend, row.tag_count),
  };
}

/** The row's content_hash, checked: lowercase hex SHA-256, or null for none. */
function contentHashOf(key: string, backend: string, h: unknown): string | null {
  if (typeof h === 'string') {
    // Upstream writes '' for "no hash" in some versions: nothing to verify.
    if (h === '') return null;
    if (!HASH_RE.test(h)) throw badColumn(key, backend, 'content_hash', `not a hex SHA-256: ${show(h)}`);
    return h.toLowerCase();
  }
  if (h !== null && h !== undefined) throw badColumn(key, backend, 'content_hash', `not text: ${show(h)}`);
  return null;
}

/**
 * The ETag every answer about an object gives — GET, HEAD and listings alike — when a database
 * row describes it: the row's `etag` (what upstream gave its clients); else one derived from
 * content_hash in the multipart form (`"…-1"`, which no client checks as an MD5), whatever form
 * the copies are stored in. Derived from the database, it is the same for every copy and costs
 * no backend request, so a listing can give it. Undefined when the row has neither: only a
 * backend can say then.
 */
export function rowEtag(l: { etag?: string | null | undefined; contentHash?: string | null | undefined }): string | undefined {
  if (nonEmpty(l.etag)) return l.etag;
  const h = l.contentHash;
  return h === null || h === undefined || h.length < 32 ? undefined : `"${h.slice(0, 32).toLowerCase()}-1"`;
}

/** `{ tagCount }` when the object has tags (a count from the lookup), else nothing. */
function tagCountOf(key: string, backend: string, v: unknown): { tagCount?: number } {
  if (v === null || v === undefined) return {};
  const n = integer(key, backend, 'tag_count', v, false) as number;
  return n > 0 ? { tagCount: n } : {};
}

/**
 * The row's object identity: its `etag` (quoted, as upstream stores it and S3 sends it; NULL or
 * '' is unknown) and `content_type` (NULL unknown; '' is a type the client set, and upstream
 * then leaves the backend's).
 */
function identityOf(key: string, backend: string, row: Pick<RawLocationRow, 'etag' | 'content_type' | 'user_metadata'>): { etag?: string; contentType?: string; userMetadata?: Record<string, string> } {
  const out: { etag?: string; contentType?: string; userMetadata?: Record<string, string> } = {};
  const etag = optionalString(key, backend, 'etag', row.etag);
  if (etag !== null && etag !== '') {
    if (etag.length > 1024 || !headerSafe(etag)) throw badColumn(key, backend, 'etag', `not an ETag: ${show(etag)}`);
    out.etag = etag.startsWith('"') ? etag : `"${etag}"`;
  }
  const type = optionalString(key, backend, 'content_type', row.content_type);
  if (type !== null && type !== '') {
    if (type.length > 1024 || !headerSafe(type)) throw badColumn(key, backend, 'content_type', `not a media type: ${show(type)}`);
    out.contentType = type;
  }
  const meta = userMetadataOf(key, backend, row.user_metadata);
  if (meta !== undefined) out.userMetadata = meta;
  return out;
}

/**
 * `user_metadata` as upstream writes it: a JSON object of strings (SQLite: TEXT, or a BLOB when
 * its Go driver bound bytes; PostgreSQL: JSONB, which pg hands back parsed). NULL, '' and JSON
 * `null` are "never recorded" (undefined); `{}` is "none".
 */
function userMetadataOf(key: string, backend: string, v: unknown): Record<string, string> | undefined {
  if (v === null || v === undefined) return undefined;
  let parsed: unknown = v;
  if (typeof v === 'string' || v instanceof Uint8Array) {
    const text = typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
    if (text === '') return undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw badColumn(key, backend, 'user_metadata', `not JSON: ${show(text)}`);
    }
  }
  if (parsed === null) return undefined;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw badColumn(key, backend, 'user_metadata', `not a JSON object: ${show(typeof v === 'string' ? v : JSON.stringify(parsed))}`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'string') throw badColumn(key, backend, 'user_metadata', `value of ${JSON.stringify(name)} is not a string: ${show(value)}`);
    out[name] = value;
  }
  return out;
}

/** No control characters: the value can be sent as an HTTP header. */
function headerSafe(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * The copy's path on its backend when it is not the object key; undefined when it is (no
 * column, NULL, '' — what upstream's migration backfills before it copies the key — or the key
 * itself).
 */
function storageKeyOf(key: string, backend: string, v: unknown): string | undefined {
  if (v === null || v === undefined || v === '' || v === key) return undefined;
  if (typeof v !== 'string') throw badColumn(key, backend, 'storage_key', `not text: ${show(v)}`);
  if (v.length > 4096) throw badColumn(key, backend, 'storage_key', `longer than any S3 key can be (${v.length} characters)`);
  return v;
}

/** A text column's value that says something: neither absent, NULL nor ''. */
export function nonEmpty(v: string | null | undefined): v is string {
  return v !== undefined && v !== null && v !== '';
}

/** The row says its copy is stored compressed. */
export function isCompressed(l: { compression?: string | null } | null): boolean {
  return l !== null && nonEmpty(l.compression);
}

/**
 * An encrypted copy stored whole (not compressed) whose row has no plaintext_size: nothing can
 * give its object's size, so neither a GET nor a HEAD of it is answered.
 */
export function lacksPlaintextSize(l: { encrypted: boolean; compression?: string | null; plaintextSize?: number | null }): boolean {
  return l.encrypted && !isCompressed(l) && (l.plaintextSize ?? null) === null;
}

/**
 * The copy's stored bytes are not the object's (encrypted or compressed): their ETag, the
 * stored bytes' MD5, says nothing about the object a client reads.
 */
export function storedDiffers(l: { encrypted: boolean; compression?: string | null } | null): boolean {
  return l !== null && (l.encrypted || isCompressed(l));
}

/**
 * The object's size a row describes: the logical size of a compressed copy, the plaintext size
 * of an encrypted one, else the stored size.
 */
export function objectSizeOf(l: Pick<ObjectLocation, 'sizeBytes' | 'encrypted' | 'plaintextSize' | 'compression' | 'logicalSize'>): number {
  if (isCompressed(l) && l.logicalSize !== undefined && l.logicalSize !== null) return l.logicalSize;
  return l.encrypted && l.plaintextSize !== null && l.plaintextSize !== undefined ? l.plaintextSize : l.sizeBytes;
}

/** Check a location before it is written (seeding, tests, the demo): bad input names its field. */
export function checkLocationForWrite(loc: ObjectLocation): void {
  const fail = (field: string, problem: string): never => {
    throw new ReadPathError('METADATA_ERROR', `location for key ${JSON.stringify(loc.objectKey)}: ${field} ${problem}`);
  };
  if (typeof loc.objectKey !== 'string' || loc.objectKey === '') fail('objectKey', 'must be a non-empty string');
  if (typeof loc.backendName !== 'string' || loc.backendName === '') fail('backendName', 'must be a non-empty string');
  if (!Number.isSafeInteger(loc.sizeBytes) || loc.sizeBytes < 0) fail('sizeBytes', 'must be a non-negative integer');
  if (!(loc.createdAt instanceof Date) || Number.isNaN(loc.createdAt.getTime())) fail('createdAt', 'must be a valid Date');
  if (loc.plaintextSize !== undefined && loc.plaintextSize !== null && (!Number.isSafeInteger(loc.plaintextSize) || loc.plaintextSize < 0)) {
    fail('plaintextSize', 'must be a non-negative integer or null');
  }
  if (loc.contentHash !== undefined && loc.contentHash !== null && !HASH_RE.test(loc.contentHash)) fail('contentHash', 'must be a hex SHA-256 or null');
  if (loc.encryptionKey !== undefined && loc.encryptionKey !== null && !(loc.encryptionKey instanceof Uint8Array)) fail('encryptionKey', 'must be a Uint8Array or null');
  if (loc.storageKey !== undefined && loc.storageKey !== null && (typeof loc.storageKey !== 'string' || loc.storageKey === '')) fail('storageKey', 'must be a non-empty string or null');
  if (loc.compression !== undefined && loc.compression !== null && typeof loc.compression !== 'string') fail('compression', 'must be a string or null');
  if (loc.logicalSize !== undefined && loc.logicalSize !== null && (!Number.isSafeInteger(loc.logicalSize) || loc.logicalSize < 0)) fail('logicalSize', 'must be a non-negative integer or null');
  if (loc.compressionVersion !== undefined && loc.compressionVersion !== null && !Number.isSafeInteger(loc.compressionVersion)) fail('compressionVersion', 'must be an integer or null');
  if (loc.etag !== undefined && loc.etag !== null && typeof loc.etag !== 'string') fail('etag', 'must be a string or null');
  if (loc.contentType !== undefined && loc.contentType !== null && typeof loc.contentType !== 'string') fail('contentType', 'must be a string or null');
  const meta: unknown = loc.userMetadata;
  if (meta !== undefined && meta !== null
    && (typeof meta !== 'object' || Array.isArray(meta) || Object.values(meta).some((x) => typeof x !== 'string'))) {
    fail('userMetadata', 'must be an object of strings or null');
  }
}

/** One copy of a key as {@link compareCopies} orders it. */
export interface OrderedCopy {
  /** Its created_at; null when NULL. */
  t: ParsedTimestamp | null;
  /** Its backend_name (checked when the row is converted; anything but text orders as ''). */
  backend: unknown;
}

/**
 * The order a key's copies are tried in, and the copy a listing describes (its first): the same
 * in lookups and listings, in SQLite and PostgreSQL.
 * - created_at ascending, to the nanosecond a timestamp keeps;
 * - NULL after every date, where upstream's `ORDER BY created_at ASC` puts it on PostgreSQL
 *   (on SQLite upstream cannot read such a row at all: it scans created_at into a string);
 * - ties (equal instants, NULLs among themselves) by backend_name in byte order (SQLite's
 *   BINARY, PostgreSQL's COLLATE "C"). Upstream leaves ties to the plan (an index's or the
 *   heap's order, which updates and table rewrites change), so there is no order of its own to
 *   match; a fixed one keeps a GET serving the copy its listing described, request after request.
 */
export function compareCopies(a: OrderedCopy, b: OrderedCopy): number {
  if (a.t !== b.t) {
    if (a.t === null) return 1;
    if (b.t === null) return -1;
    const d = a.t.date.getTime() - b.t.date.getTime() || a.t.subMillisNanos - b.t.subMillisNanos;
    if (d !== 0) return d;
  }
  return compareKeys(typeof a.backend === 'string' ? a.backend : '', typeof b.backend === 'string' ? b.backend : '');
}

/** Sort a key's copies into {@link compareCopies} order, in place. */
export function sortCopies<T extends OrderedCopy>(rows: T[]): T[] {
  // A key has a few copies: sorted without the builtin's work array per lookup.
  return rows.length <= 8 ? insertionSort(rows, compareCopies) : rows.sort(compareCopies);
}

/** The columns of one `object_locations` row a key listing reads. */
export type RawListedRow = Pick<RawLocationRow, 'object_key' | 'backend_name' | 'size_bytes' | 'encrypted' | 'plaintext_size' | 'created_at' | 'compression_algorithm' | 'logical_size' | 'etag' | 'content_hash'>;

/** The object_key of a listed row, checked: a key that is not text is a METADATA_ERROR. */
export function listedKey(row: RawListedRow): string {
  const key = row.object_key;
  if (typeof key === 'string') return key;
  const where = typeof row.backend_name === 'string' ? ` on backend ${JSON.stringify(row.backend_name)}` : '';
  throw new ReadPathError('METADATA_ERROR', `object_locations row${where}: column object_key: not text: ${show(key)}`);
}

/**
 * One listed object from its first copy's row (`key` already checked with {@link listedKey}):
 * the size a client reads (the plaintext size of an encrypted copy that records one, as reads
 * report it), the copy's created_at, and the ETag reads report ({@link rowEtag}). The columns
 * read are checked as lookups check them.
 */
export function toListedObject(key: string, row: RawListedRow, createdAt: ParsedTimestamp): ListedObject {
  const backend = row.backend_name;
  if (typeof backend !== 'string' || backend === '') throw badColumn(key, backend, 'backend_name', `not a backend name: ${show(backend)}`);
  const sizeBytes = integer(key, backend, 'size_bytes', row.size_bytes, false) as number;
  const encrypted = boolean(key, backend, 'encrypted', row.encrypted);
  const plaintextSize = integer(key, backend, 'plaintext_size', row.plaintext_size, true);
  const compression = optionalString(key, backend, 'compression_algorithm', row.compression_algorithm);
  const logicalSize = nonEmpty(compression) ? integer(key, backend, 'logical_size', row.logical_size, false) : null;
  const size = objectSizeOf({ sizeBytes, encrypted, plaintextSize, compression, logicalSize });
  const etag = rowEtag({ ...identityOf(key, backend, { etag: row.etag, content_type: null }), contentHash: listedHashOf(key, backend, row.content_hash) });
  return { key, size, lastModified: createdAt.date, ...(etag === undefined ? {} : { etag }) };
}

/**
 * A listed row's content hash, or null when it is malformed: one key's bad hash only keeps an
 * ETag from that key's entry (its reads answer the METADATA_ERROR naming the column), rather
 * than failing the page the other keys are on.
 */
function listedHashOf(key: string, backend: string, h: unknown): string | null {
  try {
    return contentHashOf(key, backend, h);
  } catch {
    return null;
  }
}

/**
 * `object_tags` rows (`tag_key`, `tag_value`, in that order) as a tag set: text both, else a
 * METADATA_ERROR naming the key and column.
 */
export function toObjectTags(key: string, rows: readonly (readonly unknown[])[]): ObjectTag[] {
  return rows.map((r) => {
    const [k, v] = r;
    if (typeof k !== 'string' || k === '') throw tagColumn(key, 'tag_key', k);
    if (typeof v !== 'string') throw tagColumn(key, 'tag_value', v);
    return { key: k, value: v };
  });
}

function tagColumn(key: string, column: string, v: unknown): ReadPathError {
  return new ReadPathError('METADATA_ERROR', `object_tags row for key ${JSON.stringify(key)}: column ${column}: not text: ${show(v)}`);
}
