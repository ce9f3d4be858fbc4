/**
 * One copy opened for part of an object — a "segment" of a stream or one part of a striped
 * read — with the policies every backend call gets at dispatch: the encrypted-copy refusal, the
 * backend's circuit breaker (the open is its call; a body that breaks later is reported to it),
 * usage admission, egress reservation of the bytes asked for, and settlement with the bytes
 * read. Streams and striped reads differ only in how they schedule segments.
 */
import type { Readable } from 'node:stream';
import { ReadPathError, UsageLimitSkipError, hasCode } from '../errors.js';
import { destroyQuietly } from '../backends/call-deadline.js';
import { discardBody } from '../backends/body.js';
import type { CircuitBreaker } from '../policies/circuit-breaker.js';
import { classifyBackendError } from '../policies/backend-breaker.js';
import { isBilledFailure } from '../probe/billing.js';
import { refusal } from '../probe/run.js';
import { probeLocation, type ProbeTask } from '../probe/task.js';
import { METRIC, type Recorder } from '../telemetry/recorder.js';
import type { BackendGetOptions, GetResult, ObjectBackend, ObjectLocation } from '../types.js';

/** One copy a stream may read from. */
export interface StreamCopy {
  backendName: string;
  /** Undefined when the row names a backend that is not configured. */
  backend: ObjectBackend | undefined;
  /** The location row; null in degraded mode. */
  location: ObjectLocation | null;
}

/** The policies a stream applies to each copy it opens. */
export interface StreamPolicies {
  recorder: Recorder;
  breakers: ReadonlyMap<string, CircuitBreaker>;
  /** Longest wait for a copy's next bytes while the consumer wants more, ms (0: no limit). */
  idleTimeoutMs: number;
  verify: boolean;
  verifyEtag: boolean;
}

/** An opened copy. */
export interface Segment {
  copy: StreamCopy;
  res: GetResult;
  task: ProbeTask;
  breaker: CircuitBreaker | undefined;
  generation: number;
  /** Bytes this segment must deliver. */
  expected: number;
  bytes: number;
  settled: boolean;
}

/** What to open. */
export interface SegmentRequest {
  key: string;
  copy: StreamCopy;
  /** The Range header, or undefined for the whole object. */
  range: string | undefined;
  /** The byte count the answer must announce. */
  expected: number;
  /** Proof the copy holds the same bytes, when its row cannot give it. */
  ifMatch?: string | undefined;
  signal: AbortSignal;
}

/** Open one copy: resolves once it answered with headers that fit; throws the copy's failure. */
export async function openSegment(r: SegmentRequest, p: StreamPolicies): Promise<Segment> {
  const { key, copy, expected } = r;
  const backend = copy.backend;
  if (backend === undefined) throw new ReadPathError('BACKEND_NOT_FOUND', `backend ${copy.backendName} is not configured`);
  const task: ProbeTask = { op: 'get', backend: copy.backendName, key, location: probeLocation(copy.location) };
  const refused = refusal(task);
  if (refused !== undefined) throw refused;
  const opts: BackendGetOptions = { signal: r.signal, timeoutCoversBody: false };
  if (r.range !== undefined) opts.range = r.range;
  if (r.ifMatch !== undefined) opts.ifMatch = r.ifMatch;
  const ledger = p.recorder.reservations;
  ledger.admit(task);
  const breaker = p.breakers.get(copy.backendName);
  let generation = 0;
  let res: GetResult;
  try {
    res = breaker === undefined
      ? await backend.get(key, opts)
      : await breaker.execute((_s, g) => {
        generation = g;
        return backend.get(key, opts);
      }, r.signal);
  } catch (err) {
    ledger.settle(task, { api: isBilledFailure(err) ? 1 : 0, egress: 0 });
    throw err;
  }
  const fail = (err: ReadPathError): never => {
    discardBody(res);
    ledger.settle(task, { api: 1, egress: 0 });
    throw err;
  };
  if (res.size >= 0 && res.size !== expected) {
    fail(new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${key}: answered ${res.size} bytes where ${expected} were asked for (the copy differs from the stored size)`));
  }
  if (task.egressLimited === true) {
    const limit = ledger.reserveEgress(task, expected);
    if (limit !== null) fail(new UsageLimitSkipError(copy.backendName, { limit }));
  }
  return { copy, res, task, breaker, generation, expected, bytes: 0, settled: false };
}

/**
 * The segment is over: free its socket unless its body ended, settle its usage with the bytes
 * read, and tell its breaker how a failed body went. Idempotent.
 */
export function finishSegment(seg: Segment, failure: unknown, p: StreamPolicies, callerAborted: boolean): void {
  if (seg.settled) return;
  seg.settled = true;
  if (failure !== undefined || !seg.res.body.readableEnded) destroyQuietly(seg.res.body, failure instanceof Error ? failure : undefined);
  p.recorder.reservations.settle(seg.task, { api: 1, egress: seg.bytes });
  if (seg.bytes > 0) p.recorder.inc(METRIC.streamBytes, { backend: seg.copy.backendName }, seg.bytes);
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
 * Yield a segment's bytes as they arrive, counting them; throws when the body fails, stalls
 * (via `idle`), or ends short or long of what the segment asked for.
 */
export async function* segmentChunks(seg: Segment, idle: IdleWatch): AsyncGenerator<Buffer> {
  const body = seg.res.body;
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const name = seg.copy.backendName;
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
    seg.bytes += chunk.byteLength;
    if (seg.bytes > seg.expected) throw new ReadPathError('BACKEND_ERROR', `${name}: ${seg.task.key}: body longer than the ${seg.expected} bytes asked for`);
    yield chunk;
  }
  if (seg.bytes !== seg.expected) {
    throw new ReadPathError('BACKEND_ERROR', `${name}: ${seg.task.key}: body truncated: ${seg.bytes} of ${seg.expected} bytes`);
  }
}
