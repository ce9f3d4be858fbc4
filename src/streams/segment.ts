/**
 * One copy opened for part of an object — a "segment" of a stream or one part of a striped
 * read — with the policies every backend call gets at dispatch: the encrypted-copy refusal, the
 * backend's circuit breaker (the open is its call; a body that breaks later is reported to it),
 * usage admission, egress reservation of the bytes asked for, and settlement with the bytes
 * read. Streams and striped reads differ only in how they schedule segments.
 *
 * Segments speak plaintext: an encrypted copy is asked for the ciphertext chunks covering the
 * span and its bytes are decrypted as they arrive (encryption/cipher-read.ts), so a stream may
 * resume, or a striped read take parts, from copies with different data keys.
 */
import { boundCall } from '../engine/bounded-call.js';
import { describeKey } from '../engine/keys.js';
import type { Readable } from 'node:stream';
import { ReadPathError, UsageLimitSkipError, hasCode, messageOf } from '../errors.js';
import { destroyQuietly } from '../backends/call-deadline.js';
import { discardBody, readRange } from '../backends/body.js';
import type { CircuitBreaker } from '../policies/circuit-breaker.js';
import { classifyBackendError } from '../policies/backend-breaker.js';
import { isBilledFailure } from '../probe/billing.js';
import { refusal } from '../probe/run.js';
import { encryptedWithoutRow } from '../probe/degraded-copy.js';
import { encryptedCopy, planCipherRead, readHeader } from '../encryption/cipher-read.js';
import { compressedCopy, planCompressedRead, type StoredDecoder } from '../compression/compressed-read.js';
import { EncryptedStartSniffer, decryptFailureKind } from '../encryption/format.js';
import type { KeyRing } from '../encryption/key-ring.js';
import { backendKey, probeLocation, type ProbeTask } from '../probe/task.js';
import { storedKeyOf } from '../probe/stored-copy.js';
import { withinReservation } from '../probe/request-budget.js';
import { isCompressed } from '../stores/row-mapping.js';
import { METRIC, type Recorder } from '../telemetry/recorder.js';
import type { LiveStreams } from './live-streams.js';
import type { ProbeOwner } from '../policies/probe-owner.js';
import type { BackendGetOptions, GetResult, ObjectBackend, ObjectLocation } from '../types.js';

/** One copy a stream may read from. */
export interface StreamCopy {
  backendName: string;
  /** Undefined when the row names a backend that is not configured. */
  backend: ObjectBackend | undefined;
  /**
   * The location row; null in degraded mode, or there a stand-in for a copy found stored
   * compressed (see `findStorageKey`).
   */
  location: ObjectLocation | null;
  /**
   * Degraded mode: `location` stands in for a row (the layout the first copy was found in) and
   * this backend's own storage key is still to be found by listing.
   */
  findStorageKey?: true;
  /** Degraded mode: where this backend's copy is, when a HEAD already found it (no listing then). */
  storedAt?: string;
}

export { objectSizeOf } from '../stores/row-mapping.js';

/** The policies a stream applies to each copy it opens. */
export interface StreamPolicies {
  recorder: Recorder;
  breakers: ReadonlyMap<string, CircuitBreaker>;
  /** Longest wait for a copy's next bytes while the consumer wants more, ms (0: no limit). */
  idleTimeoutMs: number;
  /**
   * `server.backend_timeout`: how long opening a copy may take on a backend that does not bound
   * its own calls (ms; 0 or absent: no limit).
   */
  openTimeoutMs?: number;
  verify: boolean;
  verifyEtag: boolean;
  /** This thread's keys, when encryption is configured (else encrypted copies are refused). */
  keys?: KeyRing | undefined;
  /** Degraded copies: find the backend's latest write among `{key}!{id}` by listing (default true). */
  storageKeys?: boolean;
  /** The reader's open streams: a stream joins while it reads, so that closing the reader ends it. */
  live?: LiveStreams | undefined;
  /** The reader whose probes the copies' reads count as, in the recorder's ledger (its close() waits for them). */
  owner?: ProbeOwner | undefined;
}

