/**
 * S3's configuration subresources (`?versioning`, `?acl`, `?tagging`, `?policy`, …) answered as
 * a read-only bucket that was never configured answers them. Clients ask for these on their own:
 * `s3cmd info` reads a bucket's policy, CORS, lifecycle and ACL, `aws s3api` exposes every one,
 * and tools that can read old versions ask `?versioning` or `?versions` first. Answering "not
 * configured" (S3's own 404 codes, or the empty document) lets them go on; a 501 stops them.
 * Subresources that only make sense for writes or features readpath does not model (torrents,
 * select, inventories) stay 501 NotImplemented.
 */
import { ObjectRequestError } from './objects.js';
import { aclXml, emptyConfigXml, requestPaymentXml } from './s3-xml.js';

/** Subresources S3 has that the gateway answers with 501 NotImplemented. */
const NOT_IMPLEMENTED = new Set([
  'torrent', 'analytics', 'inventory', 'metrics', 'intelligent-tiering',
  'policyStatus', 'replication-metrics', 'session',
]);

/**
 * Subresources S3 has only for writes (DeleteObjects is `POST ?delete`, RestoreObject and
 * SelectObjectContent are POSTs, RenameObject a PUT). A GET naming one is no read of anything:
 * S3 answers such a method with 405 MethodNotAllowed, and so does the gateway, as it answers
 * every write — never a listing or an object the client did not ask for.
 */
const BUCKET_WRITE_ONLY = new Set(['delete']);
const OBJECT_WRITE_ONLY = new Set(['restore', 'select', 'renameObject']);

/** A bucket's or object's subresource and the S3 operation reading it. */
export interface Subresource {
  /** The query parameter naming it (`acl`, `versioning`, …). */
  name: string;
  /** The S3 operation, for the access log (`GetBucketAcl`, …). */
  op: string;
}

/** A bucket's configuration read as "never set": 200 with a document, or S3's 404 for it. */
type BucketAnswer = { op: string; body: () => string } | { op: string; missing: { code: string; message: string } };

const BUCKET: ReadonlyMap<string, BucketAnswer> = new Map<string, BucketAnswer>([
  ['versioning', { op: 'GetBucketVersioning', body: () => emptyConfigXml('VersioningConfiguration') }],
  ['logging', { op: 'GetBucketLogging', body: () => emptyConfigXml('BucketLoggingStatus') }],
  ['notification', { op: 'GetBucketNotificationConfiguration', body: () => emptyConfigXml('NotificationConfiguration') }],
  ['accelerate', { op: 'GetBucketAccelerateConfiguration', body: () => emptyConfigXml('AccelerateConfiguration') }],
  ['requestPayment', { op: 'GetBucketRequestPayment', body: requestPaymentXml }],
  ['policy', { op: 'GetBucketPolicy', missing: { code: 'NoSuchBucketPolicy', message: 'The bucket policy does not exist' } }],
  ['cors', { op: 'GetBucketCors', missing: { code: 'NoSuchCORSConfiguration', message: 'The CORS configuration does not exist' } }],
  ['lifecycle', { op: 'GetBucketLifecycleConfiguration', missing: { code: 'NoSuchLifecycleConfiguration', message: 'The lifecycle configuration does not exist' } }],
  ['website', { op: 'GetBucketWebsite', missing: { code: 'NoSuchWebsiteConfiguration', message: 'The specified bucket does not have a website configuration' } }],
  ['tagging', { op: 'GetBucketTagging', missing: { code: 'NoSuchTagSet', message: 'The TagSet does not exist' } }],
  ['encryption', { op: 'GetBucketEncryption', missing: { code: 'ServerSideEncryptionConfigurationNotFoundError', message: 'The server side encryption configuration was not found' } }],
  ['replication', { op: 'GetBucketReplication', missing: { code: 'ReplicationConfigurationNotFoundError', message: 'The replication configuration was not found' } }],
  ['object-lock', { op: 'GetObjectLockConfiguration', missing: { code: 'ObjectLockConfigurationNotFoundError', message: 'Object Lock configuration does not exist for this bucket' } }],
  ['ownershipControls', { op: 'GetBucketOwnershipControls', missing: { code: 'OwnershipControlsNotFoundError', message: 'The bucket ownership controls were not found' } }],
  ['publicAccessBlock', { op: 'GetPublicAccessBlock', missing: { code: 'NoSuchPublicAccessBlockConfiguration', message: 'The public access block configuration was not found' } }],
]);

/** Bucket subresources answered by the listing code rather than as a document. */
const BUCKET_LISTINGS: ReadonlyMap<string, string> = new Map([
  ['acl', 'GetBucketAcl'],
  ['versions', 'ListObjectVersions'],
  ['uploads', 'ListMultipartUploads'],
]);

const OBJECT: ReadonlyMap<string, string> = new Map([
  ['acl', 'GetObjectAcl'],
  ['tagging', 'GetObjectTagging'],
  ['retention', 'GetObjectRetention'],
  ['legal-hold', 'GetObjectLegalHold'],
  ['uploadId', 'ListParts'],
  ['attributes', 'GetObjectAttributes'],
]);

