/**
 * The `sim` world: in-memory backends whose every read takes the time (and meets the fate) its
 * latency model draws for that key, on real timers, so the whole runtime's own costs (event
 * loop, probe runs, cancellation) are in the measurement.
 */
import { Readable } from 'node:stream';
import { ReadPathError, abortedError } from '../../src/errors.js';
import type { GetResult, HeadResult, ObjectBackend } from '../../src/types.js';
import { Draws } from './rng.js';
import { sampleModel, type BackendModel, type Sample } from './latency-spec.js';

/** A backend that answers after a modelled latency; every key exists. */
export class SimBackend implements ObjectBackend {
  readonly name: string;
  readonly model: BackendModel;
  readonly #index: number;
  readonly #seed: number;
  readonly #body: Uint8Array;
  readonly #counters: Int32Array<ArrayBufferLike>;

  /**
   * `counters` (one slot per backend, by index) counts requests received; it may live in a
   * SharedArrayBuffer, so copies of this backend in pool workers count into the same slots.
   */
  constructor(model: BackendModel, index: number, seed: number, objectSize: number, counters: Int32Array<ArrayBufferLike> = new Int32Array(index + 1)) {
    this.name = model.name;
    this.model = model;
    this.#index = index;
    this.#seed = seed;
    this.#body = new Uint8Array(objectSize).fill(0x61);
    this.#counters = counters;
  }

  /** Requests received (cancelled ones included: a real backend saw and billed them). */
  get requests(): number {
    return Atomics.load(this.#counters, this.#index);
  }

  /** The latency and fate of reading `key` here: the same for every strategy. */
  sample(key: string): Sample {
    return sampleModel(this.model, new Draws(this.#seed, this.#index, key));
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    return this.#answer(key, opts?.signal, () => ({ size: this.#body.byteLength, etag: '"sim"' }));
  }

  get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    return this.#answer(key, opts?.signal, () => ({ size: this.#body.byteLength, etag: '"sim"', body: Readable.from([this.#body]) }));
  }

  #answer<R>(key: string, signal: AbortSignal | undefined, make: () => R): Promise<R> {
    Atomics.add(this.#counters, this.#index, 1);
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    const s = this.sample(key);
    return new Promise<R>((resolve, reject) => {
      let timer: NodeJS.Timeout | NodeJS.Immediate;
      const onAbort = (): void => {
        if (s.ms > 0) clearTimeout(timer as NodeJS.Timeout);
        else clearImmediate(timer as NodeJS.Immediate);
        reject(abortedError(signal));
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (!s.fail) resolve(make());
        else if (this.model.down) reject(new ReadPathError('BACKEND_ERROR', `${this.name}: GET ${JSON.stringify(key)}: request failed ECONNREFUSED (simulated)`));
        else reject(new ReadPathError('BACKEND_ERROR', `${this.name}: GET ${JSON.stringify(key)}: HTTP 503 SlowDown (simulated)`, { backendStatus: 503 }));
      };
      // A zero latency still answers asynchronously, as a refused connection does.
      timer = s.ms > 0 ? setTimeout(done, s.ms) : setImmediate(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** What it takes to build a sim world's backends, in this thread or in a pool worker. */
export interface SimWorldData {
  models: BackendModel[];
  seed: number;
  objectSize: number;
  /** Int32 request counters, one per backend; shared with pool workers. */
  counters: SharedArrayBuffer;
}

/** Describe a sim world (fresh shared counters). */
export function simWorldData(models: readonly BackendModel[], seed: number, objectSize: number): SimWorldData {
  return { models: [...models], seed, objectSize, counters: new SharedArrayBuffer(4 * Math.max(1, models.length)) };
}

/**
 * The backends of a sim world, b1..bN. Also the pool executor's `backendModule` entry
 * (`createBackends(backendData)`), so pool workers serve the very same world.
 */
export function createBackends(data: SimWorldData): SimBackend[] {
  const counters = new Int32Array(data.counters);
  return data.models.map((m, i) => new SimBackend(m, i, data.seed, data.objectSize, counters));
}

/** This module's URL, for a pool's `backendModule`: the .ts under tsx, the .js in dist. */
export const SIM_BACKEND_MODULE: string = import.meta.url;
