/**
 * The decryptor against known answers produced by Python's `cryptography` (vectors.json), the
 * test encoder over random sizes, ranges and chunk sizes, and every way a copy can be wrong.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ChunkDecryptor } from '../../src/encryption/chunk-decryptor.js';
import { planCipherRead, type EncryptedCopy } from '../../src/encryption/cipher-read.js';
import {
  EncryptedStartSniffer,
  cipherSpanFor, ciphertextSize, decryptFailureKind, parseHeader, plaintextSizeOf, type DecryptFailureKind,
} from '../../src/encryption/format.js';
import { KeyRing } from '../../src/encryption/key-ring.js';
import type { EncryptionSettings } from '../../src/encryption/settings.js';
import { resolveRange } from '../../src/ranges/byte-range.js';
import { hasCode } from '../../src/errors.js';
import {
  encryptForRow, encryptObject, fixturePlaintext, flipByte, loadVectors, swapChunks, truncate, chunkOffset,
} from '../helpers/senc-encoder.js';
import { fcParams } from '../helpers/property-params.js';

const file = loadVectors();
const MASTER = Buffer.from(file.keys.masterKey, 'hex');

function settings(keys: { id: string; key: Uint8Array }[]): EncryptionSettings {
  return { localKeys: keys, vault: null, keyCacheMaxEntries: 100, keyCacheTtlMs: 60_000 };
}

/** Feed `cipher` to `d` in pieces of random sizes; the plaintext it delivers. */
function decryptAll(d: ChunkDecryptor, cipher: Uint8Array, pieces = 7): Buffer {
  const out: Buffer[] = [];
  const sink = (b: Buffer): void => {
    out.push(Buffer.from(b));
  };
  let at = 0;
  while (at < cipher.length) {
    const n = Math.max(1, Math.min(cipher.length - at, Math.floor(Math.random() * (cipher.length / pieces + 40))));
    d.push(cipher.subarray(at, at + n), sink);
    at += n;
  }
  d.end(sink);
  return Buffer.concat(out);
}

function failsWith(kind: DecryptFailureKind, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(hasCode(err, 'DECRYPTION_FAILED'), String(err));
    assert.equal(decryptFailureKind(err), kind, String(err));
    return true;
  });
}

async function rejectsWith(kind: DecryptFailureKind, p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(hasCode(err, 'DECRYPTION_FAILED'), String(err));
    assert.equal(decryptFailureKind(err), kind, String(err));
    return true;
  });
}

function cipherOf(v: (typeof file.vectors)[number]): Buffer {
  if (v.ciphertext !== undefined) return Buffer.from(v.ciphertext, 'hex');
  const c = encryptObject(fixturePlaintext(v.plaintext), { dek: Buffer.from(v.dek, 'hex'), baseNonce: Buffer.from(v.baseNonce, 'hex'), chunkSize: v.chunkSize });
  // The encoder is checked against these digests (senc-encoder.test.ts); checked again here.
  assert.equal(createHash('sha256').update(c).digest('hex'), v.ciphertextSha256);
  return c;
}

