/**
 * Digests computed on a thread of their own, over bytes in shared memory: the check of a body
 * read whole into a buffer (`getStream`'s `into`) need not run on the thread that serves it.
 *
 * Why: the gateway's main thread reads, hashes and sends every body. Hashing a mebibyte takes
 * ~0.65 ms here, and a loop iteration that finishes several bodies at once hashes them all in a
 * row; with verification off, the same 1 MiB run had half the event-loop delay p99
 * (bench/RESULTS.md, "Bodies hashed off the main thread"). SHA-256 of bytes already in a
 * SharedArrayBuffer needs no copy: the thread is given the memory's place, not the bytes.
 *
 * The thread is a worker_threads `eval` script of a few lines (node:crypto only), so it needs no
 * file beside the build and starts the same from source and from dist/. Bytes outside shared
 * memory, or a thread that failed, are hashed here instead: the answer is the same either way.
 */
import { Worker } from 'node:worker_threads';
import { digestHex, type DigestAlgorithm } from '../probe/digest.js';

export type { DigestAlgorithm };

/** An asynchronous hex digest of `bytes`; `bytes` must stay unchanged until it settles. */
export type OffloadedDigest = (algorithm: DigestAlgorithm, bytes: Uint8Array) => Promise<string>;

// Messages: [id, algorithm, memory, byteOffset, byteLength] in, [id, hex] or [id, null, message] out.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
parentPort.on('message', (m) => {
  try {
    const bytes = new Uint8Array(m[2], m[3], m[4]);
    parentPort.postMessage([m[0], crypto.createHash(m[1]).update(bytes).digest('hex')]);
  } catch (err) {
    parentPort.postMessage([m[0], null, String(err && err.message || err)]);
  }
});
`;

const DEFAULT_MIN_BYTES = 128 * 1024;

interface Pending {
  algorithm: DigestAlgorithm;
  bytes: Uint8Array;
  resolve: (hex: string) => void;
  reject: (err: Error) => void;
}

/** Settle `p` with its digest computed on this thread; `why`, when the thread reported a failure, names it if this fails too. */
function settleHere(p: Pending, why?: string): void {
  try {
    p.resolve(digestHex(p.algorithm, p.bytes));
  } catch (err) {
    p.reject(why === undefined ? (err as Error) : new Error(`digest thread: ${why}`));
  }
}

/** One digest thread. Start it with {@link DigestThread.start}; {@link DigestThread.close} ends it. */
export class DigestThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #answered = 0;
  /** The thread exited or failed: every digest from then on is computed on the caller's thread. */
  #gone = false;

  /** Bytes below this are hashed on the caller's thread: the hand-off would cost more than the hash. */
  readonly minBytes: number;

  private constructor(minBytes: number) {
    this.minBytes = minBytes;
    this.#worker = new Worker(THREAD_SOURCE, { eval: true });
    this.#worker.on('message', (m: [number, string | null, string?]) => this.#answer(m));
    this.#worker.on('error', () => this.#fail());
    this.#worker.on('exit', () => this.#fail());
    // Idle, the thread must not keep the process alive; it is ref'd while digests are pending.
    // After the listeners: adding a 'message' listener refs the worker again.
    this.#worker.unref();
  }

  /**
   * A running digest thread. `minBytes` (default 128 KiB): smaller inputs are hashed on the
   * caller's thread — SHA-256 of 64 KiB takes ~40 µs here, about what a message each way costs.
   */
  static start(opts: { minBytes?: number } = {}): DigestThread {
    return new DigestThread(opts.minBytes ?? DEFAULT_MIN_BYTES);
  }

  /** Whether {@link digest} would hand `bytes` to a thread (rather than hash them here). */
  static wouldTake(bytes: Uint8Array, minBytes = DEFAULT_MIN_BYTES): boolean {
    return bytes.byteLength >= minBytes && bytes.buffer instanceof SharedArrayBuffer;
  }

  /** Digests the thread has computed so far. */
  get answered(): number {
    return this.#answered;
  }

  /**
   * The hex digest of `bytes`: on the thread when they lie in a SharedArrayBuffer, are at least
   * {@link minBytes} long and the thread is up; else here. Bound, so it can be passed around as an {@link OffloadedDigest}.
   */
  readonly digest: OffloadedDigest = (algorithm, bytes) => {
    if (this.#gone || !DigestThread.wouldTake(bytes, this.minBytes)) return Promise.resolve(digestHex(algorithm, bytes));
    const id = this.#next++;
    return new Promise<string>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { algorithm, bytes, resolve, reject });
      this.#worker.postMessage([id, algorithm, bytes.buffer, bytes.byteOffset, bytes.byteLength]);
    });
  };

  /** End the thread; digests still pending, and any asked for later, are computed on the caller's thread. */
  async close(): Promise<void> {
    this.#gone = true;
    await this.#worker.terminate();
    this.#computeHere();
  }

  #answer([id, hex, message]: [number, string | null, string?]): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    this.#answered++;
    // An answer the thread could not compute (it should not happen) is computed here.
    if (hex === null) settleHere(p, message ?? 'failed');
    else p.resolve(hex);
  }

  // The bytes are still there (the caller keeps them until the digest settles): what the thread
  // did not answer is computed here, so a failed thread costs time, never a read.
  #fail(): void {
    this.#gone = true;
    this.#computeHere();
  }

  #computeHere(): void {
    for (const p of this.#pending.values()) settleHere(p);
    this.#pending.clear();
  }
}

/** A digest thread started by the first input it would take (see {@link lazyDigestThread}). */
export interface LazyDigestThread {
  readonly digest: OffloadedDigest;
  /** The thread, once started. */
  readonly thread: DigestThread | undefined;
  /** End the thread if it was started. */
  close(): Promise<void>;
}

/**
 * An {@link OffloadedDigest} whose thread starts only when a first input is worth handing over:
 * a gateway that serves small objects only never starts one.
 */
export function lazyDigestThread(): LazyDigestThread {
  let thread: DigestThread | undefined;
  return {
    digest: (algorithm, bytes) => {
      if (thread === undefined && !DigestThread.wouldTake(bytes)) return Promise.resolve(digestHex(algorithm, bytes));
      thread ??= DigestThread.start();
      return thread.digest(algorithm, bytes);
    },
    get thread() {
      return thread;
    },
    close: async () => {
      await thread?.close();
    },
  };
}
