/**
 * MemoryLocationCache against a plain reference model (a Map in recency order holding
 * `{ backend, expiresAt }`), plus what the off-heap layout adds: keys of one- and two-byte
 * characters, growth past the first slots, the key arena's compaction, the backend-name table's
 * bound, and the memory an entry costs and `clear()` gives back. The basic contract tests (LRU,
 * TTL jitter) are in memory-parts.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { MAX_BACKEND_NAMES, MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { fcParams } from '../helpers/property-params.js';

/** The semantics the cache must have, written the obvious way. */
class ModelCache {
  readonly #m = new Map<string, { backend: string; expiresAt: number }>();
  constructor(readonly max: number, readonly ttlMs: number, readonly jitter: number) {}

  get(key: string, now: number): string | undefined {
    const e = this.#m.get(key);
    if (e === undefined) return undefined;
    this.#m.delete(key);
    if (e.expiresAt <= now) return undefined;
    this.#m.set(key, e);
    return e.backend;
  }

  set(key: string, backend: string, now: number, r: number): void {
    const spread = this.ttlMs * this.jitter;
    const expiresAt = now + this.ttlMs - spread + r * 2 * spread;
    if (this.#m.has(key)) this.#m.delete(key);
    else if (this.#m.size >= this.max) this.#m.delete(this.#m.keys().next().value as string);
    this.#m.set(key, { backend, expiresAt });
  }

  delete(key: string): boolean {
    return this.#m.delete(key);
  }

  clear(): void {
    this.#m.clear();
  }

  get size(): number {
    return this.#m.size;
  }
}

/** Key `k`: plain ASCII, Latin-1 or wider characters, and lengths that differ, by k. */
function keyName(k: number): string {
  switch (k % 4) {
    case 0: return `k${k}`;
    case 1: return `dir/ü-${k}`;
    case 2: return `ключ/${k}/😀`;
    default: return `${'x'.repeat(k % 37)}/${k}`;
  }
}

type Cmd =
  | { op: 'set'; key: number; backend: number; r: number }
  | { op: 'get'; key: number }
  | { op: 'delete'; key: number }
  | { op: 'tick'; ms: number }
  | { op: 'clear' };

function cmds(keys: number, backends: number, minLength: number, maxLength: number): fc.Arbitrary<Cmd[]> {
  const key = fc.nat(keys - 1);
  return fc.array(fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key, backend: fc.nat(backends - 1), r: fc.double({ min: 0, max: 0.999999, noNaN: true }) }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('get' as const), key }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.nat(400) }) },
    { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  ), { minLength, maxLength });
}

function runAgainstModel(max: number, commands: Cmd[]): void {
  let now = 1_000;
  let r = 0;
  const ttlMs = 1_000;
  const cache = new MemoryLocationCache({ maxEntries: max, ttlMs, now: () => now, random: () => r });
  const model = new ModelCache(max, ttlMs, 0.2);
  for (const [i, c] of commands.entries()) {
    const at = `command ${i} (${JSON.stringify(c)})`;
    switch (c.op) {
      case 'set':
        r = c.r;
        cache.set(keyName(c.key), `b${c.backend}`);
        model.set(keyName(c.key), `b${c.backend}`, now, c.r);
        break;
      case 'get':
        assert.equal(cache.get(keyName(c.key)), model.get(keyName(c.key), now), at);
        break;
      case 'delete':
        assert.equal(cache.delete(keyName(c.key)), model.delete(keyName(c.key)), at);
        break;
      case 'tick':
        now += c.ms;
        break;
      case 'clear':
        cache.clear();
        model.clear();
        break;
    }
    assert.equal(cache.size, model.size, `size after ${at}`);
  }
  // Every key the model still holds (and in its recency order) answers the same.
  for (let k = 0; k < 64; k++) assert.equal(cache.get(keyName(k)), model.get(keyName(k), now), `final get ${keyName(k)}`);
}

test('MemoryLocationCache behaves as the reference LRU + TTL model (small bounds)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), cmds(10, 4, 20, 200), runAgainstModel), fcParams(300));
});

test('MemoryLocationCache behaves as the reference model past its first 1024 slots (arrays grow)', () => {
  fc.assert(fc.property(fc.integer({ min: 1025, max: 1600 }), cmds(2_400, 3, 3_000, 6_000), runAgainstModel), fcParams(8));
});

