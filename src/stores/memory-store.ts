/**
 * An in-memory metadata store with an outage switch, for tests, benchmarks and embedding.
 */
import { ReadPathError, abortedError } from '../errors.js';
import type { ListKeysOptions, ListedObject, MetadataStore, ObjectLocation, ObjectTag } from '../types.js';
import { checkListKeysOptions, compareKeys, keyRange } from './key-listing.js';
import { objectSizeOf, rowEtag } from './row-mapping.js';

/** One shared instance: an outage fails every lookup, and building an Error per call costs µs. */
const UNAVAILABLE = new ReadPathError('DB_UNAVAILABLE', 'metadata store unavailable (simulated outage)');

/** A metadata store that keeps location rows in memory. */
export class MemoryMetadataStore implements MetadataStore {
  /** Rows per key, kept sorted by createdAt (ties in insertion order). */
  readonly #rows = new Map<string, ObjectLocation[]>();
  /** Every key in UTF-8 byte order, for listings; rebuilt after a key is added or removed. */
  #sorted: string[] | undefined;
  #available = true;
  readonly #tags = new Map<string, ObjectTag[]>();
  /** Lookups made: tests read this. */
  calls = 0;

  /** Add a row; an existing `(objectKey, backendName)` row is replaced. */
  add(location: ObjectLocation): void {
    const rows = this.#rows.get(location.objectKey) ?? [];
    const i = rows.findIndex((r) => r.backendName === location.backendName);
    if (i >= 0) rows.splice(i, 1);
    const row = { ...location };
    // Insert after every row not newer than this one: stable ordering by createdAt.
    let at = rows.length;
    while (at > 0 && (rows[at - 1] as ObjectLocation).createdAt.getTime() > row.createdAt.getTime()) at--;
    rows.splice(at, 0, row);
    if (!this.#rows.has(location.objectKey)) this.#sorted = undefined;
    this.#rows.set(location.objectKey, rows);
  }

  /** Remove one row or every row of a key; true when something was removed. */
  remove(objectKey: string, backendName?: string): boolean {
    const rows = this.#rows.get(objectKey);
    if (rows === undefined) return false;
    if (backendName === undefined) {
      this.#sorted = undefined;
      return this.#rows.delete(objectKey);
    }
    const i = rows.findIndex((r) => r.backendName === backendName);
    if (i < 0) return false;
    rows.splice(i, 1);
    if (rows.length === 0) {
      this.#rows.delete(objectKey);
      this.#sorted = undefined;
    }
    return true;
  }

  /** Replace an object's tag set (an empty one removes it). */
  setTags(objectKey: string, tags: Readonly<Record<string, string>>): void {
    const set = Object.entries(tags).map(([key, value]) => ({ key, value })).sort((a, b) => compareKeys(a.key, b.key));
    if (set.length === 0) this.#tags.delete(objectKey);
    else this.#tags.set(objectKey, set);
  }

  /** An object's tag set (see {@link MetadataStore.getObjectTags}); not counted in {@link calls}. */
  async getObjectTags(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectTag[]> {
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    if (!this.#available) throw UNAVAILABLE;
    return (this.#tags.get(key) ?? []).map((t) => ({ ...t }));
  }

  /** Simulate an outage: while unavailable every call throws DB_UNAVAILABLE. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  async getAllObjectLocations(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectLocation[]> {
    this.calls++;
    if (opts?.signal?.aborted) throw abortedError(opts.signal);
    if (!this.#available) throw UNAVAILABLE;
    const rows = this.#rows.get(key);
    if (rows === undefined || rows.length === 0) {
      throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
    }
    return rows.slice();
  }

  /** A page of keys (see {@link MetadataStore.listKeys}); not counted in {@link calls}. */
  async listKeys(opts: ListKeysOptions): Promise<ListedObject[]> {
    const checked = checkListKeysOptions(opts);
    if (opts.signal?.aborted) throw abortedError(opts.signal);
    if (!this.#available) throw UNAVAILABLE;
    const { prefix, limit } = checked;
    const { from, inclusive } = keyRange(checked);
    const keys = (this.#sorted ??= [...this.#rows.keys()].sort(compareKeys));
    // Binary search for the page's first key.
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(keys[mid] as string, from);
      if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    const out: ListedObject[] = [];
    for (let i = lo; i < keys.length && out.length < limit; i++) {
      const key = keys[i] as string;
      // Keys with one prefix are contiguous in this order: the first that lacks it ends the page.
      if (!key.startsWith(prefix)) break;
      const first = (this.#rows.get(key) as ObjectLocation[])[0] as ObjectLocation;
      const etag = rowEtag(first);
      out.push({ key, size: objectSizeOf(first), ...(etag === undefined ? {} : { etag }), lastModified: new Date(first.createdAt.getTime()) });
    }
    return out;
  }

  async close(): Promise<void> {}
}
