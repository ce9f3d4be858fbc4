/**
 * Scripted in-memory backends driven by data, buildable on the main thread and inside pool
 * workers alike (`PoolExecutor({ backendModule: SCRIPTED_BACKENDS_MODULE, backendData: fleet.data })`),
 * so one test can run the same script against the inline and the pool executor.
 *
 * Behaviour is scripted per key (or per backend default): answer, fail with a code/status,
 * hang until aborted, wait on a gate the test opens, serve corrupted bytes, or — in a worker —
 * exit the thread mid-probe. What happened is counted in a SharedArrayBuffer both threads see:
 * calls, aborts observed by the backend, concurrent calls and their peak.
 */
import { Readable } from 'node:stream';
import { isMainThread, threadId } from 'node:worker_threads';
import { ReadPathError, abortedError, type ErrorCode } from '../../src/errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../../src/types.js';

/** This module's URL: the `backendModule` for a pool. */
export const SCRIPTED_BACKENDS_MODULE = import.meta.url;

/** What a backend does when asked for a key. */
export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'fail'; code?: ErrorCode; status?: number; message?: string }
  /** A failure that is not a readpath error (a network library's). */
  | { kind: 'throw'; message?: string }
  | { kind: 'hang' }
  /** Wait until the test opens this backend's gate, then answer; `deaf`: ignoring its abort signal. */
  | { kind: 'gate'; deaf?: boolean }
  /** Answer after `ms` (abortable). */
  | { kind: 'delay'; ms: number }
  /** Serve the object with its first byte flipped. */
  | { kind: 'corrupt' }
  /**
   * In a worker: end the thread with process.exit(code) mid-probe (with `once`, only the first
   * time any key of this backend does it; later calls answer). On the main thread: a BACKEND_ERROR.
   */
  | { kind: 'exit'; code?: number; once?: boolean }
  /** In a worker: an uncaught exception mid-probe (the worker dies). On the main thread: a BACKEND_ERROR. */
  | { kind: 'uncaught' }
  /**
   * In a worker, the first time any key of this backend does it: answer, send the first half of
   * the body, wait until the test opens the gate, then end the thread with process.exit(code) —
   * a worker that dies mid-body, whatever it was doing with the half it had. Later calls answer.
   * On the main thread: a BACKEND_ERROR.
   */
  | { kind: 'exitMidBody'; code?: number }
  /**
   * On any thread: answer, send the first half of the body, then send the rest only once the test
   * opens the gate — deaf to the probe's abort meanwhile, as a stalled socket can be. `block` (in
   * a worker): the thread itself is held until then (spinning, at most 60 s), so it hears no cancel
   * either — a thread stuck in a system call.
   */
  | { kind: 'stallMidBody'; block?: boolean };

/** A stored object. */
export interface ScriptedObject {
  body: string | Uint8Array;
  /** The ETag to answer with (default `"<backend name>"`, which is not an MD5). */
  etag?: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** One backend's script. */
export interface ScriptedBackendSpec {
  name: string;
  objects?: Record<string, string | Uint8Array | ScriptedObject>;
  /** Per-key behaviour. */
  keys?: Record<string, Behaviour>;
  /** Behaviour for keys without one. Default `ok`. */
  default?: Behaviour;
  /** Answer ranges without the object's size (no Content-Range total), as some servers do. */
  noTotal?: boolean;
}

/** What the pool ships to each worker (structured-cloneable; the counters are shared). */
export interface ScriptedFleetData {
  backends: ScriptedBackendSpec[];
  counters: SharedArrayBuffer;
}

const PER = 8;
const CALLS = 0;
const ABORTS = 1;
const ACTIVE = 2;
const MAX_ACTIVE = 3;
const GATE = 4;
const THREAD = 5;
const FINISHED = 6;
const CRASHED = 7;

function raiseMax(c: Int32Array, at: number, v: number): void {
  for (;;) {
    const cur = Atomics.load(c, at);
    if (v <= cur || Atomics.compareExchange(c, at, cur, v) === cur) return;
  }
}

function bytesOf(b: string | Uint8Array): Uint8Array {
  return typeof b === 'string' ? new TextEncoder().encode(b) : b;
}

/**
 * The byte count of what `backend` holds at `key` in `specs` (undefined: it holds nothing there):
 * the `size_bytes` a row describing that copy gives, as s3-orchestrator records it.
 */
export function storedSize(specs: readonly ScriptedBackendSpec[], backend: string, key: string): number | undefined {
  const o = specs.find((s) => s.name === backend)?.objects?.[key];
  if (o === undefined) return undefined;
  return bytesOf(typeof o === 'string' || o instanceof Uint8Array ? o : o.body).byteLength;
}

class ScriptedBackend implements ObjectBackend {
  readonly name: string;
  readonly #spec: ScriptedBackendSpec;
  readonly #c: Int32Array;
  readonly #base: number;
  readonly #global: number;

