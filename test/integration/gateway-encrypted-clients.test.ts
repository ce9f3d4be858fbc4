/**
 * `readpath serve` giving real S3 clients — the aws CLI, rclone, s3cmd and the AWS SDK — objects
 * that s3-orchestrator stored encrypted (SENC v1, ENCRYPTION.md), and objects past the sizes at
 * which those clients split a download into concurrent Range requests (aws CLI/s3transfer's
 * multipart threshold, rclone's multi-thread cutoff) or readpath stripes a read over copies.
 * The clients must get the plaintext, byte for byte, with the sizes and ETags they check: an
 * encrypted object's ETag is derived from the plaintext's SHA-256 in multipart form, so no
 * client takes it for the body's MD5, and listings give plaintext sizes. A copy damaged inside
 * one chunk fails that chunk's authentication and the read goes on from the next copy.
 *
 * The gateway runs as a child process over an s3rver fleet, rows in SQLite; the tools are
 * never skipped (.ci/install-s3-clients.sh installs them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/verify.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { EncryptedSeeding } from '../helpers/encrypted-seeding.js';
import { CLIENT_REGION, S3Clients, assertSameFiles, filesUnder, getStatuses, killServe, ok, startServe, writeServeConfig, type ClientCred, type Serve } from '../helpers/s3-clients.js';

const MiB = 1024 * 1024;
const MASTER = randomBytes(32);
const VAULT: ClientCred & { bucket: string } = { bucket: 'vault', id: 'AKIAVAULTREADER00001', secret: 'vault/Secret+Key=fedcba9876543210' };

/** Plaintexts in bucket `vault`, by key. */
const OBJECTS = {
  /** Encrypted, 4 KiB chunks; its first copy has one byte flipped in chunk 1. */
  small: { key: 'enc/small.txt', bytes: randomBytes(10_000) },
  /** Encrypted on three copies, each its own data key and chunk size: striped (≥ 32 MiB). */
  big: { key: 'enc/big.bin', bytes: randomBytes(36 * MiB + 1234) },
  /** Encrypted; the first copy damaged at 6 MiB: the read goes on from the second. */
  scarred: { key: 'enc/scarred.bin', bytes: randomBytes(10 * MiB + 5) },
  /** Encrypted, empty. */
  empty: { key: 'enc/empty.bin', bytes: Buffer.alloc(0) },
  /** In the clear, past the aws CLI's 8 MiB multipart threshold, not striped. */
  plainBig: { key: 'plain/big.bin', bytes: randomBytes(20 * MiB + 77) },
} as const;
const BIG_CHUNKS = [64 * 1024, 16 * 1024, 64 * 1024];

/** The ETag the gateway gives an encrypted object: the plaintext SHA-256's first 32 hex digits, `-1`. */
function plaintextEtag(bytes: Uint8Array): string {
  return `"${sha256Hex(bytes).slice(0, 32)}-1"`;
}

function flipped(b: Uint8Array, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = (c[at] ?? 0) ^ 0x01;
  return c;
}

