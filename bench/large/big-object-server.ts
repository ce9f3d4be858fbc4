/**
 * An S3-ish HTTP server for large-object tests (issue 14: streaming, mid-body failover by
 * Range, striped reads). It serves multi-GiB objects without storing them: a generated
 * object's bytes are a pure function of (seed, offset), produced chunk by chunk as the body
 * is written, so any range costs only the bytes sent and server memory stays flat.
 *
 * Path-style only (`/BUCKET/KEY`, key URL-decoded), GET and HEAD only, signatures not
 * checked. Faults (cut, flip, stall, bandwidth cap, error statuses) can be changed at any
 * time; cut/stall/flip are decided when a response starts, the bandwidth cap applies live.
 */
import { createCipheriv, createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Body chunk size: the unit of generation, writing and (uncapped) pacing. */
const CHUNK = 64 * 1024;
/** Zeros to encrypt: AES-CTR over zeros is its keystream. +16 for an unaligned first chunk. */
const ZEROS = Buffer.alloc(CHUNK + 16);

/** The seed of a generated object; numbers and strings with the same `String()` are equal. */
export type Seed = number | string;

// ---------------------------------------------------------------------------------------
// Deterministic content
// ---------------------------------------------------------------------------------------
//
// Why AES-128-CTR: its keystream at byte offset o is block o/16 of the counter, so any range
// starts in O(1), every offset's bytes differ (a reader resuming at the wrong offset cannot
// match by luck, unlike a repeating pattern), and OpenSSL's AES-NI path is fast. Measured
// here (2-core VM, Node 20.20, other jobs running): one cipher streaming 64 KiB updates, as a
// response does, 2.3-5 GiB/s once warm (0.6-1.4 GiB/s for the first few hundred MiB while the
// allocator warms up); a fresh cipher per 64 KiB 1.5-2.5 GiB/s; a JS xorshift fill 2.0 GiB/s.
// SHA-256 (1.5 GiB/s) is the slower half of generatedSha256: 0.4-1.1 GiB/s together. A GET of
// 1 GiB to a discarding client in the same process: 0.5-0.65 GiB/s (one thread for both).

const keys = new Map<string, Buffer>();

function keyOf(seed: Seed): Buffer {
  const id = String(seed);
  let k = keys.get(id);
  if (k === undefined) {
    k = createHash('sha256').update(`big-object-server:${id}`).digest().subarray(0, 16);
    keys.set(id, k);
  }
  return k;
}

/** Reads a generated object sequentially from `offset`: `next(len)` returns fresh, owned bytes. */
class GeneratedReader {
  readonly #cipher;
  #skip: number;

  constructor(seed: Seed, offset: number) {
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
    this.#cipher = createCipheriv('aes-128-ctr', keyOf(seed), iv);
    this.#skip = offset % 16;
  }

  next(len: number): Buffer {
    if (len > CHUNK) throw new RangeError(`chunk ${len} > ${CHUNK}`);
    const skip = this.#skip;
    this.#skip = 0;
    const out = this.#cipher.update(ZEROS.subarray(0, len + skip));
    return skip === 0 ? out : out.subarray(skip);
  }
}

function checkSpan(size: number, start: number, end: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad size ${size}`);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > size) {
    throw new RangeError(`bad span [${start}, ${end}) of ${size}`);
  }
}

/**
 * Bytes [start, end) — `end` exclusive, like `subarray` — of the generated object (size,
 * seed): exactly what a GET of that object returns at those offsets. For small comparisons;
 * it allocates `end - start` bytes.
 */
export function generatedBytes(size: number, seed: Seed, start: number, end: number): Buffer {
  checkSpan(size, start, end);
  const out = Buffer.allocUnsafe(end - start);
  const r = new GeneratedReader(seed, start);
  for (let o = start; o < end; ) {
    const n = Math.min(CHUNK, end - o);
    r.next(n).copy(out, o - start);
    o += n;
  }
  return out;
}

const sha256Cache = new Map<string, Promise<string>>();

/**
 * SHA-256 (hex) of the whole generated object (size, seed), cached in-process. It yields to
 * the event loop every 16 MiB so servers in the same process keep serving while it runs
 * (1-2.5 s per GiB on this 2-core machine).
 */
export function generatedSha256(size: number, seed: Seed): Promise<string> {
  const id = `${size}:${String(seed)}`;
  let p = sha256Cache.get(id);
  if (p === undefined) {
    p = hashGenerated(size, seed);
    sha256Cache.set(id, p);
    p.catch(() => sha256Cache.delete(id));
  }
  return p;
}

async function hashGenerated(size: number, seed: Seed): Promise<string> {
  checkSpan(size, 0, size);
  const h = createHash('sha256');
  const r = new GeneratedReader(seed, 0);
  for (let o = 0; o < size; ) {
    const n = Math.min(CHUNK, size - o);
    h.update(r.next(n));
    o += n;
    if (o % (16 * 1024 * 1024) === 0) await new Promise<void>((res) => setImmediate(res));
  }
  return h.digest('hex');
}

/** The ETag a generated object gets: multipart-shaped (`"<32 hex>-2"`), so clients never MD5-check it. */
export function generatedEtag(size: number, seed: Seed): string {
  return `"${createHash('sha256').update(`etag:${size}:${String(seed)}`).digest('hex').slice(0, 32)}-2"`;
}

// ---------------------------------------------------------------------------------------
// Bandwidth cap
// ---------------------------------------------------------------------------------------

/** The time source of the bandwidth cap; `FakeClock` from test/helpers/fake-clock.ts fits. */
export interface BandwidthClock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: BandwidthClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The token bucket's accounting, for deterministic assertions on the cap. */
export interface BandwidthState {
  /** The cap, or undefined when uncapped. */
  bytesPerSecond: number | undefined;
  /** Bucket capacity (bytes): what may go out at once after an idle spell. */
  burst: number;
  /** Largest single grant (bytes); body chunks are this size or smaller while capped. */
  chunk: number;
  /** Bytes granted since the cap was (last) set. */
  granted: number;
  /** Clock reading (ms) when the cap was set. */
  since: number;
  /** Responses waiting for tokens. */
  waiting: number;
}

interface Waiter { n: number; alive: () => boolean; resolve: () => void }

/**
 * A token bucket shared by all responses of one server, in FIFO order. Tokens may go into
 * debt by one chunk (a grant needs tokens >= 0), so a timer that fires late is credited up to
 * `burst` (20 ms of the rate) instead of being lost. Measured over 3 s, two responses sharing
 * the cap: 24 MiB/s gave 23.7 MiB/s, 100 MiB/s gave 98.4 MiB/s (with a one-chunk burst it was
 * 83: 1 ms timers plus lateness). Invariant, whatever the clock: granted <= burst + chunk +
 * rate * elapsed; the actual sent rate is lower only when clients read slower than the cap.
 */
class TokenBucket {
  rate = 0;
  burst = 0;
  chunk = CHUNK;
  granted = 0;
  since = 0;
  #tokens = 0;
  #last = 0;
  #timer: unknown;
  readonly #queue: Waiter[] = [];
  readonly #clock: BandwidthClock;

  constructor(clock: BandwidthClock) {
    this.#clock = clock;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  setRate(rate: number | undefined): void {
    if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) throw new RangeError(`bad bytesPerSecond ${rate}`);
    this.#stopTimer();
    this.rate = rate ?? 0;
    // Chunks worth ~20 ms of the rate (1 KiB..64 KiB): smooth at low rates, cheap at high ones.
    this.chunk = rate === undefined ? CHUNK : Math.max(1024, Math.min(CHUNK, Math.floor(rate / 50)));
    // 20 ms of credit: timers that fire a few ms late (1 ms minimum, busy loop) are made good.
    this.burst = rate === undefined ? 0 : Math.max(this.chunk, Math.floor(rate / 50));
    this.#tokens = this.burst;
    this.#last = this.since = this.#clock.now();
    this.granted = 0;
    this.#pump();
  }

  /** Undefined when granted at once; otherwise resolves when granted or when `alive()` turned false. */
  acquire(n: number, alive: () => boolean): Promise<void> | undefined {
    if (this.rate === 0) return undefined;
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= 0) {
      this.#tokens -= n;
      this.granted += n;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.#queue.push({ n, alive, resolve });
      if (this.#timer === undefined) this.#pump();
    });
  }

  close(): void {
    this.#stopTimer();
    for (const w of this.#queue.splice(0)) w.resolve();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #refill(): void {
    const now = this.#clock.now();
    if (this.rate > 0) this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }

  #pump(): void {
    this.#timer = undefined;
    this.#refill();
    for (let w = this.#queue[0]; w !== undefined; w = this.#queue[0]) {
      if (w.alive() && this.rate > 0) {
        if (this.#tokens < 0) {
          // At least 1 ms: a 0 ms timer on a fake clock would fire forever without time passing.
          const ms = Math.max(1, Math.ceil((-this.#tokens / this.rate) * 1000));
          this.#timer = this.#clock.setTimeout(() => this.#pump(), ms);
          return;
        }
        this.#tokens -= w.n;
        this.granted += w.n;
      }
      this.#queue.shift();
      w.resolve();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/**
 * Faults. Offsets are absolute object offsets; a response "covers" offset N when its range
 * [start, end] (inclusive) contains N. HEAD responses are never cut, stalled or flipped.
 */
export interface Faults {
  /** Send bytes [start, N) of a covering response, then close the socket (FIN, no more bytes). */
  cutAtByte?: number;
  /** Cut only this many covering responses (default Infinity). */
  cutTimes?: number;
  /** XOR the byte at N with 0xff in every covering response. */
  flipByteAt?: number;
  /** Stop sending at N (bytes [start, N) go out) and keep the socket open until {@link BigObjectServer.releaseStalls}. */
  stallAtByte?: number;
  /** Stall only this many covering responses (default Infinity). */
  stallTimes?: number;
  /** Answer GET/HEAD with this S3 error (500 InternalError, 503 SlowDown), before any lookup. */
  failStatus?: 500 | 503;
  /** Fail only this many requests (default Infinity). */
  failTimes?: number;
  /** Cap the server's total body bandwidth (server-wide only; a token bucket shared by all responses). */
  bytesPerSecond?: number;
}

/** One request the server answered (or is answering): a snapshot. */
export interface RequestRecord {
  method: string;
  bucket: string;
  key: string;
  /** The Range header as received. */
  range: string | undefined;
  /** 0 until the status line is decided. */
  status: number;
  /** Body bytes handed to the socket. */
  bytesSent: number;
  /** True when the response was cut by `cutAtByte`. */
  cut: boolean;
}

/** What {@link BigObjectServer.stats} returns. */
export interface BigObjectStats {
  requests: RequestRecord[];
  /** Body bytes handed to sockets, all responses. */
  bytesSent: number;
  /** TCP connections open now. */
  openSockets: number;
  /** Responses currently waiting for 'drain' (the client is not reading fast enough). */
  waitingDrain: number;
  /** Responses currently stalled by `stallAtByte`. */
  stalled: number;
}

/** An object to register: generated (`size` + `seed`) or literal `bytes`. */
export type ObjectSpec = { size: number; seed: Seed; lastModified?: Date } | { bytes: Uint8Array; lastModified?: Date };

/** Options for {@link startBigObjectServer}. */
export interface BigObjectServerOptions {
  /** Buckets that exist (empty) from the start; `addObject` creates its bucket too. */
  buckets?: string[];
  /** Time source of the bandwidth cap (default: performance.now and real timers). */
  clock?: BandwidthClock;
}

interface StoredObject {
  size: number;
  etag: string;
  lastModified: string;
  reader(offset: number): { next(len: number): Buffer };
}

/** Fault settings with their remaining counts. */
interface FaultState { f: Faults; cuts: number; stalls: number; fails: number }

const stateOf = (f: Faults): FaultState => ({ f, cuts: f.cutTimes ?? Infinity, stalls: f.stallTimes ?? Infinity, fails: f.failTimes ?? Infinity });

function xml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>big-object-server</RequestId></Error>`;
}

/**
 * Parse a single-range header (RFC 9110 §14.1.2) against `size`: [start, end] inclusive,
 * 'unsatisfiable', or undefined for no/invalid/multi-range headers (which are ignored: 200).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return undefined;
  const [a, b] = [m[1] ?? '', m[2] ?? ''];
  if (a === '') {
    if (b === '') return undefined;
    const n = Number(b);
    return n === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  const end = b === '' ? Infinity : Number(b);
  if (end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, Math.min(end, size - 1)];
}

/** Resolves on 'drain' or 'close', whichever comes first. */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** A running server; see {@link startBigObjectServer}. */
export class BigObjectServer {
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  readonly #buckets = new Map<string, Map<string, StoredObject>>();
  readonly #requests: RequestRecord[] = [];
  readonly #bucket: TokenBucket;
  #faults: FaultState = stateOf({});
  readonly #keyFaults = new Map<string, FaultState>();
  #stallWaiters = new Set<() => void>();
  #bytesSent = 0;
  #waitingDrain = 0;
  #closing: Promise<void> | undefined;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;

  /** @internal Use {@link startBigObjectServer}. */
  constructor(server: http.Server, opts: BigObjectServerOptions) {
    this.#server = server;
    this.#bucket = new TokenBucket(opts.clock ?? realClock);
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const b of opts.buckets ?? []) this.addBucket(b);
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#handle(req, res).catch((err: unknown) => res.destroy(err as Error));
    });
  }

  /** Create an (empty) bucket; no-op if it exists. */
  addBucket(bucket: string): void {
    if (!this.#buckets.has(bucket)) this.#buckets.set(bucket, new Map());
  }

  /** Register (or replace) an object; returns its size and quoted ETag. */
  addObject(bucket: string, key: string, spec: ObjectSpec): { size: number; etag: string } {
    this.addBucket(bucket);
    const lastModified = (spec.lastModified ?? new Date()).toUTCString();
    let obj: StoredObject;
    if ('bytes' in spec) {
      const bytes = Buffer.from(spec.bytes); // our own copy: the caller may reuse theirs
      const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
      // Copies again per chunk: a flip fault must not corrupt the stored bytes.
      obj = { size: bytes.length, etag, lastModified, reader: (o) => ({ next: (n) => Buffer.from(bytes.subarray(o, (o += n))) }) };
    } else {
      const { size, seed } = spec;
      checkSpan(size, 0, size);
      obj = { size, etag: generatedEtag(size, seed), lastModified, reader: (o) => new GeneratedReader(seed, o) };
    }
    this.#buckets.get(bucket)?.set(key, obj);
    return { size: obj.size, etag: obj.etag };
  }

  /**
   * Bytes [start, end) (`end` exclusive) of a registered object as a fault-free GET serves
   * them; for comparisons without remembering seeds.
   */
  bytesOf(bucket: string, key: string, start: number, end: number): Buffer {
    const obj = this.#buckets.get(bucket)?.get(key);
    if (obj === undefined) throw new Error(`no object ${bucket}/${key}`);
    checkSpan(obj.size, start, end);
    const out = Buffer.allocUnsafe(end - start);
    const r = obj.reader(start);
    for (let o = start; o < end; o += CHUNK) r.next(Math.min(CHUNK, end - o)).copy(out, o - start);
    return out;
  }

  /** Remove an object; true if it existed. */
  removeObject(bucket: string, key: string): boolean {
    return this.#buckets.get(bucket)?.delete(key) ?? false;
  }

  /**
   * Replace the server's faults (`{}` clears them; counts restart), or with `key` those of
   * every object named `key` (any bucket). Per-key fields override server fields one by one;
   * `bytesPerSecond` is server-wide only. Responses already streaming keep their cut, stall
   * and flip decisions; the bandwidth cap changes at once (and restarts its accounting).
   */
  setFaults(faults: Faults, opts: { key?: string } = {}): void {
    if (opts.key !== undefined) {
      if (faults.bytesPerSecond !== undefined) throw new TypeError('bytesPerSecond is server-wide, not per key');
      this.#keyFaults.set(opts.key, stateOf({ ...faults }));
      return;
    }
    const before = this.#faults.f.bytesPerSecond;
    this.#faults = stateOf({ ...faults });
    if (faults.bytesPerSecond !== before) this.#bucket.setRate(faults.bytesPerSecond);
  }

  /** Resume every response stalled by `stallAtByte` (new ones still stall while it is set). */
  releaseStalls(): void {
    const ws = this.#stallWaiters;
    this.#stallWaiters = new Set();
    for (const w of ws) w();
  }

  /** Snapshot of what the server did. */
  stats(): BigObjectStats {
    return {
      requests: this.#requests.map((r) => ({ ...r })),
      bytesSent: this.#bytesSent,
      openSockets: this.#sockets.size,
      waitingDrain: this.#waitingDrain,
      stalled: this.#stallWaiters.size,
    };
  }

  /** The bandwidth cap's token-bucket accounting. */
  bandwidth(): BandwidthState {
    const b = this.#bucket;
    return { bytesPerSecond: b.rate > 0 ? b.rate : undefined, burst: b.burst, chunk: b.chunk, granted: b.granted, since: b.since, waiting: b.waiting };
  }

  /** Destroy every socket and stop listening. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#bucket.close();
      this.releaseStalls();
      for (const s of this.#sockets) s.destroy();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  /** The state that supplies `field` for `key`: the key's if it sets the field, else the server's. */
  #pick(key: string, field: keyof Faults): FaultState | undefined {
    const k = this.#keyFaults.get(key);
    if (k?.f[field] !== undefined) return k;
    return this.#faults.f[field] !== undefined ? this.#faults : undefined;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const slash = path.indexOf('/', 1);
    let bucket = slash < 0 ? path.slice(1) : path.slice(1, slash);
    let key = slash < 0 ? '' : path.slice(slash + 1);
    let badPath = false;
    try {
      [bucket, key] = [decodeURIComponent(bucket), decodeURIComponent(key)];
    } catch {
      badPath = true;
    }
    const method = req.method ?? 'GET';
    const rec: RequestRecord = { method, bucket, key, range: req.headers.range, status: 0, bytesSent: 0, cut: false };
    this.#requests.push(rec);
    const head = method === 'HEAD';
    const fail = (status: number, code: string, message: string, headers: http.OutgoingHttpHeaders = {}): void => {
      rec.status = status;
      const body = head ? '' : xml(code, message);
      res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'big-object-server' });
      res.end(body);
    };
    req.resume(); // GET/HEAD bodies are ignored, but must be consumed for keep-alive

    if (method !== 'GET' && !head) return fail(405, 'MethodNotAllowed', 'only GET and HEAD');
    if (badPath) return fail(400, 'InvalidURI', 'Could not parse the specified URI.');
    const failing = this.#pick(key, 'failStatus');
    if (failing !== undefined && failing.fails > 0) {
      failing.fails--;
      return failing.f.failStatus === 503 ? fail(503, 'SlowDown', 'Please reduce your request rate.') : fail(500, 'InternalError', 'injected failure');
    }
    const objects = this.#buckets.get(bucket);
    if (objects === undefined) return fail(404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (key === '') return fail(501, 'NotImplemented', 'listing is not supported');
    const obj = objects.get(key);
    if (obj === undefined) return fail(404, 'NoSuchKey', 'The specified key does not exist.');
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.split(',').some((t) => t.trim() === obj.etag)) {
      return fail(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }

    const range = parseRange(req.headers.range, obj.size);
    if (range === 'unsatisfiable') {
      return fail(416, 'InvalidRange', 'The requested range is not satisfiable', { 'content-range': `bytes */${obj.size}` });
    }
    const [start, last] = range ?? [0, obj.size - 1];
    const end = last + 1; // exclusive from here on
    rec.status = range === undefined ? 200 : 206;
    res.writeHead(rec.status, {
      'content-length': end - start,
      etag: obj.etag,
      'last-modified': obj.lastModified,
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      'x-amz-request-id': 'big-object-server',
      ...(range === undefined ? {} : { 'content-range': `bytes ${start}-${last}/${obj.size}` }),
    });
    if (head) {
      res.end();
      return;
    }
    await this.#sendBody(res, rec, key, obj, start, end);
  }

  async #sendBody(res: http.ServerResponse, rec: RequestRecord, key: string, obj: StoredObject, start: number, end: number): Promise<void> {
    const covers = (n: number | undefined): n is number => n !== undefined && n >= start && n < end;
    const cutState = this.#pick(key, 'cutAtByte');
    let cutAt = cutState?.f.cutAtByte;
    if (cutState !== undefined && covers(cutAt) && cutState.cuts > 0) cutState.cuts--;
    else cutAt = undefined;
    const stallState = this.#pick(key, 'stallAtByte');
    let stallAt = stallState?.f.stallAtByte;
    if (stallState !== undefined && covers(stallAt) && stallState.stalls > 0) stallState.stalls--;
    else stallAt = undefined;
    const flipAt = this.#pick(key, 'flipByteAt')?.f.flipByteAt;

    let closed = false;
    res.once('close', () => (closed = true));
    // The socket's 'close' comes a turn after close() destroys it; stop at once instead.
    const alive = (): boolean => !closed && this.#closing === undefined;
    const reader = obj.reader(start);
    for (let off = start; off < end && alive(); ) {
      if (off === stallAt) {
        stallAt = undefined;
        res.flushHeaders(); // a stall at the first byte still shows the client its headers
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.#stallWaiters.delete(done);
            res.off('close', done);
            resolve();
          };
          this.#stallWaiters.add(done);
          res.once('close', done);
        });
        continue;
      }
      if (off === cutAt) {
        rec.cut = true;
        res.flushHeaders();
        // end() flushes what was written (headers included) and sends FIN, then destroys:
        // the client gets exactly [start, N) and sees the connection end early.
        res.socket?.destroySoon();
        return;
      }
      let n = Math.min(end - off, this.#bucket.rate > 0 ? this.#bucket.chunk : CHUNK);
      // Chunks stop at a cut or stall offset so exactly the bytes before it go out.
      for (const b of [cutAt, stallAt]) if (b !== undefined && b > off) n = Math.min(n, b - off);
      const wait = this.#bucket.acquire(n, alive);
      if (wait !== undefined) await wait;
      if (!alive()) break;
      const buf = reader.next(n);
      if (flipAt !== undefined && flipAt >= off && flipAt < off + n) buf[flipAt - off] = (buf[flipAt - off] ?? 0) ^ 0xff;
      off += n;
      rec.bytesSent += n;
      this.#bytesSent += n;
      if (!res.write(buf)) {
        // Backpressure: generate nothing more until the socket has taken this chunk.
        this.#waitingDrain++;
        await drainOrClose(res);
        this.#waitingDrain--;
      }
    }
    if (alive()) res.end();
  }
}

/** Start a {@link BigObjectServer} on 127.0.0.1 and a free port. */
export async function startBigObjectServer(opts: BigObjectServerOptions = {}): Promise<BigObjectServer> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return new BigObjectServer(server, opts);
}
