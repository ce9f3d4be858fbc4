/**
 * bench/process-guard.ts's exits, in a child playing a bench (test/helpers/bench-guard-child.ts):
 * stopped by a signal it exits 128 + n at once and hands its temporary directories to a
 * background `rm` (a full peers or gateway run keeps 100,000+ downloads, minutes to delete), which
 * removes them; failing, it deletes them itself before it exits. No timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, leftIn } from '../helpers/bench-processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = path.join(ROOT, 'test/helpers/bench-guard-child.ts');
const base = await mkdtemp(path.join(os.tmpdir(), 'readpath-process-guard-test-'));
after(() => rm(base, { recursive: true, force: true }));

/** Start the child with a TMPDIR of its own; resolves once it says `ready DIR` (or has exited). */
async function startChild(tmp: string, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const dir = await new Promise<string | undefined>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      const m = /^ready (.+)$/m.exec(stdout);
      if (m !== null) resolve(m[1]);
    });
    void exited.then(() => resolve(undefined));
  });
  return { child, exited, dir, stderr: () => stderr };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal}: exit ${128 + os.constants.signals[signal]} without deleting; a background rm removes the temporary directory`, async () => {
    const tmp = await mkdtemp(path.join(base, 'sig-'));
    const c = await startChild(tmp);
    assert.ok(c.dir !== undefined && existsSync(c.dir), c.stderr());
    c.child.kill(signal);
    assert.deepEqual(await c.exited, { code: 128 + os.constants.signals[signal], signal: null }, c.stderr());
    const m = /its temporary files are being removed in the background \(pid (\d+)\)/.exec(c.stderr());
    assert.ok(m !== null, `no background removal:\n${c.stderr()}`);
    const remover = Number(m[1]);
    for (let i = 0; i < 200 && (alive(remover) || existsSync(c.dir)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(remover), false, 'the remover ended');
    assert.deepEqual(await leftIn(tmp), [], 'the temporary directory removed');
  });
}

test('a bench that fails deletes its temporary directory itself before it exits', async () => {
  const tmp = await mkdtemp(path.join(base, 'throw-'));
  const c = await startChild(tmp, ['throw']);
  assert.equal(c.dir, undefined);
  assert.equal((await c.exited).code, 1, c.stderr());
  assert.match(c.stderr(), /the run broke/);
  assert.doesNotMatch(c.stderr(), /background/);
  // Checked as the exit is seen: nothing was left for anyone else to delete.
  assert.deepEqual(await leftIn(tmp), []);
});
