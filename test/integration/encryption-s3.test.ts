/**
 * s3-orchestrator's encrypted objects (SENC v1, ../shared/ENCRYPTION.md) read over real HTTP:
 * s3rver backends behind fault proxies, rows in a real SQLite file where every copy carries
 * its own key data (its own data key and base nonce, and often its own chunk size). Both
 * executors, every way to read — get (whole, ranges), head, getStream (whole, ranged, striped),
 * readMany with `out`, the CLI — yield the plaintext; a copy that will not decrypt is left for
 * the next; keys come from master keys (rotated too) or a Vault transit server (static token,
 * token file, TLS); without keys, or without the database, ciphertext is never served.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReadPath, type BatchOutcome } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { ReadPathError, hasCode, type ErrorCode, messageOf } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { startMockVault, type MockVault } from '../helpers/mock-vault.js';
import { chunkOffset, encryptForVaultRow, flipByte } from '../helpers/senc-encoder.js';
import { EncryptedSeeding } from '../helpers/encrypted-seeding.js';
import { readAll } from '../helpers/streams.js';

const MASTER = randomBytes(32);
const OLD_MASTER = randomBytes(32);
const STRANGER = randomBytes(32);

const SMALL = randomBytes(3 * 4096 + 777);
const BIG = randomBytes(700_001);
const TAMPERED = randomBytes(5 * 4096 + 3);
const ROTATED = randomBytes(9_000);
const PLAIN = 'plain bytes, stored as they are\n';

const VAULT_TOKEN = 'hvs.TEST-vault-token-0123456789';
const FILE_TOKEN_1 = 'hvs.FILE-token-one-aaaaaaaaaaaa';
const FILE_TOKEN_2 = 'hvs.FILE-token-two-bbbbbbbbbbbb';
const WRONG_TOKEN = 'hvs.WRONG-token-zzzzzzzzzzzzzzz';

let fleet: S3Fleet;
let dir: string;
let vault: MockVault;
let fileVault: MockVault;
let tlsVault: MockVault;
let tokenFile: string;
let seeding: EncryptedSeeding;
/** The ETag (MD5 of the ciphertext) each backend's copy of enc/nohash has. */
const NOHASH_ETAGS = new Map<string, string>();

const is = (code: ErrorCode) => (err: unknown): boolean => hasCode(err, code);

/** Each copy under its own data key, wrapped by Vault's transit key. */
async function putVault(v: MockVault, key: string, plain: Uint8Array, on: string[]): Promise<void> {
  for (const name of on) {
    const dek = randomBytes(32);
    const row = encryptForVaultRow(plain, v.wrap(dek), v.keyId(), { dek, chunkSize: 4096 });
    await fleet.seed(key, row.body, [name]);
    seeding.add(key, name, row);
  }
}

function config(mode: 'inline' | 'pool', extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    server: { backend_timeout: '5s' },
    runtime: mode === 'pool' ? { threads: 1, stream_idle_timeout: '2s' } : { mode: 'inline', stream_idle_timeout: '2s' },
    striping: { enabled: false },
    logging: { level: 'silent' },
    encryption: { enabled: true, master_key: MASTER.toString('base64') },
    ...extra,
  };
}

async function collect(it: AsyncIterable<BatchOutcome>): Promise<Map<string, BatchOutcome>> {
  const out = new Map<string, BatchOutcome>();
  for await (const o of it) out.set(o.key, o);
  return out;
}

