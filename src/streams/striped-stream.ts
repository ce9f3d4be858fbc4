/**
 * Striped reads: a large object read in `partSize` ranges from all its copies at once, so
 * replication becomes bandwidth. Up to `partsInFlight` parts are fetched ahead of the consumer;
 * each goes to the copy expected to finish it first (parts in flight there × its measured
 * time per byte); the part the consumer waits on is hedged to another copy when it runs well
 * past the usual part time; a part whose copy fails is fetched again elsewhere, and a copy that
 * fails twice is dropped. Parts are emitted — and hashed — strictly in order, so memory is the
 * reorder window (`partsInFlight` parts) whatever the object's size, and a consumer that reads
 * slowly stops new fetches rather than buffering more.
 *
 * Only copies proven to hold the same bytes take part: rows with the first row's content hash
 * and size, or, with no content hash, answers matching the first part's ETag (If-Match).
 */
import { Readable } from 'node:stream';
import { ReadPathError, abortedError, backendStatusOf, hasCode, messageOf } from '../errors.js';
import { destroyQuietly } from '../backends/call-deadline.js';
import { BodyVerifier, storedHash } from '../probe/verify.js';
import { refusal } from '../probe/run.js';
import { probeLocation } from '../probe/task.js';
import type { ProbeFailure } from '../engine/race.js';
import { METRIC } from '../telemetry/recorder.js';
import { spanLength } from '../ranges/byte-range.js';
import { headFields, objectHead } from '../probe/answer.js';
import type { VerdictHead } from '../probe/task.js';
import { failBody, openFailure, streamBody, verifierFor, type OpenedStream, type StreamSource } from './object-stream.js';
import { storedDiffers } from '../stores/row-mapping.js';
import type { CuttableStream } from './live-streams.js';
import { IdleWatch, finishSegment, objectSizeOf, openSegment, segmentChunks, type Segment, type StreamCopy, type StreamPolicies } from './segment.js';

/** How a striped read cuts and schedules. */
export interface StripeSettings {
  partSize: number;
  partsInFlight: number;
  /** How often the part the consumer waits on is checked for a hedge, ms. Default 25. */
  hedgeCheckMs?: number;
}

/** A hedge goes out when the awaited part has run this many times the usual part time. */
const HEDGE_FACTOR = 2;
/** A part's bytes are kept in buffers of this size. */
const SLAB = 1024 * 1024;
/** Bytes emitted between two turns of the event loop (~1 ms of hashing). */
const TURN_BYTES = 1024 * 1024;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** A copy that failed this many parts takes no more. */
const MAX_COPY_FAILURES = 2;

interface CopyState {
  copy: StreamCopy;
  inFlight: number;
  /**
   * The copy's measured speed: bytes received over the time it had fetches in flight (its
   * parts share its bandwidth, so a per-fetch rate would make busy copies look slow).
   */
  bytes: number;
  busyMs: number;
  busySince: number;
  failures: number;
  dead: boolean;
}

interface Fetch {
  part: Part;
  copy: CopyState;
  controller: AbortController;
  seg: Segment | undefined;
  started: number;
  hedge: boolean;
  /** Bytes received so far. */
  received: number;
}

/** The copy that served part 0, and its headers (the stream's). */
interface FirstAnswer {
  copy: CopyState;
  head: VerdictHead;
}

/** A copy's failure, and the part it failed. */
interface PartFailure extends ProbeFailure {
  part: number;
}

interface Part {
  index: number;
  start: number;
  end: number;
  /** The part's bytes once a fetch completed it, in slabs. */
  buf: Buffer[] | undefined;
  /** The copy whose fetch completed it: the one whose bytes the consumer gets. */
  servedBy: CopyState | undefined;
  fetches: Fetch[];
  tried: Set<CopyState>;
  waiter: { resolve: (b: Buffer[]) => void; reject: (e: unknown) => void } | undefined;
}

/**
 * The copies that may serve parts: configured, readable (`decrypts`: encrypted copies can be
 * decrypted here), and the same object as the first (content hash and size; for an encrypted
 * copy its plaintext's).
 */
