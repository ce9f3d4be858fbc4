/**
 * close(): drains in-flight probes up to a timeout, fails what is left, refuses new probes, and
 * leaves nothing behind — the process exits by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReadPathError } from '../../src/errors.js';
import type { ProbeRequest } from '../../src/types.js';
import { executorWorld, until } from '../helpers/executor-world.js';

const specs = [{
  name: 'b',
  objects: { k: 'v', g: 'gated', h: 'x', d: 'deaf' },
  keys: { g: { kind: 'gate' as const }, h: { kind: 'hang' as const }, d: { kind: 'gate' as const, deaf: true } },
}];

/** Attach a handler at once: a probe may reject while the test awaits something else. */
function caught<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function world(opts: Parameters<typeof executorWorld>[2] = {}) {
  const w = executorWorld('pool', specs, { threads: 1, ...opts });
  const req = (signal = new AbortController().signal): ProbeRequest => ({ backendName: 'b', signal, location: null, backend: w.backends.get('b')! });
  return { w, req };
}

test('close() lets in-flight probes finish, then resolves; probes built or started afterwards reject', async () => {
  const { w, req } = world();
  const running = w.executor.get('g')(req());
  await until(() => w.fleet.calls('b') === 1, 'the gated probe to start');
  const probeBuiltBefore = w.executor.get('k');
  let closed = false;
  const closing = w.executor.close({ timeoutMs: 60_000 }).then(() => { closed = true; });
  await assert.rejects(w.executor.get('k')(req()), { code: 'EXECUTOR_CLOSED', message: /closed/ });
  await assert.rejects(probeBuiltBefore(req()), { code: 'EXECUTOR_CLOSED', message: /closed/ });
  assert.equal(closed, false, 'close waits for the running probe');
  w.fleet.open('b');
  const r = await running;
  assert.equal(new TextDecoder().decode(r.value.body), 'gated');
  await closing;
  assert.equal(w.executor.close(), w.executor.close(), 'idempotent: the same promise');
});

test('close() gives up on probes still running after the timeout: they fail with EXECUTOR_CLOSED', async () => {
  const { w, req } = world();
  const stuck = caught(w.executor.get('h')(req()));
  await until(() => w.fleet.calls('b') === 1, 'the hanging probe to start');
  await w.executor.close({ timeoutMs: 20 });
  await assert.rejects(stuck, (e: ReadPathError) => {
    assert.equal(e.code, 'EXECUTOR_CLOSED');
    assert.match(e.message, /closed before the probe on b finished/);
    return true;
  });
});

test('a probe close() gives up on is billed as reserved: what it sent is never reported', async () => {
  const { w } = world();
  // Limits make the ledger hold the probe's request and the row's 1 byte; without the bill the
  // backend would have that much more room than it has.
  w.recorder.usage.setLimits('b', { apiRequests: 100, egressBytes: 1000 });
  const location = { objectKey: 'h', backendName: 'b', sizeBytes: 1, createdAt: new Date(0), encrypted: false };
  const stuck = caught(w.executor.get('h')({ backendName: 'b', signal: new AbortController().signal, location, backend: w.backends.get('b')! }));
  await until(() => w.fleet.calls('b') === 1, 'the hanging probe to start');
  await w.executor.close({ timeoutMs: 0 });
  await assert.rejects(stuck, { code: 'EXECUTOR_CLOSED' });
  assert.deepEqual(w.recorder.usage.usage('b'), { apiRequests: 1, egressBytes: 1, ingressBytes: 0 });
  assert.deepEqual(w.recorder.reservations.pending('b'), { api: 0, egress: 0 }, 'its reservation released, once');
  assert.equal(w.recorder.reservations.unsettled, 0);
});

test('a probe its caller cancelled ends ABORTED even when close() gives up on it before its verdict arrives', async () => {
  const { w, req } = world();
  const ac = new AbortController();
  // A backend that ignores its signal: the worker cannot answer the cancel before close() gives up.
  const cancelled = caught(w.executor.get('d')(req(ac.signal)));
  await until(() => w.fleet.calls('b') === 1, 'the probe to start');
  ac.abort();
  await w.executor.close({ timeoutMs: 0 });
  await assert.rejects(cancelled, { code: 'ABORTED' });
});

test('close() rejects probes waiting for capacity and releases capacity waiters', async () => {
  const { w, req } = world({ maxInFlight: 1 });
  const running = caught(w.executor.get('h')(req()));
  const waiting = caught(w.executor.get('k')(req()));
  assert.equal(w.executor.saturated(), true);
  const capacity = w.executor.whenCapacity();
  await until(() => w.fleet.calls('b') === 1, 'the first probe to start');
  await w.executor.close({ timeoutMs: 10 });
  await capacity;
  await assert.rejects(waiting, { code: 'EXECUTOR_CLOSED', message: /closed/ });
  await assert.rejects(running, { code: 'EXECUTOR_CLOSED' });
  assert.equal(w.fleet.calls('b'), 1, 'the waiting probe was never dispatched');
});

test('a process that used a pool exits by itself after close(): no thread, port or timer outlives it', async () => {
  const child = fileURLToPath(new URL('../helpers/pool-close-child.ts', import.meta.url));
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = execFile(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--test')), child], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (p.exitCode ?? -1), stdout, stderr });
    });
  });
  assert.equal(code, 0, `child failed or was killed: ${stderr}`);
  const out = JSON.parse(stdout) as { body: string; cancelled: string; left: string; before: string[]; after: string[] };
  assert.equal(out.body, 'v');
  assert.equal(out.cancelled, 'ABORTED');
  assert.equal(out.left, 'EXECUTOR_CLOSED');
  assert.deepEqual([...out.after].sort(), [...out.before].sort(), 'no resource left after close');
});

for (const kind of ['pool', 'inline'] as const) {
  test(`${kind}: close() that gives up on a probe writing under out leaves no temporary file once it resolved, and nothing lands later`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `readpath-close-out-${kind}-`));
    try {
      const body = new Uint8Array(256 << 10).fill(7);
      const w = executorWorld(kind, [{ name: 'b', objects: { 'd/big': body }, keys: { 'd/big': { kind: 'stallMidBody', block: true } } }], { threads: 1 });
      const req: ProbeRequest = { backendName: 'b', signal: new AbortController().signal, location: null, backend: w.backends.get('b')! };
      const writing = caught(w.executor.get('d/big', { out: dir })(req));
      const temps = (): string[] => {
        try {
          return readdirSync(join(dir, 'd')).filter((n) => n.includes('.readpath-'));
        } catch {
          return [];
        }
      };
      // The body stalled with its first half in the temporary file: close() comes mid-write.
      await until(() => temps().some((n) => statSync(join(dir, 'd', n)).size === body.byteLength >> 1), 'half the body in a temporary file');
      await w.executor.close({ timeoutMs: 20 });
      assert.deepEqual(temps(), [], 'no temporary file once close() resolved');
      // The stalled body resumes: it must not put a file in place after close() gave up on it.
      w.fleet.open('b');
      await writing.catch(() => {});
      await until(() => w.fleet.finished('b') === 1 || kind === 'pool', 'the backend call to end');
      assert.deepEqual(readdirSync(join(dir, 'd')), [], 'neither the file nor its temporary file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