/** An opened copy. */
export interface Segment {
  copy: StreamCopy;
  res: GetResult;
  task: ProbeTask;
  breaker: CircuitBreaker | undefined;
  generation: number;
  /** Bytes the backend must send (ciphertext for an encrypted copy). */
  expected: number;
  /** Bytes the backend sent so far. */
  bytes: number;
  settled: boolean;
  /**
   * An encrypted or compressed copy's decoder (decryptor, frame decoder, or both chained): its
   * output is the segment's bytes of the object.
   */
  decode: StoredDecoder | undefined;
  /** The copy is encrypted (for the decryption metrics). */
  decrypting: boolean;
  /** The copy is compressed (for the decompression metrics). */
  decompressing: boolean;
  /** Requests made besides the GET (an encrypted copy's header, a compressed copy's seek table). */
  extraApi: number;
  /** Bytes those requests read. */
  extraEgress: number;
  /**
   * Degraded mode from byte 0: refuse the copy if its bytes begin like ciphertext. (The
   * compressed layout needs the object's end as well: a degraded stream's HEAD probe, which
   * finds its first copy, refuses it before any segment opens.)
   */
  checkStart: boolean;
}

/** What to open. */
export interface SegmentRequest {
  key: string;
  copy: StreamCopy;
  /** First and last byte of the object to read (inclusive; `end = start - 1` for nothing). */
  start: number;
  end: number;
  /** The read is of the whole object: from byte 0 it needs no Range. */
  whole: boolean;
  /** Proof the copy holds the same bytes, when its row cannot give it. */
  ifMatch?: string | undefined;
  /** Where the segment's bytes may land (from its first byte on), when they fit. */
  into?: Buffer | undefined;
  /** The caller's signal (none: the read is not cancellable but by destroying its body). */
  signal: AbortSignal | undefined;
}

