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
export async function assertMismatchBeforeEnd(o: { body: Readable; verified: Promise<boolean> }): Promise<void> {
  let ended = false;
  o.body.on('end', () => {
    ended = true;
  });
  await assert.rejects(async () => {
    for await (const _ of o.body) { /* drain */ }
  }, (err: unknown) => hasCode(err, 'INTEGRITY_MISMATCH'));
  assert.equal(ended, false, "'end' must not come after damaged bytes");
  assert.equal(await o.verified, false);
}
