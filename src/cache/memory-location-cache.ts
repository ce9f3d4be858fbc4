/**
 * A bounded LRU location cache with per-entry TTL. The TTL is jittered ±20% so entries written
 * together during an outage do not all expire in the same instant and stampede the broadcast.
 *
 * The cache fills during an outage, up to its bound (100,000 entries by default), and whatever
 * it keeps on the JS heap is paid several times over in resident memory: V8 lets old space grow
 * to a multiple of the live heap (up to ~4x) before collecting. So the cache keeps nothing on
 * the JS heap: no object per entry, not even the key string. Entries live in typed arrays indexed
 * by a slot: the key's characters in an arena (one byte per character when they all fit, two
 * otherwise), the expiry in a Float64Array, the backend as an interned id in a Uint16Array (names
 * are few: the configured backends), the recency list as two Int32Arrays; an open-addressing
 * table of slots, keyed by a hash of the key's characters, is the index. A full 100,000-entry
 * cache of 11-character keys is ~5 MiB of array buffers and ~0 bytes of JS heap, against ~13 MiB
 * of heap for a Map of `{ backend, expiresAt }` objects.
 *
 * Over 300 lines on purpose: the arena, the recency list and the index are one data structure
 * whose invariants (slot reuse, tombstones, compaction) hold only together.
 */
import type { LocationCache } from '../types.js';

/** Options for {@link MemoryLocationCache}. */
export interface MemoryLocationCacheOptions {
  /** Time to live of an entry, in ms (before jitter). Default 60000. */
  ttlMs?: number;
  /** Upper bound on entries; the least recently used is evicted. Default 100000. */
  maxEntries?: number;
  /** Jitter fraction applied to the TTL (default 0.2 = ±20%). */
  jitter?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Random source in [0, 1), for tests. */
  random?: () => number;
}

const NONE = -1;
/** Slots allocated up front; the arrays double from here up to `maxEntries`. */
const INITIAL_SLOTS = 1024;
/** Distinct backend names an id can hold (Uint16Array). */
export const MAX_BACKEND_NAMES = 0xffff;
/** Set in a slot's length word when its key is stored two bytes per character. */
const WIDE = 0x80000000;

/** FNV-1a over a string's UTF-16 code units. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function grown<A extends Float64Array | Uint16Array | Int32Array | Uint32Array | Uint8Array>(a: A, make: (n: number) => A, n: number): A {
  const b = make(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

/** The in-memory degraded-mode location cache. */
export class MemoryLocationCache implements LocationCache {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #jitter: number;
  readonly #now: () => number;
  readonly #random: () => number;

  #size = 0;
  #capacity = 0;
  // Per slot.
  #expiresAt = new Float64Array(0);
  #backend = new Uint16Array(0);
  #hash = new Uint32Array(0);
  #keyAt = new Uint32Array(0);
  /** Key length in characters, | WIDE when stored two bytes per character. */
  #keyLen = new Uint32Array(0);
  /** Recency list: head is the most recently used slot, tail the least. Free slots chain through #next. */
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
  #head = NONE;
  #tail = NONE;
  #free = NONE;
  /** Slots ever handed out (the rest of the arrays are untouched). */
  #used = 0;

  /** Open addressing, linear probing: slot + 1, 0 = empty. At most half full. */
  #table = new Int32Array(0);
  #mask = 0;

  /** Key characters; bytes past #arenaUsed are free, and dead keys leave holes until compaction. */
  #arena = new Uint8Array(0);
  #arenaUsed = 0;
  #arenaLive = 0;

  /** Interned backend names: id -> name and name -> id. */
  #names: string[] = [];
  #ids = new Map<string, number>();

  constructor(opts: MemoryLocationCacheOptions = {}) {
    const maxEntries = opts.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#jitter = opts.jitter ?? 0.2;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#reset();
  }

