/**
 * A minimal, fast S3-compatible server for the peer benchmark: one bucket, objects served from
 * memory, path-style addressing, no signature checking. What the peers need of it:
 *
 * - GetObject (with `Range: bytes=A-B | A- | -N`, answered 206 + Content-Range) and HeadObject;
 * - ListObjectsV2 (`list-type=2`: prefix, delimiter, max-keys, continuation-token, start-after)
 *   for the aws CLI, and ListObjects v1 (prefix, delimiter, max-keys, `marker`, NextMarker) for
 *   rclone's `Other` provider; both honour `encoding-type=url`;
 * - HeadBucket and GetBucketLocation, which some clients send first.
 *
 * ETag is the quoted MD5 of the body, as S3 gives for single-part objects (rclone checks it).
 * Everything else answers 501 NotImplemented. Headers of every object are built once, up front.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';

/** One object the stub serves. */
export interface StubObject {
  key: string;
  body: Buffer;
}

interface Entry {
  body: Buffer;
  etag: string;
  headers: http.OutgoingHttpHeaders;
}

const LAST_MODIFIED = new Date(Date.UTC(2025, 0, 1));
const LAST_MODIFIED_HTTP = LAST_MODIFIED.toUTCString();
const LAST_MODIFIED_XML = LAST_MODIFIED.toISOString();
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;'));
}

/** S3's `encoding-type=url`: percent-encoding, `/` kept. */
function urlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/');
}

