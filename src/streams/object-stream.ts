/**
 * A streamed read (`ReadPath.getStream`): an object's body as a Node Readable in bounded memory,
 * whatever its size, hashed as it passes and failing over mid-body.
 *
 * Where the bytes flow: on the thread that consumes them. A stream's consumer is on the main
 * thread, so its socket is read there too — one copy of each chunk, no thread hop, and
 * backpressure is the socket's own (the body is read only when the consumer wants more). The
 * hash runs per chunk (~40 µs per 64 KiB with SHA-NI), far below the event-loop budget; see
 * DESIGN notes in docs/architecture.md and the streaming rows of bench/RESULTS.md.
 *
 * Failover: a copy that fails after some bytes (reset, stall, 5xx on resume, truncation) is
 * left, and the read continues from the next copy at the same offset with a Range request,
 * feeding the same hash. Copies are the same bytes when their rows' content hash and size agree;
 * without a content hash the resumed request carries `If-Match` with the first copy's ETag, so a
 * server holding different bytes refuses instead of splicing them in. The consumer sees one
 * body; the switch shows in metrics and the outcome's `backends`.
 *
 * Policies, per copy opened (a "segment"): the encrypted-copy refusal, the backend's circuit
 * breaker (the open is its call; a body that breaks later is reported to it), usage admission,
 * egress reservation of the segment's announced length, and settlement with the bytes read.
 */
import { Readable } from 'node:stream';
import { ReadPathError, abortedError, hasCode, messageOf } from '../errors.js';
import { destroyQuietly } from '../backends/call-deadline.js';
import { BodyVerifier, storedHash } from '../probe/verify.js';
import { classifyBroadcastFailure, locatedFailure } from '../engine/verdicts.js';
import type { ProbeFailure } from '../engine/race.js';
import { METRIC } from '../telemetry/recorder.js';
import { spanLength, type ByteSpan } from '../ranges/byte-range.js';
import type { OffloadedDigest } from './digest-thread.js';
import { headFields, objectHead } from '../probe/answer.js';
import type { VerdictHead } from '../probe/task.js';
import { storedDiffers } from '../stores/row-mapping.js';
import type { CuttableStream } from './live-streams.js';
import { IdleWatch, drainSegment, finishSegment, objectSizeOf, openSegment, segmentChunks, type Segment, type StreamCopy, type StreamPolicies } from './segment.js';

export type { StreamCopy, StreamPolicies } from './segment.js';

/**
 * Verified bodies up to this size are checked whole before any byte is handed on (and a damaged
 * copy is replaced by the next, from byte 0); larger ones are handed on as they pass and a
 * mismatch found at their end fails the body (its last chunk held back, see holdLast).
 */
export const VERIFY_WINDOW = 1024 * 1024;

/** What a stream reads. */
export interface StreamSource {
  key: string;
  /** Copies in the order to try them. */
  copies: readonly StreamCopy[];
  /** The part of the object to read, resolved against its size. */
  span: ByteSpan;
  /** The whole object (no range was asked): the body is verified. */
  whole: boolean;
  /** Copies found by broadcast while the metadata store is down. */
  degraded: boolean;
  /** Degraded mode: the ETag the copies answered HEAD with (resumes must match it). */
  etag?: string | undefined;
  /** Degraded mode: the first copy is the one the location cache named (not found by broadcast). */
  cacheHit?: boolean | undefined;
  /**
   * Memory the span's bytes may be read into (no smaller than the span): byte `i` of the span
   * at `into[i]`, whichever copy sends it (see `BackendGetOptions.into`).
   */
  into?: Buffer | undefined;
  /**
   * Computes the check's digest of a body held whole in `into` elsewhere (a thread of its own,
   * `DigestThread`); the body is then not hashed on this thread as it passes.
   */
  digest?: OffloadedDigest | undefined;
}

/**
 * The copy whose bytes a stream's consumer gets first, when it is not the one the opened stream
 * named (see {@link OpenedStream.onServing}).
 */
export interface ServingCopy {
  backend: string;
  /** It is not the first stored copy. */
  failover: boolean;
  /** What it said about the object, as its row corrects it. */
  head: VerdictHead;
  location: StreamCopy['location'];
}

