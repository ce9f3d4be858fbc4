/**
 * s3-orchestrator's compressed layout, decoded: the seek table parser and the streaming frame
 * decoder, against streams written frame by frame with Debian's `zstd` (test/helpers/
 * seekable-zstd.ts) — whole streams in pieces of any size, any logical range from the frames
 * the table names, and every kind of damage a copy can carry, each a DECOMPRESSION_FAILED.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/compression/frame-decoder.js';
import { framesFor, parseSeekTable, tableSizeFromFooter } from '../../src/compression/seek-table.js';
import { loadZstd } from '../../src/compression/zstd.js';
import { compressedCopy } from '../../src/compression/compressed-read.js';
import { logLines, seekableZstd, zstdCliDecode, zstdCliEncode } from '../helpers/seekable-zstd.js';
import { ZstdStartSniffer, decodedEtag, endsLikeSeekable, startsLikeZstd } from '../../src/compression/degraded.js';
import { fcParams } from '../helpers/property-params.js';

const WHERE = 'b1: k';
const failed = (re: RegExp) => (err: Error & { code?: string }): boolean => err.code === 'DECOMPRESSION_FAILED' && re.test(err.message);

/** Decode `stored` fed in `cuts`-sized pieces (cycled); the decoder's output joined. */
function decode(stored: Uint8Array, d: FrameDecoder, cuts: readonly number[] = [stored.byteLength]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < stored.byteLength) {
    const n = Math.max(1, cuts[i++ % cuts.length] ?? 1);
    d.push(stored.subarray(at, at + n), (b) => out.push(Buffer.from(b)));
    at += n;
  }
  d.end((b) => out.push(Buffer.from(b)));
  return Buffer.concat(out);
}

/** Logical bytes a..b of a stream, through the table and the frames it names. */
function readSpan(s: { body: Buffer }, a: number, b: number): Buffer {
  const t = parseSeekTable(s.body.subarray(s.body.byteLength - 8192 < 0 ? 0 : s.body.byteLength - 8192), s.body.byteLength, WHERE);
  const { first, last } = framesFor(t, a, b);
  const frames = t.frames.slice(first, last + 1);
  const f0 = frames[0]!;
  const fn = frames[frames.length - 1]!;
  const stored = s.body.subarray(f0.storedOffset, fn.storedOffset + fn.storedSize);
  return decode(stored, new FrameDecoder({ where: WHERE, frames, skip: a - f0.logicalOffset, take: b - a + 1 }), [7_001]);
}