/** Every message on the error's cause chain (and its serialized form), for "never says X" checks. */
function allText(err: unknown): string {
  const parts: string[] = [String(err)];
  let cur: unknown = err;
  for (let i = 0; i < 16 && typeof cur === 'object' && cur !== null; i++) {
    parts.push(String((cur as { message?: unknown }).message), JSON.stringify(cur));
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

/** Regular files under `root` (relative paths), none when it does not exist. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

function decryptRequests(v: MockVault): number {
  return v.requests.filter((r) => r.path.includes('/decrypt/')).length;
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  seeding = new EncryptedSeeding((key, body, on) => fleet.seed(key, body, on), MASTER);
  dir = mkdtempSync(join(tmpdir(), 'readpath-enc-'));
  [vault, fileVault, tlsVault] = await Promise.all([
    startMockVault({ token: VAULT_TOKEN }),
    startMockVault({ token: FILE_TOKEN_1 }),
    startMockVault({ token: VAULT_TOKEN, tls: true }),
  ]);
  tokenFile = join(dir, 'vault-token');
  writeFileSync(tokenFile, `${FILE_TOKEN_1}\n`);

  // Two copies: different data keys, base nonces and chunk sizes.
  await seeding.encrypted('enc/small', SMALL, ['b1', 'b2'], { chunkSizes: [4096, 65536] });
  // Three copies for striping, three chunk sizes.
  await seeding.encrypted('enc/big', BIG, ['b1', 'b2', 'b3'], { chunkSizes: [4096, 65536, 16384] });
  await seeding.encrypted('enc/empty', new Uint8Array(0), ['b1', 'b2']);
  // The same ciphertext (and key data) on every backend, as a byte-for-byte replica would be.
  await seeding.replicas('enc/same3', SMALL, ['b1', 'b2', 'b3']);
  await seeding.replicas('enc/same3-big', BIG, ['b1', 'b2', 'b3'], 65536);
  // b1's copy has one ciphertext byte flipped (in chunk 1): its tag fails; b2's is good.
  await seeding.encrypted('enc/tampered', TAMPERED, ['b1', 'b2'], {
    chunkSizes: [4096, 65536],
    body: (row, name) => (name === 'b1' ? flipByte(row.body, chunkOffset(4096, 1) + 12 + 100) : row.body),
  });
  // Wrapped under the old master key, still labelled config-0 (upstream's documented rotation).
  await seeding.encrypted('enc/rotated', ROTATED, ['b1', 'b2'], { masterKey: OLD_MASTER, keyId: 'config-0' });
  // Wrapped under the old key with the id it has after rotation.
  await seeding.encrypted('enc/rotated-labelled', ROTATED, ['b2'], { masterKey: OLD_MASTER, keyId: 'config-1' });
  await seeding.encrypted('batch/one', Buffer.from('first batch object'), ['b1', 'b2'], { chunkSizes: [4096, 65536] });
  await seeding.encrypted('batch/deep/two.bin', SMALL, ['b2', 'b3'], { chunkSizes: [65536, 4096] });
  // A multipart-completed object: no content_hash; three copies, three data keys and chunk sizes.
  const nohash = await seeding.encrypted('enc/nohash', BIG, ['b1', 'b2', 'b3'], { chunkSizes: [4096, 65536, 16384] });
  for (const l of seeding.rows.filter((x) => x.objectKey === 'enc/nohash')) l.contentHash = null;
  nohash.forEach((row, i) => NOHASH_ETAGS.set(`b${i + 1}`, `"${createHash('md5').update(row.body).digest('hex')}"`));
  await seeding.plain('plain/a', new TextEncoder().encode(PLAIN), ['b1', 'b2']);
  await seeding.plain('batch/plain.txt', new TextEncoder().encode(PLAIN), ['b3']);
  await putVault(vault, 'vault/a', SMALL, ['b1', 'b2']);
  await putVault(vault, 'vault/big', BIG, ['b2', 'b3']);
  await putVault(fileVault, 'vault-file/1', SMALL, ['b1']);
  await putVault(fileVault, 'vault-file/2', TAMPERED, ['b1']);
  await putVault(tlsVault, 'vault-tls/a', SMALL, ['b3']);

  const store = await SqliteMetadataStore.open({ path: join(dir, 'meta.db') });
  await store.addLocations(seeding.rows);
  await store.close();
});

after(async () => {
  await fleet?.close();
  await Promise.allSettled([vault?.close(), fileVault?.close(), tlsVault?.close()]);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

for (const mode of ['inline', 'pool'] as const) {
  describe(`encrypted objects over s3rver (${mode})`, () => {
    let rp: ReadPath;
    before(async () => {
      rp = await ReadPath.open(config(mode));
      assert.equal(rp.config.runtime.mode, mode);
    });
    after(async () => {
      await rp.close();
      for (const b of fleet.backends) b.proxy.clear();
    });

    it('get: a whole object decrypts, verifies against the plaintext hash, and reports the plaintext size', async () => {
      for (const [key, plain] of [['enc/small', SMALL], ['enc/big', BIG]] as const) {
        const g = await rp.get(key);
        assert.ok(Buffer.from(g.body).equals(plain), key);
        assert.equal(g.verified, true, key);
        assert.equal(g.size, plain.length, key);
        assert.equal(g.backend, 'b1');
        assert.equal(g.failover, false);
        assert.equal(g.degraded, false);
      }
      const empty = await rp.get('enc/empty');
      assert.equal(empty.body.byteLength, 0);
      assert.equal(empty.size, 0);
      assert.equal(empty.verified, true);
      assert.ok(rp.recorder.count('decrypt_operations_total', { backend: 'b1', kind: 'get' }) >= 3);
      assert.equal(rp.recorder.count('decrypt_failures_total'), 0);
      const p = await rp.get('plain/a');
      assert.equal(Buffer.from(p.body).toString(), PLAIN);
    });

    it('get with ranges: exact plaintext slices (a-b, a-, -n, across and on chunk boundaries); past the end is 416', async () => {
      const n = BIG.length;
      const cases: [string, Buffer][] = [
        ['bytes=5000-70000', BIG.subarray(5000, 70001)],
        ['bytes=0-0', BIG.subarray(0, 1)],
        ['bytes=4096-8191', BIG.subarray(4096, 8192)],
        ['bytes=4095-4096', BIG.subarray(4095, 4097)],
        ['bytes=123457-', BIG.subarray(123457)],
        ['bytes=-1000', BIG.subarray(n - 1000)],
        ['bytes=-1', BIG.subarray(n - 1)],
        [`bytes=-${n + 50}`, BIG],
        [`bytes=${n - 10}-${n + 100}`, BIG.subarray(n - 10)],
        [`bytes=${n - 1}-`, BIG.subarray(n - 1)],
      ];
      for (const [range, want] of cases) {
        const g = await rp.get('enc/big', { range });
        assert.ok(Buffer.from(g.body).equals(want), `${range}: got ${g.body.byteLength} bytes, want ${want.length}`);
        assert.equal(g.backend, 'b1', range);
      }
      // b2's copy: chunks of 64 KiB (the failover test reads it by range too).
      const s = await rp.get('enc/small', { range: 'bytes=100-12000' });
      assert.ok(Buffer.from(s.body).equals(SMALL.subarray(100, 12001)));
      for (const range of [`bytes=${n}-`, `bytes=${n}-${n + 10}`, `bytes=${n + 5}-${n + 10}`]) {
        await assert.rejects(rp.get('enc/big', { range }), (err: unknown) => hasCode(err, 'RANGE_NOT_SATISFIABLE') && (err as ReadPathError).httpStatus === 416, range);
      }
      await assert.rejects(rp.get('enc/empty', { range: 'bytes=0-' }), is('RANGE_NOT_SATISFIABLE'));
    });

    it('head reports the plaintext size, not the ciphertext one', async () => {
      assert.equal((await rp.head('enc/small')).size, SMALL.length);
      assert.equal((await rp.head('enc/big')).size, BIG.length);
      assert.equal((await rp.head('enc/empty')).size, 0);
    });

    it('getStream: whole and ranged streams decrypt; the whole one verifies', async () => {
      const s = await rp.getStream('enc/big');
      assert.equal(s.size, BIG.length);
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
      assert.deepEqual(s.backends, ['b1']);
      for (const [range, want] of [
        ['bytes=70000-200000', BIG.subarray(70000, 200001)],
        ['bytes=650000-', BIG.subarray(650000)],
        ['bytes=-4097', BIG.subarray(BIG.length - 4097)],
      ] as const) {
        const r = await rp.getStream('enc/big', { range });
        assert.equal(r.size, want.length, range);
        assert.ok((await readAll(r.body)).equals(want), range);
        assert.equal(await r.verified, false, 'a range is not verified against the whole-object hash');
      }
      const e = await rp.getStream('enc/empty');
      assert.equal((await readAll(e.body)).length, 0);
      await assert.rejects(rp.getStream('enc/big', { range: `bytes=${BIG.length}-` }), is('RANGE_NOT_SATISFIABLE'));
      assert.ok(rp.recorder.count('decrypt_operations_total', { backend: 'b1', kind: 'stream' }) >= 4);
    });

    it('a tampered first copy fails its tag: get, ranged get and getStream are served from the second copy', async () => {
      const before = rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'tag' });
      const g = await rp.get('enc/tampered');
      assert.ok(Buffer.from(g.body).equals(TAMPERED));
      assert.equal(g.backend, 'b2');
      assert.equal(g.failover, true);
      assert.equal(g.verified, true);
      assert.equal(rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'tag' }) - before, 1);
      // A range inside chunk 0 of b1 never meets the damage.
      const head = await rp.get('enc/tampered', { range: 'bytes=0-4095' });
      assert.equal(head.backend, 'b1');
      assert.ok(Buffer.from(head.body).equals(TAMPERED.subarray(0, 4096)));
      // One covering chunk 1 does.
      const r = await rp.get('enc/tampered', { range: 'bytes=4000-9000' });
      assert.equal(r.backend, 'b2');
      assert.ok(Buffer.from(r.body).equals(TAMPERED.subarray(4000, 9001)));
      const s = await rp.getStream('enc/tampered');
      assert.ok((await readAll(s.body)).equals(TAMPERED));
      assert.equal(await s.verified, true);
      assert.equal(s.backends.at(-1), 'b2');
      assert.equal(rp.recorder.count('decrypt_failures_total', { backend: 'b2' }), 0);
    });

    it('a copy truncated mid-body: get fails over; a stream resumes by Range on a copy with other keys and chunk size', async () => {
      fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 300_000 }, { times: 1, match: { method: 'GET', key: 'enc/big' } });
      const g = await rp.get('enc/big');
      assert.equal(g.backend, 'b2');
      assert.equal(g.failover, true);
      assert.ok(Buffer.from(g.body).equals(BIG));

      const resumes = rp.recorder.count('stream_resumes_total', { backend: 'b1' });
      const b2Streams = rp.recorder.count('decrypt_operations_total', { backend: 'b2', kind: 'stream' });
      const seenOnB2 = fleet.backend('b2').proxy.requestHeaders().length;
      fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 300_000 }, { times: 1, match: { method: 'GET', key: 'enc/big' } });
      const s = await rp.getStream('enc/big');
      assert.ok((await readAll(s.body)).equals(BIG), 'one whole, correct plaintext body');
      assert.equal(await s.verified, true);
      assert.deepEqual(s.backends, ['b1', 'b2']);
      assert.equal(rp.recorder.count('stream_resumes_total', { backend: 'b1' }) - resumes, 1);
      assert.equal(rp.recorder.count('decrypt_operations_total', { backend: 'b2', kind: 'stream' }) - b2Streams, 1);
      const ranges = fleet.backend('b2').proxy.requestHeaders().slice(seenOnB2).map((h) => String(h.range));
      // The resume asks b2 for ciphertext from a chunk boundary of *its* chunk size, not the whole object.
      const resume = ranges.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r)).find((m) => m !== null && m[1] !== '0');
      assert.ok(resume, `b2 was asked ${ranges.join(', ')}`);
      assert.equal((Number(resume[1]) - 32) % (65536 + 28), 0, `resume at ciphertext byte ${resume[1]}`);
    });

    it('a transform receives the verified plaintext (in the worker with the pool)', async () => {
      const o = await rp.get('batch/one', { transform: new URL('../helpers/transforms/upper.mjs', import.meta.url) });
      assert.equal(Buffer.from(o.value as Uint8Array).toString(), 'FIRST BATCH OBJECT');
      assert.equal(o.verified, true);
    });

    it('no content_hash (multipart): get decrypts unverified; the ciphertext ETag is never checked against the plaintext', async () => {
      const g = await rp.get('enc/nohash');
      assert.ok(Buffer.from(g.body).equals(BIG));
      assert.equal(g.verified, false);
      assert.equal(g.backend, 'b1');
      const s = await rp.getStream('enc/nohash');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, false);
    });

    it('readMany with out writes the plaintext of each encrypted object (failover included), plain ones too', async () => {
      const out = join(dir, `out-${mode}`);
      const keys = ['enc/small', 'enc/tampered', 'batch/one', 'batch/deep/two.bin', 'batch/plain.txt', 'enc/empty', 'enc/missing'];
      const got = await collect(rp.readMany(keys, { out, concurrency: 4 }));
      assert.equal(got.size, keys.length);
      for (const [key, want] of [
        ['enc/small', SMALL], ['enc/tampered', TAMPERED], ['batch/one', Buffer.from('first batch object')],
        ['batch/deep/two.bin', SMALL], ['batch/plain.txt', Buffer.from(PLAIN)], ['enc/empty', Buffer.alloc(0)],
      ] as const) {
        const o = got.get(key);
        assert.ok(o?.ok === true && 'path' in o, `${key}: ${JSON.stringify(o)}`);
        assert.equal(o.path, key);
        assert.equal(o.verified, true, key);
        assert.equal(o.size, want.length, key);
        assert.ok(readFileSync(join(out, key)).equals(want), `${key}: the file holds the plaintext`);
      }
      const t2 = got.get('enc/tampered');
      assert.ok(t2?.ok === true && t2.backend === 'b2' && t2.failover);
      assert.equal((got.get('enc/missing') as { error: { code: string } }).error.code, 'OBJECT_NOT_FOUND');
      assert.deepEqual(readdirSync(out).sort(), ['batch', 'enc']);
      assert.deepEqual(readdirSync(join(out, 'enc')).sort(), ['empty', 'small', 'tampered'], 'no temporary file left');
    });
  });

  describe(`striped reads of encrypted copies (${mode})`, () => {
    let rp: ReadPath;
    before(async () => {
      rp = await ReadPath.open(config(mode, { striping: { enabled: true, min_size: '64KiB', part_size: '64KiB', parts_in_flight: 4 } }));
    });
    after(async () => {
      await rp.close();
      for (const b of fleet.backends) b.proxy.clear();
    });

    it('parts from three copies with their own keys and chunk sizes (4 KiB, 64 KiB, 16 KiB) assemble the plaintext', async () => {
      const s = await rp.getStream('enc/big');
      assert.equal(s.size, BIG.length);
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
      const served = ['b1', 'b2', 'b3'].filter((b) => rp.recorder.count('decrypt_operations_total', { backend: b, kind: 'stream' }) > 0);
      assert.ok(served.length >= 2, `parts decrypted from ${served.join(', ')}`);
      for (const [range, want] of [
        ['bytes=100000-600000', BIG.subarray(100000, 600001)],
        ['bytes=65535-', BIG.subarray(65535)],
        ['bytes=-200000', BIG.subarray(BIG.length - 200000)],
      ] as const) {
        const r = await rp.getStream('enc/big', { range });
        assert.ok((await readAll(r.body)).equals(want), range);
      }
      assert.equal(rp.recorder.count('decrypt_failures_total'), 0);
    });

    it('a part whose copy is cut mid-body is fetched again elsewhere', async () => {
      fleet.backend('b2').proxy.inject({ kind: 'truncate', keepBytes: 20_000 }, { times: 2, match: { method: 'GET', key: 'enc/big' } });
      const s = await rp.getStream('enc/big');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
    });
  });

  describe(`master keys (${mode})`, () => {
    it('rotated: an object wrapped under the old key (still labelled config-0) reads with the old key in previous_keys', async () => {
      const rp = await ReadPath.open(config(mode, { encryption: { enabled: true, master_key: STRANGER.toString('base64'), previous_keys: [OLD_MASTER.toString('base64')] } }));
      try {
        for (const key of ['enc/rotated', 'enc/rotated-labelled']) {
          const g = await rp.get(key);
          assert.ok(Buffer.from(g.body).equals(ROTATED), key);
          assert.equal(g.verified, true);
          const s = await rp.getStream(key, { range: 'bytes=4000-8999' });
          assert.ok((await readAll(s.body)).equals(ROTATED.subarray(4000)), key);
        }
        // The current key still opens what it wrapped.
        const current = await ReadPath.open(config(mode, { encryption: { enabled: true, master_key: MASTER.toString('base64'), previous_keys: [OLD_MASTER.toString('base64')] } }));
        try {
          assert.ok(Buffer.from((await current.get('enc/small')).body).equals(SMALL));
          assert.ok(Buffer.from((await current.get('enc/rotated')).body).equals(ROTATED));
        } finally {
          await current.close();
        }
      } finally {
        await rp.close();
      }
    });

    it('a wrong master key: DECRYPTION_FAILED for every copy, and no ciphertext is requested', async () => {
      const rp = await ReadPath.open(config(mode, { encryption: { enabled: true, master_key: STRANGER.toString('base64') } }));
      try {
        const requests = fleet.backends.map((b) => b.proxy.requestCount);
        let seen: unknown;
        await assert.rejects(rp.get('enc/small'), (err: unknown) => {
          seen = err;
          return hasCode(err, 'DECRYPTION_FAILED') && (err as ReadPathError).httpStatus === 502;
        });
        // A located read reports its last copy's error: DECRYPTION_FAILED itself, not a wrapper.
        assert.equal((seen as ReadPathError).code, 'DECRYPTION_FAILED');
        assert.ok(!allText(seen).includes(STRANGER.toString('base64')) && !allText(seen).includes(MASTER.toString('base64')), 'no key in the error');
        await assert.rejects(rp.get('enc/small', { range: 'bytes=10-20' }), is('DECRYPTION_FAILED'));
        await assert.rejects(rp.getStream('enc/small'), is('DECRYPTION_FAILED'));
        assert.deepEqual(fleet.backends.map((b) => b.proxy.requestCount), requests, 'no data key, no request');
        assert.ok(rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'unwrap' }) >= 1);
        assert.ok(rp.recorder.count('decrypt_failures_total', { backend: 'b2', kind: 'unwrap' }) >= 1);
        const o = await collect(rp.readMany(['enc/small', 'plain/a'], { out: join(dir, `wrong-key-${mode}`) }));
        assert.equal((o.get('enc/small') as { error: { code: string } }).error.code, (seen as ReadPathError).code);
        assert.equal(o.get('plain/a')?.ok, true);
        assert.deepEqual(filesUnder(join(dir, `wrong-key-${mode}`)), ['plain/a'], 'nothing written for the encrypted key');
      } finally {
        await rp.close();
      }
    });
  });

  describe(`Vault transit (${mode})`, () => {
    it('a static token unwraps the data keys: get, ranges and streams decrypt', async () => {
      const rp = await ReadPath.open(config(mode, {
        encryption: { enabled: true, vault: { address: vault.address, token: VAULT_TOKEN, key_name: 'readpath', mount_path: 'transit' } },
      }));
      try {
        const g = await rp.get('vault/a');
        assert.ok(Buffer.from(g.body).equals(SMALL));
        assert.equal(g.verified, true);
        assert.ok(Buffer.from((await rp.get('vault/a', { range: 'bytes=5000-5100' })).body).equals(SMALL.subarray(5000, 5101)));
        const s = await rp.getStream('vault/big');
        assert.ok((await readAll(s.body)).equals(BIG));
        assert.equal(await s.verified, true);
        assert.equal((await rp.head('vault/big')).size, BIG.length);
        // The plain object needs no key.
        assert.equal(Buffer.from((await rp.get('plain/a')).body).toString(), PLAIN);
        if (mode === 'inline') {
          // Unwrapped data keys are cached: a second read of the same copy asks Vault nothing.
          const n = decryptRequests(vault);
          await rp.get('vault/a');
          assert.equal(decryptRequests(vault), n);
        }
        assert.ok(vault.requests.some((r) => r.path === '/v1/transit/decrypt/readpath' && r.token === VAULT_TOKEN && r.status === 200));
      } finally {
        await rp.close();
      }
    });

    it('a wrong token: DECRYPTION_FAILED, and no token appears in the error', async () => {
      const rp = await ReadPath.open(config(mode, {
        encryption: { enabled: true, vault: { address: vault.address, token: WRONG_TOKEN, key_name: 'readpath' } },
      }));
      try {
        let seen: unknown;
        await assert.rejects(rp.get('vault/a'), (err: unknown) => {
          seen = err;
          return hasCode(err, 'DECRYPTION_FAILED');
        });
        const text = allText(seen);
        assert.ok(!text.includes(WRONG_TOKEN) && !text.includes(VAULT_TOKEN), text);
        assert.ok(vault.requests.some((r) => r.token === WRONG_TOKEN && r.status === 403));
        await assert.rejects(rp.getStream('vault/big'), (err: unknown) => hasCode(err, 'DECRYPTION_FAILED') && !allText(err).includes(WRONG_TOKEN));
        assert.ok(rp.recorder.count('decrypt_failures_total', { kind: 'key_service' }) >= 1);
      } finally {
        await rp.close();
      }
    });
  });
}

describe('Vault transit: token file and TLS', () => {
  it('token_file: after Vault changes its token and the file is rewritten, the 403 makes readpath re-read the file (both executors)', async () => {
    writeFileSync(tokenFile, `${FILE_TOKEN_1}\n`);
    fileVault.setToken(FILE_TOKEN_1);
    const inline = await ReadPath.open(config('inline', {
      encryption: { enabled: true, vault: { address: fileVault.address, token_file: tokenFile, key_name: 'readpath' } },
    }));
    const pool = await ReadPath.open(config('pool', {
      encryption: { enabled: true, vault: { address: fileVault.address, token_file: tokenFile, key_name: 'readpath' } },
    }));
    try {
      assert.ok(Buffer.from((await inline.get('vault-file/1')).body).equals(SMALL));
      assert.ok(Buffer.from((await pool.get('vault-file/1')).body).equals(SMALL));
      // Vault rotates the token (Nomad workload identity rewrites the file).
      fileVault.setToken(FILE_TOKEN_2);
      writeFileSync(tokenFile, `${FILE_TOKEN_2}\n`);
      const seen = fileVault.requests.length;
      // A copy whose data key is not cached yet: the old token is refused, the file re-read.
      const g = await inline.get('vault-file/2');
      assert.ok(Buffer.from(g.body).equals(TAMPERED));
      assert.equal(g.backend, 'b1');
      const p = await pool.get('vault-file/2');
      assert.ok(Buffer.from(p.body).equals(TAMPERED));
      const s = await pool.getStream('vault-file/2', { range: 'bytes=10-20000' });
      assert.ok((await readAll(s.body)).equals(TAMPERED.subarray(10, 20001)));
      const after = fileVault.requests.slice(seen).filter((r) => r.path.includes('/decrypt/'));
      assert.ok(after.some((r) => r.token === FILE_TOKEN_1 && r.status === 403), 'the old token was refused');
      assert.ok(after.some((r) => r.token === FILE_TOKEN_2 && r.status === 200), 'the new token from the file was used');
    } finally {
      await inline.close();
      await pool.close();
    }
  });

  it('TLS: an https Vault is trusted through ca_cert (both executors); without it the read fails', async () => {
    assert.ok(tlsVault.address.startsWith('https://'));
    const caCert = tlsVault.caCertFile;
    assert.ok(caCert !== undefined);
    for (const mode of ['inline', 'pool'] as const) {
      const rp = await ReadPath.open(config(mode, {
        encryption: { enabled: true, vault: { address: tlsVault.address, token: VAULT_TOKEN, key_name: 'readpath', ca_cert: caCert } },
      }));
      try {
        const g = await rp.get('vault-tls/a');
        assert.ok(Buffer.from(g.body).equals(SMALL), mode);
        const s = await rp.getStream('vault-tls/a', { range: 'bytes=-100' });
        assert.ok((await readAll(s.body)).equals(SMALL.subarray(SMALL.length - 100)), mode);
      } finally {
        await rp.close();
      }
    }
    const untrusted = await ReadPath.open(config('inline', {
      encryption: { enabled: true, vault: { address: tlsVault.address, token: VAULT_TOKEN, key_name: 'readpath', timeout: '3s' } },
    }));
    try {
      await assert.rejects(untrusted.get('vault-tls/a'), (err: unknown) => hasCode(err, 'DECRYPTION_FAILED') && !allText(err).includes(VAULT_TOKEN));
      assert.equal(untrusted.recorder.count('decrypt_failures_total', { backend: 'b3', kind: 'key_service' }), 1);
    } finally {
      await untrusted.close();
    }
  });
});

describe('encrypted copies without content_hash: continuing on another copy', () => {
  /**
   * s3rver ignores If-Match, so a resume "works" here whatever the condition says. What a real S3
   * would do is read off the requests: an If-Match naming another copy's ETag is a 412 there.
   * The copies of enc/nohash hold different ciphertexts (own data keys), so their ETags differ;
   * each copy's row key data and GCM tags are what authenticate its bytes.
   */
  const conditionsSent = (name: string, from: number): string[] =>
    fleet.backend(name).proxy.requestHeaders().slice(from).map((h) => h['if-match']).filter((v): v is string => typeof v === 'string');
  const wouldFail = (name: string, from: number): string[] =>
    conditionsSent(name, from).filter((etag) => etag !== NOHASH_ETAGS.get(name)).map((etag) => `${name} got If-Match ${etag}, its own ETag is ${NOHASH_ETAGS.get(name) ?? '?'}`);

  it('a stream cut mid-body does not splice in a copy with another data key: it fails at the offset, sending no If-Match that copy cannot meet', async () => {
    const rp = await ReadPath.open(config('inline'));
    try {
      const mark = fleet.backend('b2').proxy.requestHeaders().length;
      fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 300_000 }, { times: 1, match: { method: 'GET', key: 'enc/nohash' } });
      const s = await rp.getStream('enc/nohash');
      await assert.rejects(readAll(s.body), (err: unknown) => hasCode(err, 'ALL_BACKENDS_FAILED') && /no copy could continue the stream at byte/.test(messageOf(err)));
      assert.deepEqual(conditionsSent('b2', mark), [], 'no request that a real S3 would answer 412');
    } finally {
      await rp.close();
      for (const b of fleet.backends) b.proxy.clear();
    }
  });

  it('striped parts from copies with other data keys carry no If-Match those copies cannot meet', async () => {
    const rp = await ReadPath.open(config('inline', { striping: { enabled: true, min_size: '64KiB', part_size: '64KiB', parts_in_flight: 4 } }));
    try {
      const marks = ['b2', 'b3'].map((b) => fleet.backend(b).proxy.requestHeaders().length);
      const s = await rp.getStream('enc/nohash');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.deepEqual([...wouldFail('b2', marks[0]!), ...wouldFail('b3', marks[1]!)], [], 'a real S3 would answer 412 to these parts');
    } finally {
      await rp.close();
    }
  });
});

