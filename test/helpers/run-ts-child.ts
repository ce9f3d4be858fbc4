/**
 * Run a TypeScript file in a fresh Node process (under tsx, from the repository root), for tests
 * that need a process where nothing has been imported yet. runTsChild resolves with its stdout
 * and rejects with its stderr when it fails or exceeds `timeoutMs`; runTsScript resolves with
 * the exit code and both outputs.
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
export function runTsScript(file: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript(['--import', 'tsx', file, ...args], opts.timeoutMs);
}

/**
 * Run a compiled script (plain node, no loader) like runTsScript: for benches that start the
 * compiled CLI next to themselves and so only work from dist/ (`npm test` builds it first).
 */
export function runJsScript(file: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript([file, ...args], opts.timeoutMs);
}

function runScript(argv: readonly string[], timeoutMs = 240_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // A process group of its own: on timeout the script goes with everything it started (S3
    // stubs, gateways, rclone). Killing the script alone can leave a stub that inherited its
    // output holding the pipes open, and waiting for them to close then hangs the test until its
    // own timeout, which reports it cancelled without the script's output.
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // Whatever the script left running goes with it, so that its output ends too.
    child.once('exit', () => killGroup(child.pid));
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[runScript: killed with its process group after ${timeoutMs} ms]`;
      resolve({ code, stdout, stderr });
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
