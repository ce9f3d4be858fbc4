/**
 * What s3-orchestrator's database answers on its own, as upstream answers it:
 *
 * - HEAD (`head.from_metadata`, on by default): when an object's first row carries its ETag
 *   (upstream's identity columns), the row gives its size, ETag, Content-Type, user metadata and
 *   Last-Modified and no backend is asked — counted by the fault proxies in front of the s3rver
 *   fleet. Rows without an ETag, the setting off, and the database down (degraded) still ask a
 *   backend. Both executors; `readMany` of HEADs.
 * - Object tags (upstream's `object_tags`): `rp.tags(key)` and GetObjectTagging.
 *
 * And real clients of `readpath serve` (the aws CLI, s3cmd, the AWS SDK) reading both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ReadPath } from '../../src/read-path.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import { sha256Hex } from '../../src/probe/verify.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { MetadataStore, ObjectLocation, ObjectTag } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { compressedRow, logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { S3Clients, killServe, ok, startServe, writeServeConfig, type ClientCred, type Serve } from '../helpers/s3-clients.js';

const CSV = Buffer.from('id,name\n1,ada\n2,grace\n');
const CSV_ETAG = `"${createHash('md5').update(CSV).digest('hex')}"`;
const META = { owner: 'team-a', mtime: '1767225600.5' };
const LOG = logLines(300_000, 4);
const LOG_Z = seekableZstd(LOG, { chunkSize: 64 * 1024 });
const LOG_ETAG = `"${createHash('md5').update(LOG).digest('hex')}"`;
const RAW = Buffer.from('a row without an etag: only a backend can say\n');
const BUCKET = 'data';
const CRED: ClientCred = { id: 'AKIAHEADREADER000001', secret: 'head/Secret+Key=0123456789abcdef' };
const CREATED = Date.parse('2026-06-01T00:00:00Z');
/** The report's tags, as upstream's PutObjectTagging left them (not in key order). */
const TAGS = { project: 'apollo', 'cost-center': 'R&D <7>', empty: '' };
const TAG_SET = [{ key: 'cost-center', value: 'R&D <7>' }, { key: 'empty', value: '' }, { key: 'project', value: 'apollo' }];

/** The store a test can take down: DB_UNAVAILABLE while `down`. */
class SwitchableStore implements MetadataStore {
  down = false;
  constructor(readonly inner: MetadataStore) {}
  getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    if (this.down) return Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'test: the database is down'));
    return this.inner.getAllObjectLocations(key, opts);
  }
  getObjectTags(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectTag[]> {
    if (this.down) return Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'test: the database is down'));
    return this.inner.getObjectTags?.(key, opts) ?? Promise.resolve([]);
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

