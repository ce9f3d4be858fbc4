/**
 * What close() does with usage still being recorded, read back from a real SQLite usage store
 * (upstream's `backend_usage`): probes still out when a reader closes (a caller's abandoned read
 * on a backend that ignores its abort) are waited for, up to `circuit_breaker.drain_timeout`,
 * before the last flush; those still out then are stored as reserved, with a warning. A pool
 * probe whose worker died is billed as reserved for each lost attempt.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ReadPath } from '../../src/read-path.js';
import { sha256Hex } from '../../src/probe/probes.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { SCRIPTED_BACKENDS_MODULE, ScriptedFleet, storedSize, type ScriptedBackendSpec } from '../helpers/scripted-backends.js';
import { upstreamSqlite } from '../helpers/upstream-sqlite.js';
import { until } from '../helpers/executor-world.js';
import { flush } from '../helpers/gate.js';
import { DEFAULT_CLOSE_TIMEOUT_MS } from '../../src/executors/pool/options.js';
import { InlineExecutor } from '../../src/executors/inline.js';

const dir = mkdtempSync(join(tmpdir(), 'readpath-usage-close-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A fresh upstream-schema SQLite file holding a row for each `[key, backend]` of `specs`. */
function database(specs: ScriptedBackendSpec[], rows: [key: string, backend: string][]): string {
  const path = join(dir, `usage-${++files}.db`);
  const db = upstreamSqlite(path);
  let t = 0;
  for (const [key, backend] of rows) {
    const body = specs.find((s) => s.name === backend)?.objects?.[key];
    assert.ok(typeof body === 'string');
    db.insert({ objectKey: key, backendName: backend, sizeBytes: storedSize(specs, backend, key) ?? 0, createdAt: new Date(++t), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode(body)) });
  }
  db.close();
  return path;
}

/** What `backend_usage` holds for a backend, this month (zeros when it has no row). */
function stored(path: string, backend: string): { api: number; egress: number } {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare('SELECT api_requests AS api, egress_bytes AS egress FROM backend_usage WHERE backend_name = ?').get(backend) as { api: number; egress: number } | undefined;
    return row === undefined ? { api: 0, egress: 0 } : { api: Number(row.api), egress: Number(row.egress) };
  } finally {
    db.close();
  }
}

function config(path: string, names: string[], extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: names.map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'a', secret_access_key: 's' })),
    database: { driver: 'sqlite', path },
    logging: { level: 'silent' },
    ...extra,
  };
}

const deafSpecs: ScriptedBackendSpec[] = [{ name: 'b1', objects: { k: 'payload' }, keys: { k: { kind: 'gate', deaf: true } } }];

/** An inline reader over `deafSpecs` whose one read of `k` was abandoned while b1 ignores its abort. */
async function abandonedRead(drainTimeout: string) {
  const fleet = new ScriptedFleet(deafSpecs);
  const path = database(deafSpecs, [['k', 'b1']]);
  const warnings: string[] = [];
  const rp = await ReadPath.open(config(path, ['b1'], { circuit_breaker: { drain_timeout: drainTimeout } }), {
    backends: [...fleet.createBackends().values()],
    warn: (m) => warnings.push(m),
  });
  const ac = new AbortController();
  const read = rp.get('k', { signal: ac.signal });
  await until(() => fleet.calls('b1') === 1, 'the probe to reach b1');
  ac.abort();
  await assert.rejects(read, { code: 'ABORTED' });
  assert.equal(rp.recorder.reservations.unsettled, 1, 'the probe runs on: b1 ignores its abort');
  return { fleet, path, warnings, rp };
}

test('inline: close() waits for a probe still running before its last flush, and what it used is stored', async () => {
  const { fleet, path, warnings, rp } = await abandonedRead('60s');
  let closed = false;
  const closing = rp.close().then(() => { closed = true; });
  await flush(20);
  assert.equal(closed, false, 'close() waits for the probe');
  assert.deepEqual(stored(path, 'b1'), { api: 0, egress: 0 }, 'nothing flushed yet');
  fleet.open('b1');
  await closing;
  // Answered after its read was abandoned, the body is not read: the GET alone was used.
  assert.deepEqual(stored(path, 'b1'), { api: 1, egress: 0 }, 'the GET, stored by the last flush');
  assert.deepEqual(warnings, []);
});