  /** The cached backend for a key (refreshing its recency), or undefined when absent or expired. */
  get(key: string): string | undefined {
    const at = this.#find(key, hashOf(key));
    if (at < 0) return undefined;
    const slot = (this.#table[at] as number) - 1;
    if (this.#expiresAt[slot] as number <= this.#now()) {
      this.#removeAt(at, slot);
      return undefined;
    }
    this.#touch(slot);
    return this.#names[this.#backend[slot] as number];
  }

  /** Remember the backend that served a key; replaces any existing value and TTL. */
  set(key: string, backendName: string): void {
    const spread = this.#ttlMs * this.#jitter;
    const expiresAt = this.#now() + this.#ttlMs - spread + this.#random() * 2 * spread;
    let id = this.#ids.get(backendName);
    if (id === undefined) {
      if (this.#names.length >= MAX_BACKEND_NAMES) {
        // Only reachable when callers invent backend names; the cache is a hint, so start over
        // rather than let the name table grow without bound.
        this.clear();
        this.#names = [];
        this.#ids = new Map();
      }
      id = this.#names.length;
      this.#names.push(backendName);
      this.#ids.set(backendName, id);
    }
    const h = hashOf(key);
    const at = this.#find(key, h);
    let slot: number;
    if (at >= 0) {
      slot = (this.#table[at] as number) - 1;
      this.#touch(slot);
    } else {
      if (this.#size >= this.#max) this.#removeAt(this.#indexOfSlot(this.#tail), this.#tail);
      slot = this.#alloc();
      this.#storeKey(slot, key);
      this.#hash[slot] = h;
      this.#insert(slot, h);
      this.#size++;
      this.#pushFront(slot);
    }
    this.#expiresAt[slot] = expiresAt;
    this.#backend[slot] = id;
  }

  /** Forget one key. */
  delete(key: string): boolean {
    const at = this.#find(key, hashOf(key));
    if (at < 0) return false;
    this.#removeAt(at, (this.#table[at] as number) - 1);
    return true;
  }

  /** Forget everything (the store breaker calls this when the database comes back). */
  clear(): void {
    // Shrink back too: an outage's worth of entries must not stay resident until the next one.
    this.#reset();
  }

  /** Entries currently held (expired ones included until touched). */
  get size(): number {
    return this.#size;
  }

  #reset(): void {
    this.#size = 0;
    this.#head = NONE;
    this.#tail = NONE;
    this.#free = NONE;
    this.#used = 0;
    this.#capacity = 0;
    this.#arena = new Uint8Array(0);
    this.#arenaUsed = 0;
    this.#arenaLive = 0;
    this.#table = new Int32Array(0);
    this.#resize(Math.min(this.#max, INITIAL_SLOTS));
  }

  /** Grow the per-slot arrays to `capacity` and rebuild the table for it. */
  #resize(capacity: number): void {
    this.#expiresAt = grown(this.#expiresAt, (n) => new Float64Array(n), capacity);
    this.#backend = grown(this.#backend, (n) => new Uint16Array(n), capacity);
    this.#hash = grown(this.#hash, (n) => new Uint32Array(n), capacity);
    this.#keyAt = grown(this.#keyAt, (n) => new Uint32Array(n), capacity);
    this.#keyLen = grown(this.#keyLen, (n) => new Uint32Array(n), capacity);
    this.#prev = grown(this.#prev, (n) => new Int32Array(n), capacity);
    this.#next = grown(this.#next, (n) => new Int32Array(n), capacity);
    this.#capacity = capacity;
    let tableSize = 16;
    while (tableSize < capacity * 2) tableSize *= 2;
    if (tableSize !== this.#table.length) {
      this.#table = new Int32Array(tableSize);
      this.#mask = tableSize - 1;
      for (let s = this.#head; s !== NONE; s = this.#next[s] as number) this.#insert(s, this.#hash[s] as number);
    }
  }

  /** A free slot: a released one, else the next unused one (growing the arrays if needed). */
  #alloc(): number {
    const free = this.#free;
    if (free !== NONE) {
      this.#free = this.#next[free] as number;
      return free;
    }
    if (this.#used === this.#capacity) this.#resize(Math.min(this.#max, this.#capacity * 2));
    return this.#used++;
  }

  /** The table index holding `key`, or -1. */
  #find(key: string, h: number): number {
    const table = this.#table;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = table[i] as number;
      if (e === 0) return -1;
      const slot = e - 1;
      if (this.#hash[slot] === h && this.#keyEquals(slot, key)) return i;
    }
  }

  /** The table index holding `slot`. */
  #indexOfSlot(slot: number): number {
    const table = this.#table;
    const mask = this.#mask;
    let i = (this.#hash[slot] as number) & mask;
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    return i;
  }

  #insert(slot: number, h: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = h & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Empty table index `at` without breaking any probe chain (backward-shift deletion). */
  #unindex(at: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = at;
    for (let j = (at + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = (this.#hash[(table[j] as number) - 1] as number) & mask;
      // Move the entry at j into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        table[hole] = table[j] as number;
        hole = j;
      }
    }
    table[hole] = 0;
  }

  #removeAt(at: number, slot: number): void {
    this.#unindex(at);
    this.#unlink(slot);
    this.#arenaLive -= this.#keyBytes(slot);
    this.#size--;
    this.#next[slot] = this.#free;
    this.#free = slot;
  }