/** Open one copy: resolves once it answered with headers that fit; throws the copy's failure. */
export async function openSegment(r: SegmentRequest, p: StreamPolicies): Promise<Segment> {
  const { key, copy } = r;
  const given = copy.backend;
  if (given === undefined) throw new ReadPathError('BACKEND_NOT_FOUND', `backend ${copy.backendName} is not configured`);
  const task: ProbeTask = { op: 'get', backend: copy.backendName, key, location: probeLocation(copy.location) };
  const refused = refusal(task, p.keys !== undefined);
  if (refused !== undefined) throw refused;
  const opts: BackendGetOptions = { timeoutCoversBody: false };
  if (r.signal !== undefined) opts.signal = r.signal;
  let expected = r.end - r.start + 1;
  if (!(r.whole && r.start === 0)) opts.range = `bytes=${r.start}-${r.end}`;
  if (r.ifMatch !== undefined) opts.ifMatch = r.ifMatch;
  // Admission holds what the first request can take: a plain copy's range, not its whole size.
  if (opts.range !== undefined) task.range = opts.range;
  const ledger = p.recorder.reservations;
  ledger.admit(task, p.owner);
  // Requests admission did not reserve (a listing's further pages, a second seek-table read) are
  // reserved as the segment decides on them.
  const backend = withinReservation(given, task, ledger, r.signal);
  const breaker = p.breakers.get(copy.backendName);
  let generation = 0;
  let res: GetResult;
  let extraApi = 0;
  let extraEgress = 0;
  let decode: StoredDecoder | undefined;
  let l = copy.location;
  const decrypting = l !== null && l.encrypted && p.keys !== undefined;
  const decompressing = isCompressed(l);
  try {
    // A backend given in code that does not bound its own calls is timed here (the body is
    // the stream's to watch for stalls).
    res = await boundCall(backend, p.openTimeoutMs ?? 0, r.signal, () => `${copy.backendName}: GET ${describeKey(key)}`, async (signal) => {
      if (signal !== undefined) opts.signal = signal;
      // Degraded mode: find which of the key and its per-write copies this backend holds last.
      if (l === null || copy.findStorageKey === true) {
        const at = copy.storedAt ?? (p.storageKeys === false ? key : await storedKeyOf(backend, key, signal, () => extraApi++));
        if (l === null) task.storedAt = at;
        else {
          l = { ...l, storageKey: at };
          task.location = probeLocation(l);
        }
      }
      if (l !== null && decompressing) {
        const encrypted = l.encrypted ? encryptedCopy(copy.backendName, key, l) : undefined;
        const plan = await planCompressedRead(compressedCopy(copy.backendName, key, l, encrypted), p.keys, r.start, r.end, async (range) => {
          extraApi++;
          const bytes = await readRange(backend, backendKey(task), range, signal);
          extraEgress += bytes.byteLength;
          return bytes;
        }, signal);
        decode = plan.decoder;
        expected = plan.storedBytes;
        if (plan.range === undefined) delete opts.range;
        else opts.range = plan.range;
      } else if (decrypting && l !== null) {
        const plan = await planCipherRead(encryptedCopy(copy.backendName, key, l), p.keys as KeyRing, r.start, r.end, () => {
          extraApi++;
          return readHeader(backend, backendKey(task), signal);
        }, signal);
        decode = plan.decryptor;
        expected = plan.cipherBytes;
        if (plan.range === undefined) delete opts.range;
        else opts.range = plan.range;
      }
      // Only a copy whose bytes are the object's: a decoder's input is not the span's bytes.
      if (r.into !== undefined && decode === undefined && expected <= r.into.length) opts.into = r.into.subarray(0, expected);
      const at = backendKey(task);
      return breaker === undefined
        ? await backend.get(at, opts)
        : await breaker.execute((_s, g) => {
          generation = g;
          return backend.get(at, opts);
        }, signal);
    }, discardBody);
  } catch (err) {
    ledger.settle(task, { api: extraApi + (isBilledFailure(err) ? 1 : 0), egress: extraEgress });
    countDecryptFailure(p, copy.backendName, err);
    if (hasCode(err, 'DECOMPRESSION_FAILED')) p.recorder.inc(METRIC.decompressFailures, { backend: copy.backendName });
    throw err;
  }
  const fail = (err: ReadPathError): never => {
    discardBody(res);
    ledger.settle(task, { api: 1 + extraApi, egress: extraEgress });
    throw err;
  };
  if (res.size >= 0 && res.size !== expected) {
    fail(new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${key}: answered ${res.size} bytes where ${expected} were asked for (the copy differs from the stored size)`));
  }
  // A ranged answer says how big the stored object is: another size than the row's is another
  // object, whose bytes must not be spliced into this one (a range is not hash-checked).
  const stored = copy.location?.sizeBytes;
  if (res.totalSize !== undefined && stored !== undefined && res.totalSize !== stored) {
    fail(new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${key}: holds ${res.totalSize} stored bytes where the row says ${stored} (the copy differs from its row)`));
  }
  if (task.egressLimited === true) {
    const limit = ledger.reserveEgress(task, expected);
    if (limit !== null) fail(new UsageLimitSkipError(copy.backendName, { limit }));
  }
  const checkStart = copy.location === null && r.start === 0;
  return { copy, res, task, breaker, generation, expected, bytes: 0, settled: false, decode, decrypting, decompressing, extraApi, extraEgress, checkStart };
}

/** Count a decryption failure by kind; anything else is not counted. */
function countDecryptFailure(p: StreamPolicies, backend: string, err: unknown): void {
  const kind = decryptFailureKind(err);
  if (kind !== undefined) p.recorder.inc(METRIC.decryptFailures, { backend, kind });
}

