/**
 * A readpath transform: gunzip a body (when it is gzipped) and parse it as NDJSON, so the main
 * thread receives finished records instead of bytes.
 *
 *   const rp = ...; // ReadPath / an executor
 *   executor.get('logs/2024-01-01.ndjson.gz', { transform: 'examples/transforms/gunzip-ndjson.mjs' })
 *
 * It runs inside a pool worker on the verified body (inline: on the calling thread). Whatever it
 * throws becomes that read's BACKEND_ERROR, carrying this message; the read then tries the next
 * copy, which helps when an unverified copy is the corrupt one.
 *
 * @param {Uint8Array} bytes the whole (verified) body
 * @param {{ key: string, backend: string, size: number, verified: boolean, contentType?: string }} info
 * @returns {unknown[]} one parsed value per non-empty line
 */
import { gunzipSync } from 'node:zlib';

export default function gunzipNdjson(bytes, info) {
  const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  const text = new TextDecoder('utf-8', { fatal: true }).decode(gzipped ? gunzipSync(bytes) : bytes);
  const records = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    if (raw.trim() === '') continue;
    try {
      records.push(JSON.parse(raw));
    } catch (err) {
      throw new Error(`${info.key}: NDJSON line ${line}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return records;
}
