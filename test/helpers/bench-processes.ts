/**
 * What the bench-entry tests look at from outside a bench process, on Linux's /proc: the
 * processes it started (its descendants, and any process whose command line names a path of
 * its), whether they still run, and {@link sigintPartWay}, which stops a bench with SIGINT
 * part-way and checks it left nothing behind. No timing is asserted: a bench "stopped early" is
 * one that exits 130 without printing the report of a run given far more work than the wait.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Processes whose command line mentions `text` (a server or tool started under a TMPDIR). */
export function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Descendants of `pid` (children, theirs...), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) if (pp === p) { out.push(child); walk(child); }
  };
  walk(pid);
  return out;
}

/** Whether `pid` runs (a zombie counts as gone: it runs nothing and holds no port). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sockets `pid` holds open (its /proc fd links), 0 when it is gone. */
export function socketsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
  } catch {
    return 0;
  }
}

/** Whether `pid`'s command line has the argument `arg` (or an argument ending with it). */
export function hasArg(pid: number, arg: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a === arg || a.endsWith(arg));
  } catch {
    return false;
  }
}

/** `pid`'s command line, for messages. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return `(${pid} gone)`;
  }
}

/** What a bench left in its TMPDIR, without tsx's own compile cache. */
export async function leftIn(tmp: string): Promise<string[]> {
  return (await readdir(tmp)).filter((e) => !e.startsWith('tsx-'));
}

/** How {@link sigintPartWay} runs and judges its bench. */
export interface SigintRun {
  /** Node's arguments: the entry (a `.ts` one runs under tsx, a built `.js` one plainly) and its flags. */
  argv: readonly string[];
  /** The bench's TMPDIR, empty and its own: "nothing left" is an empty directory. */
  tmp: string;
  /** SIGINT once this holds for its descendants (tsx's esbuild service left out) and output so far. */
  ready: (kids: number[], output: string) => boolean;
  /** What `ready` waits for, for the message when it never comes. */
  what: string;
}

/**
 * Run a bench with its own TMPDIR, SIGINT it (the process alone, as `kill -INT` or a CI timeout
 * does; a terminal's Ctrl-C also signals the children, which then die on their own) once
 * `ready` holds, and check that it exits 130 without a report, that every process it started
 * (each descendant seen until the signal, and any process naming its TMPDIR) is gone without a
 * stack trace on the output they shared, and that its TMPDIR is empty. Whatever a failing run
 * left is killed.
 */
export async function sigintPartWay({ argv, tmp, ready, what }: SigintRun): Promise<void> {
  const entry = argv[0] ?? '';
  const child = spawn(process.execPath, [...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), ...argv], {
    cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { output += s; });
  child.stdout.setEncoding('utf8').on('data', (s: string) => { output += s; stdout += s; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Every writer of its output gone, the children that inherited it included.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const seen = new Set<number>();
  let isReady = false;
  for (let i = 0; i < 2400 && child.exitCode === null && !isReady; i++) {
    const kids = descendants(child.pid as number).filter((pid) => !hasArg(pid, 'esbuild'));
    for (const k of kids) seen.add(k);
    isReady = kids.length > 0 && ready(kids, output);
    if (!isReady) await new Promise((r) => setTimeout(r, 50));
  }
  const started = (): number[] => [...new Set([...seen, ...processesMentioning(tmp)])];
  try {
    assert.ok(isReady, `${entry}: never ${what}:\n${output}`);
    const before = stdout;
    const signalledAt = output.length;
    child.kill('SIGINT');
    assert.deepEqual(await exited, { code: 130, signal: null }, output);
    assert.equal(stdout, before, `${entry}: printed after the SIGINT (a report of a run not stopped?):\n${stdout}`);
    for (let i = 0; i < 100 && started().some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(started().filter(alive).map(commandLine), [], `${entry}: processes left running:\n${output}`);
    await closed;
    // A child that crashed on its way out (an unhandled error) prints its stack on the terminal.
    assert.doesNotMatch(output.slice(signalledAt), /^\s+at /m, `${entry}: a stack trace after the SIGINT:\n${output.slice(signalledAt)}`);
    assert.deepEqual(await leftIn(tmp), [], `${entry}: files left in TMPDIR`);
  } finally {
    // What a failing run left must not outlive the test (nor hold its output pipes open).
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of started().filter(alive)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}