describe('known answers (Python cryptography)', () => {
  for (const v of file.vectors) {
    it(`${v.id}: the key column unwraps to the DEK and the object decrypts to the plaintext`, async () => {
      const ring = new KeyRing(settings([{ id: 'config-0', key: MASTER }]));
      const col = Buffer.from(v.keyWrap.encryptionKeyColumn, 'hex');
      const copy: EncryptedCopy = { backend: 'b1', key: v.id, sizeBytes: v.ciphertextSize, plaintextSize: v.plaintextSize, encryptionKey: col, keyId: v.keyWrap.keyId };
      const cipher = cipherOf(v);
      const plan = await planCipherRead(copy, ring, 0, v.plaintextSize - 1, () => assert.fail('a whole read needs no header read'));
      assert.equal(plan.range, undefined);
      assert.equal(plan.cipherBytes, v.ciphertextSize);
      const plain = decryptAll(plan.decryptor, cipher);
      assert.equal(plain.length, v.plaintextSize);
      assert.equal(createHash('sha256').update(plain).digest('hex'), v.plaintextSha256);
      assert.ok(plain.equals(fixturePlaintext(v.plaintext)));
      assert.equal(ciphertextSize(v.plaintextSize, v.chunkSize), v.ciphertextSize);
      assert.equal(plaintextSizeOf(v.ciphertextSize, v.chunkSize), v.plaintextSize);
      assert.equal(parseHeader(Buffer.from(v.header, 'hex'), 'x').chunkSize, v.chunkSize);
      await ring.close();
    });
  }

  for (const r of file.ranges) {
    it(`${r.object} ${r.range}: ${r.status === 416 ? '416' : r.status === 200 ? 'empty' : r.ciphertextRange}`, async () => {
      const v = file.vectors.find((x) => x.id === r.object);
      assert.ok(v !== undefined);
      if (r.status === 416) {
        assert.throws(() => resolveRange(r.range, r.plaintextSize, r.object), (e: unknown) => hasCode(e, 'RANGE_NOT_SATISFIABLE'));
        return;
      }
      const span = resolveRange(r.range, r.plaintextSize, r.object);
      assert.deepEqual([span.start, span.end], [r.first, r.last]);
      // A suffix of an empty object: all of it, nothing — no chunk to plan.
      if (r.status === 200) return;
      const s = cipherSpanFor(span.start, span.end, r.plaintextSize, r.chunkSize);
      assert.deepEqual([s.start, s.end, s.firstChunk, s.skip, s.take], [r.ciphertextFirst, r.ciphertextLast, r.firstChunk, r.skip, r.length]);
      const cipher = cipherOf(v);
      const ring = new KeyRing(settings([{ id: 'config-0', key: MASTER }]));
      const copy: EncryptedCopy = { backend: 'b1', key: v.id, sizeBytes: v.ciphertextSize, plaintextSize: v.plaintextSize, encryptionKey: Buffer.from(v.keyWrap.encryptionKeyColumn, 'hex'), keyId: 'config-0' };
      let headerReads = 0;
      const readHeader = async (): Promise<Uint8Array> => {
        headerReads++;
        return cipher.subarray(0, 32);
      };
      const plan = await planCipherRead(copy, ring, span.start, span.end, readHeader);
      const whole = span.start === 0 && span.end === r.plaintextSize - 1;
      assert.equal(plan.range, whole ? undefined : r.ciphertextRange);
      const piece = whole ? cipher : cipher.subarray(r.ciphertextFirst, r.ciphertextLast + 1);
      const plain = decryptAll(plan.decryptor, piece);
      assert.equal(createHash('sha256').update(plain).digest('hex'), r.plaintextSha256);
      // The chunk size is remembered per copy: a second range reads no header.
      await planCipherRead(copy, ring, span.start, span.end, readHeader);
      assert.equal(headerReads, whole ? 0 : 1);
      await ring.close();
    });
  }
});

describe('encoder ↔ decoder', () => {
  it('random sizes, chunk sizes, ranges and piece sizes decrypt to the exact plaintext', async () => {
    const master = randomBytes(32);
    const ring = new KeyRing(settings([{ id: 'config-0', key: master }]));
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(16, 100, 4096, 65536),
      fc.integer({ min: 0, max: 200_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 40 }),
      async (cs, size, a, b, pieces) => {
        const plain = randomBytes(size);
        const row = encryptForRow(plain, { masterKey: master, chunkSize: cs });
        assert.equal(row.sizeBytes, ciphertextSize(size, cs));
        const copy: EncryptedCopy = { backend: 'b', key: `k${cs}-${size}`, sizeBytes: row.sizeBytes, plaintextSize: size, encryptionKey: row.encryptionKey, keyId: row.keyId };
        const whole = await planCipherRead(copy, ring, 0, size - 1, () => assert.fail('no header read'));
        assert.ok(decryptAll(whole.decryptor, row.body, pieces).equals(plain));
        if (size === 0) return;
        // a or b of exactly 1 lands on `size`, one past the last byte.
        let start = Math.min(Math.floor(a * size), size - 1);
        let end = Math.min(Math.floor(b * size), size - 1);
        if (end < start) [start, end] = [end, start];
        const plan = await planCipherRead(copy, ring, start, end, async () => row.body.subarray(0, 32));
        const m = /^bytes=(\d+)-(\d+)$/.exec(plan.range ?? `bytes=0-${row.sizeBytes - 1}`);
        assert.ok(m !== null);
        const piece = row.body.subarray(Number(m[1]), Number(m[2]) + 1);
        assert.equal(piece.length, plan.cipherBytes);
        assert.ok(decryptAll(plan.decryptor, piece, pieces).equals(plain.subarray(start, end + 1)));
      },
    ), fcParams(120));
    await ring.close();
  });
});

