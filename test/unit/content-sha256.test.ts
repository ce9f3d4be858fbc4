/**
 * `contentSha256` on head, get and getStream outcomes: the serving copy's stored SHA-256 (what a
 * whole body is verified against), absent when the row has no well-formed one and in degraded
 * mode, where no row is read.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/probe/probes.js';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';

describe('contentSha256 on outcomes', () => {
  it('head, get, a ranged get and getStream carry the stored hash; the copy that failed over to reports its own row', async () => {
    const m = await openMemoryReadPath(2);
    try {
      m.seed('a.txt', 'alpha');
      const want = sha256Hex(new TextEncoder().encode('alpha'));
      assert.equal((await m.rp.head('a.txt')).contentSha256, want);
      assert.equal((await m.rp.get('a.txt')).contentSha256, want);
      assert.equal((await m.rp.get('a.txt', { range: 'bytes=0-1' })).contentSha256, want, 'the object\'s hash, whatever part was read');
      const s = await m.rp.getStream('a.txt');
      for await (const _ of s.body) { /* drain */ }
      assert.equal(s.contentSha256, want);
      // The first copy is gone: the second one serves, with its row's hash.
      m.backend('b1').delete('a.txt');
      const h = await m.rp.head('a.txt');
      assert.equal(h.backend, 'b2');
      assert.equal(h.contentSha256, want);
    } finally {
      await m.rp.close();
    }
  });

  it('absent for a row without content_hash or with a malformed one, and in degraded mode', async () => {
    const m = await openMemoryReadPath(2);
    try {
      const bytes = new TextEncoder().encode('no hash');
      m.backend('b1').put('none.txt', bytes);
      m.store.add({ objectKey: 'none.txt', backendName: 'b1', sizeBytes: bytes.length, createdAt: new Date(1), encrypted: false, contentHash: null });
      m.backend('b1').put('odd.txt', bytes);
      m.store.add({ objectKey: 'odd.txt', backendName: 'b1', sizeBytes: bytes.length, createdAt: new Date(2), encrypted: false, contentHash: 'not-a-sha256' });
      const none = await m.rp.head('none.txt');
      assert.equal(none.contentSha256, undefined);
      assert.equal('contentSha256' in none, false, 'the field stays absent');
      assert.equal((await m.rp.head('odd.txt')).contentSha256, undefined);
      m.seed('a.txt', 'alpha');
      m.store.setAvailable(false);
      const d = await m.rp.get('a.txt');
      assert.equal(d.degraded, true);
      assert.equal(d.contentSha256, undefined);
    } finally {
      await m.rp.close();
    }
  });
});
