/**
 * Encrypted objects (SENC v1) with their rows in a real PostgreSQL (`encryption_key` BYTEA,
 * `key_id`, `plaintext_size`): both executors decrypt whole reads, ranges, streams, striped
 * streams and batches to files, each copy with its own key data; a tampered copy is left for the
 * next; a rotated master key still opens old objects. Then the database stops: the degraded
 * broadcast serves plain objects and refuses encrypted ones (503, never ciphertext) until it
 * returns, when encrypted reads are located — and decrypted — again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath, type BatchOutcome } from '../../src/read-path.js';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import { ReadPathError, hasCode, type ErrorCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { PgCluster } from '../helpers/pg-cluster.js';
import { chunkOffset, flipByte } from '../helpers/senc-encoder.js';
import { EncryptedSeeding } from '../helpers/encrypted-seeding.js';
import { readAll } from '../helpers/streams.js';

const MASTER = randomBytes(32);
const OLD_MASTER = randomBytes(32);

const SMALL = randomBytes(2 * 4096 + 1234);
const BIG = randomBytes(600_003);
const PLAIN = 'a plain object next to encrypted ones\n';

let fleet: S3Fleet;
let pgc: PgCluster;
let url: string;
let dir: string;

const is = (code: ErrorCode) => (err: unknown): boolean => hasCode(err, code);

function config(mode: 'inline' | 'pool', extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'postgres', url: `${url}?sslmode=disable`, statement_timeout: '2s' },
    circuit_breaker: { failure_threshold: 2, open_timeout: '50ms' },
    server: { backend_timeout: '5s' },
    runtime: mode === 'pool' ? { threads: 1, stream_idle_timeout: '2s' } : { mode: 'inline', stream_idle_timeout: '2s' },
    striping: { enabled: false },
    logging: { level: 'silent' },
    encryption: { enabled: true, master_key: MASTER.toString('base64'), previous_keys: [OLD_MASTER.toString('base64')] },
    ...extra,
  };
}

async function collect(it: AsyncIterable<BatchOutcome>): Promise<Map<string, BatchOutcome>> {
  const out = new Map<string, BatchOutcome>();
  for await (const o of it) out.set(o.key, o);
  return out;
}

function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-enc-pg-'));
  pgc = await PgCluster.create();
  url = await pgc.createDatabase('readpath');
  const seeding = new EncryptedSeeding((key, body, on) => fleet.seed(key, body, on), MASTER, { start: Date.parse('2026-05-01T00:00:00Z') });
  await seeding.encrypted('pg/small', SMALL, ['b1', 'b2'], { chunkSizes: [4096, 65536] });
  await seeding.encrypted('pg/big', BIG, ['b1', 'b2', 'b3'], { chunkSizes: [65536, 4096, 16384] });
  await seeding.encrypted('pg/tampered', SMALL, ['b1', 'b3'], {
    chunkSizes: [4096, 16384],
    body: (row, name) => (name === 'b1' ? flipByte(row.body, chunkOffset(4096, 2) + 12 + 7) : row.body),
  });
  await seeding.encrypted('pg/rotated', SMALL, ['b2', 'b3'], { masterKey: OLD_MASTER, keyId: 'config-0' });
  // Byte-for-byte replicas on every backend (one row key data), for the degraded broadcast.
  await seeding.replicas('pg/same3', SMALL, ['b1', 'b2', 'b3']);
  await seeding.plain('pg/plain', new TextEncoder().encode(PLAIN), ['b1', 'b2', 'b3']);
  const store = await PostgresMetadataStore.open({ url: `${url}?sslmode=disable` });
  try {
    await store.addLocations(seeding.rows);
  } finally {
    await store.close();
  }
});

after(async () => {
  await fleet?.close();
  await pgc?.destroy();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

for (const mode of ['inline', 'pool'] as const) {
  describe(`encrypted rows in PostgreSQL (${mode})`, () => {
    let rp: ReadPath;
    before(async () => {
      rp = await ReadPath.open(config(mode));
      assert.equal(rp.config.runtime.mode, mode);
    });
    after(async () => {
      await rp.close();
      for (const b of fleet.backends) b.proxy.clear();
    });

    it('the rows round-trip: key data, key id and plaintext size come back from PostgreSQL as written', async () => {
      const rows = await rp.store.getAllObjectLocations('pg/small');
      assert.equal(rows.length, 2);
      for (const r of rows) {
        assert.equal(r.encrypted, true);
        assert.equal(r.keyId, 'config-0');
        assert.equal(r.plaintextSize, SMALL.length);
        assert.equal(r.encryptionKey?.byteLength, 72);
        assert.ok(r.sizeBytes > SMALL.length);
      }
      assert.notDeepEqual(rows[0]?.encryptionKey, rows[1]?.encryptionKey, 'each copy its own key data');
    });

    it('get whole and ranged, head: plaintext bytes and sizes', async () => {
      for (const [key, plain] of [['pg/small', SMALL], ['pg/big', BIG]] as const) {
        const g = await rp.get(key);
        assert.ok(Buffer.from(g.body).equals(plain), key);
        assert.equal(g.verified, true);
        assert.equal(g.size, plain.length);
        assert.equal((await rp.head(key)).size, plain.length);
      }
      const n = BIG.length;
      for (const [range, want] of [
        ['bytes=65535-65536', BIG.subarray(65535, 65537)],
        ['bytes=1000-300000', BIG.subarray(1000, 300001)],
        ['bytes=599000-', BIG.subarray(599000)],
        ['bytes=-70000', BIG.subarray(n - 70000)],
      ] as const) {
        assert.ok(Buffer.from((await rp.get('pg/big', { range })).body).equals(want), range);
      }
      await assert.rejects(rp.get('pg/big', { range: `bytes=${n}-` }), (err: unknown) => hasCode(err, 'RANGE_NOT_SATISFIABLE') && (err as ReadPathError).httpStatus === 416);
      assert.ok(Buffer.from((await rp.get('pg/small', { range: 'bytes=-5' })).body).equals(SMALL.subarray(SMALL.length - 5)));
    });

    it('getStream whole and ranged', async () => {
      const s = await rp.getStream('pg/big');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
      const r = await rp.getStream('pg/big', { range: 'bytes=200000-400000' });
      assert.ok((await readAll(r.body)).equals(BIG.subarray(200000, 400001)));
    });

    it('a tampered copy fails its tag and the next copy (another key, another chunk size) serves', async () => {
      const g = await rp.get('pg/tampered');
      assert.equal(g.backend, 'b3');
      assert.equal(g.failover, true);
      assert.ok(Buffer.from(g.body).equals(SMALL));
      assert.ok(rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'tag' }) >= 1);
      const s = await rp.getStream('pg/tampered');
      assert.ok((await readAll(s.body)).equals(SMALL));
      assert.equal(await s.verified, true);
    });

    it('rotation: an object wrapped under the previous key, still labelled config-0, reads', async () => {
      const g = await rp.get('pg/rotated');
      assert.ok(Buffer.from(g.body).equals(SMALL));
      assert.equal(g.verified, true);
    });

    it('a stream cut mid-body resumes on another copy', async () => {
      fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 250_000 }, { times: 1, match: { method: 'GET', key: 'pg/big' } });
      const s = await rp.getStream('pg/big');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
      assert.deepEqual(s.backends, ['b1', 'b2']);
    });

    it('readMany with out writes plaintext files', async () => {
      const out = join(dir, `out-${mode}`);
      const got = await collect(rp.readMany(['pg/small', 'pg/big', 'pg/tampered', 'pg/plain'], { out }));
      for (const [key, want] of [['pg/small', SMALL], ['pg/big', BIG], ['pg/tampered', SMALL], ['pg/plain', Buffer.from(PLAIN)]] as const) {
        const o = got.get(key);
        assert.ok(o?.ok === true && 'path' in o && o.verified, `${key}: ${JSON.stringify(o)}`);
        assert.ok(readFileSync(join(out, key)).equals(want), key);
      }
      assert.deepEqual(filesUnder(out), ['pg/big', 'pg/plain', 'pg/small', 'pg/tampered']);
    });
  });

  it(`striped getStream over three copies with their own keys and chunk sizes (${mode})`, async () => {
    const rp = await ReadPath.open(config(mode, { striping: { enabled: true, min_size: '64KiB', part_size: '64KiB', parts_in_flight: 4 } }));
    try {
      const s = await rp.getStream('pg/big');
      assert.ok((await readAll(s.body)).equals(BIG));
      assert.equal(await s.verified, true);
      const r = await rp.getStream('pg/big', { range: 'bytes=70000-500000' });
      assert.ok((await readAll(r.body)).equals(BIG.subarray(70000, 500001)));
      const served = ['b1', 'b2', 'b3'].filter((b) => rp.recorder.count('decrypt_operations_total', { backend: b, kind: 'stream' }) > 0);
      assert.ok(served.length >= 2, served.join());
    } finally {
      await rp.close();
    }
  });
}

async function until(cond: () => Promise<boolean>, tries = 400): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

describe('PostgreSQL outage: degraded broadcast over encrypted and plain objects', () => {
  for (const mode of ['inline', 'pool'] as const) {
    it(`plain served, encrypted refused with 503 and never ciphertext; after recovery encrypted reads decrypt again (${mode})`, async () => {
      const rp = await ReadPath.open(config(mode, { circuit_breaker: { failure_threshold: 2, open_timeout: '50ms', parallel_broadcast: mode === 'pool' } }));
      const out = join(dir, `degraded-${mode}`);
      try {
        assert.ok(Buffer.from((await rp.get('pg/same3')).body).equals(SMALL), 'located and decrypted while the database is up');
        await pgc.stop();
        const p = await rp.get('pg/plain');
        assert.equal(p.degraded, true);
        assert.equal(Buffer.from(p.body).toString(), PLAIN);
        for (let i = 0; i < 2; i++) {
          // Twice: the second read may come from the degraded location cache.
          await assert.rejects(rp.get('pg/same3'), (err: unknown) => hasCode(err, 'SERVICE_UNAVAILABLE') && (err as ReadPathError).httpStatus === 503);
        }
        await assert.rejects(rp.get('pg/same3', { range: 'bytes=5000-6000' }), is('SERVICE_UNAVAILABLE'));
        await assert.rejects(rp.getStream('pg/same3').then((s) => readAll(s.body)), is('SERVICE_UNAVAILABLE'));
        const ps = await rp.getStream('pg/plain');
        assert.equal((await readAll(ps.body)).toString(), PLAIN);
        const o = await collect(rp.readMany(['pg/same3', 'pg/plain'], { out }));
        assert.equal(o.get('pg/plain')?.ok, true);
        const e = o.get('pg/same3') as { ok: boolean; error?: { httpStatus: number } };
        assert.equal(e.ok, false);
        assert.equal(e.error?.httpStatus, 503);
        assert.deepEqual(filesUnder(out), ['pg/plain'], 'no ciphertext written');

        await pgc.start();
        assert.ok(await until(async () => !(await rp.get('pg/plain')).degraded), 'located reads resume');
        const g = await rp.get('pg/same3');
        assert.equal(g.degraded, false);
        assert.ok(Buffer.from(g.body).equals(SMALL));
        assert.equal(g.verified, true);
        const s = await rp.getStream('pg/small', { range: 'bytes=4000-4200' });
        assert.ok((await readAll(s.body)).equals(SMALL.subarray(4000, 4201)));
      } finally {
        await pgc.start();
        await rp.close();
      }
    });
  }
});
