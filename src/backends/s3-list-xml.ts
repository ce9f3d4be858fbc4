/**
 * A ListObjectsV2 answer (`<ListBucketResult>`) for the lean transport: the four fields of each
 * `<Contents>` and the page's truncation, extracted the way the error documents are
 * (s3-error-xml.ts) rather than with an XML library — a page is read once per degraded lookup,
 * its shape is fixed, and keys are asked for URL-encoded (`encoding-type=url`), so no key's
 * characters meet the XML parser's whitespace rules. A server that ignores the encoding type
 * (it says so by leaving `<EncodingType>` out) has its keys taken as they are.
 */
import { ReadPathError } from '../errors.js';
import type { BackendListPage, BackendListedObject } from '../types.js';
import { unescapeXml } from './s3-error-xml.js';

function text(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]);
}

/** Parse one page; throws BACKEND_ERROR for an answer that is not a listing or has a malformed entry. */
export function parseListObjectsV2(xml: string, backend: string): BackendListPage {
  if (!xml.includes('<ListBucketResult')) {
    throw new ReadPathError('BACKEND_ERROR', `${backend}: LIST answered something other than a ListBucketResult`);
  }
  const urlEncoded = text(xml, 'EncodingType')?.trim().toLowerCase() === 'url';
  const decode = (s: string): string => {
    if (!urlEncoded) return s;
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      throw new ReadPathError('BACKEND_ERROR', `${backend}: LIST answered a key that is not URL-encoded: ${JSON.stringify(s.slice(0, 80))}`);
    }
  };
  const objects: BackendListedObject[] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const block = m[1] ?? '';
    const key = text(block, 'Key');
    const size = Number(text(block, 'Size')?.trim());
    if (key === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new ReadPathError('BACKEND_ERROR', `${backend}: LIST answered an entry without a key or size`);
    }
    const o: BackendListedObject = { key: decode(key), size };
    const modified = text(block, 'LastModified');
    if (modified !== undefined) {
      const d = new Date(modified.trim());
      if (!Number.isNaN(d.getTime())) o.lastModified = d;
    }
    const etag = text(block, 'ETag');
    if (etag !== undefined) o.etag = etag.trim();
    objects.push(o);
  }
  const page: BackendListPage = { objects, truncated: text(xml, 'IsTruncated')?.trim() === 'true' };
  const next = text(xml, 'NextContinuationToken');
  if (next !== undefined && next !== '') page.nextToken = next;
  return page;
}
