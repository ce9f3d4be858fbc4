/**
 * Child of test/unit/cli-startup.test.ts, in a fresh process: logs which npm packages are
 * loaded at each step of a CLI start (`STEP <name>` lines in the hooks' log, as
 * lazy-deps-child.ts does) — importing the program, `--version`, a reader logger that stays
 * quiet, then one that warns.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { PassThrough } from 'node:stream';
import { logRequiredPackages } from './package-log-require.js';

const log = process.env.READPATH_PACKAGE_LOG as string;
register(new URL('./package-log-hooks.mjs', import.meta.url));
logRequiredPackages(log);
const step = (name: string): void => appendFileSync(log, `STEP ${name}\n`);

const { runCli } = await import('../../src/cli/program.js');
const { Reporter } = await import('../../src/cli/reporter.js');
step('imported');

const out = new PassThrough();
const err = new PassThrough();
let stdout = '';
let stderr = '';
out.on('data', (d: Buffer) => (stdout += d.toString()));
err.on('data', (d: Buffer) => (stderr += d.toString()));
const io = { stdin: new PassThrough(), stdout: out, stderr: err, env: {} };
const code = await runCli(['--version'], io);
step('version');

const reporter = new Reporter(io, { json: false, verbose: false });
const logger = reporter.readerLogger('warn');
logger.debug({ x: 1 }, 'not written');
logger.info('not written either');
logger.flush();
await Promise.resolve(logger);
step('quiet');
logger.warn({ secret_access_key: 'HIDDEN' }, 'careful');
step('warned');
await new Promise((r) => setImmediate(r));
process.stdout.write(`${JSON.stringify({ code, stdout, stderr })}\n`);
