/**
 * Single flight: concurrent reads of the same key (and options) share one backend read. Each
 * caller may leave with its own signal; the shared read is cancelled only when every caller
 * waiting on it has gone.
 */
import { abortedError } from '../errors.js';

interface Shared<T> {
  promise: Promise<T>;
  /** Undefined for reads run under their callers' one signal ({@link SingleFlight.runUnder}). */
  ac: AbortController | undefined;
  joiners: number;
}

/** Reads in flight, by a key that names the read (key and options). */
export class SingleFlight {
  readonly #inflight = new Map<string, Shared<unknown>>();

  /**
   * Concurrent reads of the same key share one backend read. The shared read is cancelled
   * only when every caller waiting on it has gone. `share` makes each caller that joined a read
   * another started its own copy of the value (a body it may write to).
   */
  run<T>(sfKey: string, signal: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<T>, share?: (v: T) => T): Promise<T> {
    let shared = this.#inflight.get(sfKey) as Shared<T> | undefined;
    // A caller joining a read another started gets its own copy of the value.
    const own = shared === undefined ? undefined : share;
    if (shared === undefined) {
      const ac = new AbortController();
      const s: Shared<T> = { ac, joiners: 0, promise: undefined as unknown as Promise<T> };
      s.promise = start(ac.signal).finally(() => {
        if (this.#inflight.get(sfKey) === s) this.#inflight.delete(sfKey);
      });
      // Callers may all leave; the shared promise's rejection must never go unhandled.
      s.promise.catch(() => {});
      this.#inflight.set(sfKey, s);
      shared = s;
    }
    const s = shared;
    s.joiners++;
    if (signal === undefined) {
      const p = s.promise.finally(() => { s.joiners--; });
      return own === undefined ? p : p.then(own);
    }
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const leave = (): void => {
        if (left) return;
        left = true;
        signal.removeEventListener('abort', onAbort);
        s.joiners--;
      };
      const onAbort = (): void => {
        leave();
        if (s.joiners === 0) {
          s.ac?.abort(signal.reason);
          if (this.#inflight.get(sfKey) === s) this.#inflight.delete(sfKey);
        }
        reject(abortedError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      s.promise.then((v) => { leave(); resolve(own === undefined ? v : own(v)); }, (e: unknown) => { leave(); reject(e); });
    });
  }

  /**
   * Concurrent reads whose callers all wait under one signal — a batch's — share one backend
   * read, run under that signal itself: no controller, listener or promise of their own (each
   * costs microseconds, per key of a batch). `sfKey` must name that signal's scope, so that no
   * caller under another signal ever joins (see ReadPath.readMany).
   */
  runUnder<T>(sfKey: string, signal: AbortSignal, start: (signal: AbortSignal) => Promise<T>, share?: (v: T) => T): Promise<T> {
    const shared = this.#inflight.get(sfKey) as Shared<T> | undefined;
    if (shared !== undefined) return share === undefined ? shared.promise : shared.promise.then(share);
    const s: Shared<T> = { ac: undefined, joiners: 1, promise: undefined as unknown as Promise<T> };
    s.promise = start(signal).finally(() => {
      if (this.#inflight.get(sfKey) === s) this.#inflight.delete(sfKey);
    });
    this.#inflight.set(sfKey, s);
    return s.promise;
  }

  /** Resolves once every read now in flight has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()].map((s) => s.promise));
  }
}