/**
 * The segment is over: free its socket unless its body ended, settle its usage with the bytes
 * read, and tell its breaker how a failed body went. Idempotent.
 */
export function finishSegment(seg: Segment, failure: unknown, p: StreamPolicies, callerAborted: boolean): void {
  if (seg.settled) return;
  seg.settled = true;
  if (failure !== undefined || !seg.res.body.readableEnded) destroyQuietly(seg.res.body, failure instanceof Error ? failure : undefined);
  p.recorder.reservations.settle(seg.task, { api: 1 + seg.extraApi, egress: seg.bytes + seg.extraEgress });
  if (seg.bytes > 0) p.recorder.inc(METRIC.streamBytes, { backend: seg.copy.backendName }, seg.bytes);
  if (seg.decrypting) {
    if (failure === undefined) p.recorder.inc(METRIC.decrypts, { backend: seg.copy.backendName, kind: 'stream' });
    else countDecryptFailure(p, seg.copy.backendName, failure);
  }
  if (seg.decompressing) {
    if (failure === undefined) p.recorder.inc(METRIC.decompressions, { backend: seg.copy.backendName, kind: 'stream' });
    else if (hasCode(failure, 'DECOMPRESSION_FAILED')) p.recorder.inc(METRIC.decompressFailures, { backend: seg.copy.backendName });
  }
  if (failure !== undefined && seg.breaker !== undefined) {
    seg.breaker.report(classifyBackendError(failure, callerAborted || hasCode(failure, 'ABORTED')), seg.generation);
  }
}

/**
 * A stall detector for one body: armed while waiting for its next chunk, it destroys the body
 * with TIMEOUT when none came within `ms` (so the reader's await fails and the read moves on).
 * One timer per watch, re-armed lazily — not one per chunk.
 */
export class IdleWatch {
  readonly #ms: number;
  readonly #describe: () => string;
  #timer: NodeJS.Timeout | undefined;
  #since = -1;
  #body: Readable | undefined;

  constructor(ms: number, describe: () => string) {
    this.#ms = ms;
    this.#describe = describe;
  }