describe('encryption not configured', () => {
  for (const mode of ['inline', 'pool'] as const) {
    it(`encrypted keys are refused with SERVICE_UNAVAILABLE without a request; plain keys are served (${mode})`, async () => {
      const { encryption: _none, ...base } = config(mode);
      const rp = await ReadPath.open(base);
      try {
        const requests = fleet.backends.map((b) => b.proxy.requestCount);
        await assert.rejects(rp.get('enc/small'), (err: unknown) => hasCode(err, 'SERVICE_UNAVAILABLE') && (err as ReadPathError).httpStatus === 503);
        await assert.rejects(rp.get('enc/small', { range: 'bytes=0-9' }), is('SERVICE_UNAVAILABLE'));
        await assert.rejects(rp.getStream('enc/small'), is('SERVICE_UNAVAILABLE'));
        assert.deepEqual(fleet.backends.map((b) => b.proxy.requestCount), requests, 'no ciphertext was fetched');
        const p = await rp.get('plain/a');
        assert.equal(Buffer.from(p.body).toString(), PLAIN);
        assert.equal(p.verified, true);
        const out = join(dir, `no-keys-${mode}`);
        const o = await collect(rp.readMany(['enc/small', 'plain/a'], { out }));
        assert.equal((o.get('enc/small') as { error: { code: string; httpStatus: number } }).error.code, 'SERVICE_UNAVAILABLE');
        assert.equal(o.get('plain/a')?.ok, true);
        assert.equal(readFileSync(join(out, 'plain/a'), 'utf8'), PLAIN);
        assert.deepEqual(filesUnder(out), ['plain/a'], 'nothing written for the encrypted key');
      } finally {
        await rp.close();
      }
    });
  }
});

