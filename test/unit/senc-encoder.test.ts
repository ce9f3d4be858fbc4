/**
 * The test encoder (test/helpers/senc-encoder.ts) against the known-answer vectors written by
 * test/fixtures/encryption/generate_vectors.py with Python's `cryptography` package: byte for
 * byte where the ciphertext is stored, by SHA-256/MD5 otherwise, key wrapping included. The
 * range vectors are checked to be sufficient by decrypting exactly the ciphertext they name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import {
  SENC_CHUNK_OVERHEAD, SENC_HEADER_SIZE, chunkNonce, chunkOffset, ciphertextSize, encryptForRow, encryptForVaultRow,
  encryptObject, encryptionKeyColumn, fixturePlaintext, flipByte, loadVectors, sencHeader, swapChunks, truncate, wrapDek,
} from '../helpers/senc-encoder.js';

const file = loadVectors();
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A deliberately plain chunk decryptor, independent of src/encryption, for round trips here. */
function decryptChunks(slice: Uint8Array, dek: Uint8Array, baseNonce: Uint8Array, cs: number, firstIndex = 0): Buffer {
  const out: Buffer[] = [];
  for (let pos = 0, i = firstIndex; pos < slice.length; pos += cs + SENC_CHUNK_OVERHEAD, i++) {
    const chunk = slice.subarray(pos, pos + cs + SENC_CHUNK_OVERHEAD);
    assert.deepEqual(Buffer.from(chunk.subarray(0, 12)), chunkNonce(baseNonce, i), `nonce of chunk ${i}`);
    const d = createDecipheriv('aes-256-gcm', dek, chunk.subarray(0, 12));
    d.setAuthTag(chunk.subarray(chunk.length - 16));
    out.push(d.update(chunk.subarray(12, chunk.length - 16)), d.final());
  }
  return Buffer.concat(out);
}

test('the vector file covers the promised shapes', () => {
  for (const cs of [4096, 65536]) {
    const sizes = file.vectors.filter((v) => v.chunkSize === cs).map((v) => v.plaintextSize);
    assert.deepEqual(sizes, [0, 1, cs - 1, cs, cs + 1, 3 * cs + 17]);
  }
  assert.ok(file.vectors.some((v) => v.chunkCount > 256), 'a vector with chunk indices past 255');
  assert.ok(file.ranges.some((r) => r.status === 416) && file.ranges.some((r) => r.status === 206));
});

for (const v of file.vectors) {
  test(`${v.id}: encryptObject reproduces the Python vector`, () => {
    const plaintext = fixturePlaintext(v.plaintext);
    assert.equal(plaintext.length, v.plaintextSize);
    assert.equal(sha256(plaintext), v.plaintextSha256, 'regenerated plaintext');

    const body = encryptObject(plaintext, { dek: hex(v.dek), baseNonce: hex(v.baseNonce), chunkSize: v.chunkSize });
    assert.equal(body.subarray(0, SENC_HEADER_SIZE).toString('hex'), v.header);
    assert.equal(body.length, v.ciphertextSize);
    assert.equal(ciphertextSize(v.plaintextSize, v.chunkSize), v.ciphertextSize);
    if (v.ciphertext !== undefined) assert.equal(body.toString('hex'), v.ciphertext);
    assert.equal(sha256(body), v.ciphertextSha256);
    assert.equal(createHash('md5').update(body).digest('hex'), v.ciphertextMd5);
    assert.deepEqual(decryptChunks(body.subarray(SENC_HEADER_SIZE), hex(v.dek), hex(v.baseNonce), v.chunkSize), plaintext);
  });

  test(`${v.id}: key wrapping and the encryption_key column match`, () => {
    const w = v.keyWrap;
    assert.deepEqual(Buffer.from(w.masterKeyBase64, 'base64'), hex(w.masterKey));
    const wrapped = wrapDek(hex(v.dek), hex(w.masterKey), hex(w.wrapNonce));
    assert.equal(wrapped.length, 60);
    assert.equal(wrapped.toString('hex'), w.wrapped);
    const column = encryptionKeyColumn(hex(v.baseNonce), wrapped);
    assert.equal(column.length, 72);
    assert.equal(column.toString('hex'), w.encryptionKeyColumn);

    const row = encryptForRow(fixturePlaintext(v.plaintext), {
      masterKey: Buffer.from(w.masterKeyBase64, 'base64'), chunkSize: v.chunkSize,
      dek: hex(v.dek), baseNonce: hex(v.baseNonce), wrapNonce: hex(w.wrapNonce),
    });
    assert.equal(row.keyId, w.keyId);
    assert.equal(Buffer.from(row.encryptionKey).toString('hex'), w.encryptionKeyColumn);
    assert.equal(sha256(row.body), v.ciphertextSha256);
    assert.equal(row.sizeBytes, v.ciphertextSize);
    assert.equal(row.plaintextSize, v.plaintextSize);
    assert.equal(row.contentHash, v.plaintextSha256);
  });
}