  /** Start waiting for `body`'s next chunk. */
  arm(body: Readable): void {
    if (!(this.#ms > 0)) return;
    this.#body = body;
    this.#since = performance.now();
    if (this.#timer === undefined) this.#schedule(this.#ms);
  }

  /** A chunk (or the end) arrived. */
  disarm(): void {
    this.#since = -1;
  }

  /** Release the timer. */
  stop(): void {
    this.#since = -1;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#body = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(this.#check, ms);
    this.#timer.unref();
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    if (this.#since < 0 || this.#body === undefined) return;
    const waited = performance.now() - this.#since;
    if (waited < this.#ms) {
      this.#schedule(this.#ms - waited);
      return;
    }
    destroyQuietly(this.#body, new ReadPathError('TIMEOUT', `${this.#describe()}: no bytes for ${Math.round(waited)} ms`));
  };
}

/**
 * Yield a segment's bytes as they arrive (decrypted and decoded, for an encrypted or compressed copy), counting what the
 * backend sent; throws when the body fails, stalls (via `idle`), ends short or long of what the
 * segment asked for, fails to decrypt, or — degraded, from byte 0 — begins like ciphertext.
 */
export async function* segmentChunks(seg: Segment, idle: IdleWatch): AsyncGenerator<Buffer> {
  const dec = seg.decode;
  if (dec === undefined && !seg.checkStart) {
    yield* wireChunks(seg, idle);
    return;
  }
  const passOn = chunkPasser(seg);
  const plain: Buffer[] = [];
  const sink = (b: Buffer): void => {
    plain.push(b);
  };
  for await (const chunk of wireChunks(seg, idle)) {
    passOn(chunk, sink);
    while (plain.length > 0) yield plain.shift() as Buffer;
  }
  if (dec !== undefined) {
    dec.end(sink);
    while (plain.length > 0) yield plain.shift() as Buffer;
  }
}

/**
 * A segment's bytes, as {@link segmentChunks} yields them, handed to `take` as they arrive;
 * resolves once the segment ended with every byte it asked for, and rejects as that generator
 * throws. Events instead of async iterators: for a body read whole anyway (a verified body
 * within the window) the iterator layers (Node's per-stream async iterator, two generators)
 * were a tenth of a small read's allocations, for nothing backpressure needed.
 */
export function drainSegment(seg: Segment, idle: IdleWatch, take: (chunk: Buffer) => void): Promise<void> {
  const body = seg.res.body;
  const dec = seg.decode;
  const passOn = chunkPasser(seg);
  return new Promise<void>((resolve, reject) => {
    if (body.destroyed) {
      reject(body.errored ?? prematureClose());
      return;
    }
    let done = false;
    const finish = (err: unknown): void => {
      if (done) return;
      done = true;
      idle.disarm();
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      if (err === undefined) resolve();
      else {
        const e = err instanceof Error ? err : new Error(messageOf(err));
        destroyQuietly(body, e);
        reject(e);
      }
    };
    const onData = (c: Buffer | string): void => {
      const chunk = typeof c === 'string' ? Buffer.from(c) : c;
      try {
        countWire(seg, chunk);
        passOn(chunk, take);
      } catch (err) {
        finish(err);
        return;
      }
      idle.arm(body);
    };
    const onEnd = (): void => {
      try {
        checkWireEnd(seg);
        dec?.end(take);
      } catch (err) {
        finish(err);
        return;
      }
      finish(undefined);
    };
    const onError = (err: Error): void => finish(err);
    // Destroyed without an error (by its consumer): as an async iterator reports it.
    const onClose = (): void => finish(prematureClose());
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
    idle.arm(body);
  });
}

/**
 * What a segment does with each chunk the backend sent, before handing it on: refuse the copy
 * once its first bytes are an encrypted object's header (degraded, from byte 0), and decrypt or
 * decode an encoded copy (its output may be none, one or several chunks).
 */
function chunkPasser(seg: Segment): (chunk: Buffer, out: (b: Buffer) => void) => void {
  const dec = seg.decode;
  const sniffer = seg.checkStart ? new EncryptedStartSniffer() : undefined;
  return (chunk, out) => {
    if (sniffer?.feed(chunk) === true) throw encryptedWithoutRow({ backend: seg.copy.backendName, key: seg.task.key });
    if (dec === undefined) out(chunk);
    else dec.push(chunk, out);
  };
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** The backend's bytes of a segment, counted and checked against what was asked for. */
async function* wireChunks(seg: Segment, idle: IdleWatch): AsyncGenerator<Buffer> {
  const body = seg.res.body;
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  for (;;) {
    idle.arm(body);
    let r: IteratorResult<Buffer | string>;
    try {
      r = await it.next();
    } finally {
      idle.disarm();
    }
    if (r.done === true) break;
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    countWire(seg, chunk);
    yield chunk;
  }
  checkWireEnd(seg);
}

/** Count a chunk the backend sent; throws when the segment now has more than it asked for. */
function countWire(seg: Segment, chunk: Buffer): void {
  seg.bytes += chunk.byteLength;
  if (seg.bytes > seg.expected) throw new ReadPathError('BACKEND_ERROR', `${seg.copy.backendName}: ${seg.task.key}: body longer than the ${seg.expected} bytes asked for`);
}

/** The backend's body ended: throws when it sent less than the segment asked for. */
function checkWireEnd(seg: Segment): void {
  if (seg.bytes !== seg.expected) {
    throw new ReadPathError('BACKEND_ERROR', `${seg.copy.backendName}: ${seg.task.key}: body truncated: ${seg.bytes} of ${seg.expected} bytes`);
  }
}
