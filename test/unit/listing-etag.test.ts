/**
 * A listing's ETag is the one a read reports, for every kind of row: plain, encrypted and
 * compressed, with and without upstream's `etag` and a content_hash (MemoryMetadataStore's
 * listKeys against objectHead, which every GET and HEAD probe answers through).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { objectHead } from '../../src/probe/answer.js';
import type { ObjectLocation } from '../../src/types.js';

const HASH = 'ab'.repeat(32);
const BACKEND_ETAG = '"0123456789abcdef0123456789abcdef"';

describe('listing ETags agree with reads', () => {
  const base = { backendName: 'b1', sizeBytes: 100, createdAt: new Date(1), encrypted: false, contentHash: HASH };
  const rows: [string, ObjectLocation, string | undefined][] = [
    ['plain, hashed', { ...base, objectKey: 'k/plain' }, `"${HASH.slice(0, 32)}-1"`],
    ['plain, row ETag', { ...base, objectKey: 'k/tagged', etag: '"feed"' }, '"feed"'],
    ['encrypted, hashed', { ...base, objectKey: 'k/enc', encrypted: true, plaintextSize: 60 }, `"${HASH.slice(0, 32)}-1"`],
    ['compressed, hashed', { ...base, objectKey: 'k/zst', compression: 'zstd', logicalSize: 300 }, `"${HASH.slice(0, 32)}-1"`],
    ['plain, no hash', { ...base, objectKey: 'k/legacy', contentHash: null }, undefined],
  ];

  it('each kind of row: the listed ETag is the read\'s, with no backend asked; a row with neither etag nor hash lists none (only a backend knows it)', async () => {
    const store = new MemoryMetadataStore();
    for (const [, r] of rows) store.add(r);
    const listed = new Map((await store.listKeys({ prefix: 'k/', limit: 10 })).map((o) => [o.key, o.etag]));
    for (const [what, r, want] of rows) {
      assert.equal(listed.get(r.objectKey), want, what);
      const read = objectHead({ etag: BACKEND_ETAG }, r).etag;
      assert.equal(read, want ?? BACKEND_ETAG, what);
    }
  });

  it('an encrypted or compressed row with neither: reads report the stored bytes\' digest in the multipart form, never as an MD5 of the body', () => {
    for (const r of [{ ...base, objectKey: 'e', encrypted: true, plaintextSize: 60, contentHash: null }, { ...base, objectKey: 'z', compression: 'zstd', logicalSize: 300, contentHash: null }]) {
      assert.equal(objectHead({ etag: BACKEND_ETAG }, r).etag, '"0123456789abcdef0123456789abcdef-1"');
    }
  });
});
