/**
 * Deterministic randomness for the benchmark worlds. Every draw is a pure function of
 * (seed, backend, key, stream), not of a shared generator's position, so every strategy in a
 * run meets exactly the same world: read k on backend j takes the same time whichever strategy
 * asked and in whatever order the concurrent reads got there ("common random numbers").
 */

/** 32-bit finalizer (a murmur3/splitmix-style avalanche). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a hash of a string, 32 bits. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A stream of uniforms in [0, 1) for one (seed, backend, key). */
export class Draws {
  readonly #base: number;
  #i = 0;

  constructor(seed: number, backendIndex: number, key: string) {
    this.#base = mix32(mix32(seed ^ 0x9e3779b9) ^ mix32(backendIndex + 0x632be5ab) ^ hashString(key));
  }

  /** The next uniform in [0, 1). */
  uniform(): number {
    return mix32(this.#base + Math.imul(++this.#i, 0x9e3779b9)) / 4294967296;
  }

  /** A standard normal (Box–Muller). */
  normal(): number {
    const u1 = Math.max(this.uniform(), 1e-12);
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}