/** An opened stream. */
export interface OpenedStream {
  /**
   * What the first copy said about the object (ETag, Content-Type, Last-Modified, metadata), as
   * the row corrects it. A field of its own rather than spread over this object: V8 builds an
   * object literal that begins with a spread through its slow runtime path (~1–4 µs each,
   * measured on Node 20), which is felt at thousands of small reads a second.
   */
  head: VerdictHead;
  /**
   * The backend whose bytes the consumer gets first: the first to answer until then (see
   * {@link onServing}).
   */
  backend: string;
  /** That copy is not the first stored one. */
  failover: boolean;
  body: Readable;
  /** Settles when the body ends: true when the whole body matched content_hash; false otherwise. */
  verified: Promise<boolean>;
  /**
   * Backends that served the body, in order — only copies some of whose bytes the consumer got;
   * grows when the read moves to another copy that sends some.
   */
  backends: string[];
  /**
   * Set by whoever describes the stream to its consumer: called once, before the first byte is
   * handed on, when the copy sending it is not the one `backend` names — the first to answer
   * failed, or was found damaged, before any of its bytes were handed on. (`backends` is already
   * corrected in place.)
   */
  onServing?: ((c: ServingCopy) => void) | undefined;
}

/** A segment and where it sits in the copy list. */
interface Placed extends Segment {
  index: number;
  /** Some of its bytes are among those the consumer gets (or it sent the whole, empty, span). */
  served: boolean;
}

/**
 * Why a read whose every copy failed before sending a byte failed: what a read that never
 * started reports (the last copy's error, USAGE_LIMIT_EXCEEDED, or a broadcast's verdict).
 * `copies`: how many copies were tried.
 */
export function openFailure(src: StreamSource, failures: readonly ProbeFailure[], copies = src.copies.length): unknown {
  return src.degraded ? classifyBroadcastFailure(src.key, failures).error : locatedFailure(src.key, failures, copies).error;
}

/**
 * The check a whole read's bytes get (undefined for a range, or with verification off): the
 * first copy's content hash, else its plain-MD5 ETag.
 */
export function verifierFor(src: StreamSource, p: StreamPolicies, first: StreamCopy, etag: string | undefined): BodyVerifier | undefined {
  if (!src.whole || !p.verify) return undefined;
  // An encrypted or compressed copy's ETag is its stored bytes' MD5: nothing to check the object against.
  const useEtag = p.verifyEtag && !storedDiffers(first.location);
  return new BodyVerifier({ backendName: first.backendName, location: first.location }, src.key, useEtag ? etag : undefined);
}

/**
 * `chunks`, each handed on only once the next one arrived — the last only once the source ended
 * without an error. A body that fails its check at the end (the check runs after the last chunk)
 * so never delivers its last bytes: whoever forwards it as it comes (an HTTP response with a
 * Content-Length, a file) is left short, never complete and wrong.
 */
export async function* holdLast(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer | undefined;
  for await (const c of chunks) {
    if (held !== undefined) yield held;
    held = c;
  }
  if (held !== undefined) yield held;
}

/**
 * A stream's body: a Readable over `pump`, which settles `verified` when the body ends; a body
 * closed before then (an error, or a consumer that destroyed it) settles it false. `onClose`
 * runs once, as the body's destruction starts (after its end, too). The last chunk waits for
 * the end of `pump` ({@link holdLast}).
 */
export function streamBody(pump: (settle: (v: boolean) => void) => AsyncGenerator<Buffer>, onClose: () => void): { body: Readable; verified: Promise<boolean> } {
  let settle: (v: boolean) => void = () => {};
  const verified = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const body = Readable.from(holdLast(pump(settle)), { objectMode: false, highWaterMark: 64 * 1024 });
  // Readable.from closes only once the generator's return() settled, and a generator waiting for
  // bytes (a stalled copy, a striped part not yet whole) returns only when they come: the read is
  // told as destruction starts, so it cancels what it waits on and the body closes at once.
  let told = false;
  const tell = (): void => {
    if (told) return;
    told = true;
    onClose();
  };
  const destroy = body._destroy.bind(body);
  body._destroy = (err, cb) => {
    tell();
    destroy(err, cb);
  };
  body.once('close', () => {
    tell();
    settle(false);
  });
  return { body, verified };
}

