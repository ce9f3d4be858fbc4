import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { digestHex } from '../../src/probe/digest.js';
import { sha256Hex } from '../../src/probe/probes.js';

describe('digestHex', () => {
  it('matches createHash for SHA-256 and MD5, empty and non-empty inputs', () => {
    for (const bytes of [new Uint8Array(0), randomBytes(1), randomBytes(4096), new TextEncoder().encode('hello')]) {
      assert.equal(digestHex('sha256', bytes), createHash('sha256').update(bytes).digest('hex'));
      assert.equal(digestHex('md5', bytes), createHash('md5').update(bytes).digest('hex'));
      assert.equal(sha256Hex(bytes), createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('digests a view over part of a larger buffer, not the whole buffer', () => {
    const whole = randomBytes(64);
    const view = whole.subarray(8, 24);
    assert.equal(digestHex('sha256', view), createHash('sha256').update(Buffer.from(whole.buffer, whole.byteOffset + 8, 16)).digest('hex'));
  });
});
