/**
 * The one way chaos gets a wrong body out of readpath: while the metadata store is down there
 * is no content_hash to verify against, and API.md lets a degraded GET serve its winner
 * unverified (`verified: false`). A copy whose bytes were damaged (on disk, by a proxy) wins
 * a degraded broadcast as readily as a good one, and its bytes go to the caller.
 *
 * S3 still says what the bytes should be: the ETag of a single-part upload is the MD5 of the
 * object, and a damaged copy keeps it. Checking a degraded body against such an ETag (quoted
 * 32 hex digits, no `-N` multipart suffix) would turn this into a failed probe and let the
 * broadcast pick the good copy: `integrity.verify_etag` (default on) does exactly that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { GetResult } from '../../src/types.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { ReadPath } from '../../src/read-path.js';
import { sha256Hex } from '../../src/probe/probes.js';

/** A backend whose GET bodies come back with one byte flipped, headers (ETag) intact. */
class DamagingBackend extends MemoryBackend {
  override async get(key: string, opts?: { signal?: AbortSignal; range?: string }): Promise<GetResult> {
    const r = await super.get(key, opts);
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    if (bytes.length > 0) bytes[0] = (bytes[0] as number) ^ 0xff;
    return { ...r, body: Readable.from([bytes]) };
  }
}

test('a degraded read never serves bytes that contradict the backend\'s own MD5 ETag', async () => {
  const b1 = new DamagingBackend('b1');
  const b2 = new MemoryBackend('b2');
  const store = new MemoryMetadataStore();
  const bytes = new TextEncoder().encode('the real bytes');
  for (const [i, b] of [b1, b2].entries()) {
    b.put('report.csv', bytes);
    store.add({ objectKey: 'report.csv', backendName: b.name, sizeBytes: bytes.length, createdAt: new Date(1_700_000_000_000 + i), encrypted: false, contentHash: sha256Hex(bytes) });
  }
  const rp = await ReadPath.open({
    backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'memory' },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
  }, { backends: [b1, b2], store });
  try {
    // Located: the damaged copy fails verification, the good one is served.
    assert.equal((await rp.get('report.csv')).backend, 'b2');
    store.setAvailable(false);
    const g = await rp.get('report.csv').catch((e: unknown) => e);
    if (g instanceof Error) {
      assert.match((g as { code?: string }).code ?? '', /INTEGRITY_MISMATCH|ALL_BACKENDS_FAILED/);
      return;
    }
    const got = g as { body: Uint8Array; degraded: boolean; verified: boolean; backend: string };
    assert.equal(got.degraded, true);
    assert.equal(new TextDecoder().decode(got.body), 'the real bytes', `served damaged bytes from ${got.backend} (verified: ${got.verified})`);
  } finally {
    await rp.close();
  }
});
