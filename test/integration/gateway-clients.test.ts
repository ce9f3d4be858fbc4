/**
 * `readpath serve` driven by S3 clients nobody here wrote — the aws CLI, rclone, s3cmd and the
 * AWS SDK — over the s3rver fleet with rows in SQLite. The gateway runs as users run it: a
 * child process (`node --import tsx src/cli/main.ts serve -c CONFIG --listen 127.0.0.1:0`)
 * whose stderr line gives the URL. What needs a store that fails on demand, another `server:`
 * setting or TLS runs on in-process gateways (startGateway) over the same fleet and database.
 *
 * The tools are never skipped: a missing one fails with a pointer to .ci/install-s3-clients.sh.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsCommand,
  type ListObjectsCommandOutput, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { NodeSha256 } from '../../src/backends/s3-signer.js';
import { ReadPath } from '../../src/read-path.js';
import { ReadPathError } from '../../src/errors.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type FleetBackend, type S3Fleet } from '../helpers/s3-fleet.js';
import { rawRequest as raw, type RawAnswer } from '../helpers/raw-request.js';
import { logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { S3Clients, assertSameFiles, filesUnder, killServe, ok, run, s3Order, startServe, tool, type Run, type Serve } from '../helpers/s3-clients.js';
import { within } from '../helpers/within.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';

const REGION = 'us-east-1';

// ---- fixture ---------------------------------------------------------------------------------

interface Cred { bucket: string; id: string; secret: string }
const PHOTOS: Cred = { bucket: 'photos', id: 'AKIAPHOTOSREADER001', secret: 'photos/Secret+Key=0123456789abcdef' };
const RC: Cred = { bucket: 'rc', id: 'AKIARCLONEREADER001', secret: 'rclone-secret-0123456789' };
const MANY: Cred = { bucket: 'many', id: 'AKIAMANYKEYSREADER1', secret: 'many-keys-secret-0123' };
const LOGS: Cred = { bucket: 'logs', id: 'AKIALOGSREADER00001', secret: 'logs-secret-0123456789' };
const CREDS = [PHOTOS, RC, MANY, LOGS];

function md5(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex');
}

function damaged(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = (c[at] ?? 0) ^ 0x5a;
  return c;
}

const HELLO = Buffer.from('hello, gateway\n');
const BIG = randomBytes(300_000);
/** An object stored under upstream's storage keys (`{key}!{id}`), one id per copy. */
const V2 = Buffer.from('version two, at a storage key of its own\n'.repeat(30));
/** Stored by s3-orchestrator compressed (zstd seekable, 64 KiB frames) at a storage key, with no row: read only degraded. */
const ZLOG = logLines(300_000, 4);
const ZLOG_Z = seekableZstd(ZLOG, { chunkSize: 64 * 1024 });
const V2_IDS = ['4c3f9d2e8a7b6c5d4e3f2a1b0c9d8e7f', 'a0b1c2d3e4f5061728394a5b6c7d8e9f'] as const;
const GOOD_1M = randomBytes(1024 * 1024);
const SMALL_GOOD = Buffer.from('twenty bytes of text');
const SLOW = randomBytes(64 * 1024);
/** Past the 1 MiB verify window (streamed after its headers); no test injects faults into it. */
const STREAMED = randomBytes(1536 * 1024);
const NOHASH = Buffer.from('a row with no content_hash\n');
const TREE: ReadonlyMap<string, Buffer> = new Map([
  'a.txt', 'with space.txt', 'ünïcödé/日本語 ファイル.txt', 'a+b=c.txt', 'tilde~x.txt', 'sub/deep/file.bin', "it's (1) & more!.txt", 'emoji 😀.bin',
].map((k, i) => [`tree/${k}`, randomBytes(100 + i * 997)]));
/** Bucket `rc`: 50 objects for rclone, tricky names and an empty one among them. */
const RC_OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ...Array.from({ length: 43 }, (_, i) => [`file-${String(i).padStart(2, '0')}.bin`, randomBytes(1 + ((i * 7919) % 20_000))] as const),
  ['dir/a b.txt', randomBytes(333)], ['dir/ünï.txt', randomBytes(444)], ['dir/x+y.txt', randomBytes(555)], ['dir/t~t.txt', randomBytes(666)],
  ['deep/er/still/z.bin', randomBytes(40_000)], ['empty.txt', Buffer.alloc(0)], ['top level 😀.txt', randomBytes(77)],
]);
/** Bucket `many`: rows only (listings never touch a backend): 1100 flat keys, 4 directories, odd names. */
const MANY_KEYS: readonly string[] = [
  ...Array.from({ length: 1100 }, (_, i) => `flat/k${String(i).padStart(4, '0')}`),
  ...Array.from({ length: 100 }, (_, i) => `d${Math.floor(i / 25)}/x${String(i % 25).padStart(2, '0')}`),
  'sp ace/a', 'plus+/b', 'tilde~/c', 'ü/d', '\uE000/e', '😀/f', 'top-level.txt',
];

// ---- SDK, presigning and raw HTTP ------------------------------------------------------------

const sdk = gatewaySdk;

/** SigV4's URI encoding (unreserved kept), `/` kept between segments. */
function encodeKey(key: string): string {
  return key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
}

/**
 * A presigned GET as @aws-sdk/s3-request-presigner makes it (that package is not a dependency):
 * @smithy/signature-v4's presign with `x-amz-content-sha256: UNSIGNED-PAYLOAD` hoisted into the query.
 */
async function presignGet(base: string, cred: Cred, key: string, opts: { expiresIn: number; signingDate?: Date }): Promise<string> {
  const u = new URL(base);
  const signer = new SignatureV4({
    service: 's3', region: REGION, credentials: { accessKeyId: cred.id, secretAccessKey: cred.secret }, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false,
  });
  const p = `/${cred.bucket}/${encodeKey(key)}`;
  const signed = await signer.presign({
    method: 'GET', protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: p, query: { 'x-id': 'GetObject' },
    headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
  }, { expiresIn: opts.expiresIn, ...(opts.signingDate === undefined ? {} : { signingDate: opts.signingDate }) });
  const query = signed.query ?? {};
  const qs = Object.keys(query).sort().map((k) => {
    const v = query[k];
    return `${encodeKey(k)}=${encodeKey(String(Array.isArray(v) ? v[0] : v ?? ''))}`;
  }).join('&');
  return `${base}${p}?${qs}`;
}

/** Resolves once `proxy` has seen a GET of `key` (the store's key) beyond the first `since` requests. */
async function sawGet(proxy: FleetBackend['proxy'], key: string, since: number): Promise<void> {
  for (let n = since + 1; ; n++) {
    await proxy.waitForRequests(n);
    if (proxy.requests().slice(since).some((q) => q.method === 'GET' && q.key === key)) return;
  }
}

/** The S3 error code of an XML error body. */
function s3Code(body: Buffer | string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body.toString())?.[1];
}

/** An SDK call's failure: its name (the S3 code) and HTTP status. */
async function sdkFailure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  assert.fail('expected the call to fail');
}

/** A store whose database can be taken down: every call then fails as an unreachable database does. */
class SwitchableStore implements MetadataStore {
  down = false;
  constructor(private readonly inner: SqliteMetadataStore) {}

