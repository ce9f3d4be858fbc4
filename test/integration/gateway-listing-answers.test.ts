/**
 * What `readpath serve`'s listings say about each object, driven by the AWS SDK and s3cmd over an
 * s3rver fleet: every listed object has an ETag, the one a GET or HEAD of it returns (derived from
 * the row's content_hash), or for a row without a hash one derived from the row, with no backend
 * asked; a start key inside a common
 * prefix continues after that prefix in ListObjects and ListObjectsV2 alike; keys with line
 * breaks list as themselves to rclone, s3cmd and the SDK, which ask without `encoding-type=url`;
 * a GET naming a subresource only writes have (`?delete`) is an S3 error, not a listing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  GetObjectCommand, HeadObjectCommand, ListObjectsCommand, ListObjectsV2Command, type S3Client,
} from '@aws-sdk/client-s3';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { S3Clients, assertSameFiles, filesUnder, ok, type ClientCred } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';

const CRED: ClientCred = { id: 'AKIALISTINGANSWERS01', secret: 'listing-answers-secret-0123456789' };
const BUCKET = 'media';
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['x1.txt', randomBytes(40)],
  ['x2.txt', randomBytes(60)],
  ['a/1.bin', randomBytes(10)],
  ['a/2.bin', randomBytes(20)],
  ['b/3.bin', randomBytes(30)],
  ['c.txt', randomBytes(5)],
]);
/** Rows written before upstream kept a content hash: only a backend knows these objects' ETags. */
const NO_HASH = new Set(['x2.txt', 'a/2.bin']);
/** Keys with line breaks, in a bucket of their own: an XML parser reads a literal CR (or CRLF) as LF. */
const LINES_CRED: ClientCred = { id: 'AKIALISTINGLINES0001', secret: 'listing-lines-secret-0123456789' };
const LINES = 'lines';
const LINE_OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['cr\rkey.txt', randomBytes(11)], ['crlf\r\nkey.txt', randomBytes(12)], ['lf\nkey.txt', randomBytes(13)], ['d\r/in.txt', randomBytes(14)], ['plain.txt', randomBytes(15)],
]);

const md5Etag = (b: Buffer): string => `"${createHash('md5').update(b).digest('hex')}"`;
const derivedEtag = (b: Buffer): string => `"${createHash('sha256').update(b).digest('hex').slice(0, 32)}-1"`;

