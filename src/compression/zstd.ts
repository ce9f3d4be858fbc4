/**
 * Zstandard frame decoding, loaded on first use per thread. `@bokuweb/zstd-wasm` is libzstd
 * compiled to WebAssembly: no native build at install (Node 20's zlib has no zstd), ~1 GiB/s
 * per core here against 0.2 GiB/s for the pure-JS decoders, and libzstd checks each frame's
 * content checksum itself.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { MAX_CHUNK_SIZE, decompressionFailed } from './seek-table.js';

interface ZstdWasm {
  init(): Promise<void>;
  decompress(buf: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array;
}

/** The Emscripten module under the package: libzstd's own functions and the WebAssembly heap. */
interface ZstdModule {
  readonly HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  _ZSTD_createDCtx(): number;
  _ZSTD_decompress_usingDict(dctx: number, dst: number, dstCapacity: number, src: number, srcSize: number, dict: number, dictSize: number): number;
  _ZSTD_isError(code: number): number;
}

/**
 * Frames decoded with one decompression context and two heap buffers kept for the thread's life.
 * The package's `decompress()` creates and frees a libzstd context and both buffers for every
 * frame; reusing them decodes a 1 MiB frame of log lines in ~0.96 ms instead of ~1.18 here.
 */
class HeapDecoder {
  readonly #m: ZstdModule;
  readonly #dctx: number;
  #src = 0;
  #srcCap = 0;
  #dst = 0;
  #dstCap = 0;

  constructor(m: ZstdModule) {
    this.#m = m;
    this.#dctx = m._ZSTD_createDCtx();
    if (this.#dctx === 0) throw new Error('ZSTD_createDCtx failed');
  }

  /** `frame` decoded into at most `capacity` bytes, copied out of the heap; throws when libzstd refuses it. */
  decode(frame: Uint8Array, capacity: number): Uint8Array {
    const m = this.#m;
    if (frame.byteLength > this.#srcCap) [this.#src, this.#srcCap] = this.#grow(this.#src, frame.byteLength);
    if (capacity > this.#dstCap) [this.#dst, this.#dstCap] = this.#grow(this.#dst, capacity);
    // HEAPU8 is read afresh after every allocation: a heap that grew is a new ArrayBuffer.
    m.HEAPU8.set(frame, this.#src);
    const n = m._ZSTD_decompress_usingDict(this.#dctx, this.#dst, capacity, this.#src, frame.byteLength, 0, 0);
    if (m._ZSTD_isError(n) !== 0) throw new Error(`libzstd error code ${n}`);
    return m.HEAPU8.slice(this.#dst, this.#dst + n);
  }

  #grow(old: number, need: number): [number, number] {
    if (old !== 0) this.#m._free(old);
    const p = this.#m._malloc(need);
    if (p === 0) throw new Error(`cannot allocate ${need} bytes in the WebAssembly heap`);
    return [p, need];
  }
}

let loading: Promise<ZstdWasm> | undefined;
let loaded: ZstdWasm | undefined;
let heap: HeapDecoder | undefined;
let useHeap = true;

/**
 * The package's Emscripten module, the very instance its `init()` set up: the file beside the
 * entry point, loaded by path (the package's `exports` name only its entry), so Node's module cache
 * gives the same object. Undefined when a release lays its files out otherwise, or lacks the
 * functions: decoding then goes through `decompress()`.
 */
function packageModule(): ZstdModule | undefined {
  try {
    const req = createRequire(import.meta.url);
    const m = (req(path.join(path.dirname(req.resolve('@bokuweb/zstd-wasm')), 'module.js')) as { Module?: Partial<ZstdModule> }).Module;
    const fns = ['_malloc', '_free', '_ZSTD_createDCtx', '_ZSTD_decompress_usingDict', '_ZSTD_isError'] as const;
    return m !== undefined && m.HEAPU8 instanceof Uint8Array && fns.every((f) => typeof m[f] === 'function') ? m as ZstdModule : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Load the decoder on this thread (once); reads of compressed copies await it before decoding.
 * Anything else in the process that uses the package must go through this too: its `init()`
 * called a second time replaces the WebAssembly instance while the module keeps the first
 * one's memory views, and decoding then reads garbage.
 */
export function loadZstd(): Promise<void> {
  loading ??= import('@bokuweb/zstd-wasm').then(async (m) => {
    const z = m as unknown as ZstdWasm;
    await z.init();
    const mod = packageModule();
    heap = mod === undefined ? undefined : new HeapDecoder(mod);
    loaded = z;
    return z;
  });
  return loading.then(() => undefined);
}

/**
 * Decode one whole frame whose content is `size` bytes (from its header or the seek table;
 * undefined when neither says: then at most a chunk). Throws DECOMPRESSION_FAILED for a frame
 * libzstd rejects (corrupt, checksum mismatch) or one that decodes to another size.
 */
export function decodeFrame(frame: Uint8Array, size: number | undefined, where: string): Uint8Array {
  if (loaded === undefined) throw new Error('decodeFrame before loadZstd() resolved');
  let out: Uint8Array;
  try {
    // The capacity is the expected size (the frame header's, when it has one, was checked
    // against it): a frame that would decode to more fails in libzstd.
    out = heap !== undefined && useHeap && size !== undefined
      ? heap.decode(frame, Math.max(size, 1))
      : loaded.decompress(frame, { defaultHeapSize: Math.max(size ?? MAX_CHUNK_SIZE, 1) });
  } catch (err) {
    throw decompressionFailed(`${where}: a zstd frame of ${frame.byteLength} bytes does not decode (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (size !== undefined && out.byteLength !== size) throw decompressionFailed(`${where}: a zstd frame decoded to ${out.byteLength} bytes where ${size} were expected`);
  return out;
}

/** Which way frames are decoded on this thread (after {@link loadZstd}): tests and benches read it. */
export function zstdDecoder(): 'heap' | 'package' {
  return heap !== undefined && useHeap ? 'heap' : 'package';
}

/** Decode through the package's `decompress()` even where the kept context would do (tests compare both). */
export function preferPackageDecoder(prefer: boolean): void {
  useHeap = !prefer;
}