  constructor(spec: ScriptedBackendSpec, counters: Int32Array, index: number, global: number) {
    this.name = spec.name;
    this.#spec = spec;
    this.#c = counters;
    this.#base = index * PER;
    this.#global = global;
  }

  #object(key: string): ScriptedObject | undefined {
    const o = this.#spec.objects?.[key];
    if (o === undefined) return undefined;
    return typeof o === 'string' || o instanceof Uint8Array ? { body: o } : o;
  }

  async #call<T>(key: string, signal: AbortSignal | undefined, answer: (o: ScriptedObject, corrupt: boolean, cut?: () => Promise<void>) => T): Promise<T> {
    const c = this.#c;
    const b = this.#base;
    Atomics.add(c, b + CALLS, 1);
    Atomics.store(c, b + THREAD, threadId);
    raiseMax(c, b + MAX_ACTIVE, Atomics.add(c, b + ACTIVE, 1) + 1);
    raiseMax(c, this.#global + 1, Atomics.add(c, this.#global, 1) + 1);
    try {
      if (signal?.aborted) {
        Atomics.add(c, b + ABORTS, 1);
        throw abortedError(signal);
      }
      const beh = this.#spec.keys?.[key] ?? this.#spec.default ?? { kind: 'ok' };
      switch (beh.kind) {
        case 'fail':
          throw new ReadPathError(beh.code ?? 'BACKEND_ERROR', beh.message ?? `${this.name}: scripted failure`,
            beh.status === undefined ? undefined : { backendStatus: beh.status });
        case 'throw':
          throw new Error(beh.message ?? `${this.name}: connection reset`);
        case 'hang':
          await this.#wait(signal, () => false);
          break;
        case 'gate':
          await this.#wait(beh.deaf === true ? undefined : signal, () => Atomics.load(c, b + GATE) !== 0);
          break;
        case 'delay': {
          const until = Date.now() + beh.ms;
          await this.#wait(signal, () => Date.now() >= until);
          break;
        }
        case 'exit':
          if (isMainThread) throw new ReadPathError('BACKEND_ERROR', `${this.name}: simulated crash`);
          if (beh.once === true && Atomics.compareExchange(c, b + CRASHED, 0, 1) !== 0) break;
          // Mid-probe: the task is in flight when the thread goes.
          setImmediate(() => process.exit(beh.code ?? 3));
          await this.#wait(signal, () => false);
          break;
        case 'exitMidBody': {
          if (isMainThread) throw new ReadPathError('BACKEND_ERROR', `${this.name}: simulated crash`);
          if (Atomics.compareExchange(c, b + CRASHED, 0, 1) !== 0) break;
          const o = this.#object(key);
          if (o === undefined) throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
          // What the body does after its first half: wait for the test, then take the thread down.
          return answer(o, false, async () => {
            await this.#wait(undefined, () => Atomics.load(c, b + GATE) !== 0);
            setImmediate(() => process.exit(beh.code ?? 3));
            return new Promise<never>(() => {});
          });
        }
        case 'stallMidBody': {
          const o = this.#object(key);
          if (o === undefined) throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
          const open = (): boolean => Atomics.load(c, b + GATE) !== 0;
          if (beh.block === true && !isMainThread) {
            return answer(o, false, async () => {
              for (const until = Date.now() + 60_000; !open() && Date.now() < until;);
            });
          }
          return answer(o, false, () => this.#wait(undefined, open));
        }
        case 'uncaught':
          if (isMainThread) throw new ReadPathError('BACKEND_ERROR', `${this.name}: simulated crash`);
          setImmediate(() => {
            throw new Error(`${this.name}: simulated uncaught exception`);
          });
          await this.#wait(signal, () => false);
          break;
        default:
          break;
      }
      const o = this.#object(key);
      if (o === undefined) throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
      return answer(o, beh.kind === 'corrupt');
    } finally {
      Atomics.sub(c, b + ACTIVE, 1);
      Atomics.sub(c, this.#global, 1);
      Atomics.add(c, b + FINISHED, 1);
    }
  }

  /** Wait until `ready()` (polled each ms) or the signal aborts (counted). */
  #wait(signal: AbortSignal | undefined, ready: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        clearTimeout(timer);
        Atomics.add(this.#c, this.#base + ABORTS, 1);
        reject(abortedError(signal));
      };
      const check = (): void => {
        if (ready()) {
          signal?.removeEventListener('abort', onAbort);
          resolve();
          return;
        }
        timer = setTimeout(check, 1);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  #head(o: ScriptedObject, size: number): HeadResult {
    const h: HeadResult = { size, etag: o.etag ?? `"${this.name}"` };
    if (o.contentType !== undefined) h.contentType = o.contentType;
    if (o.metadata !== undefined) h.metadata = { ...o.metadata };
    return h;
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    return this.#call(key, opts?.signal, (o) => this.#head(o, bytesOf(o.body).byteLength));
  }

  get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    return this.#call(key, opts?.signal, (o, corrupt, cut) => {
      let bytes = Buffer.from(bytesOf(o.body));
      const total = bytes.byteLength;
      if (opts?.range !== undefined) {
        const m = /^bytes=(\d+)-(\d+)$/.exec(opts.range);
        if (m === null) throw new ReadPathError('BACKEND_ERROR', `${this.name}: InvalidRange`, { backendStatus: 416 });
        bytes = bytes.subarray(Number(m[1]), Number(m[2]) + 1);
      }
      if (corrupt && bytes.length > 0) bytes[0] = (bytes[0] as number) ^ 0xff;
      const body = cut === undefined ? Readable.from([bytes]) : Readable.from((async function* halfThenRest() {
        yield bytes.subarray(0, bytes.byteLength >> 1);
        // The rest only once cut() lets it go (exitMidBody's never does).
        await cut();
        yield bytes.subarray(bytes.byteLength >> 1);
      })());
      // As S3 answers a range: the object's size in Content-Range.
      return { ...this.#head(o, bytes.byteLength), body, ...(opts?.range === undefined || this.#spec.noTotal === true ? {} : { totalSize: total }) };
    });
  }
}