describe('HEADs and tags from the metadata (s3rver fleet, upstream-schema SQLite)', () => {
  let fleet: S3Fleet;
  let tmp: string;
  let dbPath: string;
  const k = (key: string): string => `${BUCKET}/${key}`;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-head-meta-'));
    fleet = await startS3Fleet({ count: 2 });
    dbPath = path.join(tmp, 'meta.db');
    const db = upstreamSqlite(dbPath);
    let t = CREATED;
    const at = (): Date => new Date(t += 1000);
    const put = async (l: ObjectLocation, body: Uint8Array, o: Parameters<typeof db.insert>[1] = {}): Promise<void> => {
      await fleet.seed(l.storageKey ?? l.objectKey, body, [l.backendName]);
      db.insert(l, o);
    };
    const csv = (backendName: string): ObjectLocation => ({
      objectKey: k('id/report.csv'), backendName, sizeBytes: CSV.length, createdAt: at(), encrypted: false, contentHash: sha256Hex(CSV),
      etag: CSV_ETAG, contentType: 'text/csv', userMetadata: META,
    });
    await put(csv('b1'), CSV);
    await put(csv('b2'), CSV);
    // Upstream's Go driver binds user_metadata as bytes: a BLOB.
    await put({ ...csv('b1'), objectKey: k('id/blob.csv'), userMetadata: { note: 'blob' } }, CSV, { userMetadataBlob: true });
    // Compressed: the row's logical size, not the stored one.
    await put(compressedRow(k('id/app.log'), 'b2', LOG, LOG_Z.body, at(), { etag: LOG_ETAG, contentType: 'application/x-ndjson', userMetadata: {} }), LOG_Z.body);
    await put({ objectKey: k('id/raw.txt'), backendName: 'b1', sizeBytes: RAW.length, createdAt: at(), encrypted: false, contentHash: sha256Hex(RAW) }, RAW);
    // A row whose bytes no backend has: the metadata still answers its HEAD (upstream's rule too).
    db.insert({ ...csv('b1'), objectKey: k('id/gone.csv') });
    db.tag(k('id/report.csv'), TAGS);
    // Tags of a key with no row (upstream clears them with the object; here, a leftover).
    db.tag(k('id/none'), { stale: 'yes' });
    // A value no upstream writes (a BLOB): the lookup names the column.
    db.tag(k('id/blob.csv'), { bad: Buffer.from('x') });
    db.close();
  });

  after(async () => {
    await fleet?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  const config = (mode: 'inline' | 'pool', head?: ReadPathConfig['head']): ReadPathConfig => ({
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: dbPath },
    runtime: mode === 'pool' ? { mode, threads: 1 } : { mode },
    striping: { enabled: false },
    logging: { level: 'silent' },
    ...(head === undefined ? {} : { head }),
  });
  const requests = (): number => fleet.backends.reduce((n, b) => n + b.proxy.requestCount, 0);
  const fromMetadataCount = async (rp: ReadPath): Promise<number> => Number(/^readpath_head_from_metadata_total (\d+)$/m.exec(await rp.metrics())?.[1] ?? '0');

  for (const mode of ['inline', 'pool'] as const) {
    it(`${mode}: a row with an ETag answers the HEAD, no backend asked; one without asks one`, async () => {
      const rp = await ReadPath.open(config(mode));
      try {
        const before = requests();
        const h = await rp.head(k('id/report.csv'));
        assert.deepEqual(
          { ...h, lastModified: h.lastModified?.toISOString() },
          {
            key: k('id/report.csv'), backend: 'b1', degraded: false, failover: false, fromMetadata: true, contentSha256: sha256Hex(CSV),
            size: CSV.length, etag: CSV_ETAG, contentType: 'text/csv', metadata: META, lastModified: new Date(CREATED + 1000).toISOString(),
            tagCount: Object.keys(TAGS).length,
          },
        );
        const z = await rp.head(k('id/app.log'));
        assert.deepEqual([z.size, z.etag, z.contentType, z.metadata, z.fromMetadata], [LOG.length, LOG_ETAG, 'application/x-ndjson', {}, true]);
        const blob = await rp.head(k('id/blob.csv'));
        assert.deepEqual(blob.metadata, { note: 'blob' });
        assert.equal(requests(), before, 'no backend request for rows that carry the ETag');
        assert.equal(await fromMetadataCount(rp), 3);

        const raw = await rp.head(k('id/raw.txt'));
        assert.equal(raw.fromMetadata, undefined);
        assert.equal(raw.size, RAW.length);
        assert.equal(requests(), before + 1, 'a row without an ETag: one backend HEAD');
        // GETs still read a backend, and report the same identity.
        const g = await rp.get(k('id/report.csv'));
        assert.ok(Buffer.from(g.body).equals(CSV));
        assert.deepEqual([g.etag, g.contentType, g.size, g.tagCount], [CSV_ETAG, 'text/csv', CSV.length, 3]);
        assert.equal('tagCount' in raw, false, 'an untagged object has no count');
        // The metadata describes an object whose bytes are gone; reading it finds out.
        assert.equal((await rp.head(k('id/gone.csv'))).fromMetadata, true);
        await assert.rejects(rp.get(k('id/gone.csv')), (e: unknown) => hasCode(e, 'BACKEND_ERROR') && /not found \(404/.test(String(e)));
        await assert.rejects(rp.head(k('id/none')), (e: unknown) => hasCode(e, 'OBJECT_NOT_FOUND'));
      } finally {
        await rp.close();
      }
    });
  }

  it('readMany of HEADs: every one from its row, no backend request', async () => {
    const rp = await ReadPath.open(config('pool'));
    try {
      const before = requests();
      const keys = [k('id/report.csv'), k('id/app.log'), k('id/blob.csv'), k('id/gone.csv')];
      const out = [];
      for await (const o of rp.readMany(keys, { op: 'head', concurrency: 4 })) out.push(o);
      assert.deepEqual(out.map((o) => [o.key, o.ok, o.ok && 'fromMetadata' in o ? o.fromMetadata : undefined]).sort(), keys.map((key) => [key, true, true]).sort());
      assert.equal(requests(), before);
    } finally {
      await rp.close();
    }
  });

  it('head.from_metadata: false asks a backend every time, as before', async () => {
    const rp = await ReadPath.open(config('inline', { from_metadata: false }));
    try {
      const before = requests();
      const h = await rp.head(k('id/report.csv'));
      assert.equal(h.fromMetadata, undefined);
      assert.deepEqual([h.size, h.etag, h.contentType, h.backend], [CSV.length, CSV_ETAG, 'text/csv', 'b1']);
      assert.equal(requests(), before + 1);
      // Without the metadata's word, an object no backend has is not there.
      await assert.rejects(rp.head(k('id/gone.csv')), (e: unknown) => hasCode(e, 'BACKEND_ERROR') && /not found \(404/.test(String(e)));
      assert.equal(await fromMetadataCount(rp), 0);
    } finally {
      await rp.close();
    }
  });

  it('the database down: the HEAD is a degraded one, from a backend', async () => {
    const store = new SwitchableStore(await SqliteMetadataStore.open({ path: dbPath, readonly: true }));
    const rp = await ReadPath.open(config('inline'), { store });
    try {
      store.down = true;
      const before = requests();
      const h = await rp.head(k('id/report.csv'));
      assert.deepEqual([h.degraded, h.fromMetadata, h.size], [true, undefined, CSV.length]);
      assert.ok(requests() > before, 'a backend was asked');
      store.down = false;
      assert.equal((await rp.head(k('id/report.csv'))).fromMetadata, true, 'back from its row once the database is');
    } finally {
      await rp.close();
    }
  });

  it('tags: the object\'s set from object_tags, by key; none for an untagged object; errors coded', async () => {
    const store = new SwitchableStore(await SqliteMetadataStore.open({ path: dbPath, readonly: true }));
    const rp = await ReadPath.open(config('inline'), { store });
    try {
      const before = requests();
      assert.deepEqual(await rp.tags(k('id/report.csv')), TAG_SET);
      assert.deepEqual(await rp.tags(k('id/raw.txt')), []);
      await assert.rejects(rp.tags(k('id/none')), (e: unknown) => hasCode(e, 'OBJECT_NOT_FOUND'));
      await assert.rejects(rp.tags(k('id/blob.csv')), (e: unknown) => hasCode(e, 'METADATA_ERROR') && /object_tags.*column tag_value/.test(String(e)));
      await assert.rejects(rp.tags(''), (e: unknown) => hasCode(e, 'INVALID_KEY'));
      assert.equal(requests(), before, 'tags live in the database: no backend asked');
      store.down = true;
      await assert.rejects(rp.tags(k('id/report.csv')), (e: unknown) => hasCode(e, 'DB_UNAVAILABLE'));
    } finally {
      await rp.close();
    }
  });

  describe('readpath serve: real clients read the row\'s identity, user metadata and tags', () => {
    let serve: Serve | undefined;
    let sdk: S3Client;
    let clients: S3Clients;

    before(async () => {
      clients = await S3Clients.create(tmp);
      const file = await writeServeConfig(tmp, fleet.backends.map((b) => fleet.backendConfig(b.name)), { masterKey: Buffer.alloc(32, 7), bucket: BUCKET, cred: CRED });
      serve = await startServe(file);
      sdk = gatewaySdk(serve.url, CRED);
    });

    after(async () => {
      sdk?.destroy();
      await killServe(serve);
    });

    it('aws s3api head-object, s3cmd info and the SDK: metadata, type and ETag from the row, no backend request', async () => {
      const url = (serve as Serve).url;
      const before = requests();
      const aws = JSON.parse(ok(await clients.awsRun(url, CRED, ['s3api', 'head-object', '--bucket', BUCKET, '--key', 'id/report.csv']), 'head-object').stdout) as
        { ContentLength: number; ETag: string; ContentType: string; Metadata: Record<string, string>; LastModified: string };
      assert.deepEqual([aws.ContentLength, aws.ETag, aws.ContentType, aws.Metadata], [CSV.length, CSV_ETAG, 'text/csv', META]);
      assert.equal(new Date(aws.LastModified).getTime(), CREATED + 1000);
      const sdkHead = await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'id/app.log' }));
      assert.deepEqual([sdkHead.ContentLength, sdkHead.ETag, sdkHead.ContentType, sdkHead.Metadata], [LOG.length, LOG_ETAG, 'application/x-ndjson', {}]);
      const info = ok(await clients.s3cmdRun(url, CRED, ['info', `s3://${BUCKET}/id/report.csv`]), 's3cmd info').stdout;
      assert.match(info, new RegExp(`File size:\\s+${CSV.length}\\b`));
      assert.match(info, /MIME type:\s+text\/csv/);
      assert.match(info, new RegExp(`MD5 sum:\\s+${CSV_ETAG.slice(1, -1)}`));
      assert.match(info, /x-amz-meta-owner:\s+team-a/);
      assert.equal(requests(), before, 'the HEADs reached no backend');
      // A download (HEAD, then GET) gets the bytes, checked by the aws CLI against nothing but them.
      const out = path.join(tmp, 'report.csv');
      ok(await clients.awsRun(url, CRED, ['s3', 'cp', `s3://${BUCKET}/id/report.csv`, out]), 'aws s3 cp');
      assert.ok((await import('node:fs')).readFileSync(out).equals(CSV));
    });

    it('aws s3api get-object-tagging and the SDK: the tag set upstream keeps; untagged and missing objects as S3 answers them', async () => {
      const url = (serve as Serve).url;
      const want = TAG_SET.map((t) => ({ Key: t.key, Value: t.value }));
      const aws = JSON.parse(ok(await clients.awsRun(url, CRED, ['s3api', 'get-object-tagging', '--bucket', BUCKET, '--key', 'id/report.csv']), 'get-object-tagging').stdout) as { TagSet: unknown[] };
      assert.deepEqual(aws.TagSet, want);
      const t = await sdk.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'id/report.csv' }));
      assert.deepEqual(t.TagSet, want);
      assert.deepEqual((await sdk.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'id/raw.txt' }))).TagSet ?? [], []);
      await assert.rejects(sdk.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'id/none' })), (e: unknown) => (e as { name?: string }).name === 'NoSuchKey');
      // x-amz-tagging-count on GETs and HEADs of a tagged object, counted with the row lookup.
      const get = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'id/report.csv' }));
      assert.equal(get.TagCount, 3);
      assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(CSV));
      const awsGet = JSON.parse(ok(await clients.awsRun(url, CRED, ['s3api', 'get-object', '--bucket', BUCKET, '--key', 'id/report.csv', path.join(tmp, 'tc.csv')]), 'get-object').stdout) as { TagCount?: number };
      assert.equal(awsGet.TagCount, 3);
      const plain = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'id/raw.txt' }));
      assert.equal(plain.TagCount, undefined);
      await plain.Body!.transformToByteArray();
      const bad = await clients.awsRun(url, CRED, ['s3api', 'get-object-tagging', '--bucket', BUCKET, '--key', 'id/blob.csv']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /\(BadGateway\)|502/);
    });
  });
});
