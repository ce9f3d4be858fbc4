/**
 * One conformance suite for every {@link MetadataStore}: memory, SQLite and PostgreSQL must
 * answer the same lookups the same way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hasCode } from '../../src/errors.js';
import type { MetadataStore, ObjectLocation } from '../../src/types.js';

/** A store under test, how to seed it, and how to release it. */
export interface StoreUnderTest {
  store: MetadataStore;
  add(location: ObjectLocation): void | Promise<void>;
  close(): Promise<void>;
}

/** Makes a fresh handle on the store under test (the data may persist between handles). */
export type StoreFactory = () => Promise<StoreUnderTest>;

const HASH_A = 'a'.repeat(64);
const HASH_B = '0123456789abcdef'.repeat(4);

function loc(objectKey: string, backendName: string, createdAt: Date, extra: Partial<ObjectLocation> = {}): ObjectLocation {
  return { objectKey, backendName, sizeBytes: 10, createdAt, encrypted: false, ...extra };
}

const t0 = new Date('2024-03-01T10:00:00.000Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);

/** Register the suite. Each test seeds keys under a prefix of its own, so data may persist. */
export function metadataStoreSuite(name: string, factory: StoreFactory): void {
  // Unique per run: a persistent database may still hold the previous run's rows.
  const run = randomBytes(4).toString('hex');
  const k = (s: string): string => `conf-${run}/${s}`;

  async function withStore(fn: (s: StoreUnderTest) => Promise<void>): Promise<void> {
    const s = await factory();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`MetadataStore conformance: ${name}`, () => {
    it('orders rows by createdAt ascending whatever the insertion order', async () => {
      await withStore(async (s) => {
        const key = k('ordered');
        await s.add(loc(key, 'b3', at(3000)));
        await s.add(loc(key, 'b1', at(1000)));
        await s.add(loc(key, 'b4', at(4001)));
        await s.add(loc(key, 'b2', at(2000)));
        const rows = await s.store.getAllObjectLocations(key);
        assert.deepEqual(rows.map((r) => r.backendName), ['b1', 'b2', 'b3', 'b4']);
        assert.deepEqual(rows.map((r) => r.createdAt.getTime()), [1000, 2000, 3000, 4001].map((d) => t0.getTime() + d));
        for (const r of rows) assert.ok(r.createdAt instanceof Date);
      });
    });

    it('orders by time across years and milliseconds', async () => {
      await withStore(async (s) => {
        const key = k('ordered-ms');
        await s.add(loc(key, 'late', new Date('2031-01-01T00:00:00.000Z')));
        await s.add(loc(key, 'ms2', new Date('2024-01-01T00:00:00.002Z')));
        await s.add(loc(key, 'ms1', new Date('2024-01-01T00:00:00.001Z')));
        await s.add(loc(key, 'early', new Date('1999-12-31T23:59:59.999Z')));
        const rows = await s.store.getAllObjectLocations(key);
        assert.deepEqual(rows.map((r) => r.backendName), ['early', 'ms1', 'ms2', 'late']);
      });
    });

    it('throws OBJECT_NOT_FOUND (404) for a key without rows', async () => {
      await withStore(async (s) => {
        await s.add(loc(k('present'), 'b1', t0));
        await assert.rejects(s.store.getAllObjectLocations(k('absent')), (err: unknown) => {
          assert.ok(hasCode(err, 'OBJECT_NOT_FOUND'), String(err));
          assert.equal((err as { httpStatus?: number }).httpStatus, 404);
          return true;
        });
        // A prefix of an existing key is another key.
        await assert.rejects(s.store.getAllObjectLocations(k('presen')), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
      });
    });

    it('round-trips a binary encryption key and the encryption columns', async () => {
      await withStore(async (s) => {
        const key = k('encrypted');
        const bytes = new Uint8Array(256).map((_, i) => 255 - i); // includes 0x00 and 0xff
        await s.add(loc(key, 'b1', t0, { encrypted: true, encryptionKey: bytes, keyId: 'kms/key-1', plaintextSize: 7, sizeBytes: 35, contentHash: HASH_B }));
        const [row, ...rest] = await s.store.getAllObjectLocations(key);
        assert.equal(rest.length, 0);
        assert.ok(row);
        assert.equal(row.encrypted, true);
        assert.ok(row.encryptionKey instanceof Uint8Array);
        assert.deepEqual([...(row.encryptionKey)], [...bytes]);
        assert.equal(row.keyId, 'kms/key-1');
        assert.equal(row.plaintextSize, 7);
        assert.equal(row.sizeBytes, 35);
        assert.equal(row.contentHash, HASH_B);
        assert.equal(row.objectKey, key);
        assert.equal(row.backendName, 'b1');
        assert.equal(row.createdAt.getTime(), t0.getTime());
      });
    });

    it('returns NULL columns as null (or absent), not as empty values', async () => {
      await withStore(async (s) => {
        const key = k('nulls');
        await s.add(loc(key, 'b1', t0, { encryptionKey: null, keyId: null, plaintextSize: null, contentHash: null }));
        await s.add(loc(key, 'b2', at(1))); // optional fields omitted
        const rows = await s.store.getAllObjectLocations(key);
        assert.equal(rows.length, 2);
        for (const r of rows) {
          assert.equal(r.encrypted, false);
          assert.equal(r.encryptionKey ?? null, null);
          assert.equal(r.keyId ?? null, null);
          assert.equal(r.plaintextSize ?? null, null);
          assert.equal(r.contentHash ?? null, null);
        }
      });
    });

    it('keeps large sizes exact', async () => {
      await withStore(async (s) => {
        const key = k('large');
        const big = 5 * 2 ** 40 + 3; // 5 TiB and change: past 32 bits, within 2^53
        await s.add(loc(key, 'b1', t0, { sizeBytes: big, plaintextSize: big - 28 }));
        const [row] = await s.store.getAllObjectLocations(key);
        assert.equal(row?.sizeBytes, big);
        assert.equal(row?.plaintextSize, big - 28);
      });
    });

    it('finds keys with unicode, spaces, slashes, quotes and LIKE wildcards exactly', async () => {
      await withStore(async (s) => {
        const keys = [
          k('dir/sub dir/ünïcødé 🚀/файл.txt'),
          k(' leading and trailing '),
          k('a//b/'),
          k('100%_done\\'),
          k(`quote'"; DROP TABLE object_locations; --`),
          k('日本語/キー'),
        ];
        for (const [i, key] of keys.entries()) await s.add(loc(key, `b${i}`, t0));
        for (const [i, key] of keys.entries()) {
          const rows = await s.store.getAllObjectLocations(key);
          assert.deepEqual(rows.map((r) => [r.objectKey, r.backendName]), [[key, `b${i}`]]);
        }
        // Wildcards are literal: '100%_done\' must not match '100X_done\'.
        await assert.rejects(s.store.getAllObjectLocations(k('100X_done\\')), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
        await assert.rejects(s.store.getAllObjectLocations(k('leading and trailing')), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
      });
    });

    it('stores 1024-byte keys, ASCII and multi-byte', async () => {
      await withStore(async (s) => {
        const prefix = k('');
        const ascii = prefix + 'x'.repeat(1024 - Buffer.byteLength(prefix));
        const multi = prefix + 'é'.repeat((1024 - Buffer.byteLength(prefix)) / 2 | 0);
        assert.equal(Buffer.byteLength(ascii), 1024);
        assert.ok(Buffer.byteLength(multi) >= 1023 && Buffer.byteLength(multi) <= 1024);
        await s.add(loc(ascii, 'b1', t0));
        await s.add(loc(multi, 'b2', t0));
        assert.equal((await s.store.getAllObjectLocations(ascii))[0]?.objectKey, ascii);
        assert.equal((await s.store.getAllObjectLocations(multi))[0]?.backendName, 'b2');
      });
    });

    it('answers concurrent lookups each with its own rows', async () => {
      await withStore(async (s) => {
        const n = 40;
        for (let i = 0; i < n; i++) {
          await s.add(loc(k(`c/${i}`), 'b2', at(2), { sizeBytes: i }));
          await s.add(loc(k(`c/${i}`), 'b1', at(1), { sizeBytes: i }));
        }
        const lookups = Array.from({ length: 4 * n }, (_, j) => j % n);
        const results = await Promise.allSettled(
          lookups.map((i, j) => s.store.getAllObjectLocations(j % 7 === 0 ? k(`c/missing-${i}`) : k(`c/${i}`))),
        );
        results.forEach((r, j) => {
          const i = lookups[j] as number;
          if (j % 7 === 0) {
            assert.equal(r.status, 'rejected');
            assert.ok(hasCode((r).reason, 'OBJECT_NOT_FOUND'));
            return;
          }
          assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
          const rows = (r).value;
          assert.deepEqual(rows.map((x) => [x.objectKey, x.backendName, x.sizeBytes]), [
            [k(`c/${i}`), 'b1', i],
            [k(`c/${i}`), 'b2', i],
          ]);
        });
      });
    });

    it('replaces the row of an existing (objectKey, backendName)', async () => {
      await withStore(async (s) => {
        const key = k('upsert');
        await s.add(loc(key, 'b1', at(0), { sizeBytes: 1, contentHash: HASH_A }));
        await s.add(loc(key, 'b2', at(1000), { sizeBytes: 2 }));
        await s.add(loc(key, 'b1', at(2000), { sizeBytes: 3, contentHash: null, encrypted: true, encryptionKey: new Uint8Array([1, 2]) }));
        const rows = await s.store.getAllObjectLocations(key);
        assert.deepEqual(rows.map((r) => [r.backendName, r.sizeBytes]), [
          ['b2', 2],
          ['b1', 3],
        ]);
        assert.equal(rows[1]?.contentHash ?? null, null);
        assert.equal(rows[1]?.encrypted, true);
        assert.deepEqual([...(rows[1]?.encryptionKey ?? [])], [1, 2]);
      });
    });

    it('returns rows the caller may modify without changing the store', async () => {
      await withStore(async (s) => {
        const key = k('isolation');
        await s.add(loc(key, 'b1', t0));
        const first = await s.store.getAllObjectLocations(key);
        first.pop();
        const again = await s.store.getAllObjectLocations(key);
        assert.equal(again.length, 1);
      });
    });

    it('rejects with ABORTED when the signal is already aborted', async () => {
      await withStore(async (s) => {
        const key = k('aborted');
        await s.add(loc(key, 'b1', t0));
        const ac = new AbortController();
        ac.abort(new Error('caller gone'));
        await assert.rejects(s.store.getAllObjectLocations(key, { signal: ac.signal }), (err: unknown) => hasCode(err, 'ABORTED'));
        // A live signal does not change the answer.
        const rows = await s.store.getAllObjectLocations(key, { signal: new AbortController().signal });
        assert.equal(rows.length, 1);
      });
    });
  });
}
