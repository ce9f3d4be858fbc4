/**
 * `readpath serve` giving real S3 clients — the aws CLI, rclone, s3cmd and the AWS SDK — objects
 * s3-orchestrator stored compressed (zstd seekable, 1 MiB frames, upstream's default), one of
 * them compressed and then encrypted. Clients must get the object byte for byte, with its own
 * size in listings and HEADs, an ETag none of them takes for the body's MD5, and ranges —
 * the aws CLI's concurrent parts of an object past its multipart threshold — cut from the frames
 * that hold them. The first copy of one object is damaged inside a frame: the read goes on from
 * the second.
 *
 * The gateway runs as a child process over an s3rver fleet, rows in an upstream-schema SQLite
 * file; the tools are never skipped (.ci/install-s3-clients.sh installs them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { sha256Hex } from '../../src/probe/verify.js';
import type { ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { CLIENT_REGION, S3Clients, assertSameFiles, filesUnder, getStatuses, killServe, ok, startServe, writeServeConfig, type ClientCred, type Serve } from '../helpers/s3-clients.js';
import { compressedRow, damagedFrame, logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { encryptForRow } from '../helpers/senc-encoder.js';

const MiB = 1024 * 1024;
const MASTER = randomBytes(32);
const LOGS: ClientCred & { bucket: string } = { bucket: 'logs', id: 'AKIALOGSREADER000001', secret: 'logs/Secret+Key=0123456789abcdef' };

/** Objects in bucket `logs`, by key. */
const OBJECTS = {
  /** Two copies; the first damaged inside frame 2. */
  app: { key: 'z/app.log', bytes: logLines(3 * MiB + 12_345) },
  /** Past the aws CLI's 8 MiB multipart threshold: fetched in concurrent ranges. */
  big: { key: 'z/big.log', bytes: logLines(12 * MiB + 777, 3) },
  /** Compressed, then encrypted. */
  secret: { key: 'z/secret.log', bytes: logLines(2 * MiB + 5, 9) },
  /** Stored verbatim (upstream compresses nothing under its min_size). */
  plain: { key: 'plain.txt', bytes: Buffer.from('a small object, stored as it is\n') },
} as const;

