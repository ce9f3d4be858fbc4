/**
 * `backends[].client` chooses each backend's S3 transport, on the main thread (inline probes)
 * and in the pool's workers alike; with the lean transport, each bad answer of issue 13 (a
 * redirect, a wrong Content-Length, garbage XML, a 200 whose ETag is not the body's MD5, a
 * truncated body) is a coded error for that copy and the read moves to the next one.
 * Which transport sent a request is seen at the proxy: the SDK adds `amz-sdk-invocation-id`,
 * the lean transport signs `UNSIGNED-PAYLOAD`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadPath } from '../../src/read-path.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { Fault } from '../helpers/fault-proxy.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { settleTcpHandles } from '../helpers/handles.js';

let fleet: S3Fleet;
let t = 1;

function transportOf(headers: Record<string, unknown>): 'lean' | 'sdk' | 'unknown' {
  if (headers['amz-sdk-invocation-id'] !== undefined) return 'sdk';
  if (headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD') return 'lean';
  return 'unknown';
}

function config(clients: Record<string, 'lean' | 'sdk' | undefined>, mode: 'inline' | 'pool'): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => {
      const c = clients[b.name];
      return { ...fleet.backendConfig(b.name), ...(c !== undefined ? { client: c } : {}) };
    }),
    database: { driver: 'memory' },
    server: { backend_timeout: '5s' },
    runtime: mode === 'pool' ? { mode: 'pool', threads: 1 } : { mode: 'inline' },
    logging: { level: 'silent' },
  };
}

function locate(store: MemoryMetadataStore, key: string, bytes: Uint8Array, on: string[], hashed = true): void {
  for (const name of on) {
    store.add({ objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: hashed ? sha256Hex(bytes) : null });
  }
}

before(async () => {
  fleet = await startS3Fleet({ count: 2 });
});

after(async () => {
  await fleet.close();
  assert.deepEqual(await settleTcpHandles(), [], 'no TCP handles left');
});

for (const mode of ['inline', 'pool'] as const) {
  describe(`transport per backend (${mode})`, () => {
    it('b1 lean, b2 sdk: each request goes out on its backend\'s transport', async () => {
      const store = new MemoryMetadataStore();
      const rp = await ReadPath.open(config({ b1: 'lean', b2: 'sdk' }, mode), { store });
      try {
        const bytes = new TextEncoder().encode(`bytes for ${mode}`);
        await fleet.seed(`sel-${mode}`, bytes);
        locate(store, `sel-${mode}`, bytes, ['b1']);
        locate(store, `sel2-${mode}`, bytes, ['b2']);
        await fleet.seed(`sel2-${mode}`, bytes);
        const seen1 = fleet.backend('b1').proxy.requestCount;
        const seen2 = fleet.backend('b2').proxy.requestCount;
        const a = await rp.get(`sel-${mode}`);
        const b = await rp.get(`sel2-${mode}`);
        assert.deepEqual([a.backend, a.verified, b.backend, b.verified], ['b1', true, 'b2', true]);
        assert.deepEqual(a.body, bytes);
        const r1 = fleet.backend('b1').proxy.requestHeaders().slice(seen1);
        const r2 = fleet.backend('b2').proxy.requestHeaders().slice(seen2);
        assert.ok(r1.length > 0 && r1.every((h) => transportOf(h) === 'lean'), 'b1 read with the lean transport');
        assert.ok(r2.length > 0 && r2.every((h) => transportOf(h) === 'sdk'), 'b2 read with the SDK');
      } finally {
        await rp.close();
      }
    });
  });
}

describe('lean transport: a bad answer is a coded error for that copy, the read moves on', () => {
  let rp: ReadPath;
  let store: MemoryMetadataStore;
  before(async () => {
    store = new MemoryMetadataStore();
    rp = await ReadPath.open(config({ b1: 'lean', b2: 'lean' }, 'inline'), { store });
  });
  after(() => rp.close());

  const faults: [string, Fault, boolean][] = [
    ['a 301 redirect', { kind: 'redirect', status: 301 }, true],
    ['a 307 redirect', { kind: 'redirect', status: 307 }, true],
    ['a Content-Length above the body', { kind: 'wrongLength', delta: 7 }, true],
    ['a Content-Length below the body', { kind: 'wrongLength', delta: -7 }, true],
    ['garbage XML with a 500', { kind: 'invalidXml', status: 500 }, true],
    ['a truncated body', { kind: 'truncate' }, true],
    ['corrupted bytes', { kind: 'corrupt' }, true],
    ['a 200 whose ETag is not the body MD5 (no content hash to check)', { kind: 'etag' }, false],
  ];
  let n = 0;
  for (const [what, fault, hashed] of faults) {
    it(what, async () => {
      const key = `fault-${n++}`;
      const bytes = new TextEncoder().encode(`the right bytes of ${key}, long enough to cut`);
      await fleet.seed(key, bytes);
      locate(store, key, bytes, ['b1', 'b2'], hashed);
      fleet.backend('b1').proxy.failNext(1, fault, { method: 'GET', key });
      const g = await rp.get(key);
      assert.equal(g.backend, 'b2', 'served by the second copy');
      assert.deepEqual(g.body, bytes);
      assert.equal(g.failover, true);
    });
  }
});