test('range vectors: arithmetic agrees with ENCRYPTION.md and the named bytes decrypt to the range', () => {
  const bodies = new Map(file.vectors.map((v) => [v.id, v]));
  for (const r of file.ranges) {
    const v = bodies.get(r.object)!;
    const label = `${r.object} ${r.range}`;
    const m = /^bytes=(\d*)-(\d*)$/.exec(r.range)!;
    const P = r.plaintextSize;
    // RFC 9110 single range, resolved independently of the vector's own numbers.
    const [first, last] = m[1] === ''
      ? [Math.max(0, P - Number(m[2])), P - 1]
      : [Number(m[1]), m[2] === '' ? P - 1 : Math.min(Number(m[2]), P - 1)];
    if (r.status === 416) {
      assert.ok((P === 0 && m[1] !== '') || first >= P || (m[1] === '' && m[2] === '0'), label);
      assert.equal(r.contentRange, `bytes */${P}`, label);
      continue;
    }
    if (r.status === 200) {
      // A non-zero suffix of an empty object: satisfiable, and nothing (RFC 9110 §14.1.1).
      assert.ok(P === 0 && m[1] === '' && Number(m[2]) > 0, label);
      assert.deepEqual([r.first, r.last], [0, -1], label);
      continue;
    }
    const cs = r.chunkSize;
    const [sc, ec] = [Math.floor(first / cs), Math.floor(last / cs)];
    assert.deepEqual([r.first, r.last, r.firstChunk, r.lastChunk], [first, last, sc, ec], label);
    assert.equal(r.ciphertextFirst, chunkOffset(cs, sc), label);
    assert.equal(r.ciphertextLast, Math.min(chunkOffset(cs, ec + 1) - 1, r.ciphertextSize - 1), label);
    assert.equal(r.ciphertextRange, `bytes=${r.ciphertextFirst}-${r.ciphertextLast}`, label);
    assert.deepEqual([r.skip, r.length, r.contentRange], [first % cs, last - first + 1, `bytes ${first}-${last}/${P}`], label);

    const plaintext = fixturePlaintext(v.plaintext);
    const body = encryptObject(plaintext, { dek: hex(v.dek), baseNonce: hex(v.baseNonce), chunkSize: cs });
    const slice = body.subarray(r.ciphertextFirst, r.ciphertextLast + 1);
    const got = decryptChunks(slice, hex(v.dek), hex(v.baseNonce), cs, r.firstChunk).subarray(r.skip, r.skip + r.length);
    assert.equal(sha256(got), r.plaintextSha256, label);
    assert.deepEqual(got, plaintext.subarray(first, last + 1), label);
  }
});

test('chunk nonces XOR (not add) the big-endian index into bytes 4..11', () => {
  const base = hex('cafebabe0123456789abcd0d');
  assert.equal(chunkNonce(base, 0).toString('hex'), 'cafebabe0123456789abcd0d');
  assert.equal(chunkNonce(base, 1).toString('hex'), 'cafebabe0123456789abcd0c');
  assert.equal(chunkNonce(base, 256).toString('hex'), 'cafebabe0123456789abcc0d');
  assert.equal(chunkNonce(base, 2n ** 63n).toString('hex'), 'cafebabe8123456789abcd0d');
  assert.equal(base.toString('hex'), 'cafebabe0123456789abcd0d', 'base nonce left alone');
});

test('header layout, and argument checks', () => {
  const h = sencHeader(hex('000102030405060708090a0b'), 65536);
  assert.equal(h.toString('hex'), `53454e4301${'00010000'}000102030405060708090a0b${'00'.repeat(11)}`);
  assert.throws(() => sencHeader(Buffer.alloc(12), 0), RangeError);
  assert.throws(() => sencHeader(Buffer.alloc(11), 16), RangeError);
  assert.throws(() => encryptObject(Buffer.alloc(1), { dek: Buffer.alloc(16), baseNonce: Buffer.alloc(12), chunkSize: 16 }), RangeError);
  assert.throws(() => wrapDek(Buffer.alloc(32), Buffer.alloc(31)), RangeError);
});