describe('compressed copies: seek table and frame decoder', () => {
  const data = logLines(300_000);
  // 16 KiB chunks (upstream's smallest) give many frames from a small object.
  const s = seekableZstd(data, { chunkSize: 16 * 1024 });

  before(async () => {
    await loadZstd();
  });

  it('the fixture is what zstd itself decodes, and compresses', () => {
    assert.ok(zstdCliDecode(s.body).equals(data));
    assert.ok(s.body.byteLength < data.byteLength / 3, `${s.body.byteLength} stored bytes for ${data.byteLength}`);
    assert.equal(s.frames.length, Math.ceil(data.byteLength / 16384));
  });

  it('the seek table gives every frame\'s offsets, sizes and checksum', () => {
    const t = parseSeekTable(s.body, s.body.byteLength, WHERE);
    assert.equal(t.logicalSize, data.byteLength);
    assert.equal(t.tableSize, s.tableSize);
    assert.deepEqual(t.frames.map(({ checksum: _c, ...f }) => f), s.frames);
    // The entry's checksum is the frame's own content checksum (its last 4 bytes).
    for (const f of t.frames) assert.equal(f.checksum, s.body.readUInt32LE(f.storedOffset + f.storedSize - 4));
    assert.equal(tableSizeFromFooter(s.body.subarray(-9), WHERE), s.tableSize);
    assert.deepEqual(framesFor(t, 0, 0), { first: 0, last: 0 });
    assert.deepEqual(framesFor(t, 16383, 16384), { first: 0, last: 1 });
    assert.deepEqual(framesFor(t, data.byteLength - 1, data.byteLength - 1), { first: t.frames.length - 1, last: t.frames.length - 1 });
  });

  it('a damaged or foreign table is refused, naming what is wrong', () => {
    const bad = (mutate: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(s.body);
      mutate(b);
      return b;
    };
    const end = s.body.byteLength;
    assert.throws(() => parseSeekTable(bad((b) => { b[end - 1] = 0; }), end, WHERE), failed(/no seek table/));
    assert.throws(() => parseSeekTable(bad((b) => { b[end - 5] = 0x84; }), end, WHERE), failed(/reserved bits/));
    assert.throws(() => parseSeekTable(s.body, end + 1, WHERE), failed(/stored/));
    assert.throws(() => parseSeekTable(bad((b) => { b.writeUInt32LE(0x184d2a5d, end - s.tableSize); }), end, WHERE), failed(/frame header/));
    // Frame count larger than the bytes: the table would start before the stream.
    assert.throws(() => parseSeekTable(bad((b) => { b.writeUInt32LE(1_000_000, end - 9); }), end, WHERE), failed(/claims/));
    // An entry decoding to more than a chunk can be.
    assert.throws(() => parseSeekTable(bad((b) => { b.writeUInt32LE(65 * 1024 * 1024, end - s.tableSize + 8 + 4); }), end, WHERE), failed(/more than any chunk/));
    assert.throws(() => compressedCopy('b1', 'k', { sizeBytes: 10, encrypted: false, compression: 'lz4', logicalSize: 10 }, undefined), failed(/"lz4"/));
    assert.throws(() => compressedCopy('b1', 'k', { sizeBytes: 10, encrypted: false, compression: 'zstd', logicalSize: 10, compressionVersion: 2 }, undefined), failed(/version 2/));
  });

  it('a whole stream decodes in pieces of any size, its table checked', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 8 }), (cuts) => {
      assert.ok(decode(s.body, new FrameDecoder({ where: WHERE, take: data.byteLength }), cuts).equals(data));
    }), fcParams(40));
  });

  it('any range decodes from the frames the table names', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: data.byteLength - 1 }), fc.integer({ min: 0, max: 70_000 }), (a, len) => {
      const b = Math.min(data.byteLength - 1, a + len);
      assert.ok(readSpan(s, a, b).equals(data.subarray(a, b + 1)));
    }), fcParams(60));
  });

  it('frames without a content size, tables without checksums, an empty object, one-byte chunks of input', () => {
    const bare = seekableZstd(data.subarray(0, 50_000), { chunkSize: 16 * 1024, noContentSize: true, noChecksums: true });
    assert.ok(decode(bare.body, new FrameDecoder({ where: WHERE })).equals(data.subarray(0, 50_000)));
    assert.ok(readSpan(bare, 20_000, 40_000).equals(data.subarray(20_000, 40_001)));
    const empty = seekableZstd(new Uint8Array(0));
    assert.equal(empty.frames.length, 0);
    assert.equal(decode(empty.body, new FrameDecoder({ where: WHERE, take: 0 })).byteLength, 0);
    const small = seekableZstd(data.subarray(0, 3000), { chunkSize: 16 * 1024 });
    assert.ok(decode(small.body, new FrameDecoder({ where: WHERE }), [1]).equals(data.subarray(0, 3000)));
  });

  it('damage is a DECOMPRESSION_FAILED, never wrong bytes', () => {
    const f1 = s.frames[1]!;
    const flip = (at: number): Buffer => {
      const b = Buffer.from(s.body);
      b[at] = b[at]! ^ 0x40;
      return b;
    };
    const whole = (_stored?: Uint8Array): FrameDecoder => new FrameDecoder({ where: WHERE, take: data.byteLength });
    // Inside a frame's compressed data: libzstd's decode or its checksum catches it.
    assert.throws(() => decode(flip(f1.storedOffset + Math.floor(f1.storedSize / 2)), whole(s.body)), failed(/does not decode|checksum|block|frame/));
    // A frame's checksum.
    assert.throws(() => decode(flip(f1.storedOffset + f1.storedSize - 1), whole(s.body)), failed(/./));
    // Cut short, inside a frame and before the table.
    assert.throws(() => decode(s.body.subarray(0, f1.storedOffset + 100), whole(s.body)), failed(/end inside a frame/));
    assert.throws(() => decode(s.body.subarray(0, s.body.byteLength - s.tableSize), whole(s.body)), failed(/without the seek table/));
    // Bytes after the table; not a frame at all.
    assert.throws(() => decode(Buffer.concat([s.body, Buffer.from('more')]), whole(s.body)), failed(/follow the seek table/));
    assert.throws(() => decode(Buffer.from('plain text, not compressed'), whole(s.body)), failed(/no zstd frame/));
    // A table that lists other sizes than the frames stored.
    const lying = Buffer.from(s.body);
    const entry = lying.byteLength - s.tableSize + 8 + 12;
    lying.writeUInt32LE(lying.readUInt32LE(entry + 4) - 1, entry + 4);
    assert.throws(() => decode(lying, whole(lying)), failed(/seek table's frame 1/));
    // A frame that declares more than a chunk (its header alone: nothing is allocated for it).
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x10]);
    assert.throws(() => decode(huge, whole(huge)), failed(/declares 268435456 bytes/));
    // A span whose frame is not the one the table named.
    const t = parseSeekTable(s.body, s.body.byteLength, WHERE);
    const wrong = new FrameDecoder({ where: WHERE, frames: [{ ...t.frames[2]!, storedSize: t.frames[2]!.storedSize + 1 }] });
    assert.throws(() => decode(s.body.subarray(t.frames[2]!.storedOffset, t.frames[3]!.storedOffset), wrong), failed(/seek table says/));
    // Fewer bytes than a span asked for.
    const short = new FrameDecoder({ where: WHERE, frames: t.frames.slice(0, 2), take: 40_000 });
    assert.throws(() => decode(s.body.subarray(0, t.frames[1]!.storedOffset), short), failed(/1 of the 2 frames/));
  });
});

