/**
 * The gateway's listing walk (src/gateway/listing.ts) over a memory store: S3's order, prefixes,
 * delimiters rolling keys up into common prefixes (skipped in the store, not key by key),
 * max-keys, truncation and continuation — every page boundary of a walk checked against a
 * model computed from the sorted key set.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { continuationToken, listPage, parseContinuationToken, type ListKeys, type ListRequest } from '../../src/gateway/listing.js';
import { fcParams } from '../helpers/property-params.js';
import { MAX_KEY_BYTES } from '../../src/engine/keys.js';

function storeWith(keys: string[]): { list: ListKeys; queries: () => number } {
  const s = new MemoryMetadataStore();
  let t = 0;
  for (const k of keys) s.add({ objectKey: k, backendName: 'b1', sizeBytes: k.length, createdAt: new Date(++t), encrypted: false, contentHash: null });
  let n = 0;
  return {
    list: (o) => {
      n++;
      return s.listKeys(o);
    },
    queries: () => n,
  };
}

/** What S3 answers for the whole listing, as one sequence of entries. */
function model(keys: string[], bucket: string, prefix: string, delimiter: string | undefined): { entry: string; prefix: boolean }[] {
  const rel = [...new Set(keys.filter((k) => k.startsWith(`${bucket}/${prefix}`)).map((k) => k.slice(bucket.length + 1)))]
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: { entry: string; prefix: boolean }[] = [];
  for (const k of rel) {
    const at = delimiter === undefined ? -1 : k.indexOf(delimiter, prefix.length);
    if (at >= 0 && delimiter !== undefined) {
      const cp = k.slice(0, at + delimiter.length);
      if (out[out.length - 1]?.entry !== cp) out.push({ entry: cp, prefix: true });
    } else {
      out.push({ entry: k, prefix: false });
    }
  }
  return out;
}

/** Walk every page as a client would, by continuation. */
async function walk(list: ListKeys, base: Omit<ListRequest, 'after' | 'afterPrefix'>): Promise<{ entries: { entry: string; prefix: boolean }[]; pages: number }> {
  const entries: { entry: string; prefix: boolean }[] = [];
  let next: { after: string; prefix: boolean } | undefined;
  let pages = 0;
  for (;;) {
    const r = await listPage(list, { ...base, after: next?.after, afterPrefix: next?.prefix ?? false });
    // No listing here has 100 entries: a walk past that many pages goes round in circles.
    assert.ok(++pages <= 100, 'the walk by continuation ends');
    // Contents and common prefixes come back apart; merged in order they are the model's sequence.
    const page = [...r.contents.map((c) => ({ entry: c.key, prefix: false })), ...r.commonPrefixes.map((p) => ({ entry: p, prefix: true }))]
      .sort((a, b) => Buffer.compare(Buffer.from(a.entry), Buffer.from(b.entry)));
    assert.ok(page.length <= base.maxKeys);
    entries.push(...page);
    if (!r.truncated) return { entries, pages };
    assert.ok(r.next !== undefined);
    next = parseContinuationToken(continuationToken(r.next));
  }
}

describe('gateway listing', () => {
  const keys = [
    'photos/a.txt', 'photos/dir/b.txt', 'photos/dir/c.txt', 'photos/dir/sub/d.txt', 'photos/dir2/e', 'photos/sp ace+plus~',
    'photos/ünï', 'photos/z', 'other/x', 'photosx/y', 'photos/%_\\',
  ];

  it('rolls keys up into common prefixes, in S3 order, with one store query per common prefix at most', async () => {
    const { list, queries } = storeWith(keys);
    const r = await listPage(list, { bucket: 'photos', prefix: '', delimiter: '/', maxKeys: 1000, after: undefined, afterPrefix: false, encodeUrl: false });
    assert.deepEqual(r.contents.map((c) => c.key), ['%_\\', 'a.txt', 'sp ace+plus~', 'z', 'ünï']);
    assert.deepEqual(r.commonPrefixes, ['dir/', 'dir2/']);
    assert.equal(r.truncated, false);
    assert.ok(queries() <= 4, `queries: ${queries()}`);
    const sub = await listPage(list, { bucket: 'photos', prefix: 'dir/', delimiter: '/', maxKeys: 1000, after: undefined, afterPrefix: false, encodeUrl: false });
    assert.deepEqual(sub.contents.map((c) => c.key), ['dir/b.txt', 'dir/c.txt']);
    assert.deepEqual(sub.commonPrefixes, ['dir/sub/']);
  });

  it('skips past a common prefix whatever the keys under it hold, up to the longest key (MAX_KEY_BYTES)', async () => {
    // A key made of the largest code point as far as MAX_KEY_BYTES allows still sorts before the skip.
    const top = '\u{10FFFF}';
    const room = MAX_KEY_BYTES - Buffer.byteLength('b/d/');
    const keys = [`b/d/${top.repeat(room / 4 | 0)}`, `b/d/${top.repeat(256)}x`, `b/d/${top.repeat(255)}${'x'.repeat(room - 1020)}`, 'b/e'];
    assert.ok(keys.every((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES));
    const { list } = storeWith(keys);
    for (const maxKeys of [1000, 1]) {
      const got = await walk(list, { bucket: 'b', prefix: '', delimiter: '/', maxKeys, encodeUrl: false });
      assert.deepEqual(got.entries, [{ entry: 'd/', prefix: true }, { entry: 'e', prefix: false }], `max-keys ${maxKeys}`);
    }
  });

  it('max-keys 0 answers an empty, untruncated page; a bad continuation token is refused', async () => {
    const { list } = storeWith(keys);
    const r = await listPage(list, { bucket: 'photos', prefix: '', delimiter: undefined, maxKeys: 0, after: undefined, afterPrefix: false, encodeUrl: false });
    assert.deepEqual([r.contents.length, r.commonPrefixes.length, r.truncated], [0, 0, false]);
    assert.throws(() => parseContinuationToken('not a token!'));
    assert.throws(() => parseContinuationToken(Buffer.from('xabc').toString('base64url')));
  });

  it('any walk by continuation yields exactly the model, page by page', async () => {
    const alphabet = ['a', 'b', '/', 'é', '~', ' ', 'z'];
    const key = fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(key, { minLength: 0, maxLength: 60 }),
      fc.constantFrom('', 'a', 'a/', 'b', 'é'),
      fc.constantFrom(undefined, '/', 'b'),
      fc.integer({ min: 1, max: 7 }),
      async (rels, prefix, delimiter, maxKeys) => {
        const all = [...rels.map((k) => `bk/${k}`), 'bkz/outside', 'a/outside'];
        const { list } = storeWith(all);
        const got = await walk(list, { bucket: 'bk', prefix, delimiter, maxKeys, encodeUrl: false });
        assert.deepEqual(got.entries, model(all, 'bk', prefix, delimiter));
      },
    ), fcParams(150));
  });
});
