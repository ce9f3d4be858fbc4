/**
 * Fault-injecting in-memory backends for chaos runs, driven by a plan that is plain data: every
 * object body, every replica placement and every fault is a pure function of (seed, backend,
 * key), so the same plan builds identical backends on the main thread (inline executor) and
 * inside pool workers (`backendModule: CHAOS_BACKENDS_MODULE, backendData: plan`), and the test
 * can compute, before reading anything, which keys the replicas make readable.
 *
 * Faults are persistent per copy (a copy that answers 503 always does), except `flaky` (fails its
 * first attempt only). A SharedArrayBuffer both threads see counts probe starts and ends per key
 * (a key whose probe was cut off by a dying worker shows starts > ends), attempts per copy, and
 * holds the kill switch: while it is > 0, the next probe in a worker thread takes the worker down
 * mid-probe with process.exit.
 */
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { ReadPathError, abortedError } from '../../src/errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../../src/types.js';

/** This module's URL: the `backendModule` for a pool. */
export const CHAOS_BACKENDS_MODULE = import.meta.url;

/** What a copy does. `none` and `latency` serve the object; `flaky` fails its first attempt only. */
export type CopyFault =
  | 'none'
  | 'latency'
  | 'flaky'
  /** HTTP 503 SlowDown. */
  | 'status503'
  /** A raw network error (not a readpath error), as a reset socket gives. */
  | 'reset'
  /** No answer until the backend timeout (TIMEOUT) or an abort. */
  | 'hang'
  /** Headers announce the full size; the body stops halfway (ends early or errors). */
  | 'truncate'
  /** Same size, one byte flipped. */
  | 'corrupt'
  /** The copy is gone: 404. */
  | 'missing'
  /** Never answers and ignores its signal (abort tests only). */
  | 'blackhole';

/** Faults that make a copy unreadable on every attempt. */
export const BROKEN: ReadonlySet<CopyFault> = new Set(['status503', 'reset', 'hang', 'truncate', 'corrupt', 'missing', 'blackhole']);

/** The plan: plain data, structured-cloneable (the counters are shared). */
export interface ChaosPlan {
  seed: number;
  keys: number;
  names: string[];
  /** Fraction of copies with a fault, in [0, 1]. */
  faultRate: number;
  /** Faults to draw from, with weights. */
  faults: [CopyFault, number][];
  /** Replicas per key: min..max (distinct backends). */
  minReplicas: number;
  maxReplicas: number;
  /** Body sizes: min..max bytes. */
  minBytes: number;
  maxBytes: number;
  /** A hung copy answers TIMEOUT after this long, as S3Backend's call deadline does. */
  hangMs: number;
  /** `latency` copies answer after 1..maxLatencyMs ms. */
  maxLatencyMs: number;
  counters: SharedArrayBuffer;
}

/** Layout of the shared counters. */
const KILL = 0;
const BLACKHOLES = 1;
const KILLED = 2;
const HEADER = 4;

/** Defaults for a plan; `keys` and `seed` are the usual knobs. */
export function chaosPlan(opts: Partial<Omit<ChaosPlan, 'counters'>> & { keys: number }): ChaosPlan {
  const names = opts.names ?? ['b1', 'b2', 'b3'];
  const keys = opts.keys;
  const counters = new SharedArrayBuffer(4 * (HEADER + 2 * keys + names.length * keys));
  return {
    seed: opts.seed ?? 0xc4a05,
    keys,
    names,
    faultRate: opts.faultRate ?? 0.3,
    faults: opts.faults ?? [
      ['latency', 3], ['flaky', 1], ['status503', 2], ['reset', 2], ['hang', 1], ['truncate', 2], ['corrupt', 2], ['missing', 2],
    ],
    minReplicas: opts.minReplicas ?? 1,
    maxReplicas: opts.maxReplicas ?? 3,
    minBytes: opts.minBytes ?? 1,
    maxBytes: opts.maxBytes ?? 512,
    hangMs: opts.hangMs ?? 25,
    maxLatencyMs: opts.maxLatencyMs ?? 3,
    counters,
  };
}