  #check(): void {
    if (this.down) throw new ReadPathError('DB_UNAVAILABLE', 'test: the metadata database is down');
  }

  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    this.#check();
    return this.inner.getAllObjectLocations(key, opts);
  }

  async listKeys(opts: ListKeysOptions): Promise<ListedObject[]> {
    this.#check();
    return this.inner.listKeys(opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

// ---- the tests -------------------------------------------------------------------------------

describe('readpath serve with real S3 clients (s3rver fleet, SQLite)', () => {
  let fleet: S3Fleet;
  let tmp: string;
  let dbPath: string;
  let serve: Serve;
  let url: string;
  let aws: string;
  let clients: S3Clients;


  before(async () => {
    tool('openssl');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-gw-clients-'));
    clients = await S3Clients.create(tmp);
    aws = clients.aws;

    fleet = await startS3Fleet({ count: 3 });
    const rows: ObjectLocation[] = [];
    let t = Date.UTC(2026, 0, 1);
    const seeds: (() => Promise<void>)[] = [];
    /** `bytes` under `{bucket}/{key}`; `stored` overrides what a backend holds (a damaged copy). */
    const put = (bucket: string, key: string, bytes: Buffer, on: string[], stored: Record<string, Buffer> = {}, identity: { etag?: string } = {}): void => {
      const storeKey = `${bucket}/${key}`;
      for (const b of on) {
        seeds.push(() => fleet.seed(storeKey, stored[b] ?? bytes, [b]));
        rows.push({ objectKey: storeKey, backendName: b, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes), ...identity });
      }
    };
    put('photos', 'hello.txt', HELLO, ['b1', 'b2']);
    put('photos', 'big.bin', BIG, ['b2', 'b3']);
    put('photos', 'failover.txt', Buffer.from('still here when b1 is gone\n'), ['b1', 'b2']);
    put('photos', 'damaged-one.bin', GOOD_1M, ['b1', 'b2'], { b1: damaged(GOOD_1M, 700_000) });
    put('photos', 'damaged-all.bin', GOOD_1M, ['b1', 'b2'], { b1: damaged(GOOD_1M, 1000), b2: damaged(GOOD_1M, 1_000_000) });
    put('photos', 'damaged-small.txt', SMALL_GOOD, ['b2', 'b3'], { b2: damaged(SMALL_GOOD, 3), b3: damaged(SMALL_GOOD, 17) });
    put('photos', 'slow.bin', SLOW, ['b3']);
    put('photos', 'gate.bin', SLOW, ['b3']);
    // Past the 1 MiB verify window: its bytes are handed on as they come.
    put('photos', 'abandon.bin', randomBytes(2 * 1024 * 1024 + 17), ['b2', 'b3']);
    put('photos', 'streamed.bin', STREAMED, ['b2', 'b3']);
    for (const [k, v] of TREE) put('photos', k, v, ['b1', 'b3']);
    let i = 0;
    const pairs = [['b1', 'b2'], ['b2', 'b3'], ['b3', 'b1']];
    // As s3-orchestrator now writes rows: with the ETag its clients were given (the MD5 of a
    // single-part upload), which rclone checks against what it downloaded. Rows without one (the
    // photos bucket's, as older upstream versions wrote) list an ETag derived from the hash instead.
    for (const [k, v] of RC_OBJECTS) put('rc', k, v, pairs[i++ % 3] as string[], {}, { etag: `"${md5(v)}"` });
    put('logs', 'app.log', Buffer.from('log line\n'), ['b1']);
    // Written as s3-orchestrator now writes: each copy at a path of its own, nothing at the key.
    for (const [b, id] of [['b1', V2_IDS[0]], ['b2', V2_IDS[1]]] as const) {
      seeds.push(() => fleet.seed(`photos/v2.txt!${id}`, V2, [b]));
      rows.push({ objectKey: 'photos/v2.txt', backendName: b, sizeBytes: V2.length, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(V2), storageKey: `photos/v2.txt!${id}` });
    }
    seeds.push(() => fleet.seed('photos/zlog.txt!00000000000000000000000000000abc', ZLOG_Z.body, ['b2']));
    // A row without content_hash (s3-orchestrator's NULL): served unverified, with no checksum to give.
    seeds.push(() => fleet.seed('logs/nohash.log', NOHASH, ['b1']));
    rows.push({ objectKey: 'logs/nohash.log', backendName: 'b1', sizeBytes: NOHASH.length, createdAt: new Date(t++), encrypted: false, contentHash: null });
    for (const k of MANY_KEYS) {
      rows.push({ objectKey: `many/${k}`, backendName: 'b1', sizeBytes: 10, createdAt: new Date(t++), encrypted: false, contentHash: null });
    }
    // s3rver takes a few dozen PUTs at once without trouble.
    for (let j = 0; j < seeds.length; j += 24) await Promise.all(seeds.slice(j, j + 24).map((f) => f()));
    dbPath = path.join(tmp, 'meta.db');
    // Upstream's schema, so the rc bucket's rows can carry its etag column.
    const db = upstreamSqlite(dbPath);
    for (const r of rows) db.insert(r);
    db.close();

    const backends = stringify({ backends: fleet.backends.map((b) => fleet.backendConfig(b.name)) });
    const buckets = CREDS.map((c) => `  - name: ${c.bucket}
    credentials:
      - access_key_id: ${c.id}
        secret_access_key: "${c.secret}"`).join('\n');
    const config = path.join(tmp, 'readpath.yaml');
    await writeFile(config, `${backends}database:
  driver: sqlite
  path: meta.db
server:
  backend_timeout: 20s
  listen_addr: "127.0.0.1:9"
runtime:
  threads: 1
logging:
  level: warn
buckets:\n${buckets}\n`);
    serve = await startServe(config);
    url = serve.url;
  });

  after(async () => {
    await killServe(serve);
    await fleet?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  const awsEnv = (cred: Pick<Cred, 'id' | 'secret'>): NodeJS.ProcessEnv => clients.awsEnv(cred);
  const awsRun = (args: string[], cred: Pick<Cred, 'id' | 'secret'> = PHOTOS, endpoint = url): Promise<Run> => clients.awsRun(endpoint, cred, args);

  // The groups below inject no fault another group could meet: they run side by side, which
  // matters for the aws CLI, whose every invocation costs a Python start-up of a second or more.
  describe('clients side by side', { concurrency: true }, () => {
    describe('aws CLI', { concurrency: 2 }, () => {
      it('aws s3 cp downloads an object byte for byte', async () => {
        const big = path.join(tmp, 'aws-big.bin');
        ok(await awsRun(['s3', 'cp', 's3://photos/big.bin', big]), 'aws s3 cp big.bin');
        assert.ok((await readFile(big)).equals(BIG));
      });

      it('aws s3 ls lists a prefix (common prefixes as PRE)', async () => {
        const r = ok(await awsRun(['s3', 'ls', 's3://photos/tree/']), 'aws s3 ls');
        const lines = r.stdout.split('\n').filter((l) => l !== '');
        const pre = lines.filter((l) => /^\s+PRE /.test(l)).map((l) => l.trim().slice(4));
        assert.deepEqual(s3Order(pre), s3Order(['sub/', 'ünïcödé/']), r.stdout);
        const files = lines.filter((l) => !/^\s+PRE /.test(l)).map((l) => /^\S+ \S+\s+(\d+) (.*)$/.exec(l)).map((m) => [m?.[2], Number(m?.[1])]);
        const direct = [...TREE].filter(([k]) => !k.slice('tree/'.length).includes('/')).map(([k, v]) => [k.slice('tree/'.length), v.length]);
        assert.deepEqual(files.sort(), direct.sort(), r.stdout);
      });

      it('aws s3 ls --recursive lists every key under a prefix with its size', async () => {
        const rec = ok(await awsRun(['s3', 'ls', '--recursive', 's3://photos/tree/']), 'aws s3 ls --recursive');
        const all = rec.stdout.split('\n').filter((l) => l !== '').map((l) => /^\S+ \S+\s+(\d+) (.*)$/.exec(l)).map((m) => [m?.[2], Number(m?.[1])]);
        assert.deepEqual(all, s3Order(TREE.keys()).map((k) => [k, TREE.get(k)?.length]), rec.stdout);
      });

      it('aws s3api head-object gives the length, ETag (derived from the row\'s SHA-256) and Last-Modified', async () => {
        const r = ok(await awsRun(['s3api', 'head-object', '--bucket', 'photos', '--key', 'big.bin']), 'head-object');
        const h = JSON.parse(r.stdout) as { ContentLength: number; ETag: string; LastModified: string };
        assert.equal(h.ContentLength, BIG.length);
        assert.equal(h.ETag, `"${sha256Hex(BIG).slice(0, 32)}-1"`);
        assert.ok(!Number.isNaN(Date.parse(h.LastModified)), h.LastModified);
      });

      it('aws s3api get-object --range bytes=10-99 returns exactly those bytes', async () => {
        const out = path.join(tmp, 'aws-range.bin');
        const r = ok(await awsRun(['s3api', 'get-object', '--bucket', 'photos', '--key', 'big.bin', '--range', 'bytes=10-99', out]), 'get-object --range');
        const h = JSON.parse(r.stdout) as { ContentLength: number; ContentRange: string };
        assert.equal(h.ContentLength, 90);
        assert.equal(h.ContentRange, `bytes 10-99/${BIG.length}`);
        assert.ok((await readFile(out)).equals(BIG.subarray(10, 100)));
      });

      it('aws s3 cp --recursive copies a prefix whose keys have spaces, unicode, +, ~ and sub-delimiters', async () => {
        const dir = path.join(tmp, 'aws-tree');
        ok(await awsRun(['s3', 'cp', '--recursive', 's3://photos/tree/', dir]), 'aws s3 cp --recursive');
        const want = new Map([...TREE].map(([k, v]) => [k.slice('tree/'.length), v]));
        assertSameFiles(await filesUnder(dir), want, 'aws s3 cp --recursive');
      });

      it('aws s3 cp of an upload is refused (405 MethodNotAllowed) and reaches no backend', async () => {
        const src = path.join(tmp, 'upload.txt');
        // Big enough that the gateway answers before the body is through (it never reads it).
        await writeFile(src, randomBytes(3 * 1024 * 1024));
        const writes = (): number[] => fleet.backends.map((b) => b.proxy.requests().filter((q) => q.method !== 'GET' && q.method !== 'HEAD').length);
        const before = writes();
        const r = await awsRun(['s3', 'cp', src, 's3://photos/uploaded.txt']);
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr + r.stdout, /MethodNotAllowed|405/);
        assert.deepEqual(writes(), before, 'no write reached a backend');
      });

      it('a wrong secret is SignatureDoesNotMatch', async () => {
        const wrong = await awsRun(['s3', 'ls', 's3://photos/'], { id: PHOTOS.id, secret: 'not-the-secret' });
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /SignatureDoesNotMatch/, wrong.stderr);
      });

      it('another bucket\'s credential is AccessDenied', async () => {
        const other = await awsRun(['s3', 'ls', 's3://logs/'], PHOTOS);
        assert.notEqual(other.code, 0);
        assert.match(other.stderr, /AccessDenied/, other.stderr);
      });

      it('aws s3 presign makes a URL the gateway honours; once expired it is refused', async () => {
        const r = ok(await awsRun(['s3', 'presign', 's3://photos/tree/with space.txt', '--expires-in', '6']), 'aws s3 presign');
        const presigned = r.stdout.trim();
        const signedAt = /X-Amz-Date=(\d{8}T\d{6}Z)/.exec(presigned)?.[1];
        assert.ok(signedAt !== undefined && /X-Amz-Signature=/.test(presigned), `a SigV4 presigned URL: ${presigned}`);
        const got = await raw(presigned);
        assert.equal(got.status, 200, got.body.toString());
        assert.ok(got.body.equals(TREE.get('tree/with space.txt') as Buffer));
        const at = Date.parse(signedAt.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
        await new Promise((res) => setTimeout(res, Math.max(0, at + 7_500 - Date.now())));
        const late = await raw(presigned);
        assert.equal(late.status, 403);
        assert.equal(s3Code(late.body), 'AccessDenied');
      });
    });

    describe('rclone', { concurrency: 1 }, () => {
      const rcloneRun = (args: string[]): Promise<Run> => clients.rcloneRun({ gwrc: { url, cred: RC }, gwmany: { url, cred: MANY }, gwphotos: { url, cred: PHOTOS } }, args);

      it('rclone copy of a bucket of 50 objects: every file whole, its MD5 checks passing', async () => {
        const dir = path.join(tmp, 'rclone-rc');
        ok(await rcloneRun(['copy', 'gwrc:rc', dir, '--transfers', '8', '--checkers', '8']), 'rclone copy');
        assertSameFiles(await filesUnder(dir), RC_OBJECTS, 'rclone copy');
        // rclone check compares the gateway's MD5s (ETags) with the files' own: none may differ or be missing.
        const check = ok(await rcloneRun(['check', 'gwrc:rc', dir, '--one-way']), 'rclone check');
        assert.match(check.stderr, new RegExp(`${RC_OBJECTS.size} matching files`), check.stderr);
        assert.match(check.stderr, / 0 differences found/, check.stderr);
        assert.doesNotMatch(check.stderr, /could not be checked|ERROR/, check.stderr);
      });

      it('rclone md5sum reports each object\'s MD5; rclone ls its size', async () => {
        const sums = ok(await rcloneRun(['md5sum', 'gwrc:rc']), 'rclone md5sum');
        const got = new Map(sums.stdout.split('\n').filter((l) => l !== '').map((l) => [l.slice(34), l.slice(0, 32)]));
        assert.deepEqual(got, new Map([...RC_OBJECTS].map(([k, v]) => [k, md5(v)])));
        const ls = ok(await rcloneRun(['ls', 'gwrc:rc/dir']), 'rclone ls');
        const sizes = new Map(ls.stdout.split('\n').filter((l) => l !== '').map((l) => /^\s*(\d+) (.*)$/.exec(l)).map((m) => [m?.[2], Number(m?.[1])]));
        assert.deepEqual(sizes, new Map([...RC_OBJECTS].filter(([k]) => k.startsWith('dir/')).map(([k, v]) => [k.slice(4), v.length])));
      });

      it('rclone lsf --recursive lists 1207 keys through pages of 1000 (ListObjects v1 by directory, v2 with --fast-list)', async () => {
        const want = s3Order(MANY_KEYS);
        const v1 = ok(await rcloneRun(['lsf', '--recursive', '--files-only', 'gwmany:many']), 'rclone lsf');
        assert.deepEqual(s3Order(v1.stdout.split('\n').filter((l) => l !== '')), want);
        const v2 = ok(await rcloneRun(['lsf', '--recursive', '--files-only', '--fast-list', '--s3-list-version', '2', 'gwmany:many']), 'rclone lsf --fast-list');
        assert.deepEqual(v2.stdout.split('\n').filter((l) => l !== ''), want, 'one listing in S3 order');
        const v1fast = ok(await rcloneRun(['lsf', '--recursive', '--files-only', '--fast-list', '--s3-list-version', '1', 'gwmany:many']), 'rclone lsf v1 --fast-list');
        assert.deepEqual(v1fast.stdout.split('\n').filter((l) => l !== ''), want);
      });

      it('rclone copyto of one object with tricky characters', async () => {
        const out = path.join(tmp, 'rclone-one.txt');
        ok(await rcloneRun(['copyto', 'gwphotos:photos/tree/ünïcödé/日本語 ファイル.txt', out]), 'rclone copyto');
        assert.ok((await readFile(out)).equals(TREE.get('tree/ünïcödé/日本語 ファイル.txt') as Buffer));
      });
    });

    describe('s3cmd', { concurrency: 1 }, () => {
      const s3cmdRun = (args: string[], cred: Cred = PHOTOS): Promise<Run> => clients.s3cmdRun(url, cred, args);

      it('s3cmd get downloads objects (its MD5 check against the ETag passing)', async () => {
        const out = path.join(tmp, 's3cmd-big.bin');
        const r = ok(await s3cmdRun(['get', 's3://photos/big.bin', out]), 's3cmd get');
        assert.doesNotMatch(r.stderr, /MD5 signatures do not match|WARNING/, r.stderr);
        assert.ok((await readFile(out)).equals(BIG));
        const spaced = path.join(tmp, 's3cmd-space.txt');
        ok(await s3cmdRun(['get', 's3://photos/tree/with space.txt', spaced]), 's3cmd get (space)');
        assert.ok((await readFile(spaced)).equals(TREE.get('tree/with space.txt') as Buffer));
        const plus = path.join(tmp, 's3cmd-plus.txt');
        ok(await s3cmdRun(['get', 's3://photos/tree/a+b=c.txt', plus]), 's3cmd get (plus)');
        assert.ok((await readFile(plus)).equals(TREE.get('tree/a+b=c.txt') as Buffer));
      });

      it('s3cmd ls lists buckets, a prefix, and --recursive keys', async () => {
        const buckets = ok(await s3cmdRun(['ls']), 's3cmd ls');
        assert.match(buckets.stdout, /s3:\/\/photos\s*$/m);
        assert.doesNotMatch(buckets.stdout, /s3:\/\/logs/);
        const dir = ok(await s3cmdRun(['ls', 's3://photos/tree/']), 's3cmd ls prefix');
        assert.match(dir.stdout, /DIR\s+s3:\/\/photos\/tree\/sub\//);
        assert.match(dir.stdout, /s3:\/\/photos\/tree\/with space\.txt$/m);
        const rec = ok(await s3cmdRun(['ls', '--recursive', 's3://rc/'], RC), 's3cmd ls --recursive');
        const keys = rec.stdout.split('\n').filter((l) => l !== '').map((l) => /s3:\/\/rc\/(.*)$/.exec(l)?.[1]);
        assert.deepEqual(keys, s3Order(RC_OBJECTS.keys()));
      });

      it('s3cmd put is refused', async () => {
        const src = path.join(tmp, 's3cmd-up.txt');
        await writeFile(src, 'no\n');
        const r = await s3cmdRun(['put', src, 's3://photos/s3cmd-up.txt']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /405|MethodNotAllowed/, r.stderr);
      });
    });

    describe('AWS SDK (@aws-sdk/client-s3)', () => {
      let c: S3Client;
      before(() => {
        c = sdk(url, PHOTOS);
      });
      after(() => c.destroy());

      it('ListObjectsV2 pages with continuation tokens (no delimiter) give every key once, in S3 order', async () => {
        const m = sdk(url, MANY);
        try {
          const seen: string[] = [];
          let token: string | undefined;
          let pages = 0;
          do {
            const r = await m.send(new ListObjectsV2Command({ Bucket: 'many', MaxKeys: 97, ContinuationToken: token }));
            pages++;
            seen.push(...(r.Contents ?? []).map((o) => o.Key as string));
            assert.equal(r.KeyCount, r.Contents?.length ?? 0);
            token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
            if (r.IsTruncated === true) assert.ok(token !== undefined, 'a truncated page has a next token');
          } while (token !== undefined);
          assert.deepEqual(seen, s3Order(MANY_KEYS));
          assert.equal(pages, Math.ceil(MANY_KEYS.length / 97));
        } finally {
          m.destroy();
        }
      });

      it('ListObjectsV2 with a delimiter: common prefixes roll up, pages of 3 over them, start-after, a prefix, encoding-type=url', async () => {
        const m = sdk(url, MANY);
        try {
          const keys: string[] = [];
          const prefixes: string[] = [];
          let token: string | undefined;
          do {
            const r = await m.send(new ListObjectsV2Command({ Bucket: 'many', Delimiter: '/', MaxKeys: 3, ContinuationToken: token }));
            keys.push(...(r.Contents ?? []).map((o) => o.Key as string));
            prefixes.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix as string));
            assert.ok((r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0) <= 3);
            token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
          } while (token !== undefined);
          assert.deepEqual(keys, ['top-level.txt']);
          const wantPrefixes = s3Order(new Set(MANY_KEYS.filter((k) => k.includes('/')).map((k) => k.slice(0, k.indexOf('/') + 1))));
          assert.deepEqual(prefixes, wantPrefixes);

          const after = await m.send(new ListObjectsV2Command({ Bucket: 'many', Prefix: 'flat/', StartAfter: 'flat/k1095' }));
          assert.deepEqual(after.Contents?.map((o) => o.Key), ['flat/k1096', 'flat/k1097', 'flat/k1098', 'flat/k1099']);
          assert.equal(after.StartAfter, 'flat/k1095');

          const d2 = await m.send(new ListObjectsV2Command({ Bucket: 'many', Prefix: 'd2/', MaxKeys: 1000 }));
          assert.deepEqual(d2.Contents?.map((o) => o.Key), Array.from({ length: 25 }, (_, i) => `d2/x${String(i).padStart(2, '0')}`));
          assert.equal(d2.IsTruncated, false);
          assert.equal(d2.Contents?.[0]?.Size, 10);

          // The SDK decodes url-encoded keys itself when it asked for them.
          const enc = await m.send(new ListObjectsV2Command({ Bucket: 'many', EncodingType: 'url', Delimiter: '/' }));
          assert.deepEqual(enc.CommonPrefixes?.map((p) => decodeURIComponent(p.Prefix as string)), wantPrefixes);
        } finally {
          m.destroy();
        }
      });

      it('ListObjects (v1) pages with markers, with and without a delimiter', async () => {
        const m = sdk(url, MANY);
        try {
          const seen: string[] = [];
          let marker: string | undefined;
          for (;;) {
            const r = await m.send(new ListObjectsCommand({ Bucket: 'many', MaxKeys: 250, Marker: marker }));
            const page = (r.Contents ?? []).map((o) => o.Key as string);
            seen.push(...page);
            if (r.IsTruncated !== true) break;
            marker = r.NextMarker ?? page.at(-1);
          }
          assert.deepEqual(seen, s3Order(MANY_KEYS));

          const entries: string[] = [];
          marker = undefined;
          for (;;) {
            const r: ListObjectsCommandOutput = await m.send(new ListObjectsCommand({ Bucket: 'many', MaxKeys: 2, Delimiter: '/', Marker: marker }));
            entries.push(...(r.Contents ?? []).map((o) => o.Key as string), ...(r.CommonPrefixes ?? []).map((p) => p.Prefix as string));
            if (r.IsTruncated !== true) break;
            assert.ok(r.NextMarker !== undefined, 'a truncated v1 page with a delimiter has NextMarker');
            marker = r.NextMarker;
          }
          assert.deepEqual(s3Order(entries), s3Order(['top-level.txt', ...new Set(MANY_KEYS.filter((k) => k.includes('/')).map((k) => k.slice(0, k.indexOf('/') + 1)))]));
          assert.equal(new Set(entries).size, entries.length, 'nothing listed twice');
        } finally {
          m.destroy();
        }
      });

      it('ListBuckets, HeadBucket and GetBucketLocation', async () => {
        const b = await c.send(new ListBucketsCommand({}));
        assert.deepEqual(b.Buckets?.map((x) => x.Name), ['photos']);
        const h = await c.send(new HeadBucketCommand({ Bucket: 'photos' }));
        assert.equal(h.$metadata.httpStatusCode, 200);
        const loc = await c.send(new GetBucketLocationCommand({ Bucket: 'photos' }));
        assert.ok(loc.LocationConstraint === undefined || (loc.LocationConstraint as string) === '', String(loc.LocationConstraint));
        assert.equal((await sdkFailure(c.send(new HeadBucketCommand({ Bucket: 'logs' })))).status, 403, 'another credential\'s bucket');
        const missing = await sdkFailure(c.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' })));
        assert.deepEqual(missing, { name: 'NoSuchBucket', status: 404 });
      });

      it('GetObject: whole, ranged (206, Content-Range), suffix range, 416 past the end, 404 NoSuchKey', async () => {
        const whole = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin' }));
        assert.ok(Buffer.from(await (whole.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG));
        assert.equal(whole.ETag, `"${sha256Hex(BIG).slice(0, 32)}-1"`);
        assert.equal(whole.ContentLength, BIG.length);
        assert.equal(whole.AcceptRanges, 'bytes');
        assert.ok(whole.LastModified instanceof Date);

        const ranged = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: 'bytes=1000-1999' }));
        assert.equal(ranged.$metadata.httpStatusCode, 206);
        assert.equal(ranged.ContentRange, `bytes 1000-1999/${BIG.length}`);
        assert.ok(Buffer.from(await (ranged.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG.subarray(1000, 2000)));

        const suffix = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: 'bytes=-100' }));
        assert.ok(Buffer.from(await (suffix.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG.subarray(BIG.length - 100)));

        const open = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: `bytes=${BIG.length - 5}-` }));
        assert.ok(Buffer.from(await (open.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG.subarray(BIG.length - 5)));

        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: `bytes=${BIG.length}-` }))), { name: 'InvalidRange', status: 416 });
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'no/such/key' }))), { name: 'NoSuchKey', status: 404 });
        assert.deepEqual(await sdkFailure(c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'no/such/key' }))), { name: 'NotFound', status: 404 });
        for (const [k, v] of TREE) {
          const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: k }));
          assert.ok(Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(v), k);
        }
        const empty = sdk(url, RC);
        try {
          const e = await empty.send(new GetObjectCommand({ Bucket: 'rc', Key: 'empty.txt' }));
          assert.equal(e.ContentLength, 0);
          assert.equal((await (e.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).length, 0);
        } finally {
          empty.destroy();
        }
      });

      it('checksums (ChecksumMode ENABLED): the stored SHA-256 as x-amz-checksum-sha256 on whole GETs (buffered and streamed) and HEADs, which the SDK checks the body against; none for ranges, hashless rows, or without the mode', async () => {
        const b64 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');
        for (const [key, bytes] of [['hello.txt', HELLO], ['streamed.bin', STREAMED]] as const) {
          const g = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: key, ChecksumMode: 'ENABLED' }));
          assert.equal(g.ChecksumSHA256, b64(bytes), key);
          // The SDK validates the body against the header as it reads it: a mismatch would throw here.
          assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(bytes), key);
          const h = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: key, ChecksumMode: 'ENABLED' }));
          assert.equal(h.ChecksumSHA256, b64(bytes), key);
        }
        const ranged = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streamed.bin', Range: 'bytes=0-99', ChecksumMode: 'ENABLED' }));
        assert.equal(ranged.ChecksumSHA256, undefined, 'a range has no whole-object checksum');
        await ranged.Body!.transformToByteArray();
        const raw = async (key: string, mode: boolean): Promise<string | undefined> => {
          const r = await fetch(await presignGet(url, PHOTOS, key, { expiresIn: 60 }), { headers: mode ? { 'x-amz-checksum-mode': 'enabled' } : {} });
          assert.equal(r.status, 200);
          await r.arrayBuffer();
          return r.headers.get('x-amz-checksum-sha256') ?? undefined;
        };
        assert.equal(await raw('hello.txt', true), b64(HELLO));
        assert.equal(await raw('hello.txt', false), undefined, 'only when asked for, as S3 does');
        const logs = sdk(url, LOGS);
        try {
          const n = await logs.send(new GetObjectCommand({ Bucket: 'logs', Key: 'nohash.log', ChecksumMode: 'ENABLED' }));
          assert.equal(n.ChecksumSHA256, undefined, 'a row without content_hash: no checksum to give');
          assert.ok(Buffer.from(await n.Body!.transformToByteArray()).equals(NOHASH));
        } finally {
          logs.destroy();
        }
      });

      it('conditional GETs: If-None-Match the ETag → 304, If-Match another → 412, If-Modified-Since the future → 304', async () => {
        const etag = `"${sha256Hex(HELLO).slice(0, 32)}-1"`;
        const hit = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfMatch: etag }));
        assert.equal(await hit.Body?.transformToString(), HELLO.toString());
        assert.equal((await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfNoneMatch: etag })))).status, 304);
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfMatch: '"0123456789abcdef0123456789abcdef"' }))), { name: 'PreconditionFailed', status: 412 });
        assert.equal((await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfModifiedSince: new Date(Date.now() + 86_400_000) })))).status, 304);
        assert.equal((await sdkFailure(c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfNoneMatch: etag })))).status, 304);
        const miss = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', IfNoneMatch: '"0123456789abcdef0123456789abcdef"' }));
        assert.equal(await miss.Body?.transformToString(), HELLO.toString());
      });

      it('response-* parameters set the response headers (GET, a ranged GET of a streamed body, HEAD); a value that cannot be a header is 400', async () => {
        const disposition = 'attachment; filename="a b+c.txt"; filename*=UTF-8\'\'%C3%BC.txt';
        const g = await c.send(new GetObjectCommand({
          Bucket: 'photos', Key: 'hello.txt', ResponseContentDisposition: disposition, ResponseContentType: 'text/plain; charset=utf-8',
          ResponseCacheControl: 'no-store', ResponseContentLanguage: 'de', ResponseContentEncoding: 'identity', ResponseExpires: new Date('2030-01-02T03:04:05Z'),
        }));
        assert.equal(await g.Body?.transformToString(), HELLO.toString());
        assert.equal(g.ContentDisposition, disposition);
        assert.equal(g.ContentType, 'text/plain; charset=utf-8');
        assert.equal(g.CacheControl, 'no-store');
        assert.equal(g.ContentLanguage, 'de');
        assert.equal(g.ContentEncoding, 'identity');
        assert.equal(g.ExpiresString, 'Wed, 02 Jan 2030 03:04:05 GMT');
        // Past the verify window the body streams after the headers: they carry the overrides too.
        const r = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streamed.bin', Range: 'bytes=10-1048999', ResponseContentType: 'application/x-test' }));
        assert.equal(r.ContentType, 'application/x-test');
        assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(STREAMED.subarray(10, 1_049_000)));
        const h = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'hello.txt', ResponseContentType: 'image/png' }));
        assert.equal(h.ContentType, 'image/png');
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt', ResponseContentDisposition: 'attachment; filename="ü.txt"' }))),
          { name: 'InvalidArgument', status: 400 });
      });

      it('partNumber: part 1 is the whole object in a 206 (buffered, streamed, HEAD, empty: 200); later parts 416; with a Range 400', async () => {
        for (const [key, bytes] of [['big.bin', BIG], ['streamed.bin', STREAMED]] as const) {
          const g = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: key, PartNumber: 1 }));
          assert.equal(g.$metadata.httpStatusCode, 206, key);
          assert.equal(g.ContentRange, `bytes 0-${bytes.length - 1}/${bytes.length}`, key);
          assert.equal(g.ContentLength, bytes.length, key);
          assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(bytes), key);
        }
        const h = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big.bin', PartNumber: 1 }));
        assert.equal(h.$metadata.httpStatusCode, 206);
        assert.equal(h.ContentLength, BIG.length);
        const rc = sdk(url, RC);
        try {
          const empty = await rc.send(new GetObjectCommand({ Bucket: 'rc', Key: 'empty.txt', PartNumber: 1 }));
          assert.equal(empty.$metadata.httpStatusCode, 200);
          assert.equal((await empty.Body!.transformToByteArray()).length, 0);
        } finally {
          rc.destroy();
        }
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', PartNumber: 2 }))), { name: 'InvalidPartNumber', status: 416 });
        assert.equal((await sdkFailure(c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big.bin', PartNumber: 3 })))).status, 416, 'a HEAD answers the status alone');
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'no-such-key', PartNumber: 2 }))), { name: 'NoSuchKey', status: 404 });
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', PartNumber: 1, Range: 'bytes=0-9' }))), { name: 'InvalidRequest', status: 400 });
        assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', PartNumber: 10_001 }))), { name: 'InvalidArgument', status: 400 });
        // The aws CLI's --part-number.
        const out = path.join(tmp, 'aws-part.bin');
        const r = ok(await awsRun(['s3api', 'get-object', '--bucket', 'photos', '--key', 'big.bin', '--part-number', '1', out]), 'get-object --part-number 1');
        assert.equal((JSON.parse(r.stdout) as { ContentRange: string }).ContentRange, `bytes 0-${BIG.length - 1}/${BIG.length}`);
        assert.ok((await readFile(out)).equals(BIG));
      });

      it('aws s3api get-object --response-content-disposition / --response-content-type', async () => {
        const out = path.join(tmp, 'aws-overrides.txt');
        const r = ok(await awsRun(['s3api', 'get-object', '--bucket', 'photos', '--key', 'hello.txt', '--response-content-disposition', 'attachment; filename="hi.txt"',
          '--response-content-type', 'text/x-hello', out]), 'get-object --response-*');
        const j = JSON.parse(r.stdout) as { ContentDisposition: string; ContentType: string };
        assert.equal(j.ContentDisposition, 'attachment; filename="hi.txt"');
        assert.equal(j.ContentType, 'text/x-hello');
        assert.ok((await readFile(out)).equals(HELLO));
      });

      it('presigned GET URLs: valid ones serve the object (tricky keys too); expired and tampered ones are refused', async () => {
        for (const key of ['hello.txt', 'tree/a+b=c.txt', 'tree/ünïcödé/日本語 ファイル.txt', "tree/it's (1) & more!.txt", 'tree/tilde~x.txt']) {
          const u = await presignGet(url, PHOTOS, key, { expiresIn: 300 });
          const r = await raw(u);
          assert.equal(r.status, 200, `${key}: ${r.body.toString()}`);
          assert.ok(r.body.equals(key === 'hello.txt' ? HELLO : TREE.get(key) as Buffer), key);
        }
        const expired = await raw(await presignGet(url, PHOTOS, 'hello.txt', { expiresIn: 60, signingDate: new Date(Date.now() - 3_600_000) }));
        assert.equal(expired.status, 403);
        assert.equal(s3Code(expired.body), 'AccessDenied');
        assert.match(expired.body.toString(), /expired/i);
        const tampered = (await presignGet(url, PHOTOS, 'hello.txt', { expiresIn: 300 })).replace('hello.txt', 'failover.txt');
        const t = await raw(tampered);
        assert.equal(t.status, 403);
        assert.equal(s3Code(t.body), 'SignatureDoesNotMatch');
        const otherBucket = await raw(await presignGet(url, { ...PHOTOS, bucket: 'logs' }, 'app.log', { expiresIn: 300 }));
        assert.equal(otherBucket.status, 403);
        assert.equal(s3Code(otherBucket.body), 'AccessDenied');
      });

      it('every auth refusal: wrong secret, unknown key, another bucket, a skewed clock', async () => {
        const wrong = sdk(url, { ...PHOTOS, secret: 'not-the-secret' });
        const unknown = sdk(url, { ...PHOTOS, id: 'AKIANOSUCHKEY000000' });
        const skewed = sdk(url, PHOTOS, { systemClockOffset: -3_600_000 });
        try {
          assert.deepEqual(await sdkFailure(wrong.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }))), { name: 'SignatureDoesNotMatch', status: 403 });
          assert.deepEqual(await sdkFailure(unknown.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }))), { name: 'InvalidAccessKeyId', status: 403 });
          assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'logs', Key: 'app.log' }))), { name: 'AccessDenied', status: 403 });
          assert.deepEqual(await sdkFailure(c.send(new ListObjectsV2Command({ Bucket: 'logs' }))), { name: 'AccessDenied', status: 403 });
          assert.deepEqual(await sdkFailure(skewed.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }))), { name: 'RequestTimeTooSkewed', status: 403 });
        } finally {
          wrong.destroy();
          unknown.destroy();
          skewed.destroy();
        }
      });

      it('anonymous requests and writes are refused; X-Request-Id is adopted; /health answers outside the S3 namespace', async () => {
        const anon = await raw(`${url}/photos/hello.txt`);
        assert.equal(anon.status, 403);
        assert.equal(s3Code(anon.body), 'AccessDenied');
        // A caller's correlation id becomes the request id (header and error XML); one that
        // could not be echoed safely is replaced by the gateway's own.
        assert.match(String(anon.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
        const traced = await raw(`${url}/photos/hello.txt`, { headers: { 'X-Request-Id': 'trace-123:abc/def' } });
        assert.equal(traced.headers['x-amz-request-id'], 'trace-123:abc/def');
        assert.match(traced.body.toString(), /<RequestId>trace-123:abc\/def<\/RequestId>/);
        const odd = await raw(`${url}/photos/hello.txt`, { headers: { 'X-Request-Id': 'a<b>"c"' } });
        assert.match(String(odd.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
        const put = await sdkFailure(c.send(new PutObjectCommand({ Bucket: 'photos', Key: 'new.txt', Body: 'x' })));
        assert.equal(put.status === 405 || put.status === 501, true, JSON.stringify(put));
        const health = await raw(`${url}/health`);
        assert.equal(health.status, 200);
        const metrics = await raw(`${url}/metrics`);
        assert.equal(metrics.status, 200);
        assert.match(metrics.body.toString(), /readpath_/);
      });
    });

    // One at a time: the database outage must not overlap the other reads of this gateway.
    describe('in-process gateways over the same fleet and database', { concurrency: 1 }, () => {
      let rp: ReadPath;
      let store: SwitchableStore;
      let gw: Gateway;

      const inProcessConfig = (extra: Partial<ReadPathConfig> = {}): ReadPathConfig => ({
        backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
        database: { driver: 'sqlite', path: dbPath },
        server: { backend_timeout: '20s', listen_addr: '127.0.0.1:0' },
        circuit_breaker: { failure_threshold: 1, open_timeout: '100ms' },
        runtime: { mode: 'inline' },
        logging: { level: 'silent' },
        buckets: CREDS.map((c) => ({ name: c.bucket, credentials: [{ access_key_id: c.id, secret_access_key: c.secret }] })),
        ...extra,
      });

      before(async () => {
        store = new SwitchableStore(await SqliteMetadataStore.open({ path: dbPath }));
        rp = await ReadPath.open(inProcessConfig(), { store });
        gw = await startGateway(rp, { settings: rp.config.gateway });
      });
      after(async () => {
        await gw?.close();
        await rp?.close();
      });

      it('the database down: GETs and HEADs are served degraded, listings answer 503 ServiceUnavailable; back up, listings return', async () => {
        const c = sdk(gw.url, PHOTOS);
        try {
          store.down = true;
          const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }));
          assert.equal(await o.Body?.transformToString(), HELLO.toString());
          const big = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin', Range: 'bytes=10-99' }));
          assert.ok(Buffer.from(await (big.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG.subarray(10, 100)));
          const h = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big.bin' }));
          assert.equal(h.ContentLength, BIG.length);
          assert.deepEqual(await sdkFailure(c.send(new ListObjectsV2Command({ Bucket: 'photos' }))), { name: 'ServiceUnavailable', status: 503 });
          assert.deepEqual(await sdkFailure(c.send(new ListObjectsCommand({ Bucket: 'photos', Prefix: 'tree/' }))), { name: 'ServiceUnavailable', status: 503 });
          const out = path.join(tmp, 'aws-degraded.txt');
          ok(await awsRun(['s3', 'cp', 's3://photos/hello.txt', out], PHOTOS, gw.url), 'aws s3 cp with the database down');
          assert.ok((await readFile(out)).equals(HELLO));
          // An object under storage keys: each backend listed under the key, its copy read.
          const v2 = path.join(tmp, 'aws-degraded-v2.txt');
          ok(await awsRun(['s3', 'cp', 's3://photos/v2.txt', v2], PHOTOS, gw.url), 'aws s3 cp of a storage-key object with the database down');
          assert.ok((await readFile(v2)).equals(V2));
          assert.equal((await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'v2.txt' }))).ContentLength, V2.length);
          // Stored compressed (found from its bytes, as upstream's degraded reads do): the object
          // itself, its own size, an ETag no client takes for the body's MD5, a range across frames.
          const zl = path.join(tmp, 'aws-degraded-zlog.txt');
          ok(await awsRun(['s3', 'cp', 's3://photos/zlog.txt', zl], PHOTOS, gw.url), 'aws s3 cp of a compressed object with the database down');
          assert.ok((await readFile(zl)).equals(ZLOG));
          const zh = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'zlog.txt' }));
          assert.equal(zh.ContentLength, ZLOG.length);
          assert.match(zh.ETag ?? '', /^"[0-9a-f]{32}-1"$/);
          const zr = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'zlog.txt', Range: 'bytes=65500-65599' }));
          assert.ok(Buffer.from(await (zr.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(ZLOG.subarray(65500, 65600)));
          // Clients that check the body against the ETag: s3cmd (no MD5 warning) and rclone.
          const zs = path.join(tmp, 's3cmd-degraded-zlog.txt');
          const s3cmd = ok(await clients.s3cmdRun(gw.url, PHOTOS, ['get', 's3://photos/zlog.txt', zs]), 's3cmd get of a compressed object with the database down');
          assert.doesNotMatch(s3cmd.stderr, /MD5 signatures do not match|WARNING/, s3cmd.stderr);
          assert.ok((await readFile(zs)).equals(ZLOG));
          const zc = path.join(tmp, 'rclone-degraded-zlog.txt');
          ok(await clients.rcloneRun({ gwdown: { url: gw.url, cred: PHOTOS } }, ['copyto', 'gwdown:photos/zlog.txt', zc]), 'rclone copyto of a compressed object with the database down');
          assert.ok((await readFile(zc)).equals(ZLOG));
          assert.ok(rp.recorder.count('degraded_reads_total') >= 3, 'the reads went degraded');
          // Liveness stays 200 (the gateway still reads) and says it is degraded, as upstream's does.
          const health = await raw(`${gw.url}/health`);
          assert.equal(health.status, 200);
          const h2 = JSON.parse(health.body.toString()) as { status: string; breakers: { store: string } };
          assert.deepEqual([h2.status, h2.breakers.store === 'closed'], ['degraded', false]);
        } finally {
          store.down = false;
        }
        try {
          let listed: string[] | undefined;
          for (let i = 0; i < 100 && listed === undefined; i++) {
            listed = await c.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'tree/' })).then((r) => r.Contents?.map((x) => x.Key as string), () => undefined);
            if (listed === undefined) await new Promise((r) => setTimeout(r, 50));
          }
          assert.deepEqual(listed, s3Order(TREE.keys()));
        } finally {
          c.destroy();
        }
      });

      it('server.max_concurrent_reads: 1 — with one stalled read in flight a second gets 503 SlowDown; then reads pass again', async () => {
        const limited = await startGateway(rp, { settings: { ...rp.config.gateway, maxConcurrentReads: 1 } });
        const c = sdk(limited.url, PHOTOS);
        let release = (): void => {};
        const gate = new Promise<void>((r) => { release = r; });
        const b3 = fleet.backend('b3').proxy;
        b3.inject({ kind: 'gate', until: gate }, { times: 1, match: { method: 'GET', key: 'photos/gate.bin' } });
        const seen = b3.requestCount;
        try {
          const first = c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'gate.bin' })).then(async (o) => Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))));
          await sawGet(b3, 'photos/gate.bin', seen);
          assert.equal(limited.inFlight(), 1);
          assert.deepEqual(await sdkFailure(c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }))), { name: 'SlowDown', status: 503 });
          const health = await raw(`${limited.url}/health`);
          assert.equal(health.status, 200, 'the health endpoint is outside the admission limit');
          release();
          assert.ok((await first).equals(SLOW));
          const again = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }));
          assert.equal(await again.Body?.transformToString(), HELLO.toString());
        } finally {
          release();
          b3.clear();
          c.destroy();
          await limited.close();
        }
      });

      it('a client that goes away mid-body frees the read at once (the backend copy stalls, nothing waits for a timeout)', async () => {
        const proxies = ['b2', 'b3'].map((n) => fleet.backend(n).proxy);
        // More than one of the transport's chunks (up to 256 KiB each): a stream holds its last
        // chunk back until the next arrives (holdLast), so the client sees the first.
        for (const p of proxies) p.inject({ kind: 'stallBody', keepBytes: 512 * 1024 }, { times: 1, match: { method: 'GET', key: 'photos/abandon.bin' } });
        try {
          const u = new URL(await presignGet(gw.url, PHOTOS, 'abandon.bin', { expiresIn: 60 }));
          const got = await new Promise<number>((resolve, reject) => {
            const req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false }, (res) => {
              let n = 0;
              res.on('data', (c: Buffer) => {
                n += c.length;
                if (n >= 1024) {
                  req.destroy();
                  resolve(n);
                }
              });
              res.on('error', () => {});
            });
            req.on('error', () => {});
            setTimeout(() => reject(new Error('no body bytes arrived')), 15_000).unref();
          });
          assert.ok(got >= 1024);
          const t0 = Date.now();
          while (gw.inFlight() > 0 && Date.now() - t0 < 3_000) await new Promise((r) => setTimeout(r, 20));
          assert.equal(gw.inFlight(), 0, 'the request is over within 3 s of the client leaving (backend_timeout is 20 s)');
        } finally {
          for (const p of proxies) p.clear();
        }
      });

      it('TLS (server.tls with a self-signed certificate): the SDK trusting its CA and aws --ca-bundle read; untrusting clients are refused', async () => {
        const dir = path.join(tmp, 'tls');
        await mkdir(dir);
        const cert = path.join(dir, 'cert.pem');
        const key = path.join(dir, 'key.pem');
        ok(await run(tool('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
          '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { ...process.env, HOME: clients.home }), 'openssl req');
        const tlsRp = await ReadPath.open(inProcessConfig({ server: { backend_timeout: '20s', listen_addr: '127.0.0.1:0', tls: { cert_file: cert, key_file: key } } }));
        const tlsGw = await startGateway(tlsRp, { settings: tlsRp.config.gateway });
        const ca = await readFile(cert, 'utf8');
        const agent = new https.Agent({ ca, keepAlive: true });
        const c = sdk(tlsGw.url, PHOTOS, { requestHandler: new NodeHttpHandler({ httpsAgent: agent }) });
        const untrusting = sdk(tlsGw.url, PHOTOS, { requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ keepAlive: false }) }) });
        try {
          assert.match(tlsGw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
          const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big.bin' }));
          assert.ok(Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))).equals(BIG));
          const l = await c.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'tree/' }));
          assert.deepEqual(l.Contents?.map((x) => x.Key), s3Order(TREE.keys()));
          const presigned = await raw(await presignGet(tlsGw.url, PHOTOS, 'hello.txt', { expiresIn: 60 }), { ca });
          assert.equal(presigned.status, 200);
          assert.ok(presigned.body.equals(HELLO));
          const out = path.join(tmp, 'aws-tls.bin');
          ok(await run(aws, ['--endpoint-url', tlsGw.url, '--ca-bundle', cert, 's3', 'cp', 's3://photos/big.bin', out], awsEnv(PHOTOS)), 'aws s3 cp over TLS');
          assert.ok((await readFile(out)).equals(BIG));
          await assert.rejects(untrusting.send(new GetObjectCommand({ Bucket: 'photos', Key: 'hello.txt' })), /self.signed|certificate/i);
          await assert.rejects(raw(`${tlsGw.url.replace('https:', 'http:')}/photos/hello.txt`).then((r) => {
            if (r.status === 200) throw new Error('plain HTTP served an object on the TLS port');
            throw new Error('refused');
          }));
        } finally {
          c.destroy();
          untrusting.destroy();
          agent.destroy();
          await tlsGw.close();
          await tlsRp.close();
        }
      });
    });
  });

  describe('faults behind the gateway', () => {
    it('a backend stopped mid-test: reads are served from the next copy', async () => {
      const c = sdk(url, PHOTOS);
      try {
        const first = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'failover.txt' }));
        assert.equal(await first.Body?.transformToString(), 'still here when b1 is gone\n');
        await fleet.stop('b1');
        try {
          for (let i = 0; i < 3; i++) {
            const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'failover.txt' }));
            assert.equal(await o.Body?.transformToString(), 'still here when b1 is gone\n');
          }
          const h = await c.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'hello.txt' }));
          assert.equal(h.ContentLength, HELLO.length);
        } finally {
          await fleet.start('b1');
        }
      } finally {
        c.destroy();
      }
    });

    it('one damaged copy of an object within the verify window (1 MiB): the client gets the good copy, checked before a byte was sent', async () => {
      const c = sdk(url, PHOTOS);
      try {
        for (let i = 0; i < 2; i++) {
          const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'damaged-one.bin' }));
          const body = Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
          assert.ok(body.equals(GOOD_1M), `read ${i}: ${body.length} bytes that are not the object's`);
        }
      } finally {
        c.destroy();
      }
    });

    it('every copy damaged: the response is cut short (SDK and aws CLI fail), never a complete wrong body', async () => {
      const c = sdk(url, PHOTOS);
      try {
        for (const [key, good] of [['damaged-all.bin', GOOD_1M], ['damaged-small.txt', SMALL_GOOD]] as const) {
          let body: Buffer | undefined;
          let failure: unknown;
          try {
            const o = await c.send(new GetObjectCommand({ Bucket: 'photos', Key: key }));
            body = Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
          } catch (err) {
            failure = err;
          }
          assert.ok(body === undefined, `${key}: a complete ${body?.length ?? 0}-byte body was served (equal to the good bytes: ${String(body?.equals(good))})`);
          assert.ok(failure !== undefined);
          const r = await raw(await presignGet(url, PHOTOS, key, { expiresIn: 300 })).catch((err: unknown) => err);
          if (!(r instanceof Error)) {
            const got = r as RawAnswer;
            assert.ok(got.status >= 500 || got.body.length < good.length, `${key}: raw GET answered ${got.status} with ${got.body.length} bytes`);
          }
        }
        const out = path.join(tmp, 'aws-damaged.bin');
        const r = await awsRun(['s3', 'cp', 's3://photos/damaged-all.bin', out]);
        assert.notEqual(r.code, 0, 'aws s3 cp must fail on a body cut short');
        const written = await readFile(out).catch(() => undefined);
        assert.ok(written === undefined || written.length < GOOD_1M.length, 'no complete file of wrong bytes');
      } finally {
        c.destroy();
      }
    });
  });

  // Last: it stops the child process.
  it('SIGTERM while a slow GET is in flight: that request completes whole, new ones are turned away, the process exits 0', async () => {
    const c = sdk(url, PHOTOS);
    let release = (): void => {};
    const gate = new Promise<void>((r) => { release = r; });
    const b3 = fleet.backend('b3').proxy;
    b3.inject({ kind: 'gate', until: gate }, { times: 1, match: { method: 'GET', key: 'photos/slow.bin' } });
    const seen = b3.requestCount;
    try {
      const inFlight = c.send(new GetObjectCommand({ Bucket: 'photos', Key: 'slow.bin' })).then(async (o) => Buffer.from(await (o.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array()))));
      await sawGet(b3, 'photos/slow.bin', seen);
      assert.ok(serve.child.kill('SIGTERM'));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(serve.child.exitCode, null, `the process waits for the request in flight:\n${serve.stderr()}`);
      // A new request during the drain is not served (connection refused, or 503 on a kept-alive socket).
      const late = await raw(await presignGet(url, PHOTOS, 'hello.txt', { expiresIn: 60 })).then((r) => r.status, (err: NodeJS.ErrnoException) => err.code);
      assert.ok(late === 'ECONNREFUSED' || late === 503 || late === 'ECONNRESET', `a request after SIGTERM got ${String(late)}`);
      release();
      const body = await inFlight;
      assert.ok(body.equals(SLOW), 'the request in flight completed whole');
      const code = await within(serve.exit, 15_000, 'the gateway to exit after SIGTERM');
      assert.equal(code, 0, serve.stderr());
      assert.doesNotMatch(serve.stderr(), /photos\/Secret\+Key|rclone-secret|S3RVER"/, 'no secret in the output');
    } finally {
      release();
      b3.clear();
      c.destroy();
    }
  });
});
