/**
 * DigestThread (src/streams/digest-thread.ts): digests of bytes in shared memory computed on a
 * worker thread, the same as node:crypto's here; small or unshared inputs hashed on the caller's
 * thread; a thread that cannot compute one falls back; close() rejects what is pending; the lazy
 * form starts no thread for small bodies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { DigestThread, lazyDigestThread, type DigestAlgorithm } from '../../src/streams/digest-thread.js';
import { runTsChild } from '../helpers/run-ts-child.js';

function shared(n: number): Buffer {
  return randomFillSync(Buffer.from(new SharedArrayBuffer(n)));
}

const hex = (algorithm: DigestAlgorithm, b: Uint8Array): string => createHash(algorithm).update(b).digest('hex');

test('SHA-256 and MD5 of a region of shared memory, computed by the thread, match node:crypto', async () => {
  const t = DigestThread.start({ minBytes: 1024 });
  try {
    const mem = shared(3 * 65536 + 11);
    const region = mem.subarray(4097, 4097 + 2 * 65536);
    assert.equal(await t.digest('sha256', region), hex('sha256', region));
    assert.equal(await t.digest('md5', region), hex('md5', region));
    // Many at once, answered each to its own caller.
    const parts = Array.from({ length: 12 }, (_, i) => mem.subarray(i * 1000, i * 1000 + 50_000));
    assert.deepEqual(await Promise.all(parts.map((p) => t.digest('sha256', p))), parts.map((p) => hex('sha256', p)));
    assert.equal(t.answered, 14);
  } finally {
    await t.close();
  }
});

test('inputs under minBytes, or not in shared memory, are hashed on the calling thread', async () => {
  const t = DigestThread.start({ minBytes: 4096 });
  try {
    const small = shared(4095);
    const plain = randomFillSync(Buffer.alloc(100_000));
    assert.equal(await t.digest('sha256', small), hex('sha256', small));
    assert.equal(await t.digest('sha256', plain), hex('sha256', plain));
    assert.equal(t.answered, 0);
    assert.equal(DigestThread.wouldTake(shared(4096), 4096), true);
    assert.equal(DigestThread.wouldTake(plain, 4096), false);
  } finally {
    await t.close();
  }
});

test('a digest the thread cannot compute is computed here; one nobody can is a rejection, not a hang', async () => {
  const t = DigestThread.start({ minBytes: 1 });
  try {
    await assert.rejects(t.digest('no-such-hash' as DigestAlgorithm, shared(10)), /digest thread/);
    const b = shared(1000);
    assert.equal(await t.digest('sha256', b), hex('sha256', b), 'the thread still answers after that');
  } finally {
    await t.close();
  }
});

test('close() ends the thread: digests pending, and later ones, are computed on the calling thread', async () => {
  const t = DigestThread.start({ minBytes: 1 });
  const big = shared(8 * 1024 * 1024);
  const pending = t.digest('sha256', big);
  await t.close();
  assert.equal(await pending, hex('sha256', big));
  const b = shared(1000);
  assert.equal(await t.digest('sha256', b), hex('sha256', b));
});

test('the lazy thread starts only for an input worth handing over', async () => {
  const lazy = lazyDigestThread();
  try {
    const small = shared(1000);
    assert.equal(await lazy.digest('sha256', small), hex('sha256', small));
    const plain = randomFillSync(Buffer.alloc(1 << 20));
    assert.equal(await lazy.digest('sha256', plain), hex('sha256', plain));
    assert.equal(lazy.thread, undefined, 'no thread for a small or unshared body');
    const big = shared(1 << 20);
    assert.equal(await lazy.digest('sha256', big), hex('sha256', big));
    assert.equal((lazy.thread as DigestThread | undefined)?.answered, 1);
  } finally {
    await lazy.close();
  }
});

test('a digest thread started and never used (or never closed) does not keep its process alive', async () => {
  // The child ends only if nothing holds its event loop; runTsChild rejects when it is killed at the bound.
  const out = await runTsChild('test/helpers/digest-thread-idle-child.ts', { timeoutMs: 30_000 });
  assert.equal(out.trim(), 'started');
});
