/**
 * The probe, written once: read one copy as a {@link ProbeTask} says — HEAD, or GET with the
 * egress check, the whole body, SHA-256 (or ETag) verification and an optional transform — and
 * answer with a {@link Verdict}. The inline executor calls it on the calling thread; the pool's
 * probe actors call it in a worker. It never throws: every outcome, failures included, is a
 * verdict carrying what the probe used, so whoever admitted the probe can settle its usage.
 */
import { ReadPathError, abortedError, backendStatusOf, hasCode, messageOf, type UsageLimitKind } from '../errors.js';
import { sinkFor, type FileWrite } from '../sinks/file-sink.js';
import { collectBody, discardBody, readChunks, tooLarge } from '../backends/body.js';
import type { GetResult, HeadResult, ObjectBackend } from '../types.js';
import { isBilledFailure, type UsagePort } from './billing.js';
import type { ErrorVerdict, OkVerdict, ProbeTask, ProbeUsage, Verdict, VerdictHead } from './task.js';
import { runTransform } from './transform.js';
import { BodyVerifier, verifyBody } from './verify.js';

/**
 * readpath does not hold s3-orchestrator's key provider, so it cannot decrypt envelope-encrypted
 * copies; serving ciphertext as the object would be wrong. 503, as upstream answers for
 * encrypted objects it cannot decrypt; no backend is called.
 */
export function encryptedUnsupported(key: string): ReadPathError {
  return new ReadPathError('SERVICE_UNAVAILABLE', `${key} is stored encrypted; readpath cannot decrypt s3-orchestrator's envelope encryption`);
}

/**
 * Why this copy must not be read at all, decided from the task alone; undefined when it may.
 * Executors ask before admitting a probe (a refused copy costs no usage and no dispatch), and
 * {@link runProbe} asks again, so a task is refused wherever it runs.
 */
export function refusal(task: ProbeTask): ReadPathError | undefined {
  return task.op === 'get' && task.location?.encrypted === true ? encryptedUnsupported(task.key) : undefined;
}

/** The HEAD fields of an answer, without `size` (that travels apart). */
function headFields(r: HeadResult): VerdictHead {
  const h: VerdictHead = {};
  if (r.etag !== undefined) h.etag = r.etag;
  if (r.contentType !== undefined) h.contentType = r.contentType;
  if (r.lastModified !== undefined) h.lastModified = r.lastModified;
  if (r.metadata !== undefined) h.metadata = r.metadata;
  return h;
}

function ok(size: number, objectSize: number, head: VerdictHead, egress: number): OkVerdict {
  return { kind: 'ok', size, objectSize, head, api: 1, egress };
}

/** Run one probe of `task` against `backend`. Resolves with its verdict; never rejects. */
export async function runProbe(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort): Promise<Verdict> {
  const used: ProbeUsage = { api: 0, egress: 0 };
  try {
    const refused = refusal(task);
    if (refused !== undefined) throw refused;
    if (signal.aborted) throw abortedError(signal);
    return task.op === 'head' ? await head(task, backend, signal, used) : await get(task, backend, signal, usage, used);
  } catch (err) {
    const v: ErrorVerdict = { kind: 'error', error: err, api: used.api, egress: used.egress };
    return v;
  }
}

/** A backend's 416: the range starts at or past the object's end, on every copy alike. */
function unsatisfiable(task: ProbeTask, err: unknown): ReadPathError {
  return new ReadPathError('RANGE_NOT_SATISFIABLE', `${task.key}: range ${task.range ?? ''} is not satisfiable (${task.backend} answered 416)`, { cause: err, backendStatus: 416 });
}

/** A failed backend call: record whether it cost a request, then rethrow. */
function billed(used: ProbeUsage, err: unknown): never {
  if (isBilledFailure(err)) used.api = 1;
  throw err;
}

async function head(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, used: ProbeUsage): Promise<Verdict> {
  let h: HeadResult;
  try {
    h = await backend.head(task.key, { signal });
  } catch (err) {
    billed(used, err);
  }
  used.api = 1;
  // An encrypted copy's stored size is the ciphertext's; callers want the object's own.
  const l = task.location;
  const size = l !== null && l.encrypted && l.plaintextSize !== null ? l.plaintextSize : h.size;
  return ok(size, size, headFields(h), 0);
}

