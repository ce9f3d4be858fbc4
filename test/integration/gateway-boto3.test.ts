/**
 * boto3 — the S3 client of most data pipelines — reading through `readpath serve` as such a
 * program would: paginators (ListObjectsV2 by token and by directory, ListObjects v1,
 * ListObjectVersions), get_object whole and ranged, head_object, s3transfer's multi-threaded
 * ranged download of a large object (to a file and to a file object), the resource API, a
 * presigned URL fetched with urllib (and a tampered one), boto3's own error codes for missing keys,
 * writes and a wrong secret, checksum mode (botocore checking bodies against the stored SHA-256), and virtual-hosted addressing (boto3's default) through the gateway
 * as its HTTP proxy. The program is test/helpers/boto3-reader.py, run with Debian's python3 and
 * python3-boto3 (.ci/install-s3-clients.sh installs it); it reports, this file asserts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../src/probe/verify.js';
import { CLIENT_REGION, ok, run, s3Order, toolEnv, type ClientCred } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';

const SCRIPT = fileURLToPath(new URL('../helpers/boto3-reader.py', import.meta.url));
/** Debian's interpreter: python3-boto3 is installed for it, whichever python3 is first on PATH. */
const PYTHON = '/usr/bin/python3';
const DOMAIN = 'gw.test';
const CRED: ClientCred & { bucket: string } = { bucket: 'pipeline', id: 'AKIABOTO3READER00001', secret: 'boto3/Secret+Key=0123456789' };
const BIG = 'large/part-00000.parquet';
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['plain/range.bin', randomBytes(4096)],
  ['plain/other.bin', randomBytes(1000)],
  ['plain/with space + plus.csv', randomBytes(777)],
  ['plain/ünïcode~.json', randomBytes(333)],
  ['top.txt', Buffer.from('top level\n')],
  ['zz/last.bin', randomBytes(1)],
  // Above s3transfer's 4 MiB threshold here: fetched as five ranged GETs on four threads.
  [BIG, randomBytes(18 * 1024 * 1024 + 12_345)],
]);

interface Report {
  list_v2: string[];
  list_v2_sizes: Record<string, number>;
  list_dirs: { keys: string[]; prefixes: string[] };
  list_v1: string[];
  versions: [string, string][];
  versioning: string | null;
  bodies: Record<string, string>;
  head: { length: number; etag: string; type: string; ranges: string | null };
  range: { sha: string; content_range: string; length: number };
  checksum_get: { checksum: string | null; sha: string };
  checksum_big: { checksum: string | null; sha: string };
  checksum_head: string | null;
  download_file: string;
  download_fileobj: string;
  resource_filter: string[];
  resource_size: number;
  presigned: string;
  presigned_tampered: number;
  missing: { code: string; status: number } | null;
  missing_get: { code: string; status: number } | null;
  put: { code: string; status: number } | null;
  delete: { code: string; status: number } | null;
  wrong_secret: { code: string; status: number } | null;
  virtual: { body: string; keys: string[] };
}