function errorXml(res: http.ServerResponse, status: number, code: string, message: string, head: boolean): void {
  const body = `${XML_HEAD}<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

/** First index in sorted `keys` whose key is > `after` (or >= `from` when `inclusive`). */
function lowerBound(keys: readonly string[], bound: string, inclusive: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as string;
    if (k < bound || (!inclusive && k === bound)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface ListPage {
  keys: string[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned (the v1 NextMarker, the v2 token's content). */
  last: string | undefined;
}

/** The S3 listing walk shared by v1 and v2. */
function listPage(sorted: readonly string[], prefix: string, delimiter: string, after: string, maxKeys: number): ListPage {
  const page: ListPage = { keys: [], prefixes: [], truncated: false, last: undefined };
  let i = after === '' || after < prefix ? lowerBound(sorted, prefix, true) : lowerBound(sorted, after, false);
  while (i < sorted.length) {
    const key = sorted[i] as string;
    if (!key.startsWith(prefix)) break;
    let rolled: string | undefined;
    if (delimiter !== '') {
      const at = key.indexOf(delimiter, prefix.length);
      if (at >= 0) rolled = key.slice(0, at + delimiter.length);
    }
    // A common prefix at or before the marker was returned by an earlier page.
    if (rolled !== undefined && rolled <= after) {
      i = lowerBound(sorted, `${rolled}\uffff`, true);
      continue;
    }
    if (page.keys.length + page.prefixes.length >= maxKeys) {
      page.truncated = true;
      break;
    }
    if (rolled !== undefined) {
      page.prefixes.push(rolled);
      page.last = rolled;
      i = lowerBound(sorted, `${rolled}\uffff`, true);
    } else {
      page.keys.push(key);
      page.last = key;
      i++;
    }
  }
  return page;
}

/** A request handler serving `objects` as bucket `bucket`. */
export function createS3Stub(bucket: string, objects: readonly StubObject[]): http.RequestListener {
  const entries = new Map<string, Entry>();
  for (const o of objects) {
    const etag = `"${createHash('md5').update(o.body).digest('hex')}"`;
    entries.set(o.key, {
      body: o.body,
      etag,
      headers: {
        'content-length': o.body.byteLength,
        'content-type': 'application/octet-stream',
        etag,
        'last-modified': LAST_MODIFIED_HTTP,
        'accept-ranges': 'bytes',
      },
    });
  }
  const sorted = [...entries.keys()].sort();
  const bucketPath = `/${bucket}`;

  const contents = (key: string, enc: (s: string) => string): string => {
    const e = entries.get(key) as Entry;
    return `<Contents><Key>${xmlEscape(enc(key))}</Key><LastModified>${LAST_MODIFIED_XML}</LastModified><ETag>${xmlEscape(e.etag)}</ETag><Size>${e.body.byteLength}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
  };

  const list = (res: http.ServerResponse, q: URLSearchParams): void => {
    const v2 = q.get('list-type') === '2';
    const enc = q.get('encoding-type') === 'url' ? urlEncode : (s: string): string => s;
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeys = Math.max(0, Math.min(1000, Number(q.get('max-keys') ?? 1000) || 1000));
    let after: string;
    if (v2) {
      const token = q.get('continuation-token');
      after = token !== null ? Buffer.from(token, 'base64url').toString('utf8') : (q.get('start-after') ?? '');
    } else {
      after = q.get('marker') ?? '';
    }
    const page = listPage(sorted, prefix, delimiter, after, maxKeys);
    const parts: string[] = [XML_HEAD, `<ListBucketResult xmlns="${NS}"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(enc(prefix))}</Prefix>`];
    if (v2) {
      const token = q.get('continuation-token');
      if (token !== null) parts.push(`<ContinuationToken>${xmlEscape(token)}</ContinuationToken>`);
      const startAfter = q.get('start-after');
      if (startAfter !== null) parts.push(`<StartAfter>${xmlEscape(enc(startAfter))}</StartAfter>`);
      parts.push(`<KeyCount>${page.keys.length + page.prefixes.length}</KeyCount>`);
      if (page.truncated && page.last !== undefined) parts.push(`<NextContinuationToken>${Buffer.from(page.last, 'utf8').toString('base64url')}</NextContinuationToken>`);
    } else {
      parts.push(`<Marker>${xmlEscape(enc(after))}</Marker>`);
      if (page.truncated && page.last !== undefined) parts.push(`<NextMarker>${xmlEscape(enc(page.last))}</NextMarker>`);
    }
    parts.push(`<MaxKeys>${maxKeys}</MaxKeys>`);
    if (delimiter !== '') parts.push(`<Delimiter>${xmlEscape(enc(delimiter))}</Delimiter>`);
    if (q.get('encoding-type') === 'url') parts.push('<EncodingType>url</EncodingType>');
    parts.push(`<IsTruncated>${page.truncated}</IsTruncated>`);
    for (const k of page.keys) parts.push(contents(k, enc));
    for (const p of page.prefixes) parts.push(`<CommonPrefixes><Prefix>${xmlEscape(enc(p))}</Prefix></CommonPrefixes>`);
    parts.push('</ListBucketResult>');
    const body = parts.join('');
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const object = (req: http.IncomingMessage, res: http.ServerResponse, key: string, head: boolean): void => {
    const e = entries.get(key);
    if (e === undefined) return errorXml(res, 404, 'NoSuchKey', 'The specified key does not exist.', head);
    const range = req.headers.range;
    if (range === undefined) {
      res.writeHead(200, e.headers);
      res.end(head ? undefined : e.body);
      return;
    }
    const size = e.body.byteLength;
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    let start: number;
    let end: number;
    if (m === null || (m[1] === '' && m[2] === '')) return errorXml(res, 416, 'InvalidRange', 'The requested range is not satisfiable', head);
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
      end = size - 1;
    } else {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
    }
    if (start >= size || end < start) {
      res.setHeader('content-range', `bytes */${size}`);
      return errorXml(res, 416, 'InvalidRange', 'The requested range is not satisfiable', head);
    }
    res.writeHead(206, { ...e.headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
    res.end(head ? undefined : e.body.subarray(start, end + 1));
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    if (method !== 'GET' && !head) return errorXml(res, 501, 'NotImplemented', 'This stub only reads.', false);
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === bucketPath || path === `${bucketPath}/`) {
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      if (query.has('location')) {
        const body = `${XML_HEAD}<LocationConstraint xmlns="${NS}"></LocationConstraint>`;
        res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(head ? undefined : body);
        return;
      }
      if (head) {
        res.writeHead(200, { 'content-length': 0 });
        res.end();
        return;
      }
      return list(res, query);
    }
    if (!path.startsWith(`${bucketPath}/`)) return errorXml(res, 404, 'NoSuchBucket', 'The specified bucket does not exist.', head);
    let key: string;
    try {
      key = decodeURIComponent(path.slice(bucketPath.length + 1));
    } catch {
      return errorXml(res, 400, 'InvalidURI', 'Could not decode the key.', head);
    }
    object(req, res, key, head);
  };
}