describe('what a decryptor refuses', () => {
  const cs = 4096;
  const master = randomBytes(32);
  const plain = randomBytes(3 * cs + 100);
  const row = encryptForRow(plain, { masterKey: master, chunkSize: cs });
  const dek = row.dek;
  const whole = (): ChunkDecryptor => new ChunkDecryptor({ dek, baseNonce: row.baseNonce, header: true, take: plain.length, where: 'b1: k' });

  it('a bad magic, a version other than 1, chunk size 0 or over 1 MiB', () => {
    failsWith('header', () => decryptAll(whole(), flipByte(row.body, 0)));
    const v2 = Buffer.from(row.body);
    v2[4] = 2;
    failsWith('header', () => decryptAll(whole(), v2));
    const zero = Buffer.from(row.body);
    zero.writeUInt32BE(0, 5);
    failsWith('header', () => decryptAll(whole(), zero));
    const huge = Buffer.from(row.body);
    huge.writeUInt32BE(2 * 1024 * 1024, 5);
    failsWith('header', () => decryptAll(whole(), huge));
    failsWith('header', () => decryptAll(whole(), row.body.subarray(0, 20)));
  });

  it("a header whose base nonce is not the row's", () => {
    failsWith('header', () => decryptAll(whole(), flipByte(row.body, 12)));
  });

  it('swapped chunks fail their nonce check', () => {
    failsWith('nonce', () => decryptAll(whole(), swapChunks(row.body, cs, 0, 1)));
  });

  it('a flipped tag bit or ciphertext bit fails authentication, and no plaintext of that chunk is handed on', () => {
    const tagByte = chunkOffset(cs, 1) + 12 + cs + 3;
    const got: Buffer[] = [];
    const d = whole();
    assert.throws(() => d.push(flipByte(row.body, tagByte, 0x80), (b) => got.push(Buffer.from(b))), (e: unknown) => decryptFailureKind(e) === 'tag');
    assert.equal(Buffer.concat(got).length, cs, 'only chunk 0 was delivered');
    failsWith('tag', () => decryptAll(whole(), flipByte(row.body, chunkOffset(cs, 2) + 40)));
  });

  it('truncation at a chunk boundary, mid-chunk, or into a chunk\'s last 28 bytes', () => {
    failsWith('length', () => decryptAll(whole(), truncate(row.body, chunkOffset(cs, 3))));
    failsWith('tag', () => decryptAll(whole(), truncate(row.body, -5)));
    failsWith('length', () => decryptAll(whole(), truncate(row.body, chunkOffset(cs, 3) + 20)));
  });

  it("a row whose plaintext_size disagrees with size_bytes: refused at the header, never read as a shorter or longer object", async () => {
    const ring = new KeyRing(settings([{ id: 'config-0', key: master }]));
    const copy: EncryptedCopy = { backend: 'b1', key: 'k', sizeBytes: row.sizeBytes, plaintextSize: plain.length, encryptionKey: row.encryptionKey, keyId: 'config-0' };
    for (const wrongPlain of [plain.length - 100, cs, plain.length + 1]) {
      const bad = { ...copy, plaintextSize: wrongPlain };
      // A whole read: the decryptor learns the chunk size from the header, before any plaintext.
      const whole = await planCipherRead(bad, ring, 0, wrongPlain - 1, () => assert.fail('a whole read needs no header read'));
      const got: Buffer[] = [];
      assert.throws(() => {
        whole.decryptor.push(row.body, (b) => got.push(b));
        whole.decryptor.end((b) => got.push(b));
      }, (e: unknown) => decryptFailureKind(e) === 'length' && /size_bytes and plaintext_size disagree/.test(String(e)));
      assert.equal(got.length, 0, `${wrongPlain}: no plaintext handed on`);
      // A range: refused once the chunk size is known, before any request for the span.
      await rejectsWith('length', planCipherRead(bad, ring, 10, 20, async () => row.body.subarray(0, 32)));
    }
    const good = await planCipherRead(copy, ring, 10, 20, async () => row.body.subarray(0, 32));
    assert.equal(good.cipherBytes, 12 + 4096 + 16, 'the consistent row still reads');
    await ring.close();
  });

  it('a chunk arriving after the plaintext asked for is refused, not dropped', () => {
    const d = new ChunkDecryptor({ dek, baseNonce: row.baseNonce, header: true, take: cs, where: 'b1: k' });
    failsWith('length', () => decryptAll(d, row.body));
  });

  it('a wrong master key, an unknown key id, key data too short', async () => {
    const copy: EncryptedCopy = { backend: 'b1', key: 'k', sizeBytes: row.sizeBytes, plaintextSize: plain.length, encryptionKey: row.encryptionKey, keyId: 'config-0' };
    const wrong = new KeyRing(settings([{ id: 'config-0', key: randomBytes(32) }]));
    await rejectsWith('unwrap', planCipherRead(copy, wrong, 0, 10, async () => row.body.subarray(0, 32)));
    await rejectsWith('unknown_key', planCipherRead({ ...copy, keyId: 'kms-7' }, wrong, 0, 10, async () => row.body.subarray(0, 32)));
    await rejectsWith('key_data', planCipherRead({ ...copy, encryptionKey: row.encryptionKey.subarray(0, 12) }, wrong, 0, 10, async () => row.body.subarray(0, 32)));
    await rejectsWith('key_data', planCipherRead({ ...copy, plaintextSize: null }, wrong, 0, 10, async () => row.body.subarray(0, 32)));
    await wrong.close();
  });

  it('a data key of another object fails the first chunk\'s tag', () => {
    const other = encryptForRow(plain, { masterKey: master, chunkSize: cs, baseNonce: row.baseNonce });
    failsWith('tag', () => decryptAll(new ChunkDecryptor({ dek: other.dek, baseNonce: row.baseNonce, header: true, where: 'b1: k' }), row.body));
  });
});

