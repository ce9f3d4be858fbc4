/**
 * Reading getStream bodies in tests: the whole body, and the contract for damaged bytes
 * (INTEGRITY_MISMATCH before 'end', `verified` false).
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { hasCode } from '../../src/errors.js';

/** The whole body as one Buffer. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The body fails with INTEGRITY_MISMATCH, never emits 'end', and `verified` is false. */
export async function assertMismatchBeforeEnd(o: { body: Readable; verified: Promise<boolean>; size?: number }): Promise<void> {
  let ended = false;
  o.body.on('end', () => {
    ended = true;
  });
  let got = 0;
  await assert.rejects(async () => {
    for await (const c of o.body) got += (c as Buffer).byteLength;
  }, (err: unknown) => hasCode(err, 'INTEGRITY_MISMATCH'));
  assert.equal(ended, false, "'end' must not come after damaged bytes");
  assert.equal(await o.verified, false);
  // The last bytes wait for the check: whoever forwarded the body as it came is left short.
  if (o.size !== undefined && o.size > 0) assert.ok(got < o.size, `${got} of ${o.size} bytes were delivered before the mismatch`);
}
