/**
 * A GET probe of an encrypted copy: the row's key data gives the data key, the plaintext range
 * maps to the ciphertext chunks that cover it, and the answer is decrypted chunk by chunk as it
 * arrives (into the buffered body, or a file with `out`). A whole read's plaintext is hashed
 * against content_hash; a range relies on each chunk's GCM tag. The ETag — the MD5 of the
 * ciphertext — is never checked against plaintext. Egress is the ciphertext a backend sends.
 */
import { ReadPathError, backendStatusOf } from '../errors.js';
import { discardBody, readChunks, tooLarge } from '../backends/body.js';
import { encryptedCopy, planCipherRead, plainSizeOf, readHeader, setPlaintextEtag, type CipherRead } from '../encryption/cipher-read.js';
import type { KeyRing } from '../encryption/key-ring.js';
import { resolveRange } from '../streams/byte-range.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import { backendKey, type ProbeLocation, type ProbeTask, type ProbeUsage, type Verdict, type VerdictHead } from './task.js';
import { billed, egressSkip, finishGet, headFields, ok, unsatisfiable } from './answer.js';
import { toFile } from './to-file.js';
import { BodyVerifier } from './verify.js';

/**
 * The HEAD fields of an encrypted copy's answer: the backend's, but with an ETag that belongs to
 * the plaintext (see {@link plaintextEtag}) instead of the ciphertext's MD5.
 */
export function encryptedHead(r: HeadResult, l: ProbeLocation): VerdictHead {
  const h = headFields(r);
  setPlaintextEtag(h, l.contentHash);
  return h;
}

/** GET `task`'s encrypted copy `l` and decrypt it. Throws DECRYPTION_FAILED, or the backend's failure. */
export async function getEncrypted(task: ProbeTask, l: ProbeLocation, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeUsage, keys: KeyRing): Promise<Verdict> {
  const plain = plainSizeOf(l);
  const span = resolveRange(task.range, plain < 0 ? 0 : plain, task.key);
  const length = span.end - span.start + 1;
  if (task.maxBytes !== undefined && task.out === undefined && length > task.maxBytes) {
    throw tooLarge(length, task.maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  const copy = encryptedCopy(task.backend, task.key, l);
  const plan: CipherRead = await planCipherRead(copy, keys, span.start, span.end, async () => {
    let bytes: Uint8Array;
    try {
      bytes = await readHeader(backend, backendKey(task), signal);
    } catch (err) {
      billed(used, err);
    }
    used.api += 1;
    used.egress += bytes.byteLength;
    return bytes;
  }, signal);
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), plan.range === undefined ? { signal } : { signal, range: plan.range });
  } catch (err) {
    billed(used, backendStatusOf(err) === 416 ? unsatisfiable(task, err) : err);
  }
  used.api += 1;
  if (res.size >= 0 && res.size !== plan.cipherBytes) {
    discardBody(res);
    throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: answered ${res.size} ciphertext bytes where ${plan.cipherBytes} were asked for (the copy differs from its row)`);
  }
  const skip = await egressSkip(task, usage, res, plan.cipherBytes, signal, used);
  if (skip !== undefined) return skip;
  const whole = task.range === undefined;
  const verify = whole && (task.verify ?? true);
  const verifier = verify ? new BodyVerifier({ backendName: task.backend, location: task.location }, task.key) : undefined;
  const dec = plan.decryptor;
  const read = async (onBytes: (b: Uint8Array) => void): Promise<number> => {
    const n = await readChunks(res.body, (chunk) => dec.push(chunk, onBytes), { signal, expectedSize: plan.cipherBytes });
    dec.end(onBytes);
    return n;
  };
  const head = encryptedHead(res, l);
  if (task.out !== undefined) {
    const v = await toFile(task, task.out, { head, objectSize: plain, verifier, read, discard: () => discardBody(res) }, used);
    if (v.kind === 'ok') v.decrypted = true;
    return v;
  }
  const body = new Uint8Array(length);
  let at = 0;
  // Hashed piece by piece as it is decrypted, while the piece is still in cache.
  used.egress += await read((b) => {
    body.set(b, at);
    at += b.byteLength;
    verifier?.update(b);
  });
  const verified = verifier?.finish() ?? false;
  const v = ok(length, plain, head, used.egress, used.api);
  v.decrypted = true;
  return finishGet(task, v, body, verified);
}
