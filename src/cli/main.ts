#!/usr/bin/env node
/**
 * The `readpath` executable: wires the process (argv, streams, signals, exit code) to
 * {@link runCli}. Everything else lives in program.ts and commands/.
 */
import { setFlagsFromString } from 'node:v8';
import { poolThreadsFor, startsPoolEarly } from './early-start.js';
import { v8FlagsFor } from './v8-flags.js';

const args = process.argv.slice(2);
// Flags are process-wide and read when wasm is compiled, which has not happened yet here.
for (const flag of v8FlagsFor(args)) setFlagsFromString(flag);

// The probe workers load (~0.2 s) while this thread loads the commands and the configuration;
// the pool the configuration asks for adopts them if it has their shape (see prestart.ts).
// Hence the dynamic import of program.js below: a static one would load everything first.
const prestart = startsPoolEarly(args) ? await import('../executors/pool/prestart.js') : undefined;
try {
  prestart?.prestartProbePool(prestart.defaultPoolShape(poolThreadsFor(args)));
} catch {
  // Only a head start: the pool starts its workers itself.
}
const { runCli } = await import('./program.js');

const controller = new AbortController();
let interrupts = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  interrupts++;
  // A second Ctrl-C means "now": skip the cleanup.
  if (interrupts > 1) process.exit(130);
  controller.abort(new Error(`interrupted (${signal})`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

let code: number;
try {
  code = await runCli(args, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  }, { signal: controller.signal });
} finally {
  // Unused (a configuration of another shape, or an error before the reader opened): stop it.
  await prestart?.discardPrestartedPool();
}

process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
process.exitCode = code;
// Every command releases what it opened, so the process ends on its own. Should a library
// handle linger anyway, the user still gets their prompt back.
setTimeout(() => process.exit(code), 2000).unref();
