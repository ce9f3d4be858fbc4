/**
 * readMany with `out` over the pool when a worker dies mid-write: the dead worker never removes
 * its temporary file, so the coordinator does, before the probe's retry on a live worker writes
 * the real file. Over scripted backends built in the workers and a memory store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath, type BatchOutcome } from '../../src/read-path.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { SCRIPTED_BACKENDS_MODULE, ScriptedFleet } from '../helpers/scripted-backends.js';
import { until } from '../helpers/executor-world.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'readpath-crash-out-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every name under `root`, relative, directories walked. */
function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort();
}

test('a worker killed mid-write leaves no temporary file: its retry writes the whole file, and every key has its file', async () => {
  const big = 'crash/deep/big.bin';
  const bodies = new Map<string, Uint8Array>([
    [big, randomBytes(4 << 20)],
    ...Array.from({ length: 6 }, (_, i) => [`crash/k${i}`, randomBytes(1000 + i)] as const),
  ]);
  const fleet = new ScriptedFleet([{ name: 'b1', objects: Object.fromEntries(bodies), keys: { [big]: { kind: 'exitMidBody', code: 7 } } }]);
  const store = new MemoryMetadataStore();
  let t = 0;
  for (const [key, bytes] of bodies) {
    store.add({ objectKey: key, backendName: 'b1', sizeBytes: bytes.byteLength, createdAt: new Date(++t), encrypted: false, contentHash: sha256Hex(bytes) });
  }
  const config: ReadPathConfig = {
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
    database: { driver: 'memory' },
    runtime: { mode: 'pool', threads: 2 },
    logging: { level: 'silent' },
  };
  const rp = await ReadPath.open(config, { store, backendModule: SCRIPTED_BACKENDS_MODULE, backendData: fleet.data });
  const out = join(dir, 'out');
  // A file of someone else's that only looks alike (another process's id): never touched.
  const bystander = `.big.bin.readpath-${process.pid + 1}-1-1.tmp`;
  try {
    const outcomes = new Map<string, BatchOutcome>();
    const batch = (async () => {
      for await (const o of rp.readMany(bodies.keys(), { out })) outcomes.set(o.key, o);
    })();
    // The dying worker has written the first half to its temporary file: the kill lands mid-write.
    const half = (bodies.get(big) as Uint8Array).byteLength >> 1;
    const temps = (): string[] => {
      try {
        return readdirSync(join(out, 'crash', 'deep')).filter((n) => n.includes('.readpath-'));
      } catch {
        return [];
      }
    };
    await until(() => temps().some((n) => statSync(join(out, 'crash', 'deep', n)).size === half), 'half the body in a temporary file');
    writeFileSync(join(out, 'crash', 'deep', bystander), 'not ours');
    fleet.open('b1');
    await batch;
    assert.ok(fleet.calls('b1') >= bodies.size + 1, 'the cut read ran once more, on a live worker');
    for (const [key, bytes] of bodies) {
      const o = outcomes.get(key);
      assert.ok(o?.ok === true && 'path' in o && o.verified, JSON.stringify(o));
      assert.deepEqual(readFileSync(join(out, key)), Buffer.from(bytes), `${key}: the whole body`);
    }
    assert.deepEqual(tree(out), ['crash', 'crash/deep', `crash/deep/${bystander}`, 'crash/deep/big.bin', ...Array.from({ length: 6 }, (_, i) => `crash/k${i}`)].sort(),
      'no temporary file of the dead worker is left; what is not its own is kept');
  } finally {
    await rp.close();
  }
});