test('MemoryLocationCache: growing to a large bound keeps LRU order (5,000 entries, 6,000 keys)', () => {
  const c = new MemoryLocationCache({ maxEntries: 5_000, ttlMs: 60_000 });
  for (let i = 0; i < 5_000; i++) c.set(`k/${i}`, `b${i % 3}`);
  assert.equal(c.get('k/0'), 'b0'); // the oldest is now the most recent
  for (let i = 5_000; i < 6_000; i++) c.set(`k/${i}`, `b${i % 3}`);
  assert.equal(c.size, 5_000);
  assert.equal(c.get('k/0'), 'b0', 'refreshed by get, so not evicted');
  assert.equal(c.get('k/1'), undefined, 'the least recently used went first');
  assert.equal(c.get('k/1000'), undefined);
  assert.equal(c.get('k/1001'), 'b2', 'the 1,001st oldest survived: 1,000 evictions, one of them spared k/0');
  assert.equal(c.get('k/5999'), 'b2');
});

test('MemoryLocationCache: keys are told apart by every character, whatever its width', () => {
  const c = new MemoryLocationCache({ maxEntries: 100, ttlMs: 60_000 });
  const keys = ['a', 'ab', 'ba', 'é', 'e\u0301', 'ключ', 'ключ2', '😀', '\ud83d\ude01', 'a\u0100', 'a\u0000', 'x'.repeat(1024), `${'x'.repeat(1023)}y`];
  keys.forEach((k, i) => c.set(k, `b${i}`));
  keys.forEach((k, i) => assert.equal(c.get(k), `b${i}`, JSON.stringify(k)));
  assert.equal(c.get('A'), undefined);
  assert.equal(c.get('ключ3'), undefined);
  assert.equal(c.get('\u0100'), undefined);
  assert.equal(c.size, keys.length);
});

test('MemoryLocationCache: a long stream of distinct keys through a small cache keeps its arrays small (the key arena is compacted)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = heapAndBuffers(gc);
  const c = new MemoryLocationCache({ maxEntries: 100, ttlMs: 60_000 });
  for (let i = 0; i < 50_000; i++) c.set(`${'p'.repeat(i % 200)}/${i}`, 'b1');
  const after = heapAndBuffers(gc);
  for (let i = 49_900; i < 50_000; i++) assert.equal(c.get(`${'p'.repeat(i % 200)}/${i}`), 'b1');
  assert.equal(c.get(`${'p'.repeat(49_899 % 200)}/49899`), undefined);
  // ~10 MB of keys went through; what stays is about 100 keys' worth.
  assert.ok(after - before < 256 * 1024, `${((after - before) / 1024).toFixed(0)} KiB kept`);
});

test('MemoryLocationCache: backend names beyond the id table start the cache over instead of growing it', () => {
  const c = new MemoryLocationCache({ maxEntries: 4, ttlMs: 60_000 });
  for (let i = 0; i < MAX_BACKEND_NAMES; i++) c.set(`k${i % 4}`, `name-${i}`);
  assert.equal(c.size, 4);
  const last = MAX_BACKEND_NAMES - 1;
  assert.equal(c.get(`k${last % 4}`), `name-${last}`);
  c.set('fresh', 'one-name-too-many');
  assert.equal(c.size, 1, 'the table was full: everything was dropped');
  assert.equal(c.get(`k${last % 4}`), undefined);
  assert.equal(c.get('fresh'), 'one-name-too-many');
  c.set('k0', `name-0`);
  assert.equal(c.get('k0'), 'name-0', 'names are interned afresh after the reset');
});

function heapAndBuffers(gc: () => void): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('MemoryLocationCache: a full 100,000-entry cache keeps nothing on the JS heap and under 80 bytes an entry of array buffers, and clear() gives it back', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const names = ['b1', 'b2', 'b3'];
  const before = heapAndBuffers(gc);
  const heapBefore = process.memoryUsage().heapUsed;
  const c = new MemoryLocationCache({ maxEntries: 100_000, ttlMs: 60_000 });
  for (let i = 0; i < 100_000; i++) c.set(`soak/${i}`, names[i % 3] as string);
  const full = heapAndBuffers(gc);
  const heap = process.memoryUsage().heapUsed - heapBefore;
  const perEntry = (full - before) / 100_000;
  assert.equal(c.size, 100_000);
  // Measured: ~52 bytes an entry, all array buffers (a Map of { backend, expiresAt } objects:
  // ~150 bytes, ~135 of them JS heap that V8 multiplies into old-space headroom).
  assert.ok(heap < 512 * 1024, `${(heap / 1048576).toFixed(2)} MiB of JS heap for 100,000 entries`);
  assert.ok(perEntry < 80, `${perEntry.toFixed(0)} bytes an entry`);
  c.clear();
  const cleared = heapAndBuffers(gc);
  assert.equal(c.get('soak/99999'), undefined);
  assert.ok(cleared - before < 1024 * 1024, `clear() kept ${((cleared - before) / 1048576).toFixed(2)} MiB of the outage's entries`);
});