test('encryptForRow: random DEK and nonces by default, decryptable, with the row columns', () => {
  const masterKey = Buffer.alloc(32, 7);
  const plaintext = fixturePlaintext({ kind: 'lcg32', seed: 99, length: 10_000 });
  const a = encryptForRow(plaintext, { masterKey, chunkSize: 4096 });
  const b = encryptForRow(plaintext, { masterKey, chunkSize: 4096, keyId: 'config-1' });
  assert.notDeepEqual(a.dek, b.dek);
  assert.notDeepEqual(a.baseNonce, b.baseNonce);
  assert.deepEqual([a.keyId, b.keyId], ['config-0', 'config-1']);
  assert.equal(a.encryptionKey.length, 72);
  assert.deepEqual(Buffer.from(a.encryptionKey.subarray(0, 12)), a.baseNonce);
  assert.equal(a.sizeBytes, ciphertextSize(10_000, 4096));
  assert.deepEqual(decryptChunks(a.body.subarray(SENC_HEADER_SIZE), a.dek, a.baseNonce, 4096), plaintext);
  // The wrapped DEK opens with the master key.
  const wrapped = a.encryptionKey.subarray(12);
  const d = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, 12));
  d.setAuthTag(wrapped.subarray(44));
  assert.deepEqual(Buffer.concat([d.update(wrapped.subarray(12, 44)), d.final()]), a.dek);
  assert.equal(encryptForRow(new Uint8Array(0), { masterKey }).body.length, SENC_HEADER_SIZE);
});

test('encryptForVaultRow: encryption_key is the base nonce then the Vault ciphertext text', () => {
  const dek = Buffer.alloc(32, 3);
  const vaultText = 'vault:v1:c29tZSBjaXBoZXJ0ZXh0';
  const row = encryptForVaultRow(Buffer.from('hello'), vaultText, 'vault:transit/readpath', { dek, chunkSize: 16 });
  assert.equal(row.keyId, 'vault:transit/readpath');
  assert.deepEqual(Buffer.from(row.encryptionKey), Buffer.concat([row.baseNonce, Buffer.from(vaultText)]));
  assert.deepEqual(row.dek, dek);
  assert.equal(decryptChunks(row.body.subarray(SENC_HEADER_SIZE), dek, row.baseNonce, 16).toString(), 'hello');
});

test('tamper helpers copy, and change exactly what they say', () => {
  const cs = 16;
  const body = encryptObject(fixturePlaintext({ kind: 'lcg32', seed: 5, length: 40 }), { dek: Buffer.alloc(32, 1), baseNonce: Buffer.alloc(12, 2), chunkSize: cs });
  const before = Buffer.from(body);

  const flipped = flipByte(body, 50);
  assert.equal(flipped[50], body[50]! ^ 1);
  assert.equal(Buffer.compare(flipped.subarray(0, 50), body.subarray(0, 50)), 0);
  assert.equal(flipByte(body, 0, 0xff)[0], body[0]! ^ 0xff);
  assert.throws(() => flipByte(body, body.length), RangeError);

  const swapped = swapChunks(body, cs, 0, 1);
  const len = cs + SENC_CHUNK_OVERHEAD;
  assert.deepEqual(swapped.subarray(chunkOffset(cs, 0), chunkOffset(cs, 0) + len), body.subarray(chunkOffset(cs, 1), chunkOffset(cs, 1) + len));
  assert.deepEqual(swapped.subarray(chunkOffset(cs, 1), chunkOffset(cs, 1) + len), body.subarray(chunkOffset(cs, 0), chunkOffset(cs, 0) + len));
  assert.deepEqual(swapped.subarray(chunkOffset(cs, 2)), body.subarray(chunkOffset(cs, 2)));
  assert.throws(() => swapChunks(body, cs, 1, 2), RangeError, 'chunk 2 is the short last chunk');

  assert.deepEqual(truncate(body, chunkOffset(cs, 2)), body.subarray(0, chunkOffset(cs, 2)));
  assert.equal(truncate(body, -1).length, body.length - 1);
  assert.throws(() => truncate(body, body.length + 1), RangeError);
  assert.deepEqual(body, before, 'the original is untouched');
});
