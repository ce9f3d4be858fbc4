/**
 * The object data cache (`cache:`, s3-orchestrator's section): verified bodies of small objects
 * kept in memory so that objects read again and again (a gateway's hot keys) cost no backend
 * request, no egress and no usage. Bounded by total bytes (`max_size`) and per object
 * (`max_object_size`), least recently used evicted first, each entry good for `ttl`.
 *
 * Unlike upstream's, an entry is keyed by the object's stored SHA-256 as well as its key: a
 * read uses it only when the metadata database still gives that hash, so an overwritten object
 * is read afresh the moment its row changes — never served stale for a TTL. Rows without a
 * content hash are not cached (nothing would prove the entry still current), nor are reads in
 * degraded mode (no row to compare with).
 *
 * Bodies are kept as copies and handed out as copies: what a caller does with the bytes it
 * was given cannot change what the next caller reads.
 */

/** What is kept of an object besides its bytes. */
export interface CachedHead {
  etag?: string | undefined;
  contentType?: string | undefined;
  lastModified?: Date | undefined;
  metadata?: Record<string, string> | undefined;
}

/** The head fields an entry keeps, taken from a backend's answer. */
export function cachedHeadOf(h: CachedHead): CachedHead {
  return { etag: h.etag, contentType: h.contentType, lastModified: h.lastModified, metadata: h.metadata };
}

/** One cached object. */
export interface CachedObject {
  sha256: string;
  body: Buffer;
  head: CachedHead;
  /** The backend it was read from. */
  backend: string;
}

/** The resolved `cache:` settings. */
export interface ObjectCacheSettings {
  enabled: boolean;
  maxSize: number;
  maxObjectSize: number;
  ttlMs: number;
}

interface Entry extends CachedObject { expires: number }

/** The cache; `now` is injectable for tests (ms). */
export class ObjectCache {
  readonly #s: ObjectCacheSettings;
  readonly #now: () => number;
  // Insertion order is recency order: an entry read again moves to the end.
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #closed = false;

  constructor(settings: ObjectCacheSettings, opts: { now?: () => number } = {}) {
    this.#s = settings;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Objects held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether an object of `size` bytes may be cached at all. */
  fits(size: number): boolean {
    return size <= this.#s.maxObjectSize && size <= this.#s.maxSize;
  }

  /**
   * The cached object for `key` if it is still what the database says (`sha256`) and within its
   * TTL; undefined otherwise (an entry for another hash, or expired, is dropped). The body is
   * the cache's own: callers hand out copies or slices they copy.
   */
  get(key: string, sha256: string): CachedObject | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.sha256 !== sha256 || e.expires <= this.#now()) {
      this.#drop(key, e);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e;
  }

  /** Keep a verified body (copied), evicting the least recently used entries to make room. */
  set(key: string, o: CachedObject): void {
    if (this.#closed || !this.fits(o.body.length)) return;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#drop(key, old);
    while (this.#bytes + o.body.length > this.#s.maxSize) {
      const lru = this.#entries.entries().next();
      if (lru.done === true) break;
      this.#drop(lru.value[0], lru.value[1]);
    }
    const body = Buffer.allocUnsafeSlow(o.body.length);
    o.body.copy(body);
    this.#entries.set(key, { sha256: o.sha256, body, head: { ...o.head }, backend: o.backend, expires: this.#now() + this.#s.ttlMs });
    this.#bytes += body.length;
  }

  /**
   * Drop every entry and keep nothing from now on (`ReadPath.close()`: a closed reader must not
   * hold up to `max_size` of bodies, nor gain more from a stream finishing after it closed).
   */
  close(): void {
    this.#closed = true;
    this.#entries.clear();
    this.#bytes = 0;
  }

  #drop(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= e.body.length;
  }
}
