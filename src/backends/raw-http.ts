/**
 * A small HTTP/1.1 client for one origin: the lean transport sends every request to a plain-HTTP
 * origin on it (TLS origins use undici), and reads bodies straight into a caller's buffer when
 * one is given (`BackendGetOptions.into`).
 *
 * Why not undici: every socket read in Node (and so in undici) lands in a fresh ArrayBuffer.
 * V8 counts those as external memory and starts a collection whenever it has grown by its limit:
 * at a few hundred MiB/s that is a full collection every ~40 MB received, 5–10 ms pauses on the
 * thread that reads — the gateway's event loop (bench/RESULTS.md, "The gateway's loop at 1 MiB").
 * Here each connection reads with `net`'s `onread` into memory it chooses: the response head
 * into one small buffer of its own, a body of known length straight into the caller's buffer,
 * so a body costs no allocation per read and no copy. Other bodies of known length (no buffer
 * given, one too small, error answers) are read into windows of up to 256 KiB allocated as they
 * fill — an allocation per window, not per read; chunked and close-delimited ones are read
 * through the connection's buffer and copied out.
 *
 * What it does: keep-alive connections (at most `connections`, requests queue beyond), one
 * request at a time per connection (no pipelining), Content-Length, chunked and
 * close-delimited bodies, 1xx answers skipped, `Connection: close` honoured, a request on a kept
 * connection the server had closed retried once on a new one (before any byte of an answer),
 * backpressure (a body not read stops the socket), aborts that destroy the connection. Plain
 * HTTP only: TLS origins keep using undici.
 */
