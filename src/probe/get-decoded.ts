/**
 * The back half of a GET probe of a copy whose stored bytes are not the object's — encrypted,
 * compressed, or both: the planned request, the size check of the answer, the egress check,
 * the stored bytes decoded as they arrive into the buffered body or a file, and the decoded
 * object hashed against content_hash on a whole read. The backend's ETag (of the stored
 * bytes) is never checked against the decoded body.
 */
import { ReadPathError, backendStatusOf } from '../errors.js';
import { discardBody, readChunks } from '../backends/body.js';
import type { StoredDecoder } from '../compression/compressed-read.js';
import type { GetResult, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import { backendKey, type OkVerdict, type ProbeTally, type ProbeTask, type Verdict, type VerdictHead } from './task.js';
import { billed, differsFromRow, egressSkip, finishGet, ok } from './answer.js';
import { toFile } from './to-file.js';
import { BodyVerifier } from './verify.js';

/** A planned read of a copy's stored bytes and how they become the object's. */
export interface DecodedRead {
  /** Range on the stored object; undefined for all of it. */
  range: string | undefined;
  /** Bytes the backend must send. */
  storedBytes: number;
  decoder: StoredDecoder;
  /** The object's size. */
  objectSize: number;
  /** Decoded bytes the read delivers. */
  length: number;
  /** The HEAD fields to answer with, once the backend answered. */
  head(res: GetResult): VerdictHead;
  /** Mark a successful verdict (what was decoded). */
  mark(v: OkVerdict): void;
  /** What the stored bytes are, in the message about a size mismatch. */
  what: string;
}

/** GET `task`'s copy as `plan` says and decode it. Throws the backend's or the decoder's failure. */
export async function getDecoded(task: ProbeTask, plan: DecodedRead, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeTally): Promise<Verdict> {
  let res: GetResult;
  try {
    res = await backend.get(backendKey(task), plan.range === undefined ? { signal, since: used.since } : { signal, range: plan.range, since: used.since });
  } catch (err) {
    // The object's range was checked against its own size when the read was planned: a 416 for
    // the stored range means this copy holds fewer stored bytes than its row says, not that the
    // range is past the object's end. The next copy may hold them.
    billed(used, backendStatusOf(err) === 416
      ? new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: answered 416 for ${plan.what} bytes ${plan.range ?? ''} the row says it holds (the copy differs from its row)`, { cause: err, backendStatus: 416 })
      : err);
  }
  used.api += 1;
  if (res.size >= 0 && res.size !== plan.storedBytes) {
    discardBody(res);
    throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: answered ${res.size} ${plan.what} bytes where ${plan.storedBytes} were asked for (the copy differs from its row)`);
  }
  differsFromRow(task, res);
  const skip = await egressSkip(task, usage, res, plan.storedBytes, signal, used);
  if (skip !== undefined) return skip;
  const verify = task.range === undefined && (task.verify ?? true);
  const verifier = verify ? new BodyVerifier({ backendName: task.backend, location: task.location }, task.key) : undefined;
  const dec = plan.decoder;
  const read = async (onBytes: (b: Uint8Array) => void): Promise<number> => {
    const n = await readChunks(res.body, (chunk) => dec.push(chunk, onBytes), { signal, expectedSize: plan.storedBytes, billFailureTo: used });
    try {
      dec.end(onBytes);
    } catch (err) {
      // The stored bytes all came: a decoder that fails at their end does not unbill them.
      used.egress += n;
      throw err;
    }
    return n;
  };
  const head = plan.head(res);
  if (task.out !== undefined) {
    const v = await toFile(task, task.out, { head, objectSize: plan.objectSize, verifier, read, discard: () => discardBody(res) }, used);
    if (v.kind === 'ok') plan.mark(v);
    return v;
  }
  const body = new Uint8Array(plan.length);
  let at = 0;
  // Hashed piece by piece as it is decoded, while the piece is still in cache.
  used.egress += await read((b) => {
    if (at + b.byteLength > body.byteLength) throw new ReadPathError('BACKEND_ERROR', `${task.backend}: ${task.key}: decoded more than the ${body.byteLength} bytes asked for`);
    body.set(b, at);
    at += b.byteLength;
    verifier?.update(b);
  });
  const verified = verifier?.finish() ?? false;
  const v = ok(plan.length, plan.objectSize, head, used.egress, used.api);
  plan.mark(v);
  return finishGet(task, v, body, verified);
}
