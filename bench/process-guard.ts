/**
 * What every benchmark entry needs before it starts work: `--help` answered from the entry's
 * own header comment (without it, most benches took `--help` for an unknown flag, ignored it and
 * started a full run of minutes), and a run stopped part-way (Ctrl-C, `kill`, a CI timeout)
 * that still removes its temporary directories and stops the servers and tools it started.
 *
 * Node's default on SIGINT/SIGTERM is to die at once: no `finally`, no `'exit'` listener. So
 * {@link guardBenchProcess} turns those signals into `process.exit(128 + signal)`, and what was
 * registered here is released synchronously in the `'exit'` listener (the only place left to do
 * it), as test/helpers/pg-cluster.ts already stops its clusters. Forked children with an IPC
 * channel stop on their own when the channel closes; spawned ones are killed here.
 *
 * Stopped by a signal, the bench does not delete its temporary directories itself: it hands them
 * to a detached `rm -rf` and exits at once. The peers and gateway benches keep every download
 * until the end, and deleting files already written back (they `sync` between runs) costs ~1 ms
 * each on this machine's disk (2,000 in 2.4 s): a Ctrl-C late in a full gateway run (120,000
 * files) would sit minutes in a synchronous delete, and a second Ctrl-C, which Node then handles
 * by dying, would leave the rest. Any other exit (an error) still deletes them synchronously.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dirs = new Set<string>();
/** Children to stop at exit; `true`: the child leads a process group of its own, killed whole. */
const children = new Map<ChildProcess, boolean>();
let exitHookInstalled = false;
let signalsInstalled = false;

/** The signal that is ending the process, if one is: its directories go to a background remover. */
let stoppingOn: NodeJS.Signals | undefined;

/**
 * Start a detached `rm -rf` of the registered directories, not waited for; its pid, or undefined
 * when it could not be started (they are then deleted synchronously). One retry: a tool killed
 * a moment ago may still create a file in a directory `rm` has emptied.
 */
function removeInBackground(): number | undefined {
  if (dirs.size === 0) return undefined;
  try {
    const rm = spawn('sh', ['-c', 'rm -rf -- "$@" 2>/dev/null || { sleep 1; rm -rf -- "$@"; }', 'sh', ...dirs], { detached: true, stdio: 'ignore' });
    // A missing `sh` is an 'error' event after this process is gone; pid undefined says it now.
    rm.on('error', () => {});
    rm.unref();
    return rm.pid;
  } catch {
    return undefined;
  }
}

function releaseAll(): void {
  for (const [child, group] of children) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      if (group) process.kill(-child.pid, 'SIGTERM');
      else child.kill('SIGTERM');
    } catch {
      // Already gone.
    }
  }
  children.clear();
  const remover = stoppingOn === undefined ? undefined : removeInBackground();
  if (stoppingOn !== undefined && dirs.size > 0) {
    process.stderr.write(remover === undefined ? 'removing its temporary files\n' : `its temporary files are being removed in the background (pid ${remover})\n`);
  }
  if (remover === undefined) for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', releaseAll);
}

/**
 * `mkdtemp` under `parent` (default the OS's temporary directory), removed when the process
 * exits if the bench has not removed it itself: after a failure, or a signal once
 * {@link guardBenchProcess} has run.
 */
export async function benchTempDir(prefix: string, parent: string = os.tmpdir()): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(path.join(parent, prefix));
  dirs.add(dir);
  return dir;
}

/**
 * SIGTERM `child` when this process exits before it has. `group`: `child` was spawned
 * `detached` (it leads its own process group) and the whole group is signalled, so a tool run
 * under a wrapper (`bash -c`) is stopped with the wrapper.
 */
export function killAtExit(child: ChildProcess, group = false): void {
  installExitHook();
  children.set(child, group);
  child.once('exit', () => children.delete(child));
}

/** The entry's leading `/** … *\/` comment as plain text: its usage. */
export function headerUsage(moduleUrl: string): string {
  const text = readFileSync(fileURLToPath(moduleUrl), 'utf8');
  const m = /^(?:#![^\n]*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  if (m === null) return `${path.basename(fileURLToPath(moduleUrl))}: no usage text\n`;
  const lines = (m[1] as string).split('\n').map((l) => l.replace(/^\s*\* ?/, '').trimEnd());
  while (lines[0] === '') lines.shift();
  while (lines.at(-1) === '') lines.pop();
  return `${lines.join('\n')}\n`;
}

/**
 * Call first in a bench entry (`moduleUrl` = its `import.meta.url`). With `-h`/`--help` in
 * `argv`, prints the entry's header comment and exits 0 before anything is started. Otherwise
 * makes SIGINT, SIGTERM and SIGHUP end the process through `process.exit(128 + n)`, so what
 * {@link benchTempDir} and {@link killAtExit} registered (and any PostgreSQL cluster) is
 * released: children stopped, temporary directories handed to a background `rm` (see above).
 */
export function guardBenchProcess(moduleUrl: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(headerUsage(moduleUrl));
    process.exit(0);
  }
  installExitHook();
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the bench\n`);
      stoppingOn = signal;
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}
