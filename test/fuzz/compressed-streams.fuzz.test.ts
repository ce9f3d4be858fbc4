/**
 * Damaged and hostile compressed streams through the frame decoder and the seek table parser:
 * random byte flips, truncations, splices and random bytes, fed whole or in random pieces, as a
 * whole read and as ranges. Each case must end in exactly the object's bytes or a
 * DECOMPRESSION_FAILED — never another error (a RangeError from a short read, a TypeError), never
 * other bytes delivered without an error, never a hang or an allocation a header asked for.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/compression/frame-decoder.js';
import { framesFor, parseSeekTable } from '../../src/compression/seek-table.js';
import { loadZstd } from '../../src/compression/zstd.js';
import { hasCode } from '../../src/errors.js';
import { logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { fcParams } from '../helpers/property-params.js';

const DATA = logLines(120_000, 11);
const S = seekableZstd(DATA, { chunkSize: 16 * 1024 });

/** Feed `stored` in pieces of `cuts` (cycled); the bytes delivered, or the error thrown. */
function run(stored: Uint8Array, d: FrameDecoder, cuts: readonly number[]): { out: Buffer; err: unknown } {
  const out: Buffer[] = [];
  try {
    let at = 0;
    let i = 0;
    while (at < stored.byteLength) {
      const n = Math.max(1, cuts[i++ % cuts.length] ?? stored.byteLength);
      d.push(stored.subarray(at, at + n), (b) => out.push(Buffer.from(b)));
      at += n;
    }
    d.end((b) => out.push(Buffer.from(b)));
    return { out: Buffer.concat(out), err: undefined };
  } catch (err) {
    return { out: Buffer.concat(out), err };
  }
}

/** The outcome is the object's bytes (a prefix is fine only alongside an error), or a DECOMPRESSION_FAILED. */
function judge(r: { out: Buffer; err: unknown }, want: Buffer, what: string): void {
  if (r.err === undefined) {
    assert.ok(r.out.equals(want), `${what}: ${r.out.length} bytes delivered without an error, not the object's`);
    return;
  }
  assert.ok(hasCode(r.err, 'DECOMPRESSION_FAILED'), `${what}: ${r.err instanceof Error ? r.err.message : JSON.stringify(r.err)}`);
  assert.ok(want.subarray(0, r.out.length).equals(r.out), `${what}: bytes delivered before the error are not the object's`);
}

const damage = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 4096 }) }),
);

type Damage = { kind: 'flip'; at: number; mask: number } | { kind: 'cut'; at: number } | { kind: 'splice'; at: number; bytes: Uint8Array } | { kind: 'random'; bytes: Uint8Array };

function apply(d: Damage, stored: Buffer): Buffer {
  switch (d.kind) {
    case 'flip': {
      const b = Buffer.from(stored);
      const at = d.at % b.length;
      b[at] = b[at]! ^ d.mask;
      return b;
    }
    case 'cut':
      return stored.subarray(0, d.at % stored.length);
    case 'splice': {
      const at = d.at % stored.length;
      return Buffer.concat([stored.subarray(0, at), d.bytes, stored.subarray(at)]);
    }
    case 'random':
      return Buffer.from(d.bytes);
  }
}

describe('compressed streams, damaged at random: the object or DECOMPRESSION_FAILED, nothing else', () => {
  before(async () => {
    await loadZstd();
  });

  it('whole reads', () => {
    fc.assert(fc.property(damage, fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 6 }), (d, cuts) => {
      judge(run(apply(d, S.body), new FrameDecoder({ where: 'fuzz', take: DATA.length }), cuts), DATA, d.kind);
    }), fcParams(300));
  });

  it('ranges: damaged frames named by an intact table, and tables damaged themselves', () => {
    const table = parseSeekTable(S.body, S.body.length, 'fuzz');
    fc.assert(fc.property(damage, fc.nat(DATA.length - 1), fc.integer({ min: 1, max: 40_000 }), (d, a, len) => {
      const b = Math.min(DATA.length - 1, a + len - 1);
      const { first, last } = framesFor(table, a, b);
      const frames = table.frames.slice(first, last + 1);
      const f0 = frames[0]!;
      const fn = frames[frames.length - 1]!;
      const span = S.body.subarray(f0.storedOffset, fn.storedOffset + fn.storedSize);
      judge(run(apply(d, span), new FrameDecoder({ where: 'fuzz', frames, skip: a - f0.logicalOffset, take: b - a + 1 }), [8192]), DATA.subarray(a, b + 1), `range ${d.kind}`);
      // The table read from a damaged tail: parsed, or refused with the code.
      const tail = apply(d, S.body).subarray(-8192);
      try {
        parseSeekTable(tail, S.body.length, 'fuzz');
      } catch (err) {
        assert.ok(hasCode(err, 'DECOMPRESSION_FAILED'), String(err));
      }
    }), fcParams(300));
  });
});