export function stripeCopies(src: StreamSource, decrypts: boolean): StreamCopy[] {
  const out: StreamCopy[] = [];
  let hash: string | null | undefined;
  let size: number | undefined;
  for (const c of src.copies) {
    if (c.backend === undefined) continue;
    if (refusal({ op: 'get', backend: c.backendName, key: src.key, location: probeLocation(c.location) }, decrypts) !== undefined) continue;
    const l = c.location;
    if (l !== null) {
      const h = storedHash(l);
      // Without a content hash only If-Match proves copies alike, and an encrypted copy's ETag
      // is its own ciphertext's: copies with their own data keys never match. Such an object
      // is read from its first copy alone.
      if (h === null && storedDiffers(l) && out.length > 0) continue;
      if (hash === undefined) {
        hash = h;
        size = objectSizeOf(l);
      } else if (h !== hash || objectSizeOf(l) !== size) {
        continue;
      }
    }
    out.push(c);
  }
  return out;
}

/**
 * Open a striped read of `src` over `copies` (two or more, see {@link stripeCopies}): resolves
 * once the first part is whole (its bytes are the first the consumer gets; the other parts are
 * fetched meanwhile), described by the copy that served it.
 */
export async function openStripedStream(src: StreamSource, copies: readonly StreamCopy[], p: StreamPolicies, st: StripeSettings, signal: AbortSignal | undefined): Promise<OpenedStream> {
  if (signal?.aborted) throw abortedError(signal);
  const run = new StripedRun(src, copies, p, st, signal);
  run.start(await run.openFirst());
  return run.served();
}

class StripedRun implements CuttableStream {
  readonly #src: StreamSource;
  readonly #p: StreamPolicies;
  readonly #st: StripeSettings;
  readonly #caller: AbortSignal | undefined;
  readonly #copies: CopyState[];
  readonly #parts: Part[] = [];
  readonly #failures: PartFailure[] = [];
  readonly backends: string[] = [];
  #etag: string | undefined;
  #nextLaunch = 0;
  #nextEmit = 0;
  #fatal: Error | undefined;
  #ended = false;
  #hedgeTimer: NodeJS.Timeout | undefined;
  #partMs: number[] = [];
  #out: Readable | undefined;
  #verified: Promise<boolean> | undefined;
  /** The body was handed to the consumer (part 0 is whole): errors reach it through the body. */
  #handedOut = false;
  #verifier: BodyVerifier | undefined;
  /** Settles once part 0 is whole (with the copy that served it), or the read failed before. */
  readonly #firstPart: Promise<FirstAnswer>;
  #settleFirst: { resolve: (a: FirstAnswer) => void; reject: (e: unknown) => void } = { resolve: () => {}, reject: () => {} };