describe('readpath serve with boto3 (a Python data pipeline\'s reads)', () => {
  let fx: GatewayFixture;
  let report: Report;

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-boto3-', buckets: [{ name: CRED.bucket, creds: [CRED], objects: OBJECTS }], server: { virtual_host_domains: [DOMAIN] } });
    const port = new URL(fx.serve.url).port;
    const job = {
      endpoint: fx.serve.url, virtual_endpoint: `http://${DOMAIN}:${port}`, region: CLIENT_REGION, id: CRED.id, secret: CRED.secret, bucket: CRED.bucket,
      keys: [...OBJECTS.keys()].filter((k) => k !== BIG), big_key: BIG, range_key: 'plain/range.bin', other_key: 'plain/other.bin', prefix: 'plain/',
    };
    const home = path.join(fx.tmp, 'home');
    const r = ok(await run(PYTHON, [SCRIPT, JSON.stringify(job)], toolEnv(home, {}), 180_000), `${PYTHON} boto3-reader.py (is python3-boto3 installed? bash .ci/install-s3-clients.sh)`);
    report = JSON.parse(r.stdout) as Report;
  });

  after(async () => {
    await fx?.close();
  });

  const hashOf = (k: string): string => sha256Hex(OBJECTS.get(k)!);
  const allKeys = s3Order(OBJECTS.keys());

  it('paginators: ListObjectsV2 in pages of 2, by directory, ListObjects v1 in pages of 3, ListObjectVersions — every key once, in order', () => {
    assert.deepEqual(report.list_v2, allKeys);
    assert.deepEqual(report.list_v2_sizes, Object.fromEntries([...OBJECTS].map(([k, v]) => [k, v.length])));
    assert.deepEqual(report.list_dirs, { keys: ['top.txt'], prefixes: ['large/', 'plain/', 'zz/'] });
    assert.deepEqual(report.list_v1, allKeys);
    assert.deepEqual(report.versions, allKeys.map((k) => [k, 'null']));
    assert.equal(report.versioning, null);
  });

  it('get_object of every object byte for byte; head_object and a ranged get_object as boto3 parses them', () => {
    for (const [k, sha] of Object.entries(report.bodies)) assert.equal(sha, hashOf(k), k);
    assert.equal(Object.keys(report.bodies).length, OBJECTS.size - 1);
    const range = OBJECTS.get('plain/range.bin')!;
    assert.equal(report.head.length, range.length);
    assert.match(report.head.etag, /^"[0-9a-f]{32}-1"$/);
    assert.equal(report.head.ranges, 'bytes');
    assert.deepEqual(report.range, { sha: sha256Hex(range.subarray(5, 21)), content_range: `bytes 5-20/${range.length}`, length: 16 });
  });

  it('ChecksumMode ENABLED: x-amz-checksum-sha256 is the stored SHA-256, which botocore checks the body against (buffered and streamed bodies, HEAD)', () => {
    const b64 = (k: string): string => Buffer.from(hashOf(k), 'hex').toString('base64');
    assert.deepEqual(report.checksum_get, { checksum: b64('plain/range.bin'), sha: hashOf('plain/range.bin') });
    assert.deepEqual(report.checksum_big, { checksum: b64(BIG), sha: hashOf(BIG) });
    assert.equal(report.checksum_head, b64('plain/range.bin'));
  });

  it('s3transfer downloads the 18 MiB object in ranged parts on four threads, to a file and to a file object', () => {
    assert.equal(report.download_file, hashOf(BIG));
    assert.equal(report.download_fileobj, hashOf(BIG));
  });

  it('the resource API: a prefix-filtered collection and an object\'s content_length', () => {
    assert.deepEqual(report.resource_filter, allKeys.filter((k) => k.startsWith('plain/')));
    assert.equal(report.resource_size, 4096);
  });

  it('a presigned URL works from urllib; the same signature on another key is 403', () => {
    assert.equal(report.presigned, hashOf('plain/range.bin'));
    assert.equal(report.presigned_tampered, 403);
  });

  it('boto3\'s errors: a missing key (HEAD 404, GET NoSuchKey), a put and a delete refused, a wrong secret', () => {
    assert.deepEqual(report.missing, { code: '404', status: 404 });
    assert.deepEqual(report.missing_get, { code: 'NoSuchKey', status: 404 });
    assert.deepEqual(report.put, { code: 'MethodNotAllowed', status: 405 });
    assert.deepEqual(report.delete, { code: 'MethodNotAllowed', status: 405 });
    assert.deepEqual(report.wrong_secret, { code: 'SignatureDoesNotMatch', status: 403 });
  });

  it('virtual-hosted style (boto3\'s default), the gateway as HTTP proxy: a GET and a listing under pipeline.gw.test', () => {
    assert.deepEqual(report.virtual, { body: hashOf('plain/range.bin'), keys: allKeys });
  });
});
