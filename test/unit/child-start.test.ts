/**
 * waitForStart against real, tiny child processes: a start line (whole or in pieces), an IPC
 * message, a child that exits or never starts, one that cannot be spawned. After every outcome
 * the helper must have taken back its listeners and its timer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { waitForStart } from '../../src/cli/child-start.js';

/** Keeps the child alive until the test kills it. */
const STAY = 'setInterval(() => {}, 1000);';

function child(code: string, ipc = false): ChildProcess {
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] });
}

function listeners(c: ChildProcess): number[] {
  return [
    c.listenerCount('exit'), c.listenerCount('error'), c.listenerCount('message'),
    c.stdout?.listenerCount('data') ?? -1, c.stderr?.listenerCount('data') ?? -1,
  ];
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Run `wait` on `c`, check it cleaned up whatever the outcome, kill the child, return the outcome. */
async function settled<T>(c: ChildProcess, wait: (c: ChildProcess) => Promise<T>): Promise<PromiseSettledResult<T>> {
  const before = listeners(c);
  const timersBefore = timers();
  try {
    const [outcome] = await Promise.allSettled([wait(c)]);
    assert.deepEqual(listeners(c), before, 'listeners left behind');
    assert.equal(timers(), timersBefore, 'timer left behind');
    assert.ok(outcome !== undefined);
    return outcome;
  } finally {
    // Also when an assertion failed: a live child would keep the test process from exiting.
    if (c.exitCode === null && c.signalCode === null) {
      const exited = once(c, 'exit');
      c.kill('SIGKILL');
      await exited;
    }
  }
}

function value<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

function reason(r: PromiseSettledResult<unknown>): Error {
  assert.equal(r.status, 'rejected');
  assert.ok(r.reason instanceof Error);
  return r.reason;
}

describe('waitForStart', () => {
  it('resolves with the match of the first matching line on stdout', async () => {
    const c = child(`console.log('loading'); console.log('listening on 4711'); ${STAY}`);
    const m = value(await settled(c, (ch) => waitForStart(ch, { what: 'tiny', match: /listening on (\d+)/, timeoutMs: 30_000 })));
    assert.equal(m[1], '4711');
    assert.equal(c.stdout?.readableFlowing, true, 'the stream keeps flowing for the caller');
  });

  it('waits for the whole line when it arrives in pieces', async () => {
    const c = child(`
      const w = (s) => new Promise((r) => process.stderr.write(s, () => setTimeout(r, 50)));
      (async () => { await w('read'); await w('y on 12'); await w('34\\r\\n'); })();
      ${STAY}`);
    const m = value(await settled(c, (ch) => waitForStart(ch, { what: 'tiny', match: /ready on (\d+)/, stream: 'stderr', timeoutMs: 30_000 })));
    assert.equal(m[1], '1234');
  });

  it('resolves with what match returns for an IPC message, and fails with what it throws', async () => {
    const ready = value(await settled(child(`process.send({ type: 'noise' }); process.send({ type: 'ready', port: 9 }); ${STAY}`, true), (ch) =>
      waitForStart(ch, { what: 'tiny', timeoutMs: 30_000, match: (m) => ((m as { type: string }).type === 'ready' ? m : undefined) })));
    assert.deepEqual(ready, { type: 'ready', port: 9 });

    const failed = reason(await settled(child(`process.send({ type: 'error', message: 'no disk' }); ${STAY}`, true), (ch) =>
      waitForStart(ch, {
        what: 'tiny', timeoutMs: 30_000,
        match: (m) => {
          throw new Error(`tiny failed: ${(m as { message: string }).message}`);
        },
      })));
    assert.equal(failed.message, 'tiny failed: no disk');
  });

  it('rejects with the tail of stderr when the child exits first', async () => {
    // Exits a little after writing: 'exit' and the last stderr bytes may otherwise race.
    const c = child(`process.stderr.write('x'.repeat(5000) + '\\nthe cause\\n', () => setTimeout(() => process.exit(3), 100));`);
    const err = reason(await settled(c, (ch) => waitForStart(ch, { what: 'tiny', match: /never/, timeoutMs: 30_000, stderrTailChars: 100 })));
    assert.match(err.message, /^tiny exited \(code 3\) before it was ready:\nx+\nthe cause$/);
    assert.ok(err.message.length < 200, 'only the tail is quoted');
  });

  it('rejects on timeout and kills the child', async () => {
    const c = child(`process.stderr.write('still loading\\n'); ${STAY}`);
    // Gives the stderr line time to arrive; the timeout path, not a timing, is what is checked.
    const err = reason(await settled(c, (ch) => waitForStart(ch, { what: 'tiny', match: /ready/, timeoutMs: 300 })));
    assert.match(err.message, /^tiny did not start within 300 ms/);
    if (c.exitCode === null && c.signalCode === null) await once(c, 'exit');
    assert.equal(c.signalCode, 'SIGKILL');
  });

  it("rejects with the child's own error when it cannot be spawned", async () => {
    const c = spawn('/nonexistent/readpath-child-start-test', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    const err = reason(await settled(c, (ch) => waitForStart(ch, { what: 'tiny', match: /ready/, timeoutMs: 30_000 })));
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
  });
});

describe('loaderExecArgv', () => {
  it('keeps the loader flags, with their values, and drops everything else', async () => {
    const { loaderExecArgv } = await import('../../src/cli/child-start.js');
    assert.deepEqual(loaderExecArgv(['--import', 'tsx', '--test', '--cpu-prof', '--require=./a.cjs', '-r', 'b', '--inspect', '--loader', 'x.mjs', '--experimental-loader=y.mjs']),
      ['--import', 'tsx', '--require=./a.cjs', '-r', 'b', '--loader', 'x.mjs', '--experimental-loader=y.mjs']);
    assert.deepEqual(loaderExecArgv(['--watch', '--import']), [], 'a flag without its value is dropped');
    assert.deepEqual(loaderExecArgv([]), []);
  });
});