  constructor(src: StreamSource, copies: readonly StreamCopy[], p: StreamPolicies, st: StripeSettings, caller: AbortSignal | undefined) {
    this.#src = src;
    this.#p = p;
    this.#st = st;
    this.#caller = caller;
    this.#etag = src.etag;
    this.#copies = copies.map((copy) => ({ copy, inFlight: 0, bytes: 0, busyMs: 0, busySince: 0, failures: 0, dead: false }));
    const span = src.span;
    for (let at = span.start, i = 0; at <= span.end; at += st.partSize, i++) {
      this.#parts.push({ index: i, start: at, end: Math.min(span.end, at + st.partSize - 1), buf: undefined, servedBy: undefined, fetches: [], tried: new Set(), waiter: undefined });
    }
    this.#firstPart = new Promise<FirstAnswer>((resolve, reject) => {
      this.#settleFirst = { resolve, reject };
    });
    // Awaited only once the read has started (served()): a failure before then is the opening's to report.
    this.#firstPart.catch(() => {});
    caller?.addEventListener('abort', this, { once: true });
    p.live?.add(this);
  }

  handleEvent(): void {
    const err = abortedError(this.#caller);
    this.#fail(err);
    // A body not handed out yet has no consumer to tell: served() rejects instead.
    if (this.#handedOut && this.#out !== undefined) failBody(this.#out, err);
  }

  /** Stop reading (the reader closed): every fetch cancelled now; the body ends with `err` when it is next read. */
  cut(err: ReadPathError): void {
    this.#fail(err);
  }

  /** The error the read was ended with, if it was. */
  #stopped(): Error | undefined {
    return this.#fatal;
  }

  /**
   * Part 0, copy by copy in order, as a plain stream opens: the read fails as any read would
   * when no copy answers. The answer's ETag is the one parts are asked to match (If-Match); the
   * stream is described by the copy that completes part 0 ({@link served}).
   */
  async openFirst(): Promise<CopyState> {
    const part = this.#parts[0] as Part;
    for (const c of this.#copies) {
      if (this.#fatal !== undefined) throw this.#fatal;
      const f = this.#newFetch(part, c, false);
      try {
        f.seg = await this.#open(f);
      } catch (err) {
        this.#forget(f, err);
        // A method call, not the field: the narrowing from the loop's top does not survive the await.
        const stopped = this.#stopped();
        if (stopped !== undefined) throw stopped;
        this.#failures.push({ index: this.#copies.indexOf(c), backendName: c.copy.backendName, error: err, part: 0 });
        c.failures++;
        if (backendStatusOf(err) === 404 || backendStatusOf(err) === 412) c.dead = true;
        continue;
      }
      // Cut while it was opening (the reader closed: the request itself was not aborted).
      const cut = this.#stopped();
      if (cut !== undefined) {
        this.#forget(f, cut);
        throw cut;
      }
      this.#etag ??= f.seg.res.etag;
      // Nothing proves the other copies hold these bytes — no content hash, no ETag for If-Match:
      // the parts come from this copy alone, as a plain stream would refuse to resume elsewhere.
      if (this.#etag === undefined) {
        for (const other of this.#copies) if (other !== c && storedHash(other.copy.location) === null) other.dead = true;
      }
      this.#nextLaunch = 1;
      void this.#drainInto(f);
      return c;
    }
    this.#stop();
    throw openFailure(this.#src, this.#failures, this.#copies.length);
  }

  /**
   * One failure per copy, in the order they came: why it could not serve part 0, or, for a copy
   * dropped before it was asked for part 0, why it was dropped — what a plain read that never
   * started judges (one failure per copy tried).
   */
  #startFailures(): PartFailure[] {
    const byCopy = new Map<number, PartFailure>();
    for (const f of this.#failures) {
      const had = byCopy.get(f.index);
      if (had?.part === 0) continue;
      // Deleted first: a Map keeps the order keys were first set in.
      byCopy.delete(f.index);
      byCopy.set(f.index, f);
    }
    return [...byCopy.values()];
  }

  /** Part 0 answered: the body is made, and the other parts are launched. */
  start(first: CopyState): void {
    this.#verifier = verifierFor(this.#src, this.#p, first.copy, this.#etag);
    const { body, verified } = streamBody((settle) => this.#emit(settle), () => {
      if (!this.#ended) this.#fail(this.#fatal ?? new ReadPathError('ABORTED', `${this.#src.key}: the stream was closed by its consumer`));
    });
    this.#out = body;
    this.#verified = verified;
    // Failed (aborted, cut) between part 0's answer and now: #fail stopped what there was, and
    // nothing would stop a timer armed after it.
    if (this.#fatal !== undefined) return;
    this.#launch();
    const check = this.#st.hedgeCheckMs ?? 25;
    this.#hedgeTimer = setInterval(() => this.#maybeHedge(), check);
    this.#hedgeTimer.unref();
  }

  /**
   * The stream, once part 0 is whole, described by the copy that served it — not the one that
   * answered first, whose body may have been cut and part 0 fetched again elsewhere: `backend`
   * (and `failover`, and the head fields its row gives) name the copy the first byte came from,
   * and `backends` starts with it. The consumer gets no byte before part 0 is whole anyway. A
   * read that fails before then rejects, as a read that never started does.
   */
  async served(): Promise<OpenedStream> {
    let first: FirstAnswer;
    try {
      first = await this.#firstPart;
    } catch (err) {
      this.#out?.destroy();
      throw err;
    }
    // Failed (the caller aborted, the reader closed) after part 0 was whole but before this
    // resumed: #fail could no longer reject #firstPart, and did not tell a body not handed out.
    // Rejected as a failure a moment earlier is, rather than handing out a body already dead.
    const failed = this.#fatal;
    if (failed !== undefined) {
      this.#out?.destroy();
      throw failed;
    }
    this.#handedOut = true;
    const backend = first.copy.copy.backendName;
    this.backends.push(backend);
    return { head: first.head, backend, failover: first.copy !== this.#copies[0], body: this.#out as Readable, verified: this.#verified as Promise<boolean>, backends: this.backends };
  }

  async *#emit(settle: (v: boolean) => void): AsyncGenerator<Buffer> {
    let sinceTurn = 0;
    try {
      for (let i = 0; i < this.#parts.length; i++) {
        const part = this.#parts[i] as Part;
        const chunks = part.buf ?? (await new Promise<Buffer[]>((resolve, reject) => {
          if (this.#fatal !== undefined) reject(this.#fatal);
          else part.waiter = { resolve, reject };
        }));
        part.buf = undefined;
        // The copies that served what the consumer got, in the order of the parts they served first.
        const by = part.servedBy?.copy.backendName;
        if (by !== undefined && !this.backends.includes(by)) this.backends.push(by);
        this.#nextEmit = i + 1;
        this.#launch();
        // Slab by slab: the hash and the consumer's work spread over many turns of the loop
        // instead of one part-sized block.
        for (const chunk of chunks) {
          this.#verifier?.update(chunk);
          yield chunk;
          // Parts that are already whole would otherwise be hashed and consumed in one long
          // stretch of microtasks: let the event loop turn every TURN_BYTES.
          sinceTurn += chunk.byteLength;
          if (sinceTurn >= TURN_BYTES) {
            sinceTurn = 0;
            await turn();
          }
        }
      }
      this.#ended = true;
      settle(this.#verifier?.finish() ?? false);
    } catch (err) {
      settle(false);
      throw err;
    } finally {
      this.#ended = true;
      this.#stop();
    }
  }

  /** Launch parts while the window has room. */
  #launch(): void {
    const limit = Math.min(this.#parts.length, this.#nextEmit + this.#st.partsInFlight);
    while (this.#fatal === undefined && this.#nextLaunch < limit) {
      const part = this.#parts[this.#nextLaunch] as Part;
      const c = this.#pick(part);
      if (c === undefined) {
        this.#fail(this.#noCopyLeft(part));
        return;
      }
      this.#nextLaunch++;
      this.#fetch(part, c, false);
    }
  }

  /** A copy's measured bytes per ms, or undefined before it delivered anything. */
  #rate(c: CopyState, now: number): number | undefined {
    if (c.bytes === 0) return undefined;
    const ms = c.busyMs + (c.inFlight > 0 ? now - c.busySince : 0);
    return ms > 0 ? c.bytes / ms : undefined;
  }

  /**
   * The live copy expected to finish `part` first, among those that have not tried it: the
   * bytes it already has in flight plus this part, over its measured speed (a copy not yet
   * measured counts as fast as the fastest one, so every copy gets tried).
   */
  #pick(part: Part): CopyState | undefined {
    const now = performance.now();
    let fastest = 0;
    for (const c of this.#copies) fastest = Math.max(fastest, this.#rate(c, now) ?? 0);
    let best: CopyState | undefined;
    let bestCost = Infinity;
    for (const c of this.#copies) {
      if (c.dead || part.tried.has(c)) continue;
      const rate = this.#rate(c, now) ?? (fastest > 0 ? fastest : 1);
      const cost = ((c.inFlight + 1) * this.#st.partSize) / rate;
      if (cost < bestCost) {
        best = c;
        bestCost = cost;
      }
    }
    return best;
  }

  #newFetch(part: Part, c: CopyState, hedge: boolean): Fetch {
    const now = performance.now();
    const f: Fetch = { part, copy: c, controller: new AbortController(), seg: undefined, started: now, hedge, received: 0 };
    part.fetches.push(f);
    part.tried.add(c);
    if (c.inFlight++ === 0) c.busySince = now;
    return f;
  }

  #open(f: Fetch): Promise<Segment> {
    const { part, copy } = f;
    const hashProves = storedHash(copy.copy.location) !== null;
    return openSegment({
      key: this.#src.key,
      copy: copy.copy,
      start: part.start,
      end: part.end,
      whole: false,
      ifMatch: hashProves ? undefined : this.#etag,
      signal: f.controller.signal,
    }, this.#p);
  }

  #fetch(part: Part, c: CopyState, hedge: boolean): void {
    const f = this.#newFetch(part, c, hedge);
    if (hedge) this.#p.recorder.inc(METRIC.stripeHedges, { backend: c.copy.backendName });
    this.#open(f).then((seg) => {
      f.seg = seg;
      if (part.servedBy !== undefined || this.#fatal !== undefined || f.controller.signal.aborted) {
        this.#forget(f, undefined);
        return;
      }
      void this.#drainInto(f);
    }, (err: unknown) => this.#fetchFailed(f, err));
  }

  /** Read a fetch's body: its chunks become the part's bytes when it completes first. */
  async #drainInto(f: Fetch): Promise<void> {
    const seg = f.seg as Segment;
    const part = f.part;
    // The bytes are copied into slabs of SLAB bytes: a socket's chunk can pin a read buffer
    // several times its size, and a reorder window of such chunks would hold that much more.
    const buf: Buffer[] = [];
    let remaining = part.end - part.start + 1;
    let slab: Buffer | undefined;
    let slabAt = 0;
    const idle = new IdleWatch(this.#p.idleTimeoutMs, () => `${f.copy.copy.backendName}: ${this.#src.key} part ${part.index}`);
    let at = 0;
    try {
      for await (const chunk of segmentChunks(seg, idle)) {
        for (let off = 0; off < chunk.byteLength;) {
          slab ??= Buffer.allocUnsafe(Math.min(SLAB, remaining));
          const n = Math.min(chunk.byteLength - off, slab.byteLength - slabAt);
          chunk.copy(slab, slabAt, off, off + n);
          slabAt += n;
          off += n;
          remaining -= n;
          if (slabAt === slab.byteLength) {
            buf.push(slab);
            slab = undefined;
            slabAt = 0;
          }
        }
        at += chunk.byteLength;
        f.received = at;
        f.copy.bytes += chunk.byteLength;
      }
    } catch (err) {
      idle.stop();
      this.#fetchFailed(f, err);
      return;
    }
    idle.stop();
    this.#forget(f, undefined);
    // A duplicate that completed after the part was served lost, even in the same turn: the
    // winner may already have handed its bytes to the waiting consumer (part.buf stays empty
    // then, and #nextEmit moves only when the consumer resumes).
    if (part.servedBy !== undefined || this.#fatal !== undefined || this.#nextEmit > part.index) return;
    this.#partMs.push(performance.now() - f.started);
    if (this.#partMs.length > 16) this.#partMs.shift();
    this.#p.recorder.inc(METRIC.stripeParts, { backend: f.copy.copy.backendName });
    part.servedBy = f.copy;
    if (part.index === 0) this.#settleFirst.resolve({ copy: f.copy, head: objectHead(headFields(seg.res), f.copy.copy.location) });
    // The other fetches of this part (a hedge, or what it hedged) lost.
    for (const other of [...part.fetches]) this.#cancel(other);
    const w = part.waiter;
    part.waiter = undefined;
    if (w !== undefined) w.resolve(buf);
    else part.buf = buf;
  }

  #fetchFailed(f: Fetch, err: unknown): void {
    const cancelled = f.controller.signal.aborted;
    this.#forget(f, err);
    const part = f.part;
    if (this.#fatal !== undefined || cancelled || part.servedBy !== undefined || this.#nextEmit > part.index) return;
    const c = f.copy;
    c.failures++;
    // 404 (gone) and 412 (other bytes) say the copy cannot serve any part.
    if (c.failures >= MAX_COPY_FAILURES || backendStatusOf(err) === 404 || backendStatusOf(err) === 412 || hasCode(err, 'USAGE_LIMIT_SKIP')) c.dead = true;
    this.#failures.push({ index: this.#copies.indexOf(c), backendName: c.copy.backendName, error: err, part: part.index });
    this.#p.recorder.inc(METRIC.streamResumes, { backend: c.copy.backendName });
    if (part.fetches.length > 0) return;
    const next = this.#pick(part);
    if (next === undefined) {
      this.#fail(this.#noCopyLeft(part));
      return;
    }
    this.#fetch(part, next, false);
  }

  /**
   * Hedges, checked every few ms: the part the consumer waits on once it has run
   * {@link HEDGE_FACTOR} times the usual part time; and at the tail (every part launched), a
   * copy left idle takes over the in-flight part expected to finish last, when it would finish
   * it sooner — so the slowest copy does not set the read's end. A part is hedged at most once.
   */
  #maybeHedge(): void {
    if (this.#fatal !== undefined) return;
    const head = this.#parts[this.#nextEmit];
    if (head !== undefined && head.servedBy === undefined && head.fetches.length === 1 && this.#partMs.length > 0) {
      const sorted = [...this.#partMs].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] as number;
      const f = head.fetches[0] as Fetch;
      if (performance.now() - f.started >= HEDGE_FACTOR * median) {
        const c = this.#pick(head);
        if (c !== undefined) this.#fetch(head, c, true);
      }
    }
    if (this.#nextLaunch < this.#parts.length) return;
    const now = performance.now();
    for (const idle of this.#copies) {
      if (idle.dead || idle.inFlight > 0) continue;
      const idleRate = this.#rate(idle, now);
      if (idleRate === undefined) continue;
      let worst: Fetch | undefined;
      let worstLeft = 0;
      for (let i = this.#nextEmit; i < this.#parts.length; i++) {
        const part = this.#parts[i] as Part;
        if (part.servedBy !== undefined || part.fetches.length !== 1 || part.tried.has(idle)) continue;
        const f = part.fetches[0] as Fetch;
        const rate = this.#rate(f.copy, now);
        if (rate === undefined) continue;
        // Its copy's bandwidth is shared by its fetches in flight.
        const left = ((part.end - part.start + 1 - f.received) * f.copy.inFlight) / rate;
        if (left > worstLeft) {
          worst = f;
          worstLeft = left;
        }
      }
      if (worst !== undefined && (worst.part.end - worst.part.start + 1) / idleRate < worstLeft) this.#fetch(worst.part, idle, true);
    }
  }

  /**
   * The read's error when no copy is left to serve `part`. Part 0 unserved, the consumer has no
   * byte: the read failed as one that never started does — the plain read's verdict on the
   * copies' own failures (the last copy's error, USAGE_LIMIT_EXCEEDED, or in degraded mode the
   * broadcast's: OBJECT_NOT_FOUND when every copy answered 404, ALL_BACKENDS_FAILED with the last
   * error). Later, ALL_BACKENDS_FAILED naming the bytes no copy could serve.
   */
  #noCopyLeft(part: Part): unknown {
    if (part.index === 0) return openFailure(this.#src, this.#startFailures(), this.#copies.length);
    const last = this.#failures[this.#failures.length - 1]?.error;
    return new ReadPathError('ALL_BACKENDS_FAILED', `${this.#src.key}: no copy could serve bytes ${part.start}-${part.end} of the striped read${last === undefined ? '' : `; last error: ${messageOf(last)}`}`, { cause: last });
  }

  /** A fetch is over (succeeded, failed or cancelled): release its slot and settle its segment. */
  #forget(f: Fetch, failure: unknown): void {
    const i = f.part.fetches.indexOf(f);
    if (i < 0) return;
    f.part.fetches.splice(i, 1);
    if (--f.copy.inFlight === 0) f.copy.busyMs += performance.now() - f.copy.busySince;
    if (f.seg !== undefined) finishSegment(f.seg, failure, this.#p, f.controller.signal.aborted);
  }

  #cancel(f: Fetch): void {
    const reason = new ReadPathError('ABORTED', 'part served by another copy');
    f.controller.abort(reason);
    if (f.seg !== undefined) destroyQuietly(f.seg.res.body, reason);
  }

  /** End the read with `err`: every fetch cancelled, the awaited part rejected. */
  #fail(cause: unknown): void {
    if (this.#fatal !== undefined) return;
    const err = cause instanceof Error ? cause : new ReadPathError('ALL_BACKENDS_FAILED', `${this.#src.key}: ${messageOf(cause)}`, { cause });
    this.#fatal = err;
    this.#settleFirst.reject(err);
    for (const part of this.#parts) {
      for (const f of [...part.fetches]) this.#cancel(f);
      const w = part.waiter;
      part.waiter = undefined;
      w?.reject(err);
    }
    this.#stop();
  }

  #stop(): void {
    if (this.#hedgeTimer !== undefined) clearInterval(this.#hedgeTimer);
    this.#hedgeTimer = undefined;
    this.#caller?.removeEventListener('abort', this);
    this.#p.live?.delete(this);
    if (this.#fatal === undefined && !this.#ended) return;
    for (const part of this.#parts) {
      part.buf = undefined;
      for (const f of [...part.fetches]) this.#cancel(f);
    }
  }
}

/** True when the span is worth striping over the copies there are. */
export function shouldStripe(src: StreamSource, copies: readonly StreamCopy[], minSize: number): boolean {
  return copies.length >= 2 && spanLength(src.span) >= minSize;
}