describe('degraded mode (metadata store down): a broadcast over encrypted and plain objects', () => {
  const down = {
    getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'metadata store down (test)')),
  };
  const degradedConfig = (mode: 'inline' | 'pool', encrypted: boolean): ReadPathConfig => {
    const { encryption: _e, ...base } = config(mode, { database: { driver: 'memory' } });
    return encrypted ? { ...base, encryption: { enabled: true, master_key: MASTER.toString('base64') } } : base;
  };
  const unavailable = (err: unknown): boolean => hasCode(err, 'SERVICE_UNAVAILABLE') && (err as ReadPathError).httpStatus === 503;
  /** The read's bytes, or its error: a test must see which, to tell ciphertext from a refusal. */
  const settle = (p: Promise<Uint8Array>): Promise<{ ok: true; bytes: Buffer } | { ok: false; err: unknown }> =>
    p.then((b) => ({ ok: true as const, bytes: Buffer.from(b) }), (err: unknown) => ({ ok: false as const, err }));

  for (const mode of ['inline', 'pool'] as const) {
    it(`plain objects are served; an encrypted object held by every backend is refused with 503, never served as ciphertext (${mode})`, async () => {
      const rp = await ReadPath.open(degradedConfig(mode, true), { store: down });
      try {
        const p = await rp.get('plain/a');
        assert.equal(Buffer.from(p.body).toString(), PLAIN);
        assert.equal(p.degraded, true);
        // enc/same3 is the same ciphertext on b1, b2 and b3: every probe sees the SENC header.
        await assert.rejects(rp.get('enc/same3'), unavailable);
        await assert.rejects(rp.get('enc/same3', { range: 'bytes=0-99' }), unavailable);
        await assert.rejects(rp.get('enc/same3', { range: 'bytes=100-199' }), unavailable);
        await assert.rejects(rp.get('enc/same3', { range: 'bytes=-10' }), unavailable);
        const ps = await rp.getStream('plain/a');
        assert.equal((await readAll(ps.body)).toString(), PLAIN);
        // Refused when the stream opens, or as its first bytes arrive: never a byte of ciphertext.
        await assert.rejects(rp.getStream('enc/same3').then((s) => readAll(s.body)), is('SERVICE_UNAVAILABLE'));
        const out = join(dir, `degraded-${mode}`);
        const o = await collect(rp.readMany(['enc/same3', 'plain/a'], { out }));
        assert.equal(o.get('plain/a')?.ok, true);
        assert.equal(readFileSync(join(out, 'plain/a'), 'utf8'), PLAIN);
        const e = o.get('enc/same3') as { ok: boolean; error?: { code: string; httpStatus: number } };
        assert.equal(e.ok, false);
        assert.equal(e.error?.httpStatus, 503, JSON.stringify(e));
        assert.deepEqual(filesUnder(out), ['plain/a'], 'no ciphertext written');
      } finally {
        await rp.close();
      }
    });

    it(`an encrypted object held by only some backends (the others answer 404) is still SERVICE_UNAVAILABLE 503 (${mode})`, async () => {
      const rp = await ReadPath.open(degradedConfig(mode, true), { store: down });
      try {
        // enc/small is on b1 and b2 only; the broadcast also asks b3, which answers 404. enc/big's
        // three copies are different ciphertexts (own data keys and chunk sizes). Every read is
        // tried before asserting, so a failure lists them all.
        const out = join(dir, `degraded-some-${mode}`);
        const o = await collect(rp.readMany(['enc/small', 'batch/one'], { out }));
        const results: [string, unknown][] = [
          ['get enc/small', await settle(rp.get('enc/small').then((g) => g.body))],
          ['get enc/small bytes=100-199', await settle(rp.get('enc/small', { range: 'bytes=100-199' }).then((g) => g.body))],
          ['getStream enc/big', await settle(rp.getStream('enc/big').then((st) => readAll(st.body)))],
          ...['enc/small', 'batch/one'].map((k): [string, unknown] => [`readMany out ${k}`, o.get(k)]),
        ];
        const wrong = results.filter(([, r]) => {
          const x = r as { ok: boolean; err?: unknown; error?: { code: string; httpStatus: number } };
          if (x.ok) return true;
          return x.err !== undefined ? !unavailable(x.err) : x.error?.httpStatus !== 503;
        }).map(([what, r]) => {
          const x = r as { ok: boolean; err?: unknown; error?: unknown };
          if (x.ok) return `${what}: served bytes`;
          const e = (x.err ?? x.error) as { code: string; httpStatus: number; message: string };
          return `${what}: ${e.code} ${e.httpStatus}: ${e.message}`;
        });
        assert.deepEqual(wrong, [], `expected SERVICE_UNAVAILABLE (503) for every read:\n${wrong.join('\n')}`);
        assert.deepEqual(filesUnder(out), [], 'no ciphertext written');
      } finally {
        await rp.close();
      }
    });
  }

  it('a degraded ranged getStream that does not start at byte 0 is refused too, never ciphertext (plain and striped)', async () => {
    const rp = await ReadPath.open(degradedConfig('inline', true), { store: down });
    const striped = await ReadPath.open({ ...degradedConfig('inline', true), striping: { enabled: true, min_size: '64KiB', part_size: '64KiB' } }, { store: down });
    try {
      const served: string[] = [];
      for (const [reader, range] of [[rp, 'bytes=100-199'], [rp, 'bytes=-50'], [striped, 'bytes=100-500000']] as const) {
        const got = await settle(reader.getStream('enc/same3-big', { range }).then((s) => readAll(s.body)));
        if (got.ok) served.push(`${reader === striped ? 'striped ' : ''}${range}: served ${got.bytes.length} bytes of ciphertext`);
        else assert.ok(hasCode(got.err, 'SERVICE_UNAVAILABLE'), String(got.err));
      }
      assert.deepEqual(served, []);
    } finally {
      await rp.close();
      await striped.close();
    }
  });

  it('without encryption configured: plain served, a whole encrypted object refused with 503', async () => {
    const rp = await ReadPath.open(degradedConfig('inline', false), { store: down });
    try {
      assert.equal(Buffer.from((await rp.get('plain/a')).body).toString(), PLAIN);
      await assert.rejects(rp.get('enc/same3'), unavailable);
      await assert.rejects(rp.getStream('enc/same3').then((s) => readAll(s.body)), is('SERVICE_UNAVAILABLE'));
    } finally {
      await rp.close();
    }
  });

  it('without encryption configured, a degraded ranged get not starting at byte 0 is refused too', async () => {
    const rp = await ReadPath.open(degradedConfig('inline', false), { store: down });
    try {
      const got = await settle(rp.get('enc/big', { range: 'bytes=100-199' }).then((g) => g.body));
      assert.equal(got.ok, false, got.ok ? `served ${got.bytes.length} bytes of ciphertext` : '');
    } finally {
      await rp.close();
    }
  });
});

