/**
 * A bench entry reduced to what bench/process-guard.ts handles (test/bench/process-guard.test.ts):
 * it registers a temporary directory of `FILES` files in subdirectories, prints `ready DIR`,
 * then waits to be signalled; with `throw` it fails instead, as a bench whose run breaks.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchTempDir, guardBenchProcess } from '../../bench/process-guard.js';

const FILES = 400;

guardBenchProcess(import.meta.url, []);
const dir = await benchTempDir('readpath-guard-test-');
for (let d = 0; d < FILES / 100; d++) {
  await mkdir(path.join(dir, String(d)));
  for (let f = 0; f < 100; f++) await writeFile(path.join(dir, String(d), `${f}.bin`), 'x');
}
if (process.argv.includes('throw')) throw new Error('the run broke');
process.stdout.write(`ready ${dir}\n`);
setInterval(() => {}, 60_000);