/** A single-part S3 ETag: the MD5 of the bytes, quoted. */
function md5Etag(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** The ETag the gateway gives an object whose stored bytes are not its own and whose row has no `etag`. */
function objectEtag(bytes: Uint8Array): string {
  return `"${sha256Hex(bytes).slice(0, 32)}-1"`;
}

describe('readpath serve: compressed objects through real S3 clients (s3rver fleet, SQLite)', () => {
  let fleet: S3Fleet;
  let tmp: string;
  let clients: S3Clients;
  let serve: Serve | undefined;
  let url: string;
  let sdk: S3Client;
  const want = new Map<string, Buffer>(Object.values(OBJECTS).map((o) => [o.key, o.bytes]));

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-gw-zstd-'));
    clients = await S3Clients.create(tmp);
    fleet = await startS3Fleet({ count: 2 });
    const db = upstreamSqlite(path.join(tmp, 'meta.db'));
    let t = Date.parse('2026-05-01T00:00:00Z');
    const at = (): Date => new Date(t += 1000);
    const put = async (l: ObjectLocation, body: Uint8Array): Promise<void> => {
      await fleet.seed(l.storageKey ?? l.objectKey, body, [l.backendName]);
      db.insert(l);
    };
    const k = (o: { key: string }): string => `${LOGS.bucket}/${o.key}`;
    const app = seekableZstd(OBJECTS.app.bytes);
    // With the identity upstream recorded: the object's MD5 as its ETag, and its Content-Type.
    const identity = { etag: md5Etag(OBJECTS.app.bytes), contentType: 'text/plain; charset=utf-8' };
    await put(compressedRow(k(OBJECTS.app), 'b1', OBJECTS.app.bytes, app.body, at(), { storageKey: `${k(OBJECTS.app)}!0001`, ...identity }), damagedFrame(app, 2, 0x10));
    await put(compressedRow(k(OBJECTS.app), 'b2', OBJECTS.app.bytes, app.body, at(), { storageKey: `${k(OBJECTS.app)}!0002`, ...identity }), app.body);
    const big = seekableZstd(OBJECTS.big.bytes);
    await put(compressedRow(k(OBJECTS.big), 'b2', OBJECTS.big.bytes, big.body, at()), big.body);
    await put(compressedRow(k(OBJECTS.big), 'b1', OBJECTS.big.bytes, big.body, at()), big.body);
    const secret = seekableZstd(OBJECTS.secret.bytes);
    const enc = encryptForRow(secret.body, { masterKey: MASTER, chunkSize: 65536 });
    await put({
      ...compressedRow(k(OBJECTS.secret), 'b1', OBJECTS.secret.bytes, enc.body, at()),
      encrypted: true, encryptionKey: enc.encryptionKey, keyId: enc.keyId, plaintextSize: enc.plaintextSize,
    }, enc.body);
    const plain = OBJECTS.plain.bytes;
    await put({ objectKey: k(OBJECTS.plain), backendName: 'b2', sizeBytes: plain.length, createdAt: at(), encrypted: false, contentHash: sha256Hex(plain) }, plain);
    db.close();

    const config = await writeServeConfig(tmp, fleet.backends.map((b) => fleet.backendConfig(b.name)), { masterKey: MASTER, bucket: LOGS.bucket, cred: LOGS });
    serve = await startServe(config);
    url = serve.url;
    sdk = gatewaySdk(url, LOGS);
  });

  after(async () => {
    sdk?.destroy();
    await killServe(serve);
    await fleet?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('aws s3 cp --recursive: every object whole, the big one in concurrent ranges of 5,300,000 bytes', async () => {
    await writeFile(clients.awsConfig, `[default]\nregion = ${CLIENT_REGION}\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n    multipart_threshold = 8MB\n    multipart_chunksize = 5300000\n    max_concurrent_requests = 4\n`);
    const dir = path.join(tmp, 'aws-all');
    ok(await clients.awsRun(url, LOGS, ['s3', 'cp', '--recursive', 's3://logs/', dir], 180_000), 'aws s3 cp --recursive');
    assertSameFiles(await filesUnder(dir), want, 'aws s3 cp --recursive');
    const parts = getStatuses(serve, LOGS.bucket, OBJECTS.big.key).filter((st) => st === 206);
    assert.equal(parts.length, Math.ceil(OBJECTS.big.bytes.length / 5_300_000), 'one 206 per part in the access log');
  });

  it('aws s3 ls and head-object: the object\'s own size, an ETag that is not the stored bytes\' MD5', async () => {
    const ls = ok(await clients.awsRun(url, LOGS, ['s3', 'ls', '--recursive', 's3://logs/']), 'aws s3 ls');
    const sizes = new Map(ls.stdout.split('\n').filter((l) => l !== '').map((l) => /^\S+ \S+\s+(\d+) (.*)$/.exec(l)).map((m) => [m?.[2], Number(m?.[1])]));
    assert.deepEqual(sizes, new Map([...want].map(([key, b]) => [key, b.length])), ls.stdout);
    for (const [o, etag, type] of [[OBJECTS.app, md5Etag(OBJECTS.app.bytes), 'text/plain; charset=utf-8'], [OBJECTS.secret, objectEtag(OBJECTS.secret.bytes), undefined]] as const) {
      const h = JSON.parse(ok(await clients.awsRun(url, LOGS, ['s3api', 'head-object', '--bucket', 'logs', '--key', o.key]), 'head-object').stdout) as { ContentLength: number; ETag: string; ContentType?: string };
      assert.equal(h.ContentLength, o.bytes.length);
      assert.equal(h.ETag, etag, o.key);
      if (type !== undefined) assert.equal(h.ContentType, type);
    }
    // Listings carry the row's ETag where upstream recorded one.
    const l = JSON.parse(ok(await clients.awsRun(url, LOGS, ['s3api', 'list-objects-v2', '--bucket', 'logs', '--prefix', 'z/app']), 'list-objects-v2').stdout) as { Contents: { Key: string; ETag?: string }[] };
    assert.deepEqual(l.Contents.map((c) => [c.Key, c.ETag]), [[OBJECTS.app.key, md5Etag(OBJECTS.app.bytes)]]);
  });

  it('aws s3api get-object --range across a frame boundary, on the damaged object and the encrypted one', async () => {
    for (const o of [OBJECTS.app, OBJECTS.secret]) {
      const out = path.join(tmp, `aws-range-${path.basename(o.key)}`);
      const [start, end] = [MiB - 100, MiB + 99];
      const r = ok(await clients.awsRun(url, LOGS, ['s3api', 'get-object', '--bucket', 'logs', '--key', o.key, '--range', `bytes=${start}-${end}`, out]), 'get-object --range');
      const h = JSON.parse(r.stdout) as { ContentLength: number; ContentRange: string };
      assert.equal(h.ContentLength, end - start + 1);
      assert.equal(h.ContentRange, `bytes ${start}-${end}/${o.bytes.length}`);
      assert.ok((await readFile(out)).equals(o.bytes.subarray(start, end + 1)), o.key);
    }
  });

  it('rclone copy and check --download: every file, byte for byte', async () => {
    const remotes = { gw: { url, cred: LOGS } };
    const dir = path.join(tmp, 'rclone-all');
    const r = ok(await clients.rcloneRun(remotes, ['copy', 'gw:logs', dir, '--transfers', '4', '--multi-thread-cutoff', '4M', '--multi-thread-streams', '4', '-v'], 180_000), 'rclone copy');
    assert.doesNotMatch(r.stderr, /ERROR|corrupted/, r.stderr);
    assertSameFiles(await filesUnder(dir), want, 'rclone copy');
    const bytes = ok(await clients.rcloneRun(remotes, ['check', 'gw:logs', dir, '--one-way', '--download'], 180_000), 'rclone check --download');
    assert.match(bytes.stderr, new RegExp(`${want.size} matching files`), bytes.stderr);
  });

  it('s3cmd get: the object, its MD5 checked against the row\'s ETag, no warning', async () => {
    const out = path.join(tmp, 's3cmd-app.log');
    const r = ok(await clients.s3cmdRun(url, LOGS, ['get', `s3://logs/${OBJECTS.app.key}`, out], 120_000), 's3cmd get');
    assert.doesNotMatch(r.stderr, /MD5 signatures do not match|WARNING/, r.stderr);
    assert.ok((await readFile(out)).equals(OBJECTS.app.bytes));
  });

  it('the AWS SDK: a suffix range of the big object and the whole encrypted one', async () => {
    const tail = await sdk.send(new GetObjectCommand({ Bucket: 'logs', Key: OBJECTS.big.key, Range: 'bytes=-70000' }));
    assert.ok(Buffer.from(await tail.Body!.transformToByteArray()).equals(OBJECTS.big.bytes.subarray(OBJECTS.big.bytes.length - 70_000)));
    assert.equal(tail.ContentRange, `bytes ${OBJECTS.big.bytes.length - 70_000}-${OBJECTS.big.bytes.length - 1}/${OBJECTS.big.bytes.length}`);
    const whole = await sdk.send(new GetObjectCommand({ Bucket: 'logs', Key: OBJECTS.secret.key }));
    assert.equal(whole.ContentLength, OBJECTS.secret.bytes.length);
    assert.ok(Buffer.from(await whole.Body!.transformToByteArray()).equals(OBJECTS.secret.bytes));
  });
});