  #keyBytes(slot: number): number {
    const len = this.#keyLen[slot] as number;
    return (len & WIDE) !== 0 ? (len & ~WIDE) * 2 : len;
  }

  #keyEquals(slot: number, key: string): boolean {
    const word = this.#keyLen[slot] as number;
    const wide = (word & WIDE) !== 0;
    const len = word & ~WIDE;
    if (len !== key.length) return false;
    const arena = this.#arena;
    const at = this.#keyAt[slot] as number;
    if (wide) {
      for (let i = 0; i < len; i++) {
        if (((arena[at + 2 * i] as number) | ((arena[at + 2 * i + 1] as number) << 8)) !== key.charCodeAt(i)) return false;
      }
    } else {
      for (let i = 0; i < len; i++) if (arena[at + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  #storeKey(slot: number, key: string): void {
    let wide = false;
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0xff) {
        wide = true;
        break;
      }
    }
    const bytes = wide ? key.length * 2 : key.length;
    if (this.#arenaUsed + bytes > this.#arena.length) this.#makeRoom(bytes);
    const arena = this.#arena;
    const at = this.#arenaUsed;
    if (wide) {
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        arena[at + 2 * i] = c & 0xff;
        arena[at + 2 * i + 1] = c >>> 8;
      }
    } else {
      for (let i = 0; i < key.length; i++) arena[at + i] = key.charCodeAt(i);
    }
    this.#keyAt[slot] = at;
    this.#keyLen[slot] = wide ? (key.length | WIDE) >>> 0 : key.length;
    this.#arenaUsed += bytes;
    this.#arenaLive += bytes;
  }

  /** Compact the arena when at least half of it is dead keys, else grow it. */
  #makeRoom(bytes: number): void {
    const need = this.#arenaLive + bytes;
    const size = this.#arenaUsed - this.#arenaLive >= this.#arenaUsed / 2 && need <= this.#arena.length
      ? this.#arena.length
      : Math.max(1024, 2 * need, this.#arena.length * 2);
    const from = this.#arena;
    const to = new Uint8Array(size);
    let used = 0;
    for (let s = this.#head; s !== NONE; s = this.#next[s] as number) {
      const n = this.#keyBytes(s);
      const at = this.#keyAt[s] as number;
      to.set(from.subarray(at, at + n), used);
      this.#keyAt[s] = used;
      used += n;
    }
    this.#arena = to;
    this.#arenaUsed = used;
  }

  #touch(slot: number): void {
    if (slot === this.#head) return;
    this.#unlink(slot);
    this.#pushFront(slot);
  }

  #pushFront(slot: number): void {
    this.#prev[slot] = NONE;
    this.#next[slot] = this.#head;
    if (this.#head !== NONE) this.#prev[this.#head] = slot;
    this.#head = slot;
    if (this.#tail === NONE) this.#tail = slot;
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot] as number;
    const n = this.#next[slot] as number;
    if (p === NONE) this.#head = n;
    else this.#next[p] = n;
    if (n === NONE) this.#tail = p;
    else this.#prev[n] = p;
  }
}
