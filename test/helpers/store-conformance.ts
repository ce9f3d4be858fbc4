/**
 * One conformance suite for every {@link MetadataStore}: memory, SQLite and PostgreSQL must
 * answer the same lookups the same way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hasCode } from '../../src/errors.js';
import { MAX_KEY_BYTES } from '../../src/engine/keys.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation } from '../../src/types.js';

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

/** S3's order, computed independently of the stores: memcmp of UTF-8. */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** The store's listKeys, which every built-in store has. */
function lister(store: MetadataStore): (opts: ListKeysOptions) => Promise<ListedObject[]> {
  assert.equal(typeof store.listKeys, 'function', 'store lists keys');
  return (opts) => (store as Required<Pick<MetadataStore, 'listKeys'>>).listKeys(opts);
}

/** Every key under prefix, walked page by page (at most 10_000 pages). */
async function listAll(store: MetadataStore, prefix: string, pageSize: number, pages?: number[]): Promise<string[]> {
  const list = lister(store);
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (let n = 0; n < 10_000; n++) {
    const page = await list({ prefix, limit: pageSize, ...(startAfter === undefined ? {} : { startAfter }) });
    pages?.push(page.length);
    assert.ok(page.length <= pageSize, `page of ${page.length} > limit ${pageSize}`);
    keys.push(...page.map((o) => o.key));
    if (page.length < pageSize) return keys;
    startAfter = page[page.length - 1]?.key;
  }
  throw new Error('listing does not end');
}

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

    it('stores keys of MAX_KEY_BYTES (1088: a 1024-byte S3 key in a 63-byte bucket), ASCII and multi-byte', async () => {
      await withStore(async (s) => {
        const prefix = k('');
        const ascii = prefix + 'x'.repeat(MAX_KEY_BYTES - Buffer.byteLength(prefix));
        const multi = prefix + 'é'.repeat((MAX_KEY_BYTES - Buffer.byteLength(prefix)) / 2 | 0);
        assert.equal(Buffer.byteLength(ascii), MAX_KEY_BYTES);
        assert.ok(Buffer.byteLength(multi) >= MAX_KEY_BYTES - 1 && Buffer.byteLength(multi) <= MAX_KEY_BYTES);
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

    describe('listKeys', () => {
      it('lists distinct keys in UTF-8 byte order, not UTF-16 order', async () => {
        await withStore(async (s) => {
          const p = k('list-order/');
          const tails = [
            'a', 'B', 'b', 'a b', 'a!', 'a/b', 'a~', '~', ' ', '0', 'Z', 'é', 'ê', 'e\u0301', '\u00ff', '\u0100', '\u07ff', '\u0800',
            '\ud7ff', '\ue000', '\ufffd', '\uffff', '\u{10000}', '😀', '\u{10ffff}', '日本', 'ab', 'abc', 'a', 'A', '\u0001', '\u007f',
          ];
          const keys = [...new Set(tails)].map((t) => p + t);
          for (const [i, key] of keys.entries()) await s.add(loc(key, 'b1', at(i)));
          await s.add(loc(p + 'a', 'b2', at(-1))); // a second copy: still one entry
          const expected = [...keys].sort(byteOrder);
          // The JS default order really differs here (U+E000..U+FFFF vs surrogate pairs).
          assert.notDeepEqual([...keys].sort(), expected);
          const listed = await lister(s.store)({ prefix: p, limit: 1000 });
          assert.deepEqual(listed.map((o) => o.key), expected);
        });
      });

      it('treats %, _ and \\ in a prefix literally', async () => {
        await withStore(async (s) => {
          const p = k('list-wild/');
          const tails = ['p%', 'p%a', 'p%%', 'pa', 'pX', 'p_', 'p_b', 'pq', 'p\\', 'p\\\\', 'p\\z', 'p', 'q%', '%', '_', '\\'];
          for (const t of tails) await s.add(loc(p + t, 'b1', t0));
          const list = lister(s.store);
          const expect = async (prefix: string): Promise<void> => {
            const want = tails.filter((t) => (p + t).startsWith(prefix)).map((t) => p + t).sort(byteOrder);
            const got = (await list({ prefix, limit: 100 })).map((o) => o.key);
            assert.deepEqual(got, want, `prefix ${JSON.stringify(prefix)}`);
          };
          for (const prefix of ['p%', 'p%%', 'p_', 'p\\', 'p\\\\', '%', '_', '\\', 'p', 'pX', 'p%a', 'nope']) await expect(p + prefix);
          assert.equal((await list({ prefix: p + 'p%', limit: 100 })).length, 3);
          assert.equal((await list({ prefix: p + 'p_', limit: 100 })).length, 2);
        });
      });

      it('lists exactly the keys of prefixes ending in U+D7FF, U+FFFF, U+10FFFF and multi-byte characters', async () => {
        await withStore(async (s) => {
          const p = k('list-edge/');
          const tails = [
            'x', 'x\ud7ff', 'x\ud7ffz', 'x\ue000', 'x\ufffe', 'x\uffff', 'x\uffffa', 'x\uffff\uffff', 'x\u{10000}', 'x\u{10ffff}', 'x\u{10ffff}a',
            'x\u{10ffff}\u{10ffff}', 'y', 'é', 'éa', 'ê', 'é\u{10ffff}', '日', '日本', '旦',
          ];
          for (const t of tails) await s.add(loc(p + t, 'b1', t0));
          const list = lister(s.store);
          for (const prefix of ['x\ud7ff', 'x\uffff', 'x\ufffe', 'x\u{10000}', 'x\u{10ffff}', 'x\u{10ffff}\u{10ffff}', 'x', 'é', '日', 'ê']) {
            const want = tails.map((t) => p + t).filter((key) => key.startsWith(p + prefix)).sort(byteOrder);
            assert.ok(want.length > 0);
            const got = (await list({ prefix: p + prefix, limit: 100 })).map((o) => o.key);
            assert.deepEqual(got, want, `prefix ${JSON.stringify(prefix)}`);
          }
        });
      });

      it('starts after startAfter (exclusive), whether or not it is a key, and combines it with prefix', async () => {
        await withStore(async (s) => {
          const p = k('list-after/');
          const tails = ['d/', 'd/1', 'd/2', 'd/3', 'd0', 'e'];
          for (const t of tails) await s.add(loc(p + t, 'b1', t0));
          const list = lister(s.store);
          const keysOf = async (o: Omit<ListKeysOptions, 'limit'>): Promise<string[]> =>
            (await list({ limit: 100, ...o })).map((x) => x.key.slice(p.length));
          assert.deepEqual(await keysOf({ prefix: p }), tails);
          assert.deepEqual(await keysOf({ prefix: p, startAfter: p + 'd/1' }), ['d/2', 'd/3', 'd0', 'e']);
          assert.deepEqual(await keysOf({ prefix: p, startAfter: p + 'd/15' }), ['d/2', 'd/3', 'd0', 'e']);
          // The prefix itself is a key: listed, unless it is the start-after key.
          assert.deepEqual(await keysOf({ prefix: p + 'd/' }), ['d/', 'd/1', 'd/2', 'd/3']);
          assert.deepEqual(await keysOf({ prefix: p + 'd/', startAfter: p + 'd/' }), ['d/1', 'd/2', 'd/3']);
          // A start-after below the prefix changes nothing; one past every key leaves nothing.
          assert.deepEqual(await keysOf({ prefix: p + 'd/', startAfter: p + 'a' }), ['d/', 'd/1', 'd/2', 'd/3']);
          assert.deepEqual(await keysOf({ prefix: p + 'd/', startAfter: p + 'd/3' }), []);
          assert.deepEqual(await keysOf({ prefix: p + 'd/', startAfter: p + 'z' }), []);
          // Without a prefix: every key after startAfter, which may belong to other tests.
          const rest = await list({ startAfter: p + 'd0', limit: 2 });
          assert.equal(rest[0]?.key, p + 'e');
          assert.ok(rest.length <= 2);
          if (rest[1] !== undefined) assert.ok(byteOrder(rest[1].key, p + 'e') > 0);
        });
      });

      it('answers at most limit keys; limit 0 answers none; a bad limit is INVALID_KEY', async () => {
        await withStore(async (s) => {
          const p = k('list-limit/');
          for (let i = 0; i < 5; i++) await s.add(loc(`${p}${i}`, 'b1', t0));
          const list = lister(s.store);
          assert.deepEqual((await list({ prefix: p, limit: 1 })).map((o) => o.key), [`${p}0`]);
          assert.equal((await list({ prefix: p, limit: 3 })).length, 3);
          assert.equal((await list({ prefix: p, limit: 5 })).length, 5);
          assert.equal((await list({ prefix: p, limit: 50 })).length, 5);
          assert.deepEqual(await list({ prefix: p, limit: 0 }), []);
          for (const limit of [-1, 1.5, Number.NaN, Infinity]) {
            await assert.rejects(list({ prefix: p, limit }), (err: unknown) => hasCode(err, 'INVALID_KEY'), String(limit));
          }
          await assert.rejects(list({ prefix: 5 as unknown as string, limit: 1 }), (err: unknown) => hasCode(err, 'INVALID_KEY'));
        });
      });

      it('walks a few hundred keys in pages of 7: each key once, in order', async () => {
        await withStore(async (s) => {
          const p = k('list-walk/');
          const alphabet = ['a', 'Z', '0', '-', '/', 'é', '日', '😀', '\ufffd', ' ', '%', '_'];
          const keys: string[] = [];
          for (let i = 0; i < 300; i++) {
            const a = alphabet[i % alphabet.length] as string;
            const b = alphabet[(i * 7) % alphabet.length] as string;
            keys.push(`${p}${a}${b}${i}`);
          }
          for (const [i, key] of keys.entries()) {
            await s.add(loc(key, 'b1', at(i)));
            if (i % 3 === 0) await s.add(loc(key, 'b2', at(i + 1)));
            if (i % 5 === 0) await s.add(loc(key, 'b0', at(i - 1)));
          }
          // A neighbour just past the prefix must not leak into the walk.
          await s.add(loc(k('list-walk0'), 'b1', t0));
          const pages: number[] = [];
          const walked = await listAll(s.store, p, 7, pages);
          assert.deepEqual(walked, [...keys].sort(byteOrder));
          assert.equal(new Set(walked).size, 300);
          assert.deepEqual(pages, [...Array<number>(42).fill(7), 6]);
        });
      });

      it('lists an object with several copies once, with its first copy by createdAt', async () => {
        await withStore(async (s) => {
          const p = k('list-copies/');
          await s.add(loc(p + 'k', 'b1', at(2000), { sizeBytes: 10 }));
          await s.add(loc(p + 'k', 'b2', at(1000), { sizeBytes: 20 }));
          await s.add(loc(p + 'k', 'b3', at(3000), { sizeBytes: 30 }));
          await s.add(loc(p + 'm', 'a9', at(5), { sizeBytes: 5 }));
          await s.add(loc(p + 'm', 'a1', at(6), { sizeBytes: 6 }));
          const listed = await lister(s.store)({ prefix: p, limit: 10 });
          assert.deepEqual(listed.map((o) => [o.key, o.size, o.lastModified.getTime()]), [
            [p + 'k', 20, at(1000).getTime()],
            [p + 'm', 5, at(5).getTime()],
          ]);
          for (const o of listed) {
            assert.ok(o.lastModified instanceof Date);
            assert.equal(o.etag, undefined);
          }
        });
      });

      it('lists the plaintext size of an encrypted first copy, and keeps large sizes exact', async () => {
        await withStore(async (s) => {
          const p = k('list-enc/');
          const big = 5 * 2 ** 40 + 3;
          await s.add(loc(p + 'enc', 'b1', t0, { encrypted: true, encryptionKey: new Uint8Array([1]), keyId: 'k1', plaintextSize: 7, sizeBytes: 35 }));
          await s.add(loc(p + 'enc', 'b2', at(1), { sizeBytes: 7 }));
          await s.add(loc(p + 'enc-big', 'b1', t0, { encrypted: true, plaintextSize: big - 28, sizeBytes: big }));
          await s.add(loc(p + 'enc-nosize', 'b1', t0, { encrypted: true, plaintextSize: null, sizeBytes: 99 }));
          await s.add(loc(p + 'plain', 'b1', t0, { encrypted: false, plaintextSize: 3, sizeBytes: 4 }));
          await s.add(loc(p + 'plain-then-enc', 'b1', t0, { sizeBytes: 12 }));
          await s.add(loc(p + 'plain-then-enc', 'b2', at(1), { encrypted: true, plaintextSize: 12, sizeBytes: 40 }));
          const listed = await lister(s.store)({ prefix: p, limit: 10 });
          assert.deepEqual(listed.map((o) => [o.key.slice(p.length), o.size]), [
            ['enc', 7],
            ['enc-big', big - 28],
            ['enc-nosize', 99],
            ['plain', 4],
            ['plain-then-enc', 12],
          ]);
        });
      });

      it('answers an empty page for a prefix without keys', async () => {
        await withStore(async (s) => {
          await s.add(loc(k('list-empty/a'), 'b1', t0));
          assert.deepEqual(await lister(s.store)({ prefix: k('list-empty/b'), limit: 10 }), []);
          assert.deepEqual(await lister(s.store)({ prefix: k('list-empty/a/'), limit: 10 }), []);
        });
      });

      it('rejects with ABORTED when the signal is already aborted', async () => {
        await withStore(async (s) => {
          const p = k('list-aborted/');
          await s.add(loc(p + 'a', 'b1', t0));
          const ac = new AbortController();
          ac.abort(new Error('caller gone'));
          await assert.rejects(lister(s.store)({ prefix: p, limit: 10, signal: ac.signal }), (err: unknown) => hasCode(err, 'ABORTED'));
          assert.equal((await lister(s.store)({ prefix: p, limit: 10, signal: new AbortController().signal })).length, 1);
        });
      });
    });
  });
}