describe('readpath serve: encrypted and large objects through real S3 clients (s3rver fleet, SQLite)', () => {
  let fleet: S3Fleet;
  let tmp: string;
  let clients: S3Clients;
  let serve: Serve | undefined;
  let url: string;
  let sdk: S3Client;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-gw-enc-'));
    clients = await S3Clients.create(tmp);
    fleet = await startS3Fleet({ count: 3 });
    const seeding = new EncryptedSeeding((key, body, on) => fleet.seed(key, body, on), MASTER);
    const k = (o: { key: string }): string => `${VAULT.bucket}/${o.key}`;
    await seeding.encrypted(k(OBJECTS.small), OBJECTS.small.bytes, ['b1', 'b2'], {
      // Past the 32-byte header, inside chunk 1's ciphertext: its tag fails, nothing else does.
      body: (row, backend) => (backend === 'b1' ? flipped(row.body, 32 + 4096 + 28 + 100) : row.body),
    });
    await seeding.encrypted(k(OBJECTS.big), OBJECTS.big.bytes, ['b1', 'b2', 'b3'], { chunkSizes: BIG_CHUNKS });
    await seeding.encrypted(k(OBJECTS.scarred), OBJECTS.scarred.bytes, ['b3', 'b2'], {
      chunkSizes: [64 * 1024, 64 * 1024],
      body: (row, backend) => (backend === 'b3' ? flipped(row.body, 32 + 6 * MiB + 96 * 28 + 1000) : row.body),
    });
    await seeding.encrypted(k(OBJECTS.empty), OBJECTS.empty.bytes, ['b2']);
    await seeding.plain(k(OBJECTS.plainBig), OBJECTS.plainBig.bytes, ['b2', 'b3']);

    const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
    await store.addLocations(seeding.rows);
    await store.close();
    const config = await writeServeConfig(tmp, fleet.backends.map((b) => fleet.backendConfig(b.name)), { masterKey: MASTER, bucket: VAULT.bucket, cred: VAULT });
    serve = await startServe(config);
    url = serve.url;
    sdk = gatewaySdk(url, VAULT);
  });

  after(async () => {
    sdk?.destroy();
    await killServe(serve);
    await fleet?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  /** The statuses of the gateway's access-log lines for GETs of `key` in bucket vault. */
  const statuses = (key: string): number[] => getStatuses(serve, VAULT.bucket, key);

  const want = new Map<string, Buffer>(Object.values(OBJECTS).map((o) => [o.key, o.bytes]));

  describe('aws CLI', { concurrency: 1 }, () => {
    it('aws s3 cp --recursive: every object\'s plaintext; the large ones in concurrent Range requests of 5,300,000 bytes', async () => {
      // Parts that fall on no chunk boundary of any copy: each ranged GET decrypts partial chunks at both ends.
      await writeFile(clients.awsConfig, `[default]\nregion = ${CLIENT_REGION}\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n    multipart_threshold = 8MB\n    multipart_chunksize = 5300000\n    max_concurrent_requests = 4\n`);
      const dir = path.join(tmp, 'aws-all');
      ok(await clients.awsRun(url, VAULT, ['s3', 'cp', '--recursive', 's3://vault/', dir], 180_000), 'aws s3 cp --recursive');
      assertSameFiles(await filesUnder(dir), want, 'aws s3 cp --recursive');
      for (const o of [OBJECTS.big, OBJECTS.scarred, OBJECTS.plainBig]) {
        const parts = statuses(o.key).filter((st) => st === 206).length;
        assert.equal(parts, Math.ceil(o.bytes.length / 5_300_000), `${o.key}: one 206 per part in the access log`);
      }
    });

    it('aws s3 sync twice: the second run downloads nothing', async () => {
      const dir = path.join(tmp, 'aws-sync');
      const first = ok(await clients.awsRun(url, VAULT, ['s3', 'sync', 's3://vault/enc/', dir], 180_000), 'aws s3 sync');
      assert.match(first.stdout, /download: /);
      assertSameFiles(await filesUnder(dir), new Map([...want].filter(([k]) => k.startsWith('enc/')).map(([k, v]) => [k.slice(4), v])), 'aws s3 sync');
      const second = ok(await clients.awsRun(url, VAULT, ['s3', 'sync', 's3://vault/enc/', dir], 120_000), 'aws s3 sync again');
      assert.doesNotMatch(second.stdout, /download: /, second.stdout);
    });

    it('aws s3 ls gives plaintext sizes; head-object the plaintext length and an ETag no client takes for an MD5', async () => {
      const ls = ok(await clients.awsRun(url, VAULT, ['s3', 'ls', '--recursive', 's3://vault/']), 'aws s3 ls');
      const sizes = new Map(ls.stdout.split('\n').filter((l) => l !== '').map((l) => /^\S+ \S+\s+(\d+) (.*)$/.exec(l)).map((m) => [m?.[2], Number(m?.[1])]));
      assert.deepEqual(sizes, new Map([...want].map(([key, b]) => [key, b.length])), ls.stdout);
      const h = JSON.parse(ok(await clients.awsRun(url, VAULT, ['s3api', 'head-object', '--bucket', 'vault', '--key', OBJECTS.big.key]), 'head-object').stdout) as { ContentLength: number; ETag: string };
      assert.equal(h.ContentLength, OBJECTS.big.bytes.length);
      assert.equal(h.ETag, plaintextEtag(OBJECTS.big.bytes));
    });

    it('aws s3api get-object --range across a 16 KiB chunk boundary of one copy and a 64 KiB one of the others', async () => {
      const out = path.join(tmp, 'aws-range.bin');
      const [start, end] = [16 * 1024 * 5 - 10, 64 * 1024 * 3 + 9];
      const r = ok(await clients.awsRun(url, VAULT, ['s3api', 'get-object', '--bucket', 'vault', '--key', OBJECTS.big.key, '--range', `bytes=${start}-${end}`, out]), 'get-object --range');
      const h = JSON.parse(r.stdout) as { ContentLength: number; ContentRange: string };
      assert.equal(h.ContentLength, end - start + 1);
      assert.equal(h.ContentRange, `bytes ${start}-${end}/${OBJECTS.big.bytes.length}`);
      assert.ok((await readFile(out)).equals(OBJECTS.big.bytes.subarray(start, end + 1)));
    });
  });

  describe('rclone', { concurrency: 1 }, () => {
    const remotes = (): Record<string, { url: string; cred: ClientCred }> => ({ gw: { url, cred: VAULT } });

    it('rclone copy with multi-thread downloads (4 streams past 4 MiB): every file whole, sizes checked', async () => {
      const dir = path.join(tmp, 'rclone-all');
      const r = ok(await clients.rcloneRun(remotes(), ['copy', 'gw:vault', dir, '--transfers', '4', '--multi-thread-cutoff', '4M', '--multi-thread-streams', '4', '-v'], 180_000), 'rclone copy');
      assert.doesNotMatch(r.stderr, /ERROR|corrupted/, r.stderr);
      assert.match(r.stderr, /: Copied \(new\)/, 'rclone -v names each file it copies');
      assertSameFiles(await filesUnder(dir), want, 'rclone copy');
      // rclone compares the gateway's listing with the files: same sizes, and no MD5 of the
      // encrypted objects to disagree with (their ETags are multipart-shaped).
      const check = ok(await clients.rcloneRun(remotes(), ['check', 'gw:vault', dir, '--one-way']), 'rclone check');
      assert.match(check.stderr, / 0 differences found/, check.stderr);
      // And byte for byte, downloading again through the gateway.
      const bytes = ok(await clients.rcloneRun(remotes(), ['check', 'gw:vault', dir, '--one-way', '--download'], 180_000), 'rclone check --download');
      assert.match(bytes.stderr, new RegExp(`${want.size} matching files`), bytes.stderr);
      // Run again, nothing is transferred: the listing's sizes and times match what the first
      // run left (rclone set each file's time from the gateway's answers).
      const again = ok(await clients.rcloneRun(remotes(), ['copy', 'gw:vault', dir, '-v', '--stats-one-line'], 120_000), 'rclone copy again');
      assert.doesNotMatch(again.stderr, /: Copied /, again.stderr);
    });
  });

  describe('s3cmd', { concurrency: 1 }, () => {
    it('s3cmd get of encrypted objects: the plaintext, no MD5 warning', async () => {
      for (const o of [OBJECTS.small, OBJECTS.scarred]) {
        const out = path.join(tmp, `s3cmd-${path.basename(o.key)}`);
        const r = ok(await clients.s3cmdRun(url, VAULT, ['get', `s3://vault/${o.key}`, out], 120_000), `s3cmd get ${o.key}`);
        assert.doesNotMatch(r.stderr, /MD5 signatures do not match|WARNING/, r.stderr);
        assert.ok((await readFile(out)).equals(o.bytes), o.key);
      }
    });
  });

  describe('AWS SDK', { concurrency: 1 }, () => {
    const body = async (key: string, extra: { Range?: string; IfMatch?: string } = {}): Promise<{ bytes: Buffer; status: number | undefined; contentRange: string | undefined; etag: string | undefined }> => {
      const g = await sdk.send(new GetObjectCommand({ Bucket: VAULT.bucket, Key: key, ...extra }));
      return { bytes: Buffer.from(await g.Body!.transformToByteArray()), status: g.$metadata.httpStatusCode, contentRange: g.ContentRange, etag: g.ETag };
    };

    it('ranges of an encrypted object: chunk edges of every copy, the first and last byte, a suffix, open-ended', async () => {
      const b = OBJECTS.big.bytes;
      const n = b.length;
      const spans: [string, number, number][] = [
        ['bytes=0-0', 0, 0], [`bytes=${n - 1}-${n - 1}`, n - 1, n - 1], ['bytes=-1000', n - 1000, n - 1], [`bytes=${n - 70_000}-`, n - 70_000, n - 1],
        ['bytes=16383-16384', 16383, 16384], ['bytes=65535-65536', 65535, 65536], ['bytes=16384-32767', 16384, 32767],
        [`bytes=${32 * MiB - 3}-${32 * MiB + 3}`, 32 * MiB - 3, 32 * MiB + 3],
      ];
      for (const [range, s, e] of spans) {
        const g = await body(OBJECTS.big.key, { Range: range });
        assert.equal(g.status, 206, range);
        assert.equal(g.contentRange, `bytes ${s}-${e}/${n}`, range);
        assert.ok(g.bytes.equals(b.subarray(s, e + 1)), `${range}: the plaintext's bytes`);
        assert.equal(g.etag, plaintextEtag(b), range);
      }
    });

    it('partNumber=1 of the striped encrypted object: all of its plaintext in a 206', async () => {
      const g = await sdk.send(new GetObjectCommand({ Bucket: VAULT.bucket, Key: OBJECTS.big.key, PartNumber: 1 }));
      assert.equal(g.$metadata.httpStatusCode, 206);
      assert.equal(g.ContentRange, `bytes 0-${OBJECTS.big.bytes.length - 1}/${OBJECTS.big.bytes.length}`);
      assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(OBJECTS.big.bytes));
    });

    it('a copy damaged in one chunk: the whole small object comes from the next copy; its ETag is the plaintext\'s', async () => {
      const damagedCopy = fleet.backend('b1').proxy;
      const since = damagedCopy.requests().length;
      const g = await body(OBJECTS.small.key);
      assert.ok(damagedCopy.requests().slice(since).some((q) => q.method === 'GET' && q.key === `${VAULT.bucket}/${OBJECTS.small.key}`), 'the damaged copy was read first');
      assert.ok(g.bytes.equals(OBJECTS.small.bytes));
      assert.equal(g.etag, plaintextEtag(OBJECTS.small.bytes));
      const h = await sdk.send(new HeadObjectCommand({ Bucket: VAULT.bucket, Key: OBJECTS.small.key }));
      assert.equal(h.ContentLength, OBJECTS.small.bytes.length);
      assert.equal(h.ETag, plaintextEtag(OBJECTS.small.bytes));
    });

    it('ChecksumMode ENABLED: x-amz-checksum-sha256 is the plaintext\'s SHA-256 (small, and the striped 36 MiB object), which the SDK checks the decrypted body against', async () => {
      for (const o of [OBJECTS.small, OBJECTS.big]) {
        const g = await sdk.send(new GetObjectCommand({ Bucket: VAULT.bucket, Key: o.key, ChecksumMode: 'ENABLED' }));
        assert.equal(g.ChecksumSHA256, createHash('sha256').update(o.bytes).digest('base64'), o.key);
        assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(o.bytes), o.key);
      }
    });

    it('If-Match with the plaintext ETag serves; If-None-Match with it is 304; an empty encrypted object is empty', async () => {
      const etag = plaintextEtag(OBJECTS.scarred.bytes);
      const g = await body(OBJECTS.scarred.key, { IfMatch: etag, Range: 'bytes=100-199' });
      assert.ok(g.bytes.equals(OBJECTS.scarred.bytes.subarray(100, 200)));
      await assert.rejects(sdk.send(new GetObjectCommand({ Bucket: VAULT.bucket, Key: OBJECTS.scarred.key, IfNoneMatch: etag })),
        (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 304);
      const empty = await body(OBJECTS.empty.key);
      assert.equal(empty.bytes.length, 0);
      assert.equal(empty.status, 200);
    });
  });
});
