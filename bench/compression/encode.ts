/**
 * s3-orchestrator's compressed layout for the compression bench (bench/compression.bench.ts):
 * the object in chunks, each one zstd frame (libzstd via @bokuweb/zstd-wasm, the package the
 * reader decodes with — the tests write theirs with Debian's `zstd` command instead), then the
 * seek table. libzstd's one-shot compress writes no content checksum, so the entries carry none
 * (descriptor bit 7 clear, which the format allows); upstream's frames carry one, which costs a
 * reader XXH64 of each frame (~10 GiB/s: noise here).
 */
import { compress } from '@bokuweb/zstd-wasm';
import { loadZstd } from '../../src/compression/zstd.js';

/** Encode `data` in upstream's seekable layout: frames of `chunkSize` logical bytes, then the table. */
export async function encodeSeekable(data: Uint8Array, chunkSize = 1024 * 1024, level = 3): Promise<Buffer> {
  // The reader's own loader: the package must be initialised once per thread (a second init()
  // swaps the WebAssembly instance under the first one's memory views: decodes then fail).
  await loadZstd();
  const parts: Buffer[] = [];
  const entries: Buffer[] = [];
  for (let at = 0; at < data.byteLength; at += chunkSize) {
    const piece = data.subarray(at, Math.min(at + chunkSize, data.byteLength));
    const frame = Buffer.from(compress(piece, level));
    parts.push(frame);
    const e = Buffer.alloc(8);
    e.writeUInt32LE(frame.byteLength, 0);
    e.writeUInt32LE(piece.byteLength, 4);
    entries.push(e);
  }
  const footer = Buffer.alloc(9);
  footer.writeUInt32LE(entries.length, 0);
  footer.writeUInt8(0, 4);
  footer.writeUInt32LE(0x8f92eab1, 5);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a5e, 0);
  head.writeUInt32LE(entries.length * 8 + 9, 4);
  return Buffer.concat([...parts, head, ...entries, footer]);
}

/** Compressible bytes like the objects upstream's compression is for: `n` bytes of JSON log lines. */
export function logText(n: number): Buffer {
  const lines: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const line = `{"ts":${1_700_000_000 + i},"level":"${i % 7 === 0 ? 'warn' : 'info'}","svc":"ingest-${i % 13}","msg":"request ${(i * 7919) % 100_003} served in ${(i * 37) % 900} ms","bytes":${(i * 31_337) % 65_536}}\n`;
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('').slice(0, n));
}