/**
 * End a handed-out body with `err` as Node's IncomingMessage ends one: its listeners get the
 * error, and a body nobody listens to yet keeps it for whoever reads it (`for await`, `pipeline`)
 * rather than raising an uncaught 'error' event — a caller aborting between getting the outcome
 * and reading its body must not crash the process. `verified` settles false as it closes.
 */
export function failBody(body: Readable, err: Error): void {
  if (body.destroyed) return;
  if (body.listenerCount('error') === 0) body.once('error', noop);
  body.destroy(err);
}

function noop(): void {}

/**
 * A body checked whole before any of it is handed on: `fill` runs once the consumer first wants
 * bytes, and its chunks are handed on once it resolved (its rejection destroys the body).
 * `verified` settles as with {@link streamBody}. No generator or iterator per body: at
 * thousands of small reads a second their allocations were a tenth of each read's.
 */
export function heldBody(fill: () => Promise<{ chunks: readonly Buffer[]; ok: boolean }>, onClose: () => void): { body: Readable; verified: Promise<boolean> } {
  let settle: (v: boolean) => void = () => {};
  const verified = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  let chunks: readonly Buffer[] | undefined;
  let next = 0;
  let started = false;
  const body = new Readable({
    // One chunk buffered at a time: a reader that takes all that is buffered (`read()`, as an
    // async iterator does) would get several chunks concatenated — a copy, and no longer views
    // of the caller's `into`.
    highWaterMark: 0,
    read(): void {
      if (chunks !== undefined) {
        body.push(next < chunks.length ? chunks[next++] : null);
        return;
      }
      if (started) return;
      started = true;
      fill().then((r) => {
        settle(r.ok);
        chunks = r.chunks;
        body.push(next < chunks.length ? chunks[next++] : null);
      }, (err: unknown) => {
        settle(false);
        body.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    },
  });
  body.once('close', () => {
    onClose();
    settle(false);
  });
  return { body, verified };
}

/** True when `l` is an encrypted copy whose key data is exactly `first`. */
function sameKeyData(first: Uint8Array | undefined, l: StreamCopy['location']): boolean {
  if (first === undefined || l === null || !l.encrypted) return false;
  const k = l.encryptionKey;
  return k !== null && k !== undefined && k.length > 0 && Buffer.from(first).equals(Buffer.from(k));
}

/** Open a stream of `src`: resolves once a copy has answered with headers. */
export async function openObjectStream(src: StreamSource, p: StreamPolicies, signal: AbortSignal | undefined): Promise<OpenedStream> {
  if (signal?.aborted) throw abortedError(signal);
  const s = new StreamRun(src, p, signal);
  const first = await s.open(0);
  return s.start(first);
}

class StreamRun implements CuttableStream {
  readonly #src: StreamSource;
  readonly #p: StreamPolicies;
  readonly #caller: AbortSignal | undefined;
  readonly #failed = new Set<number>();
  readonly #failures: ProbeFailure[] = [];
  readonly #idle: IdleWatch;
  readonly backends: string[] = [];
  #verifier: BodyVerifier | undefined;
  #current: Placed | undefined;
  /** The first copy's identity, which copies resumed from must share. */
  #hash: string | null = null;
  #size = -1;
  #etag: string | undefined;
  #offset = 0;
  /** The first copy and its ETag: what a restarted check is made from. */
  #first: StreamCopy | undefined;
  #firstEtag: string | undefined;
  /** The first copy's key data, when it is encrypted. */
  #firstKeyData: Uint8Array | undefined;
  /**
   * Why the read was stopped from outside — the caller's abort (ABORTED), or its reader's close
   * (the closed reader's error) — whatever its copies do after: the error the read ends with.
   */
  #abortError: ReadPathError | undefined;
  #out: Readable | undefined;
  /** The stream as handed out, and the copy it named (the first to answer). */
  #opened: OpenedStream | undefined;
  #answered: Placed | undefined;
  /**
   * Until the first byte is handed on: the copies that sent the bytes to be handed on, in order.
   * A held body's damaged copy is dropped from it when the read starts over.
   */
  #early: Placed[] | undefined = [];

  constructor(src: StreamSource, p: StreamPolicies, caller: AbortSignal | undefined) {
    this.#src = src;
    this.#p = p;
    this.#caller = caller;
    this.#etag = src.etag;
    this.#idle = new IdleWatch(p.idleTimeoutMs, () => `${this.#current?.copy.backendName ?? ''}: ${src.key}`);
    caller?.addEventListener('abort', this, { once: true });
    p.live?.add(this);
  }

  #aborted(): ReadPathError | undefined {
    return this.#abortError;
  }

  /** The caller aborted: stop reading, and end the body with ABORTED. */
  handleEvent(): void {
    const err = abortedError(this.#caller);
    this.cut(err);
    if (this.#out !== undefined) failBody(this.#out, err);
  }

  /**
   * Stop reading (the reader closed): the copy's socket, usage, timer and the caller's listener
   * are released now, and the body ends with `err` when it is next read — a body nobody is
   * reading is not made to emit an error nobody listens for. Nothing the copy does after is held
   * against it, and no other copy is tried.
   */
  cut(err: ReadPathError): void {
    if (this.#abortError !== undefined) return;
    this.#abortError = err;
    this.#release();
  }

  /**
   * Open the first copy that can serve the span from `offset` on. Throws the read's error when
   * none can: at offset 0 as a read that never started would (last error, usage, not found);
   * later as ALL_BACKENDS_FAILED naming the offset.
   */
  async open(offset: number): Promise<Placed> {
    const copies = this.#src.copies;
    for (let i = 0; i < copies.length; i++) {
      if (this.#failed.has(i)) continue;
      if (this.#abortError !== undefined) {
        this.#release();
        throw this.#abortError;
      }
      const copy = copies[i] as StreamCopy;
      try {
        const seg = await openSegment({
          key: this.#src.key,
          copy,
          start: this.#src.span.start + offset,
          end: this.#src.span.end,
          whole: this.#src.whole,
          into: this.#src.into?.subarray(offset),
          ifMatch: this.backends.length > 0 ? this.#sameBytesCondition(copy) : this.#etag,
          // The caller's own: its abort reaches the copy's request as it reaches this run (no
          // controller of our own to forward it; an AbortController costs ~4 µs to make).
          signal: this.#caller,
        }, this.#p);
        const placed: Placed = Object.assign(seg, { index: i, served: false });
        this.#current = placed;
        // Cut while it was opening (the reader closed: the request itself was not aborted).
        const cut = this.#aborted();
        if (cut !== undefined) throw cut;
        return placed;
      } catch (err) {
        // A method call, not the field: the narrowing from the loop's top does not survive the await.
        const aborted = this.#aborted();
        if (aborted !== undefined) {
          this.#release();
          throw aborted;
        }
        this.#failed.add(i);
        this.#failures.push({ index: i, backendName: copy.backendName, error: err });
      }
    }
    this.#release();
    throw this.#noCopyLeft(offset);
  }

  #noCopyLeft(offset: number): unknown {
    const key = this.#src.key;
    // Nothing was delivered yet: the read failed as one that never started would.
    if (offset === 0) return openFailure(this.#src, this.#failures);
    const last = this.#failures[this.#failures.length - 1]?.error;
    return new ReadPathError('ALL_BACKENDS_FAILED', `${key}: no copy could continue the stream at byte ${this.#src.span.start + offset}${last === undefined ? '' : `; last error: ${messageOf(last)}`}`, { cause: last });
  }

  /**
   * A resume from `copy`: the If-Match condition that proves it holds the same bytes, or
   * undefined when the rows already prove it (same content hash and size). Throws when nothing
   * can prove it.
   */
  #sameBytesCondition(copy: StreamCopy): string | undefined {
    const l = copy.location;
    const h = storedHash(l);
    if (this.#hash !== null && h === this.#hash && l !== null && objectSizeOf(l) === this.#size) return undefined;
    if (this.#hash !== null && h !== null) {
      throw new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${this.#src.key}: its content hash or size differs from the copy being streamed; it cannot continue the stream`);
    }
    // Encrypted copies with key data of their own are different ciphertexts: an If-Match with the
    // first copy's ETag would only come back 412. The same key data is the same bytes, replicated.
    const first = this.#firstKeyData;
    if ((first !== undefined || l?.encrypted === true) && !sameKeyData(first, l)) {
      throw new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${this.#src.key}: an encrypted copy with its own data key and no content hash to prove it holds the same object; it cannot continue the stream`);
    }
    if (this.#etag === undefined) {
      throw new ReadPathError('BACKEND_ERROR', `${copy.backendName}: ${this.#src.key}: no content hash or ETag proves it holds the same bytes; it cannot continue the stream`);
    }
    return this.#etag;
  }

  /** The stream, from its first open segment. */
  start(first: Placed): OpenedStream {
    // Stopped (aborted, closed) after the copy answered but before the body was made: rejected as
    // a stop during the opening is (cut() released the copy), not handed out dead.
    if (this.#abortError !== undefined) throw this.#abortError;
    const src = this.#src;
    const loc = first.copy.location;
    this.#hash = storedHash(loc);
    if (loc?.encrypted === true) this.#firstKeyData = loc.encryptionKey ?? new Uint8Array(0);
    this.#size = loc === null ? src.span.total : objectSizeOf(loc);
    this.#etag ??= first.res.etag;
    this.#verifier = verifierFor(src, this.#p, first.copy, first.res.etag);
    this.#first = first.copy;
    this.#firstEtag = first.res.etag;
    this.#answered = first;
    // Provisional, as `backend` is: corrected once the first byte is handed on (#announce).
    this.backends.push(first.copy.backendName);
    // A consumer that destroys the body must free the socket now, not when the next chunk lands.
    const onClose = (): void => {
      const seg = this.#current;
      if (seg !== undefined && !seg.settled) destroyQuietly(seg.res.body, this.#abortError);
      // A body destroyed before it was read never ran the pump, whose finally releases the read:
      // its request would go unbilled, its reservation held and the caller's listener kept.
      this.#release();
    };
    // A verified body no bigger than the window is checked whole before a byte of it is handed
    // on, so a damaged copy is left for the next one as a buffered get would: nothing was sent.
    const windowed = this.#verifier !== undefined && spanLength(src.span) <= VERIFY_WINDOW;
    const { body, verified } = windowed ? heldBody(() => this.#fillWindow(), onClose) : streamBody((settle) => this.#pump(settle), onClose);
    this.#out = body;
    const opened: OpenedStream = { head: objectHead(headFields(first.res), loc), backend: first.copy.backendName, failover: first.index !== 0, body, verified, backends: this.backends, onServing: undefined };
    this.#opened = opened;
    return opened;
  }

  /** Some of `seg`'s bytes are among those the consumer gets. */
  #served(seg: Placed): void {
    if (seg.served) return;
    seg.served = true;
    if (this.#early !== undefined) this.#early.push(seg);
    else this.backends.push(seg.copy.backendName);
  }

  /**
   * The first byte is about to be handed on: from now on the copies that sent it are known.
   * `backends` becomes them, and a first copy that sent none of them (cut before its first byte,
   * or damaged and left) is replaced in the outcome by the one that did — as a striped read
   * names the copy its first part came from.
   */
  #announce(): void {
    const early = this.#early;
    if (early === undefined) return;
    this.#early = undefined;
    const first = early[0];
    if (first === undefined) return;
    this.backends.splice(0, this.backends.length, ...early.map((s) => s.copy.backendName));
    if (first === this.#answered) return;
    const opened = this.#opened as OpenedStream;
    opened.backend = first.copy.backendName;
    opened.failover = first.index !== 0;
    opened.head = objectHead(headFields(first.res), first.copy.location);
    opened.onServing?.({ backend: opened.backend, failover: opened.failover, head: opened.head, location: first.copy.location });
  }

  /** A body handed on as it passes, checked at its end (its last chunk held back until then). */
  async *#pump(settle: (v: boolean) => void): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const seg = this.#current as Placed;
        let failure: unknown;
        try {
          for await (const chunk of segmentChunks(seg, this.#idle)) {
            this.#verifier?.update(chunk);
            this.#offset += chunk.byteLength;
            if (!seg.served && chunk.byteLength > 0) {
              this.#served(seg);
              this.#announce();
            }
            yield chunk;
          }
        } catch (err) {
          failure = err;
        }
        finishSegment(seg, failure, this.#p, this.#abortError !== undefined);
        if (failure === undefined) {
          // An empty span: the copy that answered it served it.
          this.#served(seg);
          this.#announce();
          break;
        }
        await this.#moveOn(seg, failure);
      }
      settle(this.#verifier?.finish() ?? false);
    } catch (err) {
      settle(false);
      throw err;
    } finally {
      this.#release();
    }
  }

  /** A body within the window, read whole and checked; a damaged copy is replaced from byte 0. */
  async #fillWindow(): Promise<{ chunks: Buffer[]; ok: boolean }> {
    // A held body in `into` can be hashed elsewhere once whole (see #checkHeld).
    const offload = this.#src.into !== undefined ? this.#src.digest : undefined;
    let held: Buffer[] = [];
    const take = (chunk: Buffer): void => {
      if (offload === undefined) this.#verifier?.update(chunk);
      this.#offset += chunk.byteLength;
      if (chunk.byteLength > 0) this.#served(this.#current as Placed);
      held.push(chunk);
    };
    try {
      for (;;) {
        const seg = this.#current as Placed;
        let failure: unknown;
        let ok = false;
        try {
          await drainSegment(seg, this.#idle, take);
          ok = offload === undefined ? this.#verifier?.finish() ?? false : await this.#checkHeld(held, offload);
        } catch (err) {
          failure = err;
        }
        finishSegment(seg, failure, this.#p, this.#abortError !== undefined);
        if (failure === undefined) {
          this.#served(seg);
          this.#announce();
          return { chunks: held, ok };
        }
        if (hasCode(failure, 'INTEGRITY_MISMATCH')) {
          // This copy's bytes are wrong: start over, whole, on the next. None of them is handed on.
          held = [];
          this.#early = [];
          this.#offset = 0;
          this.#verifier = verifierFor(this.#src, this.#p, this.#first as StreamCopy, this.#firstEtag);
        }
        await this.#moveOn(seg, failure);
      }
    } finally {
      this.#release();
    }
  }

  /**
   * `seg` failed with `failure`: go on from the next copy that can serve the rest. Throws the
   * caller's abort, `failure` itself when the consumer has left, or the read's error when no
   * copy is left.
   */
  async #moveOn(seg: Placed, failure: unknown): Promise<void> {
    if (this.#abortError !== undefined) throw this.#abortError;
    if (this.#out?.destroyed === true) throw failure;
    this.#failed.add(seg.index);
    this.#failures.push({ index: seg.index, backendName: seg.copy.backendName, error: failure });
    this.#p.recorder.inc(METRIC.streamResumes, { backend: seg.copy.backendName });
    await this.open(this.#offset);
  }

  /**
   * The check of a held body with its digest computed by `digest`, given the body's place in
   * `into` when every chunk is the next bytes of it (a plain copy read into it, resumed or not);
   * otherwise (chunks a decryption or decompression made) hashed here, as they would have been.
   */
  async #checkHeld(held: readonly Buffer[], digest: OffloadedDigest): Promise<boolean> {
    const verifier = this.#verifier as BodyVerifier;
    const into = this.#src.into as Buffer;
    const algorithm = verifier.algorithm;
    if (algorithm === undefined) return false;
    let at = 0;
    for (const c of held) {
      if (c.buffer !== into.buffer || c.byteOffset !== into.byteOffset + at) {
        for (const h of held) verifier.update(h);
        return verifier.finish();
      }
      at += c.byteLength;
    }
    const actual = await digest(algorithm, into.subarray(0, at));
    // A consumer that left meanwhile gave the buffer back: it may hold another body's bytes by
    // now, so the digest judges nothing — least of all the copy (no failover, no failure counted).
    if (this.#out?.destroyed === true) return false;
    return verifier.check(actual);
  }

  /** The read is over: free the socket, the timer, the caller's signal and its place among the reader's streams. */
  #release(): void {
    const seg = this.#current;
    if (seg !== undefined) finishSegment(seg, this.#abortError, this.#p, this.#abortError !== undefined);
    this.#idle.stop();
    this.#caller?.removeEventListener('abort', this);
    this.#p.live?.delete(this);
  }
}
