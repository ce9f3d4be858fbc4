/**
 * GET probes of copies whose stored bytes are not the object's. An encrypted copy: the row's key data gives the data key, the plaintext range
 * maps to the ciphertext chunks that cover it, and the answer is decrypted chunk by chunk as it
 * arrives (into the buffered body, or a file with `out`). A whole read's plaintext is hashed
 * against content_hash; a range relies on each chunk's GCM tag. The ETag — the MD5 of the
 * ciphertext — is never checked against plaintext. Egress is the ciphertext a backend sends.
 * A compressed copy (s3-orchestrator's zstd seekable layout, compressed before it is
 * encrypted): the frames that hold the span are fetched, decrypted first when the copy is also
 * encrypted, and decoded (compression/compressed-read.ts).
 */
import { collectBody, rangeLength, tooLarge } from '../backends/body.js';
import { encryptedCopy, planCipherRead, plainSizeOf, type CipherRead } from '../encryption/cipher-read.js';
import { HEADER_SIZE } from '../encryption/format.js';
import { compressedCopy, planCompressedRead } from '../compression/compressed-read.js';
import type { KeyRing } from '../encryption/key-ring.js';
import { resolveRange } from '../ranges/byte-range.js';
import type { GetResult, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import { backendKey, type ProbeLocation, type ProbeTask, type ProbeTally, type Verdict } from './task.js';
import { billed, headFields, objectHead } from './answer.js';
import { getDecoded } from './get-decoded.js';
import type { FoundCompressed } from './degraded-copy.js';

/** GET `task`'s encrypted copy `l` and decrypt it. Throws DECRYPTION_FAILED, or the backend's failure. */
export async function getEncrypted(task: ProbeTask, l: ProbeLocation, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeTally, keys: KeyRing): Promise<Verdict> {
  const plain = plainSizeOf(l);
  const span = resolveRange(task.range, plain < 0 ? 0 : plain, task.key);
  const length = span.end - span.start + 1;
  if (task.maxBytes !== undefined && task.out === undefined && length > task.maxBytes) {
    throw tooLarge(length, task.maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  const copy = encryptedCopy(task.backend, task.key, l);
  const plan: CipherRead = await planCipherRead(copy, keys, span.start, span.end, () => fetchStored(task, backend, `bytes=0-${HEADER_SIZE - 1}`, signal, used), signal);
  return getDecoded(task, {
    range: plan.range,
    storedBytes: plan.cipherBytes,
    decoder: plan.decryptor,
    objectSize: plain,
    length,
    head: (res) => objectHead(headFields(res), l),
    mark: (v) => { v.decrypted = true; },
    what: 'ciphertext',
  }, backend, signal, usage, used);
}

/**
 * A ranged GET of a copy's stored bytes a plan needs besides its main request (an encrypted
 * copy's header, a compressed copy's seek table), accounted to the probe.
 */
export async function fetchStored(task: ProbeTask, backend: ObjectBackend, range: string, signal: AbortSignal, used: ProbeTally): Promise<Uint8Array> {
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), { signal, range, since: used.since });
  } catch (err) {
    billed(used, err);
  }
  used.api += 1;
  const bytes = await collectBody(res.body, { signal, maxBytes: rangeLength(range) });
  used.egress += bytes.byteLength;
  return bytes;
}

/**
 * Degraded mode: GET a copy found stored compressed (degraded-copy.ts) and decode it, its
 * stand-in row and the seek table already read standing for the row.
 */
export function getFound(task: ProbeTask, found: FoundCompressed, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeTally): Promise<Verdict> {
  return getCompressed(task, found.location, backend, signal, usage, used, undefined, found);
}

/**
 * GET `task`'s compressed copy `l` (encrypted too when its row says so: `keys` then given) and
 * decode it. `found`: degraded mode's view of the copy (`l` is then its stand-in row), whose seek
 * table was read already. Throws DECOMPRESSION_FAILED or DECRYPTION_FAILED, or the backend's failure.
 */
export async function getCompressed(task: ProbeTask, l: ProbeLocation, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeTally, keys: KeyRing | undefined, found?: FoundCompressed): Promise<Verdict> {
  const copy = compressedCopy(task.backend, task.key, l, l.encrypted ? encryptedCopy(task.backend, task.key, l) : undefined);
  if (found !== undefined) copy.table = found.table;
  const span = resolveRange(task.range, copy.logicalSize, task.key);
  const length = span.end - span.start + 1;
  if (task.maxBytes !== undefined && task.out === undefined && length > task.maxBytes) {
    throw tooLarge(length, task.maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  const plan = await planCompressedRead(copy, keys, span.start, span.end, (range) => fetchStored(task, backend, range, signal, used), signal);
  return getDecoded(task, {
    ...plan,
    objectSize: copy.logicalSize,
    length,
    head: (res) => (found === undefined ? objectHead(headFields(res), l) : { ...objectHead(headFields(res), l), storedAs: found.storedAs }),
    mark: (v) => {
      v.decompressed = true;
      if (l.encrypted) v.decrypted = true;
    },
    what: 'stored',
  }, backend, signal, usage, used);
}
