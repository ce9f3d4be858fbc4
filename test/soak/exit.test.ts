/**
 * After close() the process exits by itself. Each case runs exit-child.ts in a child process
 * that opens a ReadPath, reads (failovers, an aborted batch over probes that never answer, a
 * metadata outage where one can be staged), closes it and returns from its module. The child
 * must then exit on its own, with code 0, within EXIT_BOUND_MS; if the parent has to kill it,
 * the test fails and shows what the child reported was keeping it alive. The pool run also
 * terminates a worker thread in the middle of a batch.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { PgCluster } from '../helpers/pg-cluster.js';
import type { ExitChildConfig } from './exit-child.js';

const CHILD = fileURLToPath(new URL('./exit-child.ts', import.meta.url));
/** How long after printing `closed` the child may take to exit (generous: a loaded CI box). */
const EXIT_BOUND_MS = 10_000;
/** How long the whole child may run. */
const RUN_BOUND_MS = 120_000;

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface ChildResult {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
  exitAfterCloseMs: number | undefined;
}

/** Run the child in `mode`; answer its requests with `onAsk`; kill it past the bounds. */
function runChild(mode: string, input: ExitChildConfig, onAsk: (t: string) => Promise<void> = async () => {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, READPATH_EXIT_MODE: mode, READPATH_EXIT_CONFIG: JSON.stringify(input) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    let closedAt: number | undefined;
    let killed = false;
    let exitTimer: NodeJS.Timeout | undefined;
    const runTimer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, RUN_BOUND_MS);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (closedAt === undefined && /^closed$/m.test(stdout)) {
        closedAt = performance.now();
        // Past the bound, kill it: the test fails, with the child's own account of why.
        exitTimer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, EXIT_BOUND_MS);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('message', (m: { t: string }) => {
      onAsk(m.t).then(() => {
        if (!child.connected) return;
        child.send({ t: 'ok' });
        if (m.t === 'release') child.disconnect();
      }, (err: unknown) => {
        stderr += `parent failed to ${m.t}: ${String(err)}\n`;
        child.kill('SIGKILL');
      });
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(runTimer);
      clearTimeout(exitTimer);
      resolve({ code, killed, stdout, stderr, exitAfterCloseMs: closedAt === undefined ? undefined : performance.now() - closedAt });
    });
  });
}

function judge(what: string, r: ChildResult): void {
  assert.equal(r.killed, false, `${what}: the child had to be killed. stderr:\n${r.stderr}`);
  assert.match(r.stdout, /^closed$/m, `${what}: the child did not get to close(). stderr:\n${r.stderr}`);
  assert.equal(r.code, 0, `${what}: exit code ${r.code}. stderr:\n${r.stderr}`);
  console.log(`${what}: exited ${r.exitAfterCloseMs?.toFixed(0)} ms after close() resolved`);
}

const BACKENDS = (names: string[]) => names.map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }));

test('memory parts: reads, an aborted batch over black-holed probes, a store outage, close() → the process exits by itself', async () => {
  const r = await runChild('memory', {
    config: {
      backends: BACKENDS(['b1', 'b2', 'b3']),
      database: { driver: 'memory' },
      circuit_breaker: { parallel_broadcast: true, failure_threshold: 2, open_timeout: '50ms' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
    },
  });
  judge('memory', r);
});

let fleet: S3Fleet | undefined;
async function sharedFleet(): Promise<{ fleet: S3Fleet; seeded: Record<string, string[]>; hanging: string[] }> {
  if (fleet === undefined) {
    fleet = await startS3Fleet({ count: 3 });
    const f = fleet;
    cleanups.push(() => f.close());
  }
  const seeded: Record<string, string[]> = {};
  for (let i = 0; i < 40; i++) seeded[`obj/${i}`] = i % 4 === 0 ? ['b3', 'b2'] : ['b1', 'b2'];
  const hanging = ['stuck/0', 'stuck/1', 'stuck/2'];
  for (const k of hanging) seeded[k] = ['b1', 'b2'];
  await Promise.all(Object.entries(seeded).map(([k, on]) => fleet!.seed(k, `bytes of ${k}`, on)));
  for (const k of hanging) fleet.backend('b1').proxy.inject({ kind: 'hang' }, { match: { key: k } });
  fleet.backend('b3').proxy.inject({ kind: 'slowdown' }, { match: { key: 'obj/0' } });
  return { fleet, seeded, hanging };
}

test('real fleet and SQLite: reads with failover, an aborted batch over hung requests, HEADs, close() → the process exits by itself', async () => {
  const { fleet: f, seeded, hanging } = await sharedFleet();
  const dir = mkdtempSync(join(tmpdir(), 'readpath-exit-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const r = await runChild('sqlite-fleet', {
    config: {
      backends: f.backends.map((b) => f.backendConfig(b.name)),
      database: { driver: 'sqlite', path: join(dir, 'meta.db') },
      server: { backend_timeout: '5s' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
    },
    seeded,
    hanging,
  });
  judge('sqlite-fleet', r);
});

let pgc: PgCluster | undefined;
let pgDb = 0;

for (const runtime of ['inline', 'pool'] as const) {
  test(`real fleet and PostgreSQL (${runtime}): reads, ${runtime === 'pool' ? 'a worker killed mid-batch, ' : ''}aborted batches, the database stopped and restarted, close() → the process exits by itself`, async () => {
    const { fleet: f, seeded, hanging } = await sharedFleet();
    if (pgc === undefined) {
      const c = await PgCluster.create();
      pgc = c;
      cleanups.push(() => c.destroy());
    }
    const cluster = pgc;
    const url = await cluster.createDatabase(`exit${++pgDb}`);
    const r = await runChild('postgres', {
      config: {
        backends: f.backends.map((b) => f.backendConfig(b.name)),
        database: { driver: 'postgres', url: `${url}?sslmode=disable`, statement_timeout: '2s' },
        circuit_breaker: { failure_threshold: 2, open_timeout: '50ms', parallel_broadcast: true },
        server: { backend_timeout: '5s' },
        runtime: runtime === 'pool' ? { mode: 'pool', threads: 2 } : { mode: 'inline' },
        logging: { level: 'silent' },
      },
      seeded,
      hanging,
      killWorker: runtime === 'pool',
    }, async (t) => {
      if (t === 'stop-db') await cluster.stop();
      if (t === 'start-db') await cluster.start();
    });
    judge(`postgres (${runtime})`, r);
  });
}
