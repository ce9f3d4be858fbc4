/**
 * The S3 XML documents the gateway answers with: errors, bucket and object listings, the bucket
 * location. Built as strings: the shapes are fixed and small, and an XML library would cost
 * more per response than these few concatenations.
 */

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

// XML 1.0 cannot carry these code points at all, even escaped.
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

const XML_ENTITY: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/**
 * Text escaped for an XML element or attribute. A CR goes as a character reference, as S3 writes
 * it: parsers turn a literal CR (or CRLF) into LF, so a key `a\rb` listed raw reached rclone and
 * s3cmd as `a\nb`, a key that does not exist. A literal LF is read back as itself.
 */
export function xmlEscape(s: string): string {
  return s.replace(NOT_XML, '\ufffd').replace(/[&<>"'\r]/g, (c) => XML_ENTITY[c] ?? c);
}

function el(name: string, value: string | number | boolean): string {
  return `<${name}>${typeof value === 'string' ? xmlEscape(value) : String(value)}</${name}>`;
}

/**
 * A listing's time as S3 writes it: whole seconds (`.000Z`), as the object's Last-Modified
 * header has them — a client comparing the two must not see a change that is not there.
 */
function s3Time(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString();
}

/** An S3 error document. */
export function errorXml(code: string, message: string, resource: string, requestId: string, extra: Record<string, string> = {}): string {
  let x = `${XML_HEAD}<Error>${el('Code', code)}${el('Message', message)}${el('Resource', resource)}${el('RequestId', requestId)}`;
  for (const [k, v] of Object.entries(extra)) x += el(k, v);
  return `${x}</Error>`;
}

/** One object in a listing. */
export interface ListEntry {
  key: string;
  size: number;
  lastModified: Date;
  etag?: string | undefined;
}

/** What ListObjects (v1 or v2) answers. */
export interface ListPage {
  bucket: string;
  prefix: string;
  delimiter: string | undefined;
  maxKeys: number;
  encodeUrl: boolean;
  contents: ListEntry[];
  commonPrefixes: string[];
  truncated: boolean;
  // v2
  keyCount?: number;
  continuationToken?: string | undefined;
  nextContinuationToken?: string | undefined;
  startAfter?: string | undefined;
  // v1
  marker?: string;
  nextMarker?: string | undefined;
  /** Each entry's owner, when the listing shows owners (always in v1, with `fetch-owner=true` in v2). */
  owner?: string | undefined;
}

/** `encoding-type=url`: keys and prefixes percent-encoded as S3 does (`/` kept). */
export function s3UrlEncode(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function listName(p: ListPage, s: string): string {
  return p.encodeUrl ? s3UrlEncode(s) : s;
}

/** A ListBucketResult (v2 when `version` is 2). */
export function listXml(p: ListPage, version: 1 | 2): string {
  let x = `${XML_HEAD}<ListBucketResult xmlns="${NS}">${el('Name', p.bucket)}${el('Prefix', listName(p, p.prefix))}`;
  if (version === 2) {
    if (p.continuationToken !== undefined) x += el('ContinuationToken', p.continuationToken);
    if (p.nextContinuationToken !== undefined) x += el('NextContinuationToken', p.nextContinuationToken);
    if (p.startAfter !== undefined) x += el('StartAfter', listName(p, p.startAfter));
    x += el('KeyCount', p.keyCount ?? p.contents.length + p.commonPrefixes.length);
  } else {
    x += el('Marker', listName(p, p.marker ?? ''));
    if (p.nextMarker !== undefined) x += el('NextMarker', listName(p, p.nextMarker));
  }
  x += el('MaxKeys', p.maxKeys);
  if (p.delimiter !== undefined) x += el('Delimiter', listName(p, p.delimiter));
  if (p.encodeUrl) x += el('EncodingType', 'url');
  x += el('IsTruncated', p.truncated);
  for (const c of p.contents) {
    x += `<Contents>${el('Key', listName(p, c.key))}${el('LastModified', s3Time(c.lastModified))}`;
    if (c.etag !== undefined) x += el('ETag', c.etag);
    x += `${el('Size', c.size)}${el('StorageClass', 'STANDARD')}`;
    if (p.owner !== undefined) x += ownerXml(p.owner);
    x += '</Contents>';
  }
  for (const cp of p.commonPrefixes) x += `<CommonPrefixes>${el('Prefix', listName(p, cp))}</CommonPrefixes>`;
  return `${x}</ListBucketResult>`;
}

/** ListAllMyBucketsResult. */
export function bucketsXml(buckets: readonly string[], created: Date, owner: string): string {
  let x = `${XML_HEAD}<ListAllMyBucketsResult xmlns="${NS}">${ownerXml(owner)}<Buckets>`;
  for (const b of buckets) x += `<Bucket>${el('Name', b)}${el('CreationDate', created.toISOString())}</Bucket>`;
  return `${x}</Buckets></ListAllMyBucketsResult>`;
}

/** GetBucketLocation's answer (us-east-1 is the empty constraint, as S3 answers). */
export function locationXml(region: string): string {
  return `${XML_HEAD}<LocationConstraint xmlns="${NS}">${region === 'us-east-1' ? '' : xmlEscape(region)}</LocationConstraint>`;
}

/** An owner's ID and DisplayName: the caller's access key, the only identity the gateway knows. */
function ownerFields(id: string): string {
  return `${el('ID', id)}${el('DisplayName', id)}`;
}

/** `<Owner>` of a bucket, a listed object or a version. */
function ownerXml(id: string): string {
  return `<Owner>${ownerFields(id)}</Owner>`;
}

/** S3's form of a SHA-256 checksum (`x-amz-checksum-sha256`, `ChecksumSHA256`): base64 of the digest, from its hex. */
export function checksumSha256(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** An empty configuration document (`<Name xmlns=…/>`): what S3 answers for a setting never made. */
export function emptyConfigXml(name: string): string {
  return `${XML_HEAD}<${name} xmlns="${NS}"/>`;
}

/** RequestPaymentConfiguration: the bucket owner pays, as for every bucket never changed. */
export function requestPaymentXml(): string {
  return `${XML_HEAD}<RequestPaymentConfiguration xmlns="${NS}">${el('Payer', 'BucketOwner')}</RequestPaymentConfiguration>`;
}

/** An object's tag set (GetObjectTagging), in the order given. */
export function taggingXml(tags: readonly { key: string; value: string }[] = []): string {
  if (tags.length === 0) return `${XML_HEAD}<Tagging xmlns="${NS}"><TagSet/></Tagging>`;
  return `${XML_HEAD}<Tagging xmlns="${NS}"><TagSet>${tags.map((t) => `<Tag>${el('Key', t.key)}${el('Value', t.value)}</Tag>`).join('')}</TagSet></Tagging>`;
}

/**
 * The access control policy of a bucket or object as the caller sees it through a read-only
 * gateway: its owner (the caller's access key, as ListBuckets names it) may READ, nothing more.
 */
export function aclXml(owner: string): string {
  const who = ownerFields(owner);
  return `${XML_HEAD}<AccessControlPolicy xmlns="${NS}"><Owner>${who}</Owner><AccessControlList><Grant>`
    + `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${who}</Grantee>`
    + `${el('Permission', 'READ')}</Grant></AccessControlList></AccessControlPolicy>`;
}

/** What ListMultipartUploads echoes back: the gateway never has an upload in progress. */
export interface UploadsPage {
  bucket: string;
  prefix: string;
  delimiter: string | undefined;
  keyMarker: string;
  uploadIdMarker: string;
  maxUploads: number;
  encodeUrl: boolean;
}

/** ListMultipartUploadsResult with no uploads. */
export function uploadsXml(p: UploadsPage): string {
  const name = (s: string): string => (p.encodeUrl ? s3UrlEncode(s) : s);
  let x = `${XML_HEAD}<ListMultipartUploadsResult xmlns="${NS}">${el('Bucket', p.bucket)}${el('KeyMarker', name(p.keyMarker))}`
    + `${el('UploadIdMarker', p.uploadIdMarker)}${el('NextKeyMarker', '')}${el('NextUploadIdMarker', '')}`;
  if (p.prefix !== '') x += el('Prefix', name(p.prefix));
  if (p.delimiter !== undefined) x += el('Delimiter', name(p.delimiter));
  x += `${el('MaxUploads', p.maxUploads)}`;
  if (p.encodeUrl) x += el('EncodingType', 'url');
  return `${x}${el('IsTruncated', false)}</ListMultipartUploadsResult>`;
}

/** What ListObjectVersions answers besides the common fields of a listing. */
export interface VersionsPage extends ListPage {
  keyMarker: string;
  versionIdMarker: string;
  nextKeyMarker: string | undefined;
  /** Set when the page ends on a key (its one version, `null`), not on a common prefix. */
  nextVersionIdMarker: string | undefined;
  owner: string;
}

/**
 * ListVersionsResult for a bucket whose versioning was never enabled: each key has exactly one
 * version, `null`, the latest, and there are no delete markers.
 */
export function versionsXml(p: VersionsPage): string {
  let x = `${XML_HEAD}<ListVersionsResult xmlns="${NS}">${el('Name', p.bucket)}${el('Prefix', listName(p, p.prefix))}`
    + `${el('KeyMarker', listName(p, p.keyMarker))}${el('VersionIdMarker', p.versionIdMarker)}`;
  if (p.nextKeyMarker !== undefined) x += el('NextKeyMarker', listName(p, p.nextKeyMarker));
  if (p.nextVersionIdMarker !== undefined) x += el('NextVersionIdMarker', p.nextVersionIdMarker);
  x += el('MaxKeys', p.maxKeys);
  if (p.delimiter !== undefined) x += el('Delimiter', listName(p, p.delimiter));
  if (p.encodeUrl) x += el('EncodingType', 'url');
  x += el('IsTruncated', p.truncated);
  const owner = ownerXml(p.owner);
  for (const c of p.contents) {
    x += `<Version>${el('Key', listName(p, c.key))}${el('VersionId', 'null')}${el('IsLatest', true)}${el('LastModified', s3Time(c.lastModified))}`;
    if (c.etag !== undefined) x += el('ETag', c.etag);
    x += `${el('Size', c.size)}${el('StorageClass', 'STANDARD')}${owner}</Version>`;
  }
  for (const cp of p.commonPrefixes) x += `<CommonPrefixes>${el('Prefix', listName(p, cp))}</CommonPrefixes>`;
  return `${x}</ListVersionsResult>`;
}

/**
 * GetObjectAttributes' answer, with the attributes asked for, in S3's order. The ETag goes
 * without its quotes, as S3 gives it here; the checksum is the database's SHA-256 when there is
 * one. Every object is served as one piece, so there are no ObjectParts to list.
 */
export function objectAttributesXml(o: { etag?: string | undefined; size: number; contentSha256?: string | undefined }, wanted: ReadonlySet<string>): string {
  let x = `${XML_HEAD}<GetObjectAttributesResponse xmlns="${NS}">`;
  if (wanted.has('ETag') && o.etag !== undefined) x += el('ETag', o.etag.replace(/^"|"$/g, ''));
  if (wanted.has('Checksum') && o.contentSha256 !== undefined) {
    x += `<Checksum>${el('ChecksumSHA256', checksumSha256(o.contentSha256))}${el('ChecksumType', 'FULL_OBJECT')}</Checksum>`;
  }
  if (wanted.has('StorageClass')) x += el('StorageClass', 'STANDARD');
  if (wanted.has('ObjectSize')) x += el('ObjectSize', o.size);
  return `${x}</GetObjectAttributesResponse>`;
}
