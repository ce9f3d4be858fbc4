/**
 * Zstandard frame decoding, loaded on first use per thread. `@bokuweb/zstd-wasm` is libzstd
 * compiled to WebAssembly: no native build at install (Node 20's zlib has no zstd), ~1 GiB/s
 * per core here against 0.2 GiB/s for the pure-JS decoders, and libzstd checks each frame's
 * content checksum itself.
 */
import { MAX_CHUNK_SIZE, decompressionFailed } from './seek-table.js';

interface ZstdWasm {
  init(): Promise<void>;
  decompress(buf: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array;
}

let loading: Promise<ZstdWasm> | undefined;
let loaded: ZstdWasm | undefined;

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
    out = loaded.decompress(frame, { defaultHeapSize: Math.max(size ?? MAX_CHUNK_SIZE, 1) });
  } catch (err) {
    throw decompressionFailed(`${where}: a zstd frame of ${frame.byteLength} bytes does not decode (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (size !== undefined && out.byteLength !== size) throw decompressionFailed(`${where}: a zstd frame decoded to ${out.byteLength} bytes where ${size} were expected`);
  return out;
}
