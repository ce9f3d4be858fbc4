/**
 * Compressed copies through the whole read path, on memory backends: for random objects, chunk
 * sizes and ranges, `get` and `getStream` of a copy stored in s3-orchestrator's compressed
 * layout — and of one compressed then encrypted — give exactly the object's bytes for that range,
 * whatever frames it starts, ends or lies in. Striped reads take parts from a compressed copy and
 * a compressed+encrypted one with other frames. The objects are written with Debian's `zstd`
 * (test/helpers/seekable-zstd.ts), once per run, and ranges drawn over them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { compressedRow, logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { encryptForRow } from '../helpers/senc-encoder.js';
import { readAll } from '../helpers/streams.js';
import { fcParams } from '../helpers/property-params.js';

const MASTER = randomBytes(32);
/** Objects by key: the object, and the chunk sizes its two copies were compressed with. */
const OBJECTS = [
  { key: 'small', bytes: logLines(40_000, 1), chunks: [16 * 1024, 16 * 1024] },
  { key: 'mixed', bytes: Buffer.concat([logLines(300_000, 2), randomBytes(50_000), logLines(100_001, 3)]), chunks: [16 * 1024, 64 * 1024] },
  { key: 'one-frame', bytes: logLines(9_999, 4), chunks: [1024 * 1024, 16 * 1024] },
] as const;

describe('compressed copies: any range of any object, through get and getStream', () => {
  let rp: ReadPath;
  let striped: ReadPath;

  before(async () => {
    const backends = [new MemoryBackend('b1'), new MemoryBackend('b2')];
    const store = new MemoryMetadataStore();
    let t = 0;
    for (const o of OBJECTS) {
      // b1: compressed; b2: compressed with other frames, then encrypted. Under `key` b1's copy
      // is tried first, under `key~` b2's.
      const z1 = seekableZstd(o.bytes, { chunkSize: o.chunks[0] });
      const z2 = seekableZstd(o.bytes, { chunkSize: o.chunks[1] });
      const enc = encryptForRow(z2.body, { masterKey: MASTER, chunkSize: 4096 });
      for (const [key, order] of [[o.key, ['b1', 'b2']], [`${o.key}~`, ['b2', 'b1']]] as const) {
        for (const name of order) {
          if (name === 'b1') {
            backends[0]!.put(key, z1.body);
            store.add(compressedRow(key, 'b1', o.bytes, z1.body, new Date(++t)));
          } else {
            backends[1]!.put(key, enc.body);
            store.add({ ...compressedRow(key, 'b2', o.bytes, enc.body, new Date(++t)), encrypted: true, encryptionKey: enc.encryptionKey, keyId: enc.keyId, plaintextSize: enc.plaintextSize });
          }
        }
      }
    }
    const config = (extra: Partial<ReadPathConfig>): ReadPathConfig => ({
      backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
      encryption: { enabled: true, master_key: MASTER.toString('base64') },
      ...extra,
    });
    rp = await ReadPath.open(config({ striping: { enabled: false } }), { backends, store });
    striped = await ReadPath.open(config({ striping: { enabled: true, min_size: '64KiB', part_size: '64KiB' } }), { backends, store });
  });

  after(async () => {
    await rp?.close();
    await striped?.close();
  });

  const span = fc.constantFrom(...OBJECTS).chain((o) => fc.tuple(
    fc.constant(o),
    fc.integer({ min: 0, max: o.bytes.length - 1 }),
    fc.integer({ min: 1, max: 120_000 }),
    fc.constantFrom('', '~'),
  ));

  it('get and getStream of a range equal the object\'s bytes, from either copy', async () => {
    await fc.assert(fc.asyncProperty(span, async ([o, a, len, suffix]) => {
      const b = Math.min(o.bytes.length - 1, a + len - 1);
      const want = o.bytes.subarray(a, b + 1);
      const key = `${o.key}${suffix}`;
      const g = await rp.get(key, { range: `bytes=${a}-${b}` });
      assert.ok(Buffer.from(g.body).equals(want), `get ${key} ${a}-${b}`);
      assert.equal(g.backend, suffix === '' ? 'b1' : 'b2');
      const s = await rp.getStream(key, { range: `bytes=${a}-${b}` });
      assert.ok((await readAll(s.body)).equals(want), `getStream ${key} ${a}-${b}`);
    }), fcParams(60));
  });

  it('whole reads are verified; striped reads take parts from both copies', async () => {
    for (const key of OBJECTS.flatMap((o) => [o.key, `${o.key}~`])) {
      const bytes = OBJECTS.find((o) => key.startsWith(o.key))!.bytes;
      const g = await rp.get(key);
      assert.ok(Buffer.from(g.body).equals(bytes));
      assert.equal(g.verified, true);
      const s = await striped.getStream(key);
      assert.ok((await readAll(s.body)).equals(bytes), key);
      assert.equal(await s.verified, true);
      if (bytes.length > 3 * 65536) assert.deepEqual([...new Set(s.backends)].sort(), ['b1', 'b2'], `${key}: parts from both copies`);
    }
    await fc.assert(fc.asyncProperty(span, async ([o, a, len]) => {
      const b = Math.min(o.bytes.length - 1, a + len - 1);
      const s = await striped.getStream(o.key, { range: `bytes=${a}-${b}` });
      assert.ok((await readAll(s.body)).equals(o.bytes.subarray(a, b + 1)), `striped ${o.key} ${a}-${b}`);
    }), fcParams(30));
  });
});