test('inline: a probe still running at drain_timeout is stored as reserved, with a warning; its late settlement adds nothing', async () => {
  const { fleet, path, warnings, rp } = await abandonedRead('50ms');
  try {
    await rp.close();
    assert.deepEqual(stored(path, 'b1'), { api: 1, egress: 7 }, 'its request and the bytes it could take');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /usage: 1 probe was still running 50 ms \(circuit_breaker\.drain_timeout\) into close\(\); billed as reserved, not as used: b1: 1 request, 7 bytes/);
  } finally {
    fleet.open('b1');
  }
  await until(() => rp.recorder.reservations.unsettled === 0, 'the probe to end');
  assert.deepEqual(rp.recorder.usage.usageParts('b1').unflushed, { apiRequests: 0, egressBytes: 0, ingressBytes: 0 }, 'billed once: it used no more than it was billed');
});

test('pool: a probe whose worker died is billed as reserved for each lost attempt, and stored at close', async () => {
  const specs: ScriptedBackendSpec[] = [
    { name: 'b1', objects: { dies: 'payload', once: 'payload' }, keys: { dies: { kind: 'exit', code: 7 }, once: { kind: 'exit', code: 9, once: true } } },
    { name: 'b2', objects: { dies: 'payload' } },
  ];
  const fleet = new ScriptedFleet(specs);
  const path = database(specs, [['dies', 'b1'], ['dies', 'b2'], ['once', 'b1']]);
  const rp = await ReadPath.open(config(path, ['b1', 'b2'], { runtime: { mode: 'pool', threads: 1 } }), { backendModule: SCRIPTED_BACKENDS_MODULE, backendData: fleet.data });
  try {
    // b1's worker dies under the probe, and again under its retry: WORKER_LOST, b2 serves.
    const g = await rp.get('dies');
    assert.equal(g.backend, 'b2');
    assert.equal(fleet.calls('b1'), 2);
    // b1's worker dies once more; the retry answers.
    const o = await rp.get('once');
    assert.equal(o.backend, 'b1');
    assert.equal(fleet.calls('b1'), 4);
  } finally {
    await rp.close();
  }
  // Four requests reached b1: three lost attempts, each billed its request and the 7 bytes it
  // could take, and the retry that answered.
  assert.deepEqual(stored(path, 'b1'), { api: 4, egress: 28 });
  assert.deepEqual(stored(path, 'b2'), { api: 1, egress: 7 });
});

test('pool: close() gives a probe still running its drain_timeout, not the executor\'s 5 s default, and stores what it used', async (t: TestContext) => {
  const fleet = new ScriptedFleet(deafSpecs);
  const path = database(deafSpecs, [['k', 'b1']]);
  const warnings: string[] = [];
  const rp = await ReadPath.open(config(path, ['b1'], { runtime: { mode: 'pool', threads: 1 }, circuit_breaker: { drain_timeout: '10m' } }), {
    backendModule: SCRIPTED_BACKENDS_MODULE, backendData: fleet.data, warn: (m) => warnings.push(m),
  });
  const ac = new AbortController();
  const read = rp.get('k', { signal: ac.signal });
  await until(() => fleet.calls('b1') === 1, 'the probe to reach b1');
  ac.abort();
  await assert.rejects(read, { code: 'ABORTED' });
  assert.equal(rp.recorder.reservations.unsettled, 1, 'the probe runs on in its worker: b1 ignores its abort');
  // From here the executor's bound and the wait before the last flush are timers the test moves.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let closed = false;
  const closing = rp.close().then(() => { closed = true; });
  await flush(20);
  t.mock.timers.tick(DEFAULT_CLOSE_TIMEOUT_MS);
  await flush(20);
  assert.equal(closed, false, 'close() still waits');
  assert.equal(rp.recorder.reservations.unsettled, 1, 'not given up on (and billed as reserved) at the executor\'s default');
  assert.deepEqual(stored(path, 'b1'), { api: 0, egress: 0 });
  fleet.open('b1');
  await closing;
  // Answered after its read was abandoned, the body is not read: the GET alone was used.
  assert.deepEqual(stored(path, 'b1'), { api: 1, egress: 0 }, 'what it used, not its reservation');
  assert.deepEqual(warnings, []);
});

test('inline: close() hands its executor the drain_timeout as its bound, not the executor\'s 5 s default', async (t: TestContext) => {
  // The inline executor waits only for bodies being written under out whose probe has not heard
  // its abort; what bounds that wait is what this checks.
  const fleet = new ScriptedFleet(deafSpecs);
  const path = database(deafSpecs, [['k', 'b1']]);
  const rp = await ReadPath.open(config(path, ['b1'], { circuit_breaker: { drain_timeout: '10m' } }), { backends: [...fleet.createBackends().values()] });
  const close = t.mock.method(InlineExecutor.prototype, 'close');
  await rp.close();
  assert.deepEqual(close.mock.calls.map((c) => c.arguments), [[{ timeoutMs: 600_000 }]]);
});