describe('readpath serve: listings', () => {
  let fx: GatewayFixture;
  let clients: S3Clients;
  let s3: S3Client;

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-listing-', buckets: [
      { name: BUCKET, creds: [CRED], objects: OBJECTS, noHash: NO_HASH }, { name: LINES, creds: [LINES_CRED], objects: LINE_OBJECTS },
    ] });
    clients = await S3Clients.create(fx.tmp);
    s3 = gatewaySdk(fx.serve.url, CRED);
  });

  after(async () => {
    s3?.destroy();
    await fx?.close();
  });

  it('every listed object has the ETag its GET and HEAD return, derived from content_hash; rows without one list an ETag from the row alone (ListObjectsV2 and ListObjects)', async () => {
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET }));
    const listed = new Map<string, string | undefined>();
    for (const contents of [v2.Contents ?? [], v1.Contents ?? []]) {
      assert.deepEqual(contents.map((c) => c.Key).sort(), [...OBJECTS.keys()].sort());
      for (const c of contents) {
        const key = c.Key ?? '';
        const bytes = OBJECTS.get(key) as Buffer;
        const h = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
        const g = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        assert.deepEqual(Buffer.from(await g.Body?.transformToByteArray() ?? []), bytes);
        if (NO_HASH.has(key)) {
          // Only a backend knows this object's ETag (its MD5, as GET and HEAD give it); the listing
          // gives one in multipart form, which no client checks as an MD5, the same in v1 and v2.
          assert.equal(h.ETag, md5Etag(bytes), `HEAD ${key}`);
          assert.equal(g.ETag, md5Etag(bytes), `GET ${key}`);
          assert.match(c.ETag ?? '', /^"[0-9a-f]{32}-1"$/, key);
          if (listed.has(key)) assert.equal(c.ETag, listed.get(key), `${key}: the same in every listing`);
          listed.set(key, c.ETag);
        } else {
          assert.equal(c.ETag, derivedEtag(bytes), key);
          assert.equal(h.ETag, c.ETag, `HEAD ${key}`);
          assert.equal(g.ETag, c.ETag, `GET ${key}`);
        }
      }
    }
    // The listing asks no backend: with every backend down, the same ETags are listed.
    for (const b of fx.fleet.backends) await fx.fleet.stop(b.name);
    try {
      const down = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      for (const c of down.Contents ?? []) {
        const bytes = OBJECTS.get(c.Key ?? '') as Buffer;
        assert.equal(c.ETag, NO_HASH.has(c.Key ?? '') ? listed.get(c.Key ?? '') : derivedEtag(bytes), `${c.Key} with the backends down`);
      }
    } finally {
      for (const b of fx.fleet.backends) await fx.fleet.start(b.name);
    }
  });

  it('s3cmd ls shows every object; s3cmd get with a ? wildcard fetches the objects it matches, with and without a content hash', async () => {
    const ls = ok(await clients.s3cmdRun(fx.serve.url, CRED, ['ls', '--recursive', `s3://${BUCKET}`]), 's3cmd ls');
    for (const k of OBJECTS.keys()) assert.match(ls.stdout, new RegExp(`s3://${BUCKET}/${k.replace('.', '\\.')}\\n`), k);
    const dir = path.join(fx.tmp, 'got');
    await mkdir(dir);
    const get = ok(await clients.s3cmdRun(fx.serve.url, CRED, ['get', `s3://${BUCKET}/x?.txt`, `${dir}/`]), 's3cmd get x?.txt');
    assert.doesNotMatch(get.stderr, /WARNING|ERROR/, get.stderr);
    for (const k of ['x1.txt', 'x2.txt']) assert.deepEqual(await readFile(path.join(dir, k)), OBJECTS.get(k), k);
  });

  it('a start key at or inside a common prefix continues after that prefix, in ListObjectsV2 (start-after) and ListObjects (marker) alike', async () => {
    for (const start of ['a/', 'a/1.bin', 'a/0']) {
      const v2 = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/', StartAfter: start }));
      const v1 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Delimiter: '/', Marker: start }));
      for (const [name, page] of [['v2', v2], ['v1', v1]] as const) {
        assert.deepEqual((page.CommonPrefixes ?? []).map((p) => p.Prefix), ['b/'], `${name} after ${start}`);
        assert.deepEqual((page.Contents ?? []).map((c) => c.Key), ['c.txt', 'x1.txt', 'x2.txt'], `${name} after ${start}`);
      }
    }
    // Before the prefix's own entry (`a` sorts before `a/`), the prefix is listed.
    const before = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/', StartAfter: 'a' }));
    assert.deepEqual((before.CommonPrefixes ?? []).map((p) => p.Prefix), ['a/', 'b/']);
    // Without a delimiter there are no common prefixes: the keys after the start.
    const flat = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, StartAfter: 'a/1.bin' }));
    assert.deepEqual((flat.Contents ?? []).map((c) => c.Key), ['a/2.bin', 'b/3.bin', 'c.txt', 'x1.txt', 'x2.txt']);
  });

  it('keys with a CR (alone or in CRLF) list as themselves without encoding-type=url: rclone copies them (ListObjects v1, its default for provider Other), s3cmd lists them, the SDK reads them back', async () => {
    const dir = path.join(fx.tmp, 'lines');
    const remote = { gw: { url: fx.serve.url, cred: LINES_CRED } };
    ok(await clients.rcloneRun(remote, ['copy', `gw:${LINES}`, dir]), 'rclone copy');
    assertSameFiles(await filesUnder(dir), LINE_OBJECTS, 'rclone copy');
    const ls = ok(await clients.s3cmdRun(fx.serve.url, LINES_CRED, ['ls', '--recursive', `s3://${LINES}`]), 's3cmd ls');
    const listed = ls.stdout.split(/ {2}s3:\/\/lines\//).slice(1).map((l) => l.replace(/\n(\d{4}-\d\d-\d\d \d\d:\d\d +\d+)?$/, ''));
    assert.deepEqual(listed.sort(), [...LINE_OBJECTS.keys()].sort(), 's3cmd ls');
    const lines = gatewaySdk(fx.serve.url, LINES_CRED);
    try {
      const v2 = await lines.send(new ListObjectsV2Command({ Bucket: LINES }));
      const v1 = await lines.send(new ListObjectsCommand({ Bucket: LINES, Delimiter: '/' }));
      assert.deepEqual((v2.Contents ?? []).map((c) => c.Key).sort(), [...LINE_OBJECTS.keys()].sort(), 'ListObjectsV2');
      assert.deepEqual((v1.CommonPrefixes ?? []).map((c) => c.Prefix), ['d\r/'], 'ListObjects: the common prefix');
    } finally {
      lines.destroy();
    }
  });

  it('GET ?delete of a bucket (DeleteObjects is a POST) and ?select or ?restore of an object (POSTs) are 405 MethodNotAllowed, not a listing or the object', async () => {
    const cases: [string, ListObjectsCommand | GetObjectCommand][] = [
      ['delete', new ListObjectsCommand({ Bucket: BUCKET })],
      ['select', new GetObjectCommand({ Bucket: BUCKET, Key: 'c.txt' })],
      ['restore', new GetObjectCommand({ Bucket: BUCKET, Key: 'c.txt' })],
    ];
    for (const [sub, command] of cases) {
      // Added to the request before it is signed, as a client asking for it would send it.
      const ask = (request: unknown): void => {
        (request as { query: Record<string, string> }).query[sub] = '';
      };
      if (command instanceof ListObjectsCommand) {
        command.middlewareStack.add((next) => async (args) => (ask(args.request), next(args)), { step: 'build' });
      } else {
        command.middlewareStack.add((next) => async (args) => (ask(args.request), next(args)), { step: 'build' });
      }
      await assert.rejects(command instanceof ListObjectsCommand ? s3.send(command) : s3.send(command), (err: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'MethodNotAllowed', sub);
        assert.equal(err.$metadata?.httpStatusCode, 405, sub);
        return true;
      });
    }
  });
});
