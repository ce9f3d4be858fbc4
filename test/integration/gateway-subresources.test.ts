/**
 * The configuration subresources of buckets and objects through `readpath serve`: answered as a
 * read-only bucket that was never configured answers them (the empty document, or S3's own 404
 * for a missing configuration), so that clients which ask for them on their own — `s3cmd info`,
 * `aws s3api`, tools listing versions — go on instead of stopping at a 501. Driven by the AWS SDK
 * (each operation's parsed answer), the aws CLI and s3cmd against a spawned gateway over an
 * s3rver fleet.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  GetBucketAclCommand, GetBucketCorsCommand, GetBucketEncryptionCommand, GetBucketLifecycleConfigurationCommand, GetBucketLoggingCommand,
  GetBucketPolicyCommand, GetBucketRequestPaymentCommand, GetBucketTaggingCommand, GetBucketVersioningCommand, GetObjectAclCommand,
  GetObjectAttributesCommand, GetObjectCommand, GetObjectLockConfigurationCommand, GetObjectRetentionCommand, GetObjectTaggingCommand, GetObjectTorrentCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, ListObjectsCommand, ListObjectsV2Command, ListPartsCommand, PutBucketVersioningCommand, S3Client,
  type ListObjectVersionsCommandOutput, type ObjectAttributes,
} from '@aws-sdk/client-s3';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { S3Clients, ok, s3Order, type ClientCred, type Serve } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';

const DOCS: ClientCred & { bucket: string } = { bucket: 'docs', id: 'AKIASUBRESDOCS000001', secret: 'subresources-secret-0123456789' };
const OTHER: ClientCred & { bucket: string } = { bucket: 'other', id: 'AKIASUBRESOTHER00001', secret: 'other-secret-0123456789' };
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['readme.txt', Buffer.from('read me\n')],
  ['a/1.bin', randomBytes(100)],
  ['a/2.bin', randomBytes(200)],
  ['b/x y+z.bin', randomBytes(300)],
  ['c.txt', randomBytes(50)],
  ['d/é.bin', randomBytes(70)],
  ['e.txt', randomBytes(10)],
]);

describe('readpath serve: configuration subresources answered as a read-only, never-configured bucket', () => {
  let fx: GatewayFixture;
  let clients: S3Clients;
  let serve: Serve;
  let s3: S3Client;
  let other: S3Client;

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-subres-', buckets: [{ name: DOCS.bucket, creds: [DOCS], objects: OBJECTS }, { name: OTHER.bucket, creds: [OTHER] }] });
    serve = fx.serve;
    clients = await S3Clients.create(fx.tmp);
    const sdk = (cred: ClientCred): S3Client => gatewaySdk(serve.url, cred);
    s3 = sdk(DOCS);
    other = sdk(OTHER);
  });

  after(async () => {
    s3?.destroy();
    other?.destroy();
    await fx?.close();
  });

  /** The promise rejects with this S3 error code and HTTP status. */
  const rejectsWith = async (p: Promise<unknown>, code: string, status: number): Promise<void> => {
    await assert.rejects(p, (err: { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.Code ?? err.name, code);
      assert.equal(err.$metadata?.httpStatusCode, status);
      return true;
    });
  };

  it('bucket settings never made: versioning, logging, request payment as empty documents; policy, CORS, lifecycle, encryption, tags, Object Lock as S3\'s 404s', async () => {
    const v = await s3.send(new GetBucketVersioningCommand({ Bucket: DOCS.bucket }));
    assert.equal(v.$metadata.httpStatusCode, 200);
    assert.equal(v.Status, undefined, 'versioning never enabled: no Status');
    assert.equal(v.MFADelete, undefined);
    const l = await s3.send(new GetBucketLoggingCommand({ Bucket: DOCS.bucket }));
    assert.equal(l.$metadata.httpStatusCode, 200);
    assert.equal(l.LoggingEnabled, undefined);
    assert.equal((await s3.send(new GetBucketRequestPaymentCommand({ Bucket: DOCS.bucket }))).Payer, 'BucketOwner');
    await rejectsWith(s3.send(new GetBucketPolicyCommand({ Bucket: DOCS.bucket })), 'NoSuchBucketPolicy', 404);
    await rejectsWith(s3.send(new GetBucketCorsCommand({ Bucket: DOCS.bucket })), 'NoSuchCORSConfiguration', 404);
    await rejectsWith(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: DOCS.bucket })), 'NoSuchLifecycleConfiguration', 404);
    await rejectsWith(s3.send(new GetBucketEncryptionCommand({ Bucket: DOCS.bucket })), 'ServerSideEncryptionConfigurationNotFoundError', 404);
    await rejectsWith(s3.send(new GetBucketTaggingCommand({ Bucket: DOCS.bucket })), 'NoSuchTagSet', 404);
    await rejectsWith(s3.send(new GetObjectLockConfigurationCommand({ Bucket: DOCS.bucket })), 'ObjectLockConfigurationNotFoundError', 404);
  });

  it('ACLs: the caller (its access key, as ListBuckets names the owner) may READ the bucket and each object; a missing object is NoSuchKey', async () => {
    const b = await s3.send(new GetBucketAclCommand({ Bucket: DOCS.bucket }));
    assert.equal(b.Owner?.ID, DOCS.id);
    assert.deepEqual(b.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.ID, g.Permission]), [['CanonicalUser', DOCS.id, 'READ']]);
    const o = await s3.send(new GetObjectAclCommand({ Bucket: DOCS.bucket, Key: 'b/x y+z.bin' }));
    assert.deepEqual(o.Grants?.map((g) => g.Permission), ['READ']);
    await rejectsWith(s3.send(new GetObjectAclCommand({ Bucket: DOCS.bucket, Key: 'nope.txt' })), 'NoSuchKey', 404);
  });

  it('object tags (an empty set), retention (none), torrent (501); another bucket\'s credential is refused before any answer', async () => {
    const t = await s3.send(new GetObjectTaggingCommand({ Bucket: DOCS.bucket, Key: 'd/é.bin' }));
    assert.equal(t.$metadata.httpStatusCode, 200);
    assert.deepEqual(t.TagSet ?? [], []);
    await rejectsWith(s3.send(new GetObjectTaggingCommand({ Bucket: DOCS.bucket, Key: 'd/missing.bin' })), 'NoSuchKey', 404);
    await rejectsWith(s3.send(new GetObjectRetentionCommand({ Bucket: DOCS.bucket, Key: 'c.txt' })), 'NoSuchObjectLockConfiguration', 404);
    await rejectsWith(s3.send(new GetObjectTorrentCommand({ Bucket: DOCS.bucket, Key: 'c.txt' })), 'NotImplemented', 501);
    await rejectsWith(other.send(new GetBucketVersioningCommand({ Bucket: DOCS.bucket })), 'AccessDenied', 403);
    await rejectsWith(other.send(new GetObjectAclCommand({ Bucket: DOCS.bucket, Key: 'c.txt' })), 'AccessDenied', 403);
  });

  it('multipart uploads: none in progress; ListParts of any upload id is NoSuchUpload; setting versioning is refused', async () => {
    const u = await s3.send(new ListMultipartUploadsCommand({ Bucket: DOCS.bucket, Prefix: 'a/' }));
    assert.equal(u.Bucket, DOCS.bucket);
    assert.equal(u.Prefix, 'a/');
    assert.equal(u.IsTruncated, false);
    assert.deepEqual(u.Uploads ?? [], []);
    await rejectsWith(s3.send(new ListPartsCommand({ Bucket: DOCS.bucket, Key: 'c.txt', UploadId: 'abc' })), 'NoSuchUpload', 404);
    await rejectsWith(s3.send(new PutBucketVersioningCommand({ Bucket: DOCS.bucket, VersioningConfiguration: { Status: 'Enabled' } })), 'MethodNotAllowed', 405);
  });

  it('ListObjectVersions: every key once as version "null", paged by key marker (with and without a delimiter); the null version is readable, any other id is 400', async () => {
    const walk = async (delimiter: string | undefined, maxKeys: number): Promise<{ keys: string[]; prefixes: string[]; pages: number }> => {
      const keys: string[] = [];
      const prefixes: string[] = [];
      let keyMarker: string | undefined;
      let versionIdMarker: string | undefined;
      let pages = 0;
      for (;;) {
        const p: ListObjectVersionsCommandOutput = await s3.send(new ListObjectVersionsCommand({
          Bucket: DOCS.bucket, MaxKeys: maxKeys, ...(delimiter === undefined ? {} : { Delimiter: delimiter }),
          ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }), ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
        }));
        pages++;
        for (const v of p.Versions ?? []) {
          assert.equal(v.VersionId, 'null');
          assert.equal(v.IsLatest, true);
          assert.equal(v.Size, OBJECTS.get(v.Key!)?.length, v.Key);
          keys.push(v.Key!);
        }
        assert.deepEqual(p.DeleteMarkers ?? [], []);
        prefixes.push(...(p.CommonPrefixes ?? []).map((c) => c.Prefix!));
        assert.ok((p.Versions?.length ?? 0) + (p.CommonPrefixes?.length ?? 0) <= maxKeys);
        if (p.IsTruncated !== true) break;
        assert.ok(p.NextKeyMarker !== undefined, 'a truncated page says where to go on');
        keyMarker = p.NextKeyMarker;
        versionIdMarker = p.NextVersionIdMarker;
        assert.ok(pages < 20, 'the listing ends');
      }
      return { keys, prefixes, pages };
    };
    const all = await walk(undefined, 3);
    assert.deepEqual(all.keys, s3Order(OBJECTS.keys()));
    assert.equal(all.pages, 3);
    const byDir = await walk('/', 2);
    assert.deepEqual(byDir.keys, s3Order([...OBJECTS.keys()].filter((k) => !k.includes('/'))));
    assert.deepEqual(byDir.prefixes, ['a/', 'b/', 'd/']);
    const g = await s3.send(new GetObjectCommand({ Bucket: DOCS.bucket, Key: 'a/2.bin', VersionId: 'null' }));
    assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(OBJECTS.get('a/2.bin')!));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: DOCS.bucket, Key: 'a/2.bin', VersionId: 'null' }))).ContentLength, 200);
    await rejectsWith(s3.send(new GetObjectCommand({ Bucket: DOCS.bucket, Key: 'a/2.bin', VersionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY' })), 'InvalidArgument', 400);
  });

  it('GetObjectAttributes: the ETag (unquoted, as S3 gives it), the stored SHA-256 as its checksum, size and storage class, only those asked for; no parts; NoSuchKey; a bad attribute name is 400', async () => {
    const bytes = OBJECTS.get('b/x y+z.bin')!;
    const all = await s3.send(new GetObjectAttributesCommand({ Bucket: DOCS.bucket, Key: 'b/x y+z.bin', ObjectAttributes: ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] }));
    // Its row has no upstream ETag: the one derived from its SHA-256, as its GET and listing give it.
    assert.equal(all.ETag, `${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}-1`);
    assert.equal(all.Checksum?.ChecksumSHA256, createHash('sha256').update(bytes).digest('base64'));
    assert.equal(all.ObjectSize, bytes.length);
    assert.equal(all.StorageClass, 'STANDARD');
    assert.equal(all.ObjectParts, undefined, 'one piece: no parts');
    assert.ok(all.LastModified instanceof Date);
    const size = await s3.send(new GetObjectAttributesCommand({ Bucket: DOCS.bucket, Key: 'c.txt', ObjectAttributes: ['ObjectSize'] }));
    assert.deepEqual([size.ObjectSize, size.ETag, size.Checksum, size.StorageClass], [50, undefined, undefined, undefined]);
    await rejectsWith(s3.send(new GetObjectAttributesCommand({ Bucket: DOCS.bucket, Key: 'nope', ObjectAttributes: ['ObjectSize'] })), 'NoSuchKey', 404);
    await rejectsWith(s3.send(new GetObjectAttributesCommand({ Bucket: DOCS.bucket, Key: 'c.txt', ObjectAttributes: ['Bogus' as ObjectAttributes] })), 'InvalidArgument', 400);
  });

  it('listing owners: ListObjects (v1) names each entry\'s owner, ListObjectsV2 only with FetchOwner', async () => {
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: DOCS.bucket }));
    assert.ok(v2.Contents?.every((c) => c.Owner === undefined));
    const owned = await s3.send(new ListObjectsV2Command({ Bucket: DOCS.bucket, FetchOwner: true }));
    assert.deepEqual(new Set(owned.Contents?.map((c) => c.Owner?.ID)), new Set([DOCS.id]));
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: DOCS.bucket }));
    assert.equal(v1.Contents?.length, OBJECTS.size);
    assert.ok(v1.Contents?.every((c) => c.Owner?.ID === DOCS.id));
  });

  it('aws s3api: get-bucket-versioning, get-bucket-acl, get-object-tagging, list-object-versions (all pages), get-object-attributes, get-bucket-policy\'s error', async () => {
    const json = async (args: string[]): Promise<Record<string, unknown>> => {
      const r = ok(await clients.awsRun(serve.url, DOCS, ['s3api', ...args, '--output', 'json']), `aws s3api ${args[0]}`);
      return r.stdout.trim() === '' ? {} : JSON.parse(r.stdout) as Record<string, unknown>;
    };
    assert.equal((await json(['get-bucket-versioning', '--bucket', DOCS.bucket])).Status, undefined);
    const acl = await json(['get-bucket-acl', '--bucket', DOCS.bucket]) as { Grants?: { Permission?: string }[] };
    assert.deepEqual(acl.Grants?.map((g) => g.Permission), ['READ']);
    assert.deepEqual((await json(['get-object-tagging', '--bucket', DOCS.bucket, '--key', 'b/x y+z.bin'])).TagSet, []);
    // The CLI follows NextKeyMarker / NextVersionIdMarker itself (--page-size 2: four requests).
    const versions = await json(['list-object-versions', '--bucket', DOCS.bucket, '--page-size', '2']) as { Versions?: { Key: string; VersionId: string }[] };
    assert.deepEqual(versions.Versions?.map((v) => v.Key), s3Order(OBJECTS.keys()));
    assert.ok(versions.Versions?.every((v) => v.VersionId === 'null'));
    const attrs = await json(['get-object-attributes', '--bucket', DOCS.bucket, '--key', 'a/2.bin', '--object-attributes', 'ObjectSize', 'Checksum']) as { ObjectSize?: number; Checksum?: { ChecksumSHA256?: string } };
    assert.equal(attrs.ObjectSize, 200);
    assert.equal(attrs.Checksum?.ChecksumSHA256, createHash('sha256').update(OBJECTS.get('a/2.bin')!).digest('base64'));
    const policy = await clients.awsRun(serve.url, DOCS, ['s3api', 'get-bucket-policy', '--bucket', DOCS.bucket]);
    assert.notEqual(policy.code, 0);
    assert.match(policy.stderr, /NoSuchBucketPolicy/);
  });

  it('s3cmd info of the bucket and of an object: location, policy, CORS, lifecycle, ACL — all answered', async () => {
    const b = ok(await clients.s3cmdRun(serve.url, DOCS, ['info', `s3://${DOCS.bucket}`]), 's3cmd info (bucket)');
    assert.match(b.stdout, /Location:\s+us-east-1/);
    assert.match(b.stdout, /Policy:\s+none/);
    assert.match(b.stdout, /CORS:\s+none/);
    assert.match(b.stdout, new RegExp(`ACL:\\s+${DOCS.id}: READ`));
    const o = ok(await clients.s3cmdRun(serve.url, DOCS, ['info', `s3://${DOCS.bucket}/a/1.bin`]), 's3cmd info (object)');
    assert.match(o.stdout, /File size:\s+100/);
    assert.match(o.stdout, new RegExp(`ACL:\\s+${DOCS.id}: READ`));
  });
});
