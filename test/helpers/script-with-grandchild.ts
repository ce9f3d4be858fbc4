/**
 * A script for run-script.test.ts: starts a grandchild that inherits its output and lives on,
 * prints the grandchild's pid, then exits (`exit`) or hangs (`hang`).
 */
import { spawn } from 'node:child_process';

const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'inherit' });
process.stdout.write(`grandchild ${grandchild.pid ?? 'none'}\n`);
if (process.argv[2] === 'hang') setInterval(() => {}, 1e6);
else process.exit(0);