/** The attributes GetObjectAttributes can be asked for, as S3 names them. */
export const OBJECT_ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
/** One of {@link OBJECT_ATTRIBUTES}. */
export type ObjectAttribute = (typeof OBJECT_ATTRIBUTES)[number];

/**
 * The attributes an `x-amz-object-attributes` header asks for (comma-separated, in any order,
 * repeated headers joined). 400 InvalidArgument when it is missing, empty, or names one S3 does not have.
 */
export function requestedAttributes(header: string | string[] | undefined): Set<ObjectAttribute> {
  const raw = Array.isArray(header) ? header.join(',') : header ?? '';
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new ObjectRequestError(400, 'InvalidArgument', 'x-amz-object-attributes: at least one of ETag, Checksum, ObjectParts, StorageClass, ObjectSize is required');
  const out = new Set<ObjectAttribute>();
  for (const n of names) {
    const a = OBJECT_ATTRIBUTES.find((x) => x === n);
    if (a === undefined) throw new ObjectRequestError(400, 'InvalidArgument', `x-amz-object-attributes: invalid attribute name ${JSON.stringify(n)}`);
    out.add(a);
  }
  return out;
}

function unsupported(name: string): never {
  throw new ObjectRequestError(501, 'NotImplemented', `?${name} is not implemented by readpath serve.`);
}

/**
 * 405 for a subresource only writes have. `Allow` is empty: the resource allows no method
 * through a read-only gateway (RFC 9110 §10.2.1 provides for an empty list in a 405).
 */
function writeOnly(name: string, method: string): never {
  throw new ObjectRequestError(405, 'MethodNotAllowed', `readpath serve is read-only: the specified method is not allowed against this resource (?${name} is only written).`, { Method: method }, { Allow: '' });
}

/**
 * The bucket subresource a GET's query names (the first one, as S3 takes it), or undefined for
 * a listing. Throws 501 NotImplemented for one the gateway does not serve, 405
 * MethodNotAllowed for one only writes have.
 */
export function bucketSubresource(query: ReadonlyMap<string, string>): Subresource | undefined {
  for (const name of query.keys()) {
    if (BUCKET_WRITE_ONLY.has(name)) writeOnly(name, 'GET');
    const a = BUCKET.get(name);
    if (a !== undefined) return { name, op: a.op };
    const op = BUCKET_LISTINGS.get(name);
    if (op !== undefined) return { name, op };
    if (NOT_IMPLEMENTED.has(name) || OBJECT.has(name) || OBJECT_WRITE_ONLY.has(name)) unsupported(name);
  }
  return undefined;
}

/** The object subresource a GET's query names, or undefined for the object itself. Throws 501 for one the gateway does not serve, 405 for one only writes have. */
export function objectSubresource(query: ReadonlyMap<string, string>, method: 'GET' | 'HEAD'): Subresource | undefined {
  for (const name of query.keys()) {
    if (OBJECT_WRITE_ONLY.has(name)) writeOnly(name, method);
    const op = OBJECT.get(name);
    if (op !== undefined) return { name, op };
    if (NOT_IMPLEMENTED.has(name) || BUCKET.has(name) || BUCKET_LISTINGS.has(name)) unsupported(name);
  }
  return undefined;
}

/**
 * The document a bucket's configuration subresource answers with (`acl` for `owner`), or
 * throws S3's 404 for a configuration that was never made. `versions` and `uploads` are
 * listings: the caller answers those.
 */
export function bucketConfigDocument(sub: Subresource, owner: string): string {
  if (sub.name === 'acl') return aclXml(owner);
  const a = BUCKET.get(sub.name);
  if (a === undefined) unsupported(sub.name);
  if ('missing' in a) throw new ObjectRequestError(404, a.missing.code, a.missing.message);
  return a.body();
}

/**
 * The document an object's subresource answers with, once the object is known to exist: its
 * ACL (the caller may READ); an object never under Object Lock has no retention or legal hold
 * (404 NoSuchObjectLockConfiguration).
 */
export function objectConfigDocument(sub: Subresource, owner: string): string {
  switch (sub.name) {
    case 'acl': return aclXml(owner);
    case 'tagging': // answered from the store's tag set by the caller (taggingXml)
    case 'attributes': // answered from the object's HEAD by the caller (objectAttributesXml)
      return unsupported(sub.name);
    case 'retention':
    case 'legal-hold':
      throw new ObjectRequestError(404, 'NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
    default: return unsupported(sub.name);
  }
}

/** A `versionId` S3 accepts on a bucket whose versioning was never enabled: only `null`, the one version every object has. */
export function checkVersionId(query: ReadonlyMap<string, string>): void {
  const v = query.get('versionId');
  if (v !== undefined && v !== 'null') throw new ObjectRequestError(400, 'InvalidArgument', 'Invalid version id specified');
}