describe('degraded mode: the compressed layout recognised from its bytes', () => {
  it('a zstd start is seen however the first bytes are split; anything else is not', () => {
    const s = seekableZstd(logLines(10_000), { chunkSize: 4096 });
    for (const cut of [1, 2, 3, 4, 9]) {
      const sniffer = new ZstdStartSniffer();
      const seen = [sniffer.feed(s.body.subarray(0, cut)), sniffer.feed(s.body.subarray(cut, cut + 5)), sniffer.feed(s.body.subarray(cut + 5))];
      assert.deepEqual(seen, [cut >= 4, true, true], `cut at ${cut}: true from the chunk that completes the magic on`);
    }
    const plain = new ZstdStartSniffer();
    assert.deepEqual([plain.feed(Buffer.from('{"ts":')), plain.feed(s.body)], [false, false]);
    assert.equal(startsLikeZstd(s.body), true);
    assert.equal(endsLikeSeekable(s.body), true);
    assert.equal(endsLikeSeekable(zstdCliEncode(logLines(1000))), false, 'plain zstd has no seek table');
    // The footer's reserved descriptor bits set: not the layout.
    const reserved = Buffer.from(s.body);
    reserved[reserved.byteLength - 5] = reserved[reserved.byteLength - 5]! | 0x04;
    assert.equal(endsLikeSeekable(reserved), false);
  });

  it('a decoded copy\'s ETag: the stored MD5 in multipart form, a multipart ETag kept, nothing else', () => {
    const md5 = '0123456789ABCDEF0123456789abcdef';
    assert.equal(decodedEtag(`"${md5}"`), '"0123456789abcdef0123456789abcdef-1"');
    assert.equal(decodedEtag(md5), '"0123456789abcdef0123456789abcdef-1"');
    assert.equal(decodedEtag(`W/"${md5}"`), '"0123456789abcdef0123456789abcdef-1"');
    assert.equal(decodedEtag(`"${md5}-12"`), '"0123456789abcdef0123456789abcdef-12"');
    for (const odd of [undefined, '', '"abc"', `"${md5}0"`, `"${md5}-"`, 'not an etag']) assert.equal(decodedEtag(odd), undefined, String(odd));
  });
});
