/**
 * Run a TypeScript file in a fresh Node process (under tsx, from the repository root), for tests
 * that need a process where nothing has been imported yet. Resolves with its stdout; rejects
 * with its stderr when it fails or exceeds `timeoutMs`.
 */
import { execFile } from 'node:child_process';
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
