/**
 * Run a TypeScript file in a fresh Node process (under tsx, from the repository root), for tests
 * that need a process where nothing has been imported yet. runTsChild resolves with its stdout
 * and rejects with its stderr when it fails or exceeds `timeoutMs`; runTsScript resolves with
 * the exit code and both outputs. runProcess, under both of the latter, runs any `node` command
 * line that way (the CLI tests' runs of readpath too).
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function runTsChild(file: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`child ${file} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Run a TypeScript script with arguments (under tsx, from the repository root) to its end,
 * whatever its exit code; killed after `timeoutMs`. For tests that judge the exit code and
 * the output themselves (the bench smoke tests).
 */
export function runTsScript(file: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript(['--import', 'tsx', file, ...args], opts);
}

/**
 * Run a compiled script (plain node, no loader) like runTsScript: for benches that start the
 * compiled CLI next to themselves and so only work from dist/ (`npm test` builds it first).
 */
export function runJsScript(file: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript([file, ...args], opts);
}

function runScript(argv: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProcess(argv, opts).then((r) => ({ ...r, stdout: r.stdout.toString('utf8') }));
}

/** How {@link runProcess} runs its process. */
export interface RunProcessOptions {
  /** Killed (with everything it started) after this long; default 240 s. */
  timeoutMs?: number;
  /** Written to its stdin, which is then closed (default: nothing, closed). */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Default: the repository root. */
  cwd?: string;
}

/**
 * Run `node ...argv` to its end and resolve with its exit code (null when killed) and outputs.
 * It runs in a process group of its own: on timeout it goes with everything it started (S3
 * stubs, gateways, rclone, probe or gateway processes), and so does whatever it leaves running
 * when it exits. Killing the process alone can leave a child that inherited its output holding
 * the pipes open; waiting for them to close then hangs the test until its own timeout, which
 * reports it cancelled without the output. A timeout is said at the end of stderr.
 */
export function runProcess(argv: readonly string[], opts: RunProcessOptions = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 240_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    // A child that exits without reading its input must not fail the call.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', () => killGroup(child.pid));
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[runProcess: killed with its process group after ${timeoutMs} ms]`;
      resolve({ code, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

/** SIGKILL a process group (the script's), if it still has members. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}