describe('CLI on encrypted objects', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const MAIN = join(ROOT, 'src/cli/main.ts');
  const KEY_ENV = { TEST_MASTER_KEY: MASTER.toString('base64') };

  interface Run { code: number | null; stdout: string; stderr: string }
  function cli(args: string[], input = '', env: Record<string, string> = KEY_ENV): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
        cwd: ROOT,
        env: { ...process.env, READPATH_LOG_LEVEL: '', ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (s: string) => { out += s; });
      child.stderr.on('data', (s: string) => { err += s; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
      child.stdin.end(input);
    });
  }

  let withKeys: string;
  let withoutKeys: string;
  before(() => {
    const backends = fleet.backends.map((b) => `  - name: ${b.name}
    endpoint: "${b.endpoint}"
    region: us-east-1
    bucket: ${fleet.bucket}
    access_key_id: S3RVER
    secret_access_key: S3RVER
    force_path_style: true`).join('\n');
    const base = `backends:\n${backends}\ndatabase:\n  driver: sqlite\n  path: meta.db\nruntime:\n  threads: 1\nserver:\n  backend_timeout: 5s\nstriping:\n  enabled: false\n`;
    withKeys = join(dir, 'readpath-enc.yaml');
    withoutKeys = join(dir, 'readpath-plain.yaml');
    writeFileSync(withKeys, `${base}encryption:\n  enabled: true\n  master_key: "\${TEST_MASTER_KEY}"\n`);
    writeFileSync(withoutKeys, base);
  });

  const noKeyIn = (r: Run): void => {
    const k = MASTER.toString('base64');
    assert.ok(!r.stdout.includes(k) && !r.stderr.includes(k), 'the master key never appears in output');
  };

  it('get KEY -o FILE writes the plaintext (and a range of it)', async () => {
    const file = join(dir, 'cli-big.out');
    const r = await cli(['get', 'enc/big', '-c', withKeys, '-o', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(file).equals(BIG));
    assert.match(r.stderr, new RegExp(`^readpath: got enc/big from b1: ${BIG.length} bytes, verified`));
    noKeyIn(r);
    const part = join(dir, 'cli-part.out');
    const rr = await cli(['get', 'enc/tampered', '-c', withKeys, '-o', part, '--range', 'bytes=4000-9000']);
    assert.equal(rr.code, 0, rr.stderr);
    assert.ok(readFileSync(part).equals(TAMPERED.subarray(4000, 9001)));
  });

  it('batch --out DIR writes the plaintext files (in pool workers)', async () => {
    const out = join(dir, 'cli-out');
    mkdirSync(out);
    const keys = ['enc/small', 'enc/tampered', 'batch/deep/two.bin', 'plain/a'];
    const r = await cli(['batch', '-c', withKeys, '--keys', '-', '--out', out, '--ndjson'], keys.join('\n'));
    assert.equal(r.code, 0, r.stderr);
    const recs = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { key: string; ok: boolean; path?: string });
    assert.deepEqual(recs.map((x) => x.key).sort(), [...keys].sort());
    assert.ok(recs.every((x) => x.ok), r.stdout);
    assert.ok(readFileSync(join(out, 'enc/small')).equals(SMALL));
    assert.ok(readFileSync(join(out, 'enc/tampered')).equals(TAMPERED));
    assert.ok(readFileSync(join(out, 'batch/deep/two.bin')).equals(SMALL));
    assert.equal(readFileSync(join(out, 'plain/a'), 'utf8'), PLAIN);
    noKeyIn(r);
  });

  it('without encryption configured: one SERVICE_UNAVAILABLE error line and exit 1, no file', async () => {
    const file = join(dir, 'cli-refused.out');
    const r = await cli(['get', 'enc/small', '-c', withoutKeys, '-o', file], '', {});
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^readpath: error: SERVICE_UNAVAILABLE: /);
    assert.ok(!existsSync(file));
  });
});