/** The backend module's factory: what a pool worker calls with `backendData`. */
export function createBackends(data: ScriptedFleetData): ObjectBackend[] {
  const c = new Int32Array(data.counters);
  const global = data.backends.length * PER;
  return data.backends.map((s, i) => new ScriptedBackend(s, c, i, global));
}

/** A scripted fleet: its data (for the pool), main-thread backends (for inline) and counters. */
export class ScriptedFleet {
  readonly data: ScriptedFleetData;
  readonly #c: Int32Array;
  readonly #index: Map<string, number>;

  constructor(backends: ScriptedBackendSpec[]) {
    const counters = new SharedArrayBuffer(4 * (backends.length * PER + 2));
    this.data = { backends, counters };
    this.#c = new Int32Array(counters);
    this.#index = new Map(backends.map((b, i) => [b.name, i]));
  }

  get names(): string[] {
    return this.data.backends.map((b) => b.name);
  }

  /** Backends built on this thread from the same data. */
  createBackends(): Map<string, ObjectBackend> {
    return new Map(createBackends(this.data).map((b) => [b.name, b]));
  }

  #at(name: string, field: number): number {
    const i = this.#index.get(name);
    if (i === undefined) throw new Error(`no scripted backend ${name}`);
    return i * PER + field;
  }

  calls(name: string): number { return Atomics.load(this.#c, this.#at(name, CALLS)); }
  /** Calls that ended (answered, failed or aborted). */
  finished(name: string): number { return Atomics.load(this.#c, this.#at(name, FINISHED)); }
  /** Aborts the backend itself observed (the probe's signal reached it). */
  aborts(name: string): number { return Atomics.load(this.#c, this.#at(name, ABORTS)); }
  active(name: string): number { return Atomics.load(this.#c, this.#at(name, ACTIVE)); }
  maxActive(name: string): number { return Atomics.load(this.#c, this.#at(name, MAX_ACTIVE)); }
  /** Thread id of the last call to the backend. */
  lastThread(name: string): number { return Atomics.load(this.#c, this.#at(name, THREAD)); }
  /** Peak of concurrent calls over the whole fleet. */
  globalMaxActive(): number { return Atomics.load(this.#c, this.data.backends.length * PER + 1); }
  totalActive(): number { return Atomics.load(this.#c, this.data.backends.length * PER); }
  /** Open a backend's gate: its `gate` calls answer. */
  open(name: string): void { Atomics.store(this.#c, this.#at(name, GATE), 1); }
}
