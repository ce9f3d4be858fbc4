/**
 * The test helper that runs bench scripts (runTsScript): a script that outlives its timeout, or
 * leaves a process holding its output, ends the call with what it printed instead of hanging the
 * test, and nothing it started is left running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';
import { eventually } from '../helpers/handles.js';

const SCRIPT = path.join(fileURLToPath(new URL('../helpers/', import.meta.url)), 'script-with-grandchild.ts');

function grandchildOf(stdout: string): number {
  const m = /^grandchild (\d+)$/m.exec(stdout);
  assert.ok(m !== null, `the script printed its grandchild's pid: ${stdout}`);
  return Number(m[1]);
}

/** Running, not a zombie: an orphan killed here waits for whoever reaps orphans on this machine. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

test('a script that exits while a process it started holds its output: the call ends, and that process is gone', async () => {
  const r = await runTsScript(SCRIPT, ['exit'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stderr, /killed with its process group/);
  // SIGKILL was sent to its group as the call ended; on a loaded machine the kernel may take a
  // moment to end the process (a bounded wait for that, not for a process left running).
  const grandchild = grandchildOf(r.stdout);
  assert.equal(await eventually(() => !alive(grandchild), 3000), true, `grandchild ${grandchild} still running`);
});

test('a script past its timeout: killed with everything it started, its output kept, and the timeout said', async () => {
  const r = await runTsScript(SCRIPT, ['hang'], { timeoutMs: 3_000 });
  assert.equal(r.code, null, 'killed, not exited');
  assert.match(r.stderr, /\[runProcess: killed with its process group after 3000 ms\]/);
  assert.equal(alive(grandchildOf(r.stdout)), false);
});