/** A 32-bit mix of up to three integers (murmur3 finaliser). */
export function mix(a: number, b = 0, c = 0): number {
  let h = (a ^ Math.imul(b + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(c + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const unit = (h: number): number => h / 0x1_0000_0000;

/** The key name of index `i`: a path with a space and a non-ASCII letter, as real keys have. */
export function keyName(i: number): string {
  return `chaos/${(i % 97).toString(36)}/obj ${i}-é`;
}

/** The index of a chaos key, or -1. */
export function keyIndex(key: string): number {
  const m = /^chaos\/[0-9a-z]+\/obj (\d+)-é$/.exec(key);
  return m === null ? -1 : Number(m[1]);
}

/** Backends holding key `i`, in stored (createdAt) order. */
export function replicas(plan: ChaosPlan, i: number): string[] {
  const n = plan.names.length;
  const span = plan.maxReplicas - plan.minReplicas + 1;
  const r = Math.min(n, plan.minReplicas + (mix(plan.seed, i, 1) % span));
  const start = mix(plan.seed, i, 2) % n;
  const step = n > 2 && (mix(plan.seed, i, 3) & 1) === 1 ? n - 1 : 1;
  return Array.from({ length: r }, (_, j) => plan.names[(start + j * step) % n] as string);
}

/** What the copy of key `i` on `backend` does (`none` when the backend holds no copy). */
export function copyFault(plan: ChaosPlan, backend: string, i: number): CopyFault {
  const b = plan.names.indexOf(backend);
  if (unit(mix(plan.seed ^ 0x5eed, i, b + 11)) >= plan.faultRate) return 'none';
  let total = 0;
  for (const [, w] of plan.faults) total += w;
  let x = unit(mix(plan.seed ^ 0xfa17, i, b + 17)) * total;
  for (const [f, w] of plan.faults) {
    if (x < w) return f;
    x -= w;
  }
  return 'none';
}

/** The body of key `i`. */
export function bodyOf(plan: ChaosPlan, i: number): Uint8Array {
  const size = plan.minBytes + (mix(plan.seed, i, 5) % (plan.maxBytes - plan.minBytes + 1));
  const out = new Uint8Array(size);
  let s = mix(plan.seed, i, 6);
  for (let j = 0; j < size; j++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[j] = s >>> 24;
  }
  return out;
}

/** Hex SHA-256 of key `i`'s body. */
export function hashOf(plan: ChaosPlan, i: number): string {
  return createHash('sha256').update(bodyOf(plan, i)).digest('hex');
}

/** What the replicas make possible for key `i`. */
export interface KeyExpectation {
  /** At least one copy serves on every attempt: the key must be readable. */
  good: boolean;
  /** Every copy is broken on every attempt: no verified read can succeed. */
  hopeless: boolean;
}

/** Expectations for every key of the plan. */
export function expectations(plan: ChaosPlan, i: number): KeyExpectation {
  const faults = replicas(plan, i).map((b) => copyFault(plan, b, i));
  return {
    good: faults.some((f) => f === 'none' || f === 'latency'),
    hopeless: faults.every((f) => BROKEN.has(f)),
  };
}

/** Probe starts/ends per key and per-copy attempts, shared by every thread. */
export class ChaosCounters {
  readonly #c: Int32Array;
  readonly #keys: number;

  constructor(plan: ChaosPlan) {
    this.#c = new Int32Array(plan.counters);
    this.#keys = plan.keys;
  }

  starts(i: number): number { return Atomics.load(this.#c, HEADER + i); }
  ends(i: number): number { return Atomics.load(this.#c, HEADER + this.#keys + i); }
  /** Blackholed probes currently pending. */
  get blackholes(): number { return Atomics.load(this.#c, BLACKHOLES); }
  /** Workers taken down so far. */
  get killed(): number { return Atomics.load(this.#c, KILLED); }
  /** Ask for `n` more worker deaths: each happens inside the next probe a worker thread runs. */
  requestKill(n = 1): void { Atomics.add(this.#c, KILL, n); }
  /** Kills requested and not yet carried out. */
  get pendingKills(): number { return Atomics.load(this.#c, KILL); }

  /** @internal */ begin(i: number): void { Atomics.add(this.#c, HEADER + i, 1); }
  /** @internal */ end(i: number): void { Atomics.add(this.#c, HEADER + this.#keys + i, 1); }
  /** @internal */ attempt(b: number, i: number): number { return Atomics.add(this.#c, HEADER + 2 * this.#keys + b * this.#keys + i, 1); }
  /** @internal */ blackhole(d: number): void { Atomics.add(this.#c, BLACKHOLES, d); }
  /** @internal Take one pending kill, if any. */
  takeKill(): boolean {
    for (;;) {
      const v = Atomics.load(this.#c, KILL);
      if (v <= 0) return false;
      if (Atomics.compareExchange(this.#c, KILL, v, v - 1) === v) {
        Atomics.add(this.#c, KILLED, 1);
        return true;
      }
    }
  }
}

function wait(ms: number, signal: AbortSignal | undefined, onTimeout: () => Error | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortedError(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      const err = onTimeout();
      if (err === undefined) resolve();
      else reject(err);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** S3's ETag of a single-part upload: the quoted hex MD5 of the object. */
function etagOf(bytes: Uint8Array): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

/** A body that announces `full.length` bytes and delivers half: ending early or erroring. */
function truncatedBody(full: Uint8Array, erroring: boolean): Readable {
  const half = Buffer.from(full.subarray(0, Math.floor(full.length / 2)));
  let sent = false;
  return new Readable({
    read() {
      if (!sent && half.length > 0) {
        sent = true;
        this.push(half);
        return;
      }
      if (erroring) this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      else this.push(null);
    },
  });
}

/** One chaos backend. */
export class ChaosBackend implements ObjectBackend {
  readonly name: string;
  readonly #plan: ChaosPlan;
  readonly #index: number;
  readonly #counters: ChaosCounters;

  constructor(plan: ChaosPlan, name: string) {
    this.name = name;
    this.#plan = plan;
    this.#index = plan.names.indexOf(name);
    this.#counters = new ChaosCounters(plan);
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    return this.#call(key, opts?.signal, (bytes) => ({ size: bytes.byteLength, etag: etagOf(bytes) }));
  }

  get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    return this.#call(key, opts?.signal, (bytes, fault, i) => {
      const size = bytes.byteLength;
      if (fault === 'truncate') {
        return { size, etag: etagOf(bytes), body: truncatedBody(bytes, (mix(this.#plan.seed, i, 9) & 1) === 1) };
      }
      let out = Buffer.from(bytes);
      if (fault === 'corrupt') {
        out = Buffer.from(out);
        const at = mix(this.#plan.seed, i, 7) % size;
        out[at] = (out[at] as number) ^ 0x5a;
      }
      // The ETag is the intact object's MD5, as S3 keeps it whatever happens to the bytes on the way.
      return { size, etag: etagOf(bytes), body: Readable.from([out]) };
    });
  }

  async #call<T>(key: string, signal: AbortSignal | undefined, answer: (bytes: Uint8Array, fault: CopyFault, i: number) => T): Promise<T> {
    const i = keyIndex(key);
    const c = this.#counters;
    if (i < 0 || i >= this.#plan.keys) throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
    c.begin(i);
    try {
      if (!isMainThread && c.takeKill()) {
        // The worker goes down with this probe (and any others it runs) in flight.
        setImmediate(() => process.exit(7));
        await new Promise<never>(() => {});
      }
      if (signal?.aborted) throw abortedError(signal);
      const plan = this.#plan;
      if (!replicas(plan, i).includes(this.name)) {
        throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
      }
      const fault = copyFault(plan, this.name, i);
      const attempt = c.attempt(this.#index, i);
      switch (fault) {
        case 'latency':
          await wait(1 + (mix(plan.seed, i, this.#index + 30) % plan.maxLatencyMs), signal, () => undefined);
          break;
        case 'flaky':
          if (attempt === 0) throw new ReadPathError('BACKEND_ERROR', `${this.name}: HTTP 503 SlowDown`, { backendStatus: 503 });
          break;
        case 'status503':
          throw new ReadPathError('BACKEND_ERROR', `${this.name}: HTTP 503 SlowDown`, { backendStatus: 503 });
        case 'reset':
          throw Object.assign(new Error(`${this.name}: read ECONNRESET`), { code: 'ECONNRESET' });
        case 'missing':
          throw new ReadPathError('BACKEND_ERROR', `${this.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
        case 'hang':
          await wait(plan.hangMs, signal, () => new ReadPathError('TIMEOUT', `${this.name}: no answer within ${plan.hangMs}ms`));
          break;
        case 'blackhole':
          c.blackhole(1);
          await new Promise<never>(() => {});
          break;
        default:
          break;
      }
      return answer(bodyOf(plan, i), fault, i);
    } finally {
      c.end(i);
    }
  }
}

/** The backend module's factory: what a pool worker calls with the plan. */
export function createBackends(plan: ChaosPlan): ObjectBackend[] {
  return plan.names.map((n) => new ChaosBackend(plan, n));
}