describe('key ring', () => {
  it("upstream's rotation: an old object labelled config-0 unwraps with the key now in previous_keys", async () => {
    const oldKey = randomBytes(32);
    const row = encryptForRow(Buffer.from('rotated'), { masterKey: oldKey, keyId: 'config-0' });
    const ring = new KeyRing(settings([{ id: 'config-0', key: randomBytes(32) }, { id: 'config-1', key: oldKey }]));
    const copy: EncryptedCopy = { backend: 'b', key: 'k', sizeBytes: row.sizeBytes, plaintextSize: row.plaintextSize, encryptionKey: row.encryptionKey, keyId: row.keyId };
    const plan = await planCipherRead(copy, ring, 0, row.plaintextSize - 1, () => assert.fail());
    assert.equal(decryptAll(plan.decryptor, row.body).toString(), 'rotated');
    await ring.close();
  });

  it('caches unwrapped keys for their TTL, bounded by entries', async () => {
    let now = 0;
    const master = randomBytes(32);
    const ring = new KeyRing({ localKeys: [{ id: 'config-0', key: master }], vault: null, keyCacheMaxEntries: 2, keyCacheTtlMs: 1000 }, () => now);
    const rows = [1, 2, 3].map((i) => encryptForRow(Buffer.from(`o${i}`), { masterKey: master }));
    const kd = (r: (typeof rows)[number]) => ({ baseNonce: r.baseNonce, wrapped: Buffer.from(r.encryptionKey.subarray(12)), keyId: 'config-0' });
    const a = await ring.dataKey(kd(rows[0]!), 'x');
    assert.equal(await ring.dataKey(kd(rows[0]!), 'x'), a, 'the same Buffer: served from the cache');
    now = 1001;
    assert.notEqual(await ring.dataKey(kd(rows[0]!), 'x'), a, 'expired: unwrapped again');
    const b = await ring.dataKey(kd(rows[1]!), 'x');
    await ring.dataKey(kd(rows[2]!), 'x');
    assert.notEqual(await ring.dataKey(kd(rows[0]!), 'x'), a);
    assert.equal(await ring.dataKey(kd(rows[2]!), 'x') !== undefined, true);
    assert.ok(b.equals(rows[1]!.dek));
    await ring.close();
  });
});

describe('EncryptedStartSniffer: the degraded-mode check of a body\'s first 5 bytes', () => {
  const MAGIC = Buffer.from('SENC\x01', 'latin1');
  const feedAll = (chunks: readonly Buffer[]): boolean[] => {
    const s = new EncryptedStartSniffer();
    return chunks.map((c) => s.feed(c));
  };

  it('finds the magic however the first bytes are split, as soon as the fifth arrives', () => {
    const body = Buffer.concat([MAGIC, Buffer.from('rest of the header')]);
    assert.deepEqual(feedAll([body]), [true]);
    assert.deepEqual(feedAll([body.subarray(0, 1), body.subarray(1)]), [false, true]);
    assert.deepEqual(feedAll([body.subarray(0, 2), body.subarray(2, 5), body.subarray(5)]), [false, true, true]);
    assert.deepEqual(feedAll([...body.subarray(0, 6)].map((b) => Buffer.from([b]))), [false, false, false, false, true, true]);
    assert.deepEqual(feedAll([Buffer.alloc(0), body.subarray(0, 3), Buffer.alloc(0), body.subarray(3, 5)]), [false, false, false, true]);
  });

  it('a plain start, another version byte, or a body shorter than 5 bytes is not refused', () => {
    assert.deepEqual(feedAll([Buffer.from('hello world')]), [false]);
    assert.deepEqual(feedAll([Buffer.from('SENC\x02...', 'latin1')]), [false]);
    assert.deepEqual(feedAll([Buffer.from('SENC')]), [false], 'a prefix of the magic alone');
    assert.deepEqual(feedAll([Buffer.from('SE'), Buffer.from('NC')]), [false, false]);
  });

  it('looks at the first 5 bytes only: the magic later in the body is not a start', () => {
    assert.deepEqual(feedAll([Buffer.from('plain'), MAGIC]), [false, false]);
    assert.deepEqual(feedAll([Buffer.from('pla'), Buffer.concat([Buffer.from('in'), MAGIC])]), [false, false]);
  });
});
