/**
 * A ReadPath over in-memory backends and store, for fast tests of the facade and the batch
 * coordinator.
 */
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';

/** Open a ReadPath over memory backends b1..bN and a memory store. */
export async function openMemoryReadPath(n = 3, extra: Partial<ReadPathConfig> = {}) {
  const backends = Array.from({ length: n }, (_, i) => new MemoryBackend(`b${i + 1}`));
  const store = new MemoryMetadataStore();
  const config: ReadPathConfig = {
    backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'memory' },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
    ...extra,
  };
  const rp = await ReadPath.open(config, { backends, store });
  let t = 0;
  /** Put `body` on the named backends and record locations in that order. */
  const seed = (key: string, body: string | Uint8Array, on: string[] = ['b1', 'b2']) => {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    for (const name of on) {
      backends.find((b) => b.name === name)?.put(key, bytes);
      store.add({ objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(++t), encrypted: false, contentHash: sha256Hex(bytes) });
    }
  };
  return { rp, backends, store, seed, backend: (name: string) => backends.find((b) => b.name === name) as MemoryBackend };
}