import net, { type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { AbortEmitter } from './call-deadline.js';

/** One answer: status, headers (lower-case names, repeated ones as arrays), body. */
export interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** One request. */
export interface RawRequest {
  method: 'GET' | 'HEAD';
  /** Request target: the path and query, already encoded. */
  path: string;
  /** Header names and values (`host` included), sent as given. */
  headers: Record<string, string>;
  /** Aborts the request, or its body once answered: the connection is destroyed. */
  signal?: AbortEmitter | undefined;
  /**
   * Read a 2xx body of known length no larger than this straight into it: the body's chunks
   * are then views of this buffer, in order, from byte 0.
   */
  into?: Buffer | undefined;
  /**
   * A 2xx body of known length that does not fit `into` is read through the connection's own
   * buffer, reused once its chunks have been emitted: each chunk is valid only until the 'data'
   * listeners it was emitted to return (BackendGetOptions.transient).
   */
  transient?: boolean | undefined;
}

/** Socket counts, as the lean transport reports them. */
export interface RawPoolStats {
  connected: number;
  free: number;
  queued: number;
}

/**
 * An idle connection is closed after this long unused (undici's default too): servers close
 * theirs after a while (Node's after 5 s), and one closed under a request costs a retry.
 */
export const IDLE_CONNECTION_MS = 4000;

/** Longest response head accepted (status line and headers). */
const MAX_HEAD_BYTES = 64 * 1024;
/** The end of a head: the blank line after its last header. */
const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');
/**
 * The most bytes one socket read takes. libuv reads a ready socket up to 32 times per loop
 * iteration, so this bounds one iteration's work per connection; 16 KiB measured the lowest
 * event-loop p99 of 16/64/256 KiB behind the gateway at the same throughput (RESULTS.md).
 */
const READ_BYTES = 16 * 1024;
/**
 * Bytes read into the caller's buffer are handed on in chunks of at least this much, or at the
 * end of the event-loop iteration they arrived in, whichever is first: a chunk per 16 KiB read
 * would cost every layer above (hashing, failover, the response) a promise and a call each.
 */
const HAND_ON_BYTES = 256 * 1024;
/**
 * A connection's reused body buffer (`transient` reads): chunks are handed on when it is full, so
 * one hand-on's worth.
 */
const RING_BYTES = HAND_ON_BYTES;
/** The largest window allocated for a body read without a caller's buffer. */
const BODY_WINDOW_BYTES = HAND_ON_BYTES;
/**
 * Windows up to this size are cut from a shared slab instead (as Node's Buffer pool does for
 * under 4 KiB): one ArrayBuffer, which V8 tracks as external memory, per 64 KiB of small bodies
 * rather than per body (4 KiB GETs: 0.040–0.045 vs 0.044–0.050 ms of CPU in 2 of 3 alternating
 * bench:transport runs). A body kept alive keeps its slab, as one undici reads keeps its
 * 64 KiB socket read.
 */
const SLAB_PIECE_BYTES = 16 * 1024;
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/** Memory for `n` bytes of a body (at most BODY_WINDOW_BYTES), never handed out twice. */
function bodyWindow(n: number): Buffer {
  if (n > SLAB_PIECE_BYTES) return Buffer.allocUnsafeSlow(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const piece = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += (n + 7) & ~7;
  return piece;
}

/** An error of the connection: the socket's own, or one of these, with a `code` like Node's. */
function connectionError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A request waiting for a connection. */
interface Waiter {
  resolve: (c: RawConnection) => void;
  reject: (err: unknown) => void;
}

/** Keep-alive connections to one `host:port`. */
export class RawHttpPool {
  readonly #host: string;
  readonly #port: number;
  readonly #max: number;
  readonly #lookup: LookupFunction | undefined;
  readonly #all = new Set<RawConnection>();
  readonly #idle: RawConnection[] = [];
  readonly #waiters: Waiter[] = [];
  #closed = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(host: string, port: number, opts: { connections: number; lookup?: LookupFunction | undefined }) {
    this.#host = host;
    this.#port = port;
    this.#max = Math.max(1, opts.connections);
    this.#lookup = opts.lookup;
  }

  get stats(): RawPoolStats {
    return { connected: this.#all.size, free: this.#idle.length, queued: this.#waiters.length };
  }

  /** Send `req`; resolves once the answer's head has arrived. */
  async request(req: RawRequest): Promise<RawResponse> {
    checkHeaders(req.headers);
    const signal = req.signal;
    if (aborted(signal)) throw signal?.reason;
    let conn = await this.#acquire(signal);
    if (aborted(signal)) {
      this.#released(conn, conn.usable);
      throw signal?.reason;
    }
    try {
      return await conn.send(req);
    } catch (err) {
      // A kept connection the server closed while it was idle fails before any byte of the
      // answer: the request never reached anyone, so it goes once more on a new connection.
      if (!(err instanceof StaleConnection) || aborted(signal)) throw err instanceof StaleConnection ? err.cause : err;
      conn = await this.#acquire(signal, true);
      return await conn.send(req);
    }
  }

  #acquire(signal: AbortEmitter | undefined, fresh = false): Promise<RawConnection> {
    if (this.#closed) return Promise.reject(connectionError('connection pool closed', 'ERR_POOL_CLOSED'));
    if (!fresh) {
      const now = Date.now();
      for (let c = this.#idle.pop(); c !== undefined; c = this.#idle.pop()) {
        if (c.usable && now - c.restedAt < IDLE_CONNECTION_MS) return Promise.resolve(c.take());
        this.#drop(c);
      }
    }
    if (this.#all.size < this.#max || fresh) return Promise.resolve(this.#open().take());
    return new Promise<RawConnection>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const w: Waiter = {
        resolve: (c) => {
          signal?.off('abort', onAbort);
          resolve(c);
        },
        reject: (err) => {
          signal?.off('abort', onAbort);
          reject(err);
        },
      };
      this.#waiters.push(w);
      signal?.once('abort', onAbort);
    });
  }

  #open(): RawConnection {
    const c = new RawConnection(this.#host, this.#port, this.#lookup, (conn, reusable) => this.#released(conn, reusable));
    this.#all.add(c);
    return c;
  }

  /** A connection finished its answer (reusable) or died. */
  #released(conn: RawConnection, reusable: boolean): void {
    if (!reusable) {
      this.#all.delete(conn);
      // A connection can die while idle (the server's keep-alive timeout, bytes out of step):
      // left in the idle list it would be counted free while no longer connected.
      const i = this.#idle.indexOf(conn);
      if (i >= 0) this.#idle.splice(i, 1);
    } else if (this.#closed) {
      this.#all.delete(conn);
      void conn.destroy();
      return;
    }
    const w = this.#waiters.shift();
    if (w !== undefined) {
      w.resolve((reusable ? conn : this.#open()).take());
      return;
    }
    if (reusable) {
      this.#idle.push(conn.rest());
      this.#sweep ??= setTimeout(this.#sweepIdle, IDLE_CONNECTION_MS).unref();
    }
  }

  /** Close the connections idle for IDLE_CONNECTION_MS; look again while any are idle. */
  readonly #sweepIdle = (): void => {
    this.#sweep = undefined;
    const now = Date.now();
    // Oldest first: the idle list is a stack, its bottom rested longest.
    let n = 0;
    while (n < this.#idle.length && now - (this.#idle[n] as RawConnection).restedAt >= IDLE_CONNECTION_MS) n++;
    for (const c of this.#idle.splice(0, n)) this.#drop(c);
    const oldest = this.#idle[0];
    if (oldest !== undefined && !this.#closed) this.#sweep = setTimeout(this.#sweepIdle, IDLE_CONNECTION_MS - (now - oldest.restedAt)).unref();
  };

  #drop(c: RawConnection): void {
    this.#all.delete(c);
    void c.destroy();
  }

  /** Destroy every connection and fail queued requests; resolves once every socket closed. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweep !== undefined) clearTimeout(this.#sweep);
    for (const w of this.#waiters.splice(0)) w.reject(connectionError('connection pool closed', 'ERR_POOL_CLOSED'));
    const all = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(all.map((c) => c.destroy()));
  }
}

/** Marks a send that failed before a byte of the answer on a reused connection. */
class StaleConnection extends Error {
  constructor(override readonly cause: unknown) {
    super('stale connection');
  }
}

/** A function, not a property test: TypeScript would keep an earlier test's narrowing across awaits. */
function aborted(signal: AbortEmitter | undefined): boolean {
  return signal?.aborted === true;
}

function checkHeaders(headers: Record<string, string>): void {
  for (const name in headers) {
    const v = headers[name] as string;
    if (/[\r\n]/.test(v) || /[\r\n:]/.test(name)) throw connectionError(`invalid request header ${JSON.stringify(name)}`, 'ERR_INVALID_HEADER');
  }
}

type Phase = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'idle';

/** One keep-alive connection; one request at a time. */
class RawConnection {
  readonly #socket: net.Socket;
  readonly #scratch = Buffer.allocUnsafeSlow(READ_BYTES);
  readonly #released: (c: RawConnection, reusable: boolean) => void;
  readonly #closedP: Promise<void>;
  #connected = false;
  #dead = false;
  /** Answers received on this connection (a failure before the first is not a stale socket). */
  #answers = 0;
  #phase: Phase = 'idle';
  #req: RawRequest | undefined;
  #resolve: ((r: RawResponse) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;
  /** Bytes of the answer seen so far (any at all: a failure is no longer a stale socket). */
  #seen = 0;
  /** The answer's head so far. */
  #headText = '';
  #body: RawBody | undefined;
  /** Body bytes still to come (length-delimited), or of the current chunk. */
  #remaining = 0;
  /** The body runs to the connection's end. */
  #untilClose = false;
  #keepAlive = true;
  /** Where a body of known length lands (the caller's buffer, or a window of our own), and how much of it has. */
  #into: Buffer | undefined;
  #filled = 0;
  /** Bytes of `#into` handed on so far. */
  #shown = 0;
  #handOnScheduled = false;
  /** The buffer `transient` bodies are read through, and the body whose chunks were last in it. */
  #ring: Buffer | undefined;
  #ringUser: RawBody | undefined;
  #line = '';
  #onAbort: (() => void) | undefined;

  constructor(host: string, port: number, lookup: LookupFunction | undefined, released: (c: RawConnection, reusable: boolean) => void) {
    this.#released = released;
    this.#socket = net.connect({
      host,
      port,
      ...(lookup === undefined ? {} : { lookup }),
      onread: { buffer: () => this.#nextBuffer(), callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf as Buffer) },
    });
    this.#socket.setNoDelay(true);
    this.#socket.once('connect', () => {
      this.#connected = true;
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('end', () => this.#onEnd());
    this.#closedP = new Promise((resolve) => this.#socket.once('close', () => {
      this.#fail(connectionError('other side closed', 'ECONNRESET'));
      resolve();
    }));
  }

  /** Still worth sending on. */
  get usable(): boolean {
    return !this.#dead && !this.#socket.destroyed;
  }

  /** Handed to a request: keeps the process alive while it runs. */
  take(): this {
    this.#socket.ref();
    return this;
  }

  /** When it last went idle (ms since the epoch). */
  restedAt = 0;

  /** Idle in the pool: does not keep the process alive. */
  rest(): this {
    this.restedAt = Date.now();
    this.#socket.unref();
    return this;
  }

  send(req: RawRequest): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      if (!this.usable) {
        reject(this.#answers > 0 ? new StaleConnection(connectionError('other side closed', 'ECONNRESET')) : connectionError('connection closed', 'ECONNRESET'));
        return;
      }
      this.#req = req;
      this.#resolve = resolve;
      this.#reject = reject;
      this.#phase = 'head';
      this.#seen = 0;
      this.#headText = '';
      const signal = req.signal;
      if (signal !== undefined) {
        this.#onAbort = () => this.#fail(signal.reason, true);
        signal.once('abort', this.#onAbort);
      }
      let text = `${req.method} ${req.path} HTTP/1.1\r\n`;
      for (const name in req.headers) text += `${name}: ${req.headers[name] as string}\r\n`;
      this.#socket.write(`${text}\r\n`, 'latin1');
    });
  }

  /** The memory the next socket read lands in. */
  #nextBuffer(): Buffer {
    const into = this.#into;
    if (this.#phase === 'body' && into !== undefined && this.#remaining > 0) {
      return into.subarray(this.#filled, this.#filled + Math.min(this.#remaining, READ_BYTES, into.length - this.#filled));
    }
    return this.#scratch;
  }

  #onRead(n: number, buf: Buffer): boolean {
    if (this.#dead) return false;
    this.#seen += n;
    if (this.#phase === 'body' && this.#into !== undefined && buf.buffer === this.#into.buffer) {
      // Straight into the caller's buffer: the bytes are the next of the body.
      this.#filled += n;
      this.#remaining -= n;
      this.#landed();
      return !this.#dead;
    }
    this.#consume(buf.subarray(0, n));
    return !this.#dead;
  }

  /** Bytes read into the scratch buffer: valid only until this returns. */
  #consume(data: Buffer): void {
    let at = 0;
    while (at < data.length && !this.#dead) {
      switch (this.#phase) {
        case 'head':
          at = this.#readHead(data, at);
          break;
        case 'body': {
          if (this.#untilClose) {
            // Close-delimited: every byte up to the connection's end is the body's.
            this.#push(Buffer.from(data.subarray(at)));
            at = data.length;
            break;
          }
          // The start of a body of known length (which always has a buffer or window), read
          // with its head: at most a read, so it fits the first window. Copied to where the
          // rest goes.
          const take = Math.min(this.#remaining, data.length - at);
          data.copy(this.#into as Buffer, this.#filled, at, at + take);
          at += take;
          this.#remaining -= take;
          this.#filled += take;
          this.#landed();
          break;
        }
        case 'chunk-size':
        case 'chunk-crlf':
        case 'trailers':
          at = this.#readLine(data, at);
          break;
        case 'chunk-data': {
          const take = Math.min(this.#remaining, data.length - at);
          this.#push(Buffer.from(data.subarray(at, at + take)));
          at += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#phase = 'chunk-crlf';
          break;
        }
        case 'idle':
          // Bytes nobody asked for (a body longer than its Content-Length): the stream is out of step.
          this.#fail(connectionError('unexpected bytes from the server between answers', 'ERR_UNEXPECTED_DATA'));
          return;
      }
    }
  }

  /**
   * Gather the head; once whole, start the answer. Returns where the head ended in `data`. Only
   * the head's bytes are decoded: a small body usually arrives in the same read, and turning it
   * into a string only to slice it off again cost a body-sized string per answer.
   */
  #readHead(data: Buffer, at: number): number {
    const before = this.#headText.length;
    const limit = Math.min(data.length, at + MAX_HEAD_BYTES + 4);
    if (before > 0) {
      // The blank line may straddle reads: the head so far may end in up to 3 of its bytes.
      const tail = Math.min(3, before);
      const joint = this.#headText.slice(before - tail) + data.toString('latin1', at, Math.min(limit, at + 3));
      const j = joint.indexOf('\r\n\r\n');
      if (j >= 0) {
        const text = (this.#headText + data.toString('latin1', at, at + j + 4 - tail)).slice(0, before - tail + j);
        this.#headText = '';
        this.#startAnswer(text);
        return at + j + 4 - tail;
      }
    }
    const end = data.indexOf(BLANK_LINE, at);
    if (end < 0 || end >= limit) {
      // Latin-1 keeps one character per byte, so string lengths are byte counts.
      this.#headText += data.toString('latin1', at, limit);
      if (this.#headText.length > MAX_HEAD_BYTES) this.#fail(connectionError(`response head over ${MAX_HEAD_BYTES} bytes`, 'ERR_HEAD_TOO_LARGE'));
      return data.length;
    }
    const text = before === 0 ? data.toString('latin1', at, end) : this.#headText + data.toString('latin1', at, end);
    this.#headText = '';
    this.#startAnswer(text);
    return end + 4;
  }

  #startAnswer(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([0-9]{3})(?: |$)/.exec(lines[0] ?? '');
    if (status === null) {
      this.#fail(connectionError(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`, 'ERR_BAD_RESPONSE'));
      return;
    }
    const statusCode = Number(status[2]);
    if (statusCode >= 100 && statusCode < 200) return; // 100 Continue and the like: the answer follows.
    const headers: Record<string, string | string[] | undefined> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.#fail(connectionError(`malformed response header line ${JSON.stringify(line.slice(0, 80))}`, 'ERR_BAD_RESPONSE'));
        return;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const had = headers[name];
      headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    this.#answers++;
    const req = this.#req as RawRequest;
    const connection = String(headers['connection'] ?? '').toLowerCase();
    this.#keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    const te = String(headers['transfer-encoding'] ?? '').toLowerCase();
    const cl = headers['content-length'];
    const length = typeof cl === 'string' && /^[0-9]{1,15}$/.test(cl) ? Number(cl) : undefined;
    if (cl !== undefined && length === undefined && te === '') {
      this.#fail(connectionError(`invalid Content-Length ${JSON.stringify(cl)}`, 'ERR_BAD_RESPONSE'));
      return;
    }
    const body = new RawBody(this);
    this.#body = body;
    this.#into = undefined;
    this.#filled = 0;
    this.#shown = 0;
    this.#untilClose = false;
    const noBody = req.method === 'HEAD' || statusCode === 204 || statusCode === 304;
    if (noBody) this.#phase = 'idle';
    else if (te.endsWith('chunked')) this.#phase = 'chunk-size';
    else if (length !== undefined) {
      this.#phase = 'body';
      this.#remaining = length;
      const into = req.into;
      const ok = statusCode >= 200 && statusCode < 300;
      if (ok && into !== undefined && length <= into.length) this.#into = into;
      else if (ok && req.transient === true && length > 0) this.#into = this.#takeRing(body);
      else if (length > 0) this.#into = bodyWindow(Math.min(length, BODY_WINDOW_BYTES));
    } else {
      this.#phase = 'body';
      this.#untilClose = true;
      this.#keepAlive = false;
    }
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve?.({ statusCode, headers, body });
    if (noBody || (this.#phase === 'body' && !this.#untilClose && this.#remaining === 0)) this.#bodyDone(undefined);
  }

  /** A line of chunked framing (size, the CRLF after data, trailers). */
  #readLine(data: Buffer, at: number): number {
    const nl = data.indexOf(10, at);
    if (nl < 0) {
      this.#line += data.toString('latin1', at);
      if (this.#line.length > 8192) this.#fail(connectionError('chunked framing line too long', 'ERR_BAD_RESPONSE'));
      return data.length;
    }
    const line = (this.#line + data.toString('latin1', at, nl)).replace(/\r$/, '');
    this.#line = '';
    if (this.#phase === 'chunk-crlf') {
      if (line !== '') this.#fail(connectionError('chunked body: missing CRLF after a chunk', 'ERR_BAD_RESPONSE'));
      else this.#phase = 'chunk-size';
    } else if (this.#phase === 'chunk-size') {
      const m = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line);
      if (m === null) this.#fail(connectionError(`chunked body: bad chunk size ${JSON.stringify(line.slice(0, 40))}`, 'ERR_BAD_RESPONSE'));
      else {
        this.#remaining = parseInt(m[1] as string, 16);
        this.#phase = this.#remaining === 0 ? 'trailers' : 'chunk-data';
      }
    } else if (line === '') this.#bodyDone(undefined);
    return nl + 1;
  }

  /** Bytes landed in the body's buffer: hand them on now, or by the end of this iteration. */
  #landed(): void {
    const into = this.#into as Buffer;
    if (this.#remaining === 0) {
      const last = into.subarray(this.#shown, this.#filled);
      this.#shown = this.#filled;
      this.#bodyDone(last);
    } else if (this.#filled === into.length) {
      // A window of our own is full (a caller's buffer holds the whole body): on to a new one,
      // or round again through the connection's.
      this.#handOn();
      this.#into = into === this.#ring ? this.#takeRing(this.#body as RawBody) : bodyWindow(Math.min(this.#remaining, BODY_WINDOW_BYTES));
      this.#filled = 0;
      this.#shown = 0;
    } else if (this.#filled - this.#shown >= HAND_ON_BYTES) this.#handOn();
    else if (!this.#handOnScheduled) {
      this.#handOnScheduled = true;
      setImmediate(this.#handOnLater);
    }
  }

  /**
   * The connection's body buffer, to be read into from byte 0 for `body`. Its bytes are free once
   * every chunk handed on from it has been emitted; one still waiting in its body's queue (a
   * consumer not flowing, or before its first 'data' listener) keeps them, and a fresh buffer
   * takes over.
   */
  #takeRing(body: RawBody): Buffer {
    const last = this.#ringUser;
    if (this.#ring === undefined || (last !== undefined && last.readableLength > 0)) this.#ring = Buffer.allocUnsafeSlow(RING_BYTES);
    this.#ringUser = body;
    return this.#ring;
  }

  readonly #handOnLater = (): void => {
    this.#handOnScheduled = false;
    if (this.#phase === 'body' && this.#into !== undefined) this.#handOn();
  };

  #handOn(): void {
    if (this.#filled === this.#shown) return;
    const chunk = (this.#into as Buffer).subarray(this.#shown, this.#filled);
    this.#shown = this.#filled;
    this.#push(chunk);
  }

  #push(chunk: Buffer): void {
    if (this.#body?.push(chunk) === false) this.#socket.pause();
  }

  /** The answer is complete: end the body, give the connection back (or close it). */
  #bodyDone(last: Buffer | undefined): void {
    const body = this.#body;
    this.#body = undefined;
    this.#finishRequest();
    const reusable = this.#keepAlive && !this.#dead;
    if (!reusable) void this.destroy();
    if (body !== undefined) {
      if (last !== undefined && last.length > 0) body.push(last);
      body.push(null);
    }
    this.#socket.resume();
    this.#released(this, reusable);
  }

  #finishRequest(): void {
    this.#phase = 'idle';
    this.#into = undefined;
    const signal = this.#req?.signal;
    if (signal !== undefined && this.#onAbort !== undefined) signal.off('abort', this.#onAbort);
    this.#onAbort = undefined;
    this.#req = undefined;
  }

  #onEnd(): void {
    if (this.#phase === 'body' && this.#untilClose) {
      this.#keepAlive = false;
      this.#bodyDone(undefined);
      return;
    }
    this.#fail(connectionError('other side closed', 'ECONNRESET'));
  }

  /** The body's reader wants more: read the socket again. */
  resumeReading(): void {
    if (!this.#dead) this.#socket.resume();
  }

  /** The body was destroyed before its end: the rest of the answer is not wanted. */
  abandon(err: Error | null): void {
    if (this.#body === undefined) return;
    this.#body = undefined;
    this.#fail(err ?? connectionError('body destroyed before its end', 'ERR_BODY_DESTROYED'));
  }

  /**
   * The connection failed (or was aborted): the request or body in progress fails with `err`,
   * and the connection is closed for good.
   */
  #fail(err: unknown, aborted = false): void {
    if (this.#dead) return;
    const { reject, body } = this.#close();
    if (reject !== undefined) {
      // Nothing of the answer arrived on a connection that had answered before: stale.
      const stale = !aborted && this.#seen === 0 && this.#answers > 0 && this.#connected;
      reject(stale ? new StaleConnection(err) : err);
    }
    if (body !== undefined) body.destroy(err instanceof Error ? err : connectionError(String(err), 'ECONNRESET'));
    this.#released(this, false);
  }

  /** Close the socket; resolves once it has. */
  destroy(): Promise<void> {
    if (!this.#dead) {
      const { reject, body } = this.#close();
      reject?.(connectionError('connection closed', 'ECONNRESET'));
      body?.destroy(connectionError('connection closed', 'ECONNRESET'));
    }
    return this.#closedP;
  }

  /** Mark the connection dead and destroy its socket; returns who was waiting on it. */
  #close(): { reject: ((err: unknown) => void) | undefined; body: RawBody | undefined } {
    this.#dead = true;
    const waiting = { reject: this.#reject, body: this.#body };
    this.#resolve = undefined;
    this.#reject = undefined;
    this.#body = undefined;
    this.#finishRequest();
    this.#socket.destroy();
    return waiting;
  }
}

/** An answer's body: chunks pushed by its connection as they are read. */
class RawBody extends Readable {
  readonly #conn: RawConnection;

  constructor(conn: RawConnection) {
    super({ highWaterMark: 64 * 1024 });
    this.#conn = conn;
  }

  override _read(): void {
    this.#conn.resumeReading();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.readableEnded) this.#conn.abandon(err);
    cb(err);
  }
}