async function get(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, usage: UsagePort, used: ProbeUsage): Promise<Verdict> {
  const range = task.range;
  const maxBytes = task.maxBytes;
  const stored = task.location?.sizeBytes;
  if (maxBytes !== undefined && range === undefined && stored !== undefined && stored > maxBytes) {
    // The row says how big it is: no request is worth sending.
    throw tooLarge(stored, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  let res: GetResult;
  try {
    res = await backend.get(task.key, range === undefined ? { signal } : { signal, range });
  } catch (err) {
    billed(used, backendStatusOf(err) === 416 ? unsatisfiable(task, err) : err);
  }
  used.api = 1;
  if (task.egressLimited === true) {
    let limit: UsageLimitKind | null;
    try {
      limit = await usage.reserveEgress(task, res.size < 0 ? 0 : res.size, signal);
    } catch (err) {
      discardBody(res);
      throw err;
    }
    if (limit !== null) {
      discardBody(res);
      return { kind: 'skip', limit, api: 1, egress: 0 };
    }
  }
  if (task.out !== undefined) return toFile(task, task.out, res, signal, used);
  if (maxBytes !== undefined && res.size > maxBytes) {
    discardBody(res);
    throw tooLarge(res.size, maxBytes, ` (runtime.max_buffered_bytes): read ${task.key} with getStream`);
  }
  // -1 means the backend announced no length: then there is nothing to check the body against.
  const body = await collectBody(res.body, res.size >= 0 ? { signal, expectedSize: res.size, ...(maxBytes === undefined ? {} : { maxBytes }) } : { signal, ...(maxBytes === undefined ? {} : { maxBytes }) });
  used.egress = body.byteLength;
  const verified = (task.verify ?? true) && range === undefined
    ? verifyBody({ backendName: task.backend, location: task.location }, task.key, body, (task.verifyEtag ?? true) ? res.etag : undefined)
    : false;
  const headOf = headFields(res);
  const v = ok(body.byteLength, res.size, headOf, body.byteLength);
  v.verified = verified;
  if (task.transform === undefined) {
    v.body = body;
    return v;
  }
  v.value = await runTransform(task.transform, body, {
    ...headOf,
    key: task.key,
    backend: task.backend,
    size: body.byteLength,
    verified,
    ...(range !== undefined ? { range } : {}),
  });
  return v;
}

/** A write under `out` that failed: the read's WRITE_FAILED (INVALID_KEY as it is). */
function writeFailure(task: ProbeTask, err: unknown): unknown {
  return hasCode(err, 'INVALID_KEY')
    ? err
    : new ReadPathError('WRITE_FAILED', `read from ${task.backend} but not written under --out: ${messageOf(err)}`, { cause: err });
}

/**
 * GET with `out`: the body streams into a temporary file as it arrives, hashed on the way, and
 * is renamed into place only once it is whole and verified — memory is one chunk whatever the
 * object's size, and a failed or damaged read leaves no file.
 */
async function toFile(task: ProbeTask, root: string, res: GetResult, signal: AbortSignal, used: ProbeUsage): Promise<Verdict> {
  const head = headFields(res);
  let file: FileWrite;
  try {
    file = sinkFor(root).begin(task.key);
  } catch (err) {
    // Nowhere to put it: the body is not worth reading.
    discardBody(res);
    const v = ok(0, res.size, head, 0);
    v.verified = false;
    v.writeError = writeFailure(task, err);
    return v;
  }
  const verify = task.verify ?? true;
  const verifier = verify ? new BodyVerifier({ backendName: task.backend, location: task.location }, task.key, (task.verifyEtag ?? true) ? res.etag : undefined) : undefined;
  let writeError: unknown;
  let bytes: number;
  try {
    bytes = await readChunks(res.body, (chunk) => {
      verifier?.update(chunk);
      if (writeError !== undefined) return;
      try {
        file.write(chunk);
      } catch (err) {
        // Keep reading: the copy may still be good, and its verdict says the write failed.
        writeError = err;
      }
    }, res.size >= 0 ? { signal, expectedSize: res.size } : { signal });
  } catch (err) {
    file.abort();
    throw err;
  }
  used.egress = bytes;
  let verified: boolean;
  try {
    verified = verifier?.finish() ?? false;
  } catch (err) {
    file.abort();
    throw err;
  }
  const v = ok(bytes, res.size, head, bytes);
  v.verified = verified;
  if (writeError === undefined) {
    try {
      v.path = file.commit();
    } catch (err) {
      writeError = err;
    }
  } else {
    file.abort();
  }
  if (writeError !== undefined) v.writeError = writeFailure(task, writeError);
  return v;
}
