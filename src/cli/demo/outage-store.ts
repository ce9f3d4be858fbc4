/**
 * A metadata store that can be cut off: while `down`, every lookup fails with DB_UNAVAILABLE,
 * exactly as the PostgreSQL store fails when its server cannot be reached. The demo's SQLite
 * file is local and cannot really become unreachable, so this is how the demo stages the
 * outage a shared metadata database has; everything above the store (breaker, degraded
 * broadcast, location cache) is the real code path.
 */
import { ReadPathError, abortedError } from '../../errors.js';
import type { MetadataStore, ObjectLocation } from '../../types.js';

/** See the module comment. */
export class OutageStore implements MetadataStore {
  readonly #inner: MetadataStore;
  #down = false;
  #refused = 0;

  constructor(inner: MetadataStore) {
    this.#inner = inner;
  }

  /** Cut the store off (true) or bring it back (false). */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Whether the store is cut off. */
  get down(): boolean {
    return this.#down;
  }

  /** Lookups refused while down: the ones that reached the store before its breaker opened. */
  get refused(): number {
    return this.#refused;
  }

  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    if (this.#down) {
      this.#refused++;
      throw new ReadPathError('DB_UNAVAILABLE', 'metadata database unreachable (outage staged by the demo)');
    }
    return this.#inner.getAllObjectLocations(key, opts);
  }
}
