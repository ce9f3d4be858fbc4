import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkListKeysOptions, compareKeys, keyRange, listAllKeys, prefixSuccessor } from '../../src/stores/key-listing.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0);

/** A small deterministic generator (no flakes), for strings over boundary-heavy code points. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const POINTS = [0x01, 0x20, 0x25, 0x2f, 0x41, 0x5c, 0x5f, 0x61, 0x7e, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff,
  0x10000, 0x1f600, 0x10fffe, 0x10ffff];
function randomKey(r: () => number, max = 6): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += String.fromCodePoint(POINTS[Math.floor(r() * POINTS.length)] as number);
  return s;
}

describe('key listing helpers', () => {
  it('compareKeys is UTF-8 byte order', () => {
    const r = rng(1);
    for (let i = 0; i < 20_000; i++) {
      const a = randomKey(r);
      const b = r() < 0.3 ? a + randomKey(r, 2) : randomKey(r);
      assert.equal(sign(compareKeys(a, b)), sign(byteOrder(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
    assert.ok(compareKeys('\uffff', '\u{10000}') < 0);
    assert.ok('\uffff' > '\u{10000}', 'UTF-16 order differs');
  });

  it('prefixSuccessor bounds exactly the keys with the prefix', () => {
    const r = rng(2);
    for (let i = 0; i < 5_000; i++) {
      const prefix = randomKey(r, 4);
      const succ = prefixSuccessor(prefix);
      for (let j = 0; j < 20; j++) {
        const key = r() < 0.5 ? prefix + randomKey(r, 3) : randomKey(r, 5);
        const inRange = compareKeys(key, prefix) >= 0 && (succ === undefined || byteOrder(key, succ) < 0);
        assert.equal(inRange, key.startsWith(prefix), `${JSON.stringify(key)} / prefix ${JSON.stringify(prefix)} / successor ${JSON.stringify(succ)}`);
      }
    }
    assert.equal(prefixSuccessor(''), undefined);
    assert.equal(prefixSuccessor('\u{10ffff}\u{10ffff}'), undefined);
    assert.equal(prefixSuccessor('a\u{10ffff}'), 'b');
    assert.equal(prefixSuccessor('a\ud7ff'), 'a\ue000');
    assert.equal(prefixSuccessor('a\uffff'), 'a\u{10000}');
    assert.equal(prefixSuccessor('a%'), 'a&');
  });

  it('keyRange starts at the prefix or after startAfter, whichever is later', () => {
    assert.deepEqual(keyRange(checkListKeysOptions({ limit: 1 })), { from: '', inclusive: true, to: undefined });
    assert.deepEqual(keyRange(checkListKeysOptions({ prefix: 'b/', limit: 1 })), { from: 'b/', inclusive: true, to: 'b0' });
    assert.deepEqual(keyRange(checkListKeysOptions({ prefix: 'b/', startAfter: 'a', limit: 1 })), { from: 'b/', inclusive: true, to: 'b0' });
    assert.deepEqual(keyRange(checkListKeysOptions({ prefix: 'b/', startAfter: 'b/', limit: 1 })), { from: 'b/', inclusive: false, to: 'b0' });
    assert.deepEqual(keyRange(checkListKeysOptions({ prefix: 'b/', startAfter: 'b/x', limit: 1 })), { from: 'b/x', inclusive: false, to: 'b0' });
    assert.deepEqual(keyRange(checkListKeysOptions({ startAfter: '', limit: 1 })), { from: '', inclusive: false, to: undefined });
  });

  it('checks options and makes lone surrogates U+FFFD, as drivers encode them', () => {
    assert.deepEqual(checkListKeysOptions({ prefix: 'a\ud800', startAfter: '\udc00b', limit: 3 }), { prefix: 'a\ufffd', startAfter: '\ufffdb', limit: 3 });
    assert.deepEqual(checkListKeysOptions({ prefix: '\u{1f600}', limit: 0 }), { prefix: '\u{1f600}', startAfter: undefined, limit: 0 });
    for (const bad of [{ limit: -1 }, { limit: 0.5 }, { limit: Number.NaN }, { prefix: 1, limit: 1 }, { startAfter: null, limit: 1 }, null]) {
      assert.throws(() => checkListKeysOptions(bad as never), (err: unknown) => hasCode(err, 'INVALID_KEY'), JSON.stringify(bad));
    }
  });
});

describe('listAllKeys (ReadPath.keysUnder, batch --prefix)', () => {
  const store = new MemoryMetadataStore();
  const keys = Array.from({ length: 2500 }, (_, i) => `p/${String(i).padStart(5, '0')}`);
  let t = 0;
  // Two copies of each key: the listing gives each key once.
  for (const k of [...keys, 'other/x', 'p', 'q/y']) for (const b of ['b1', 'b2']) store.add({ objectKey: k, backendName: b, sizeBytes: 1, createdAt: new Date(++t), encrypted: false, contentHash: null });

  it('every key under the prefix once, in order, a page at a time as the consumer pulls', async () => {
    const pages: (string | undefined)[] = [];
    const list = (o: Parameters<typeof store.listKeys>[0]) => {
      pages.push(o.startAfter);
      return store.listKeys(o);
    };
    const got: string[] = [];
    const it = listAllKeys(list, 'p/', { pageSize: 1000 });
    for await (const k of it) {
      got.push(k);
      // Lazy: the second page is asked for only once the first is used up.
      if (got.length === 1000) assert.equal(pages.length, 1);
    }
    assert.deepEqual(got, keys);
    assert.deepEqual(pages, [undefined, 'p/00999', 'p/01999']);
    const all: string[] = [];
    for await (const k of listAllKeys(list, '', { pageSize: 7 })) all.push(k);
    assert.deepEqual(all, [...keys, 'other/x', 'p', 'q/y'].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });

  it('an exact multiple of the page size ends with one empty page; a failing page throws to the consumer; a bad page size is refused', async () => {
    const got: string[] = [];
    for await (const k of listAllKeys((o) => store.listKeys(o), 'p/00', { pageSize: 250 })) got.push(k);
    assert.equal(got.length, 1000);
    let n = 0;
    const failing = async (o: Parameters<typeof store.listKeys>[0]) => {
      if (++n === 2) throw new ReadPathError('DB_UNAVAILABLE', 'the database went away');
      return store.listKeys(o);
    };
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const k of listAllKeys(failing, 'p/', { pageSize: 100 })) seen.push(k);
    }, (err: unknown) => err instanceof ReadPathError && err.code === 'DB_UNAVAILABLE');
    assert.equal(seen.length, 100);
    await assert.rejects(listAllKeys((o) => store.listKeys(o), 'p/', { pageSize: 0 }).next(), (err: unknown) => hasCode(err, 'INVALID_CONFIG'));
  });
});
