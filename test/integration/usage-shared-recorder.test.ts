/**
 * Readers sharing one Recorder (hence one usage ledger) over real s3rver backends and one
 * upstream SQLite database: a reader's close() waits for and bills only the probes it admitted.
 * Another reader's probe, held open by the fault proxy, neither holds that close up to its
 * drain_timeout nor is billed by it as reserved; its own reader stores what it used, once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ReadPath } from '../../src/read-path.js';
import { Recorder } from '../../src/telemetry/recorder.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { until } from '../helpers/executor-world.js';
import { deferred } from '../helpers/gate.js';

const BODIES = { quick: 'quick body', held: 'the held body' } as const;

let fleet: S3Fleet;
let dir: string;
let files = 0;

before(async () => {
  fleet = await startS3Fleet({ count: 1 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-shared-recorder-'));
  for (const [key, body] of Object.entries(BODIES)) await fleet.seed(key, body);
});

after(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh upstream-schema SQLite file with a row on b1 for each key of BODIES. */
function database(): string {
  const path = join(dir, `usage-${++files}.db`);
  const db = upstreamSqlite(path);
  let t = 0;
  for (const [key, body] of Object.entries(BODIES)) {
    const bytes = new TextEncoder().encode(body);
    db.insert({ objectKey: key, backendName: 'b1', sizeBytes: bytes.byteLength, createdAt: new Date(++t), encrypted: false, contentHash: sha256Hex(bytes) });
  }
  db.close();
  return path;
}

/** What `backend_usage` holds for b1 (zeros when it has no row). */
function stored(path: string): { api: number; egress: number } {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare('SELECT api_requests AS api, egress_bytes AS egress FROM backend_usage WHERE backend_name = ?').get('b1') as { api: number; egress: number } | undefined;
    return row === undefined ? { api: 0, egress: 0 } : { api: Number(row.api), egress: Number(row.egress) };
  } finally {
    db.close();
  }
}

function config(path: string, mode: 'inline' | 'pool', drainTimeout: string): ReadPathConfig {
  return {
    backends: [fleet.backendConfig('b1')],
    database: { driver: 'sqlite', path },
    circuit_breaker: { drain_timeout: drainTimeout },
    runtime: mode === 'pool' ? { mode, threads: 1 } : { mode },
    logging: { level: 'silent' },
  };
}

for (const mode of ['inline', 'pool'] as const) {
  test(`${mode}: closing one of two readers on one Recorder neither waits for nor bills the other's probe, which its own reader stores once`, async () => {
    const path = database();
    const recorder = new Recorder();
    const warned = { a: [] as string[], b: [] as string[] };
    // A's drain_timeout is short enough for the test to fail rather than hang if A waited for B's
    // probe; had it waited, it would also have billed that probe as reserved, with a warning.
    const a = await ReadPath.open(config(path, mode, '1s'), { recorder, warn: (m) => warned.a.push(m) });
    const b = await ReadPath.open(config(path, mode, '60s'), { recorder, warn: (m) => warned.b.push(m) });
    const proxy = fleet.backend('b1').proxy;
    const gate = deferred();
    try {
      assert.equal(new TextDecoder().decode((await a.get('quick')).body), BODIES.quick);
      proxy.failNext(1, { kind: 'gate', until: gate.promise }, { key: 'held' });
      const held = b.get('held');
      await until(() => proxy.pendingRequests === 1, "B's GET to be held at the proxy");
      assert.equal(recorder.reservations.unsettled, 1, "B's probe is out");

      await a.close();
      assert.deepEqual(warned.a, [], 'A billed nothing as reserved');
      assert.deepEqual(stored(path), { api: 1, egress: BODIES.quick.length }, "A's last flush: its own read, nothing of B's probe");
      assert.equal(recorder.reservations.unsettled, 1, "B's probe still running, untouched by A's close");
      assert.equal(gate.settled, false);

      gate.resolve();
      assert.equal(new TextDecoder().decode((await held).body), BODIES.held);
      await b.close();
      assert.deepEqual(warned.b, []);
      assert.deepEqual(stored(path), { api: 2, egress: BODIES.quick.length + BODIES.held.length }, "B's read stored by B, once");
      assert.deepEqual(recorder.usage.usageParts('b1').unflushed, { apiRequests: 0, egressBytes: 0, ingressBytes: 0 });
      assert.equal(recorder.reservations.unsettled, 0);
    } finally {
      gate.resolve();
      proxy.clear();
      await Promise.all([a.close(), b.close()]);
    }
  });
}
