/**
 * ListObjectsV2 and ListObjects (v1) from the metadata store: keys of one bucket (stored as
 * `{bucket}/{key}`, as s3-orchestrator stores them) in S3's order, with prefix, delimiter
 * (common prefixes), max-keys, start-after, continuation tokens and markers. One store query per
 * page of the store; a common prefix is skipped over in the store, not key by key.
 */
import { createHash } from 'node:crypto';
import { ReadPathError } from '../errors.js';
import { MAX_KEY_BYTES } from '../engine/keys.js';
import type { ListPage, ListEntry } from './s3-xml.js';

/** The store's listing, as the gateway uses it. */
export type ListKeys = (opts: { prefix: string; startAfter?: string; limit: number; signal?: AbortSignal }) => Promise<{ key: string; size: number; lastModified: Date; etag?: string | undefined }[]>;

/**
 * Greater than every key that starts with a given prefix: keys are at most MAX_KEY_BYTES UTF-8
 * bytes, so none has room after a prefix for this many of the largest code point (4 bytes each).
 */
const PAST_PREFIX = '\u{10FFFF}'.repeat(Math.ceil(MAX_KEY_BYTES / 4));

/** What a listing request asks. */
export interface ListRequest {
  bucket: string;
  prefix: string;
  delimiter: string | undefined;
  maxKeys: number;
  /** Keys strictly after this (bucket-relative). */
  after: string | undefined;
  /** `after` names a common prefix whose keys are all skipped. */
  afterPrefix: boolean;
  encodeUrl: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * Where a listing asked to start after `start` (ListObjects' `marker`, ListObjectsV2's
 * `start-after`, ListObjectVersions' `key-marker`) begins. S3 lists entries — keys and common
 * prefixes — in one order and gives those after the start. With a delimiter, a start at or
 * inside a common prefix (`a/` or `a/1` for keys under `a/`) is past that prefix's own entry
 * (`a/` sorts before both), and every key under it rolls up into that entry: the listing goes
 * on after the whole prefix, for every listing alike. S3-compatible servers do the same (Scality's
 * listing cuts such a marker back to its common prefix; MinIO skips entries not after it).
 */
export function listStart(start: string, prefix: string, delimiter: string | undefined): { after: string; afterPrefix: boolean } {
  if (delimiter === undefined || delimiter === '' || !start.startsWith(prefix)) return { after: start, afterPrefix: false };
  const at = start.indexOf(delimiter, prefix.length);
  return at < 0 ? { after: start, afterPrefix: false } : { after: start.slice(0, at + delimiter.length), afterPrefix: true };
}

/** A page of a listing, and where the next one starts. */
export interface ListResult {
  contents: ListEntry[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last key or common prefix of this page (to continue after), when truncated. */
  next: { after: string; prefix: boolean } | undefined;
}

/** One page of a listing: the store's walk, every object with an ETag (see {@link listedEtag}). */
export async function listPage(list: ListKeys, r: ListRequest): Promise<ListResult> {
  const res = await walk(list, r);
  for (const e of res.contents) e.etag ??= listedEtag(r.bucket, e);
  return res;
}

/**
 * The ETag listed for an object whose rows give none (neither upstream's `etag` nor a usable
 * content_hash: rows from before upstream recorded ETags, of multipart uploads, which have no
 * hash). S3 lists an ETag for every object (s3cmd's wildcards fail without one), and only a
 * backend knows this one: rather than a billed HEAD per such entry on every listing, it is
 * derived from what the row says of the object (key, size, Last-Modified), in multipart form, so
 * no client checks it as an MD5, and it changes when the object does. A GET or HEAD of the object
 * gives the backend's.
 */
export function listedEtag(bucket: string, e: ListEntry): string {
  return `"${createHash('sha256').update(`${bucket}/${e.key}\0${e.size}\0${e.lastModified.toISOString()}`).digest('hex').slice(0, 32)}-1"`;
}

/** Walk the store for one page of a listing. */
async function walk(list: ListKeys, r: ListRequest): Promise<ListResult> {
  const root = `${r.bucket}/`;
  const full = root + r.prefix;
  const contents: ListEntry[] = [];
  const commonPrefixes: string[] = [];
  let cursor: string | undefined = r.after === undefined ? undefined : root + r.after + (r.afterPrefix ? PAST_PREFIX : '');
  if (r.maxKeys === 0) return { contents, commonPrefixes, truncated: false, next: undefined };
  let last: { after: string; prefix: boolean } | undefined;
  const fullBatch = Math.min(1000, r.maxKeys + 1);
  // Right after a common prefix the next one is likely near: ask for a few keys, not a page.
  let batch = fullBatch;
  let queries = 0;
  for (;;) {
    // The store may answer synchronously (SQLite): let the event loop turn between queries.
    if (queries++ > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const rows = await list({ prefix: full, ...(cursor === undefined ? {} : { startAfter: cursor }), limit: batch, ...(r.signal === undefined ? {} : { signal: r.signal }) });
    let jumped = false;
    for (const row of rows) {
      if (!row.key.startsWith(full)) continue;
      // One more entry than max-keys exists: the page is truncated after the last one taken.
      if (contents.length + commonPrefixes.length >= r.maxKeys) return { contents, commonPrefixes, truncated: true, next: last };
      const rel = row.key.slice(root.length);
      const d = r.delimiter;
      const at = d === undefined || d === '' ? -1 : rel.indexOf(d, r.prefix.length);
      if (at >= 0 && d !== undefined) {
        const cp = rel.slice(0, at + d.length);
        commonPrefixes.push(cp);
        last = { after: cp, prefix: true };
        // Every other key under this prefix rolls up into it: continue past all of them.
        cursor = root + cp + PAST_PREFIX;
        jumped = true;
        break;
      }
      const e: ListEntry = { key: rel, size: row.size, lastModified: row.lastModified };
      if (row.etag !== undefined) e.etag = row.etag;
      contents.push(e);
      last = { after: rel, prefix: false };
      cursor = row.key;
    }
    if (!jumped && rows.length < batch) return { contents, commonPrefixes, truncated: false, next: undefined };
    batch = jumped ? Math.min(8, fullBatch) : fullBatch;
  }
}

/** An opaque continuation token for `next`. */
export function continuationToken(next: { after: string; prefix: boolean }): string {
  return Buffer.from(`${next.prefix ? 'p' : 'k'}${next.after}`, 'utf8').toString('base64url');
}

/** Decode a continuation token; 400 InvalidArgument when it is not one of ours. */
export function parseContinuationToken(token: string): { after: string; prefix: boolean } {
  const s = Buffer.from(token, 'base64url').toString('utf8');
  const kind = s[0];
  if ((kind !== 'p' && kind !== 'k') || Buffer.from(s, 'utf8').toString('base64url') !== token) {
    throw new ReadPathError('INVALID_CONFIG', 'continuation-token: the continuation token provided is incorrect');
  }
  return { after: s.slice(1), prefix: kind === 'p' };
}

/** The XML page of a listing result. */
export function toListPage(r: ListRequest, res: ListResult): ListPage {
  return {
    bucket: r.bucket, prefix: r.prefix, delimiter: r.delimiter, maxKeys: r.maxKeys, encodeUrl: r.encodeUrl,
    contents: res.contents, commonPrefixes: res.commonPrefixes, truncated: res.truncated,
  };
}
