#!/usr/bin/env node
/**
 * The `readpath` executable: wires the process (argv, streams, signals, exit code) to
 * {@link runCli}. Everything else lives in program.ts and commands/.
 */
import { setFlagsFromString } from 'node:v8';
import { runCli } from './program.js';
import { v8FlagsFor } from './v8-flags.js';

// Flags are process-wide and read when wasm is compiled, which has not happened yet here.
for (const flag of v8FlagsFor(process.argv.slice(2))) setFlagsFromString(flag);

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

const code = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
}, { signal: controller.signal });

process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
process.exitCode = code;
// Every command releases what it opened, so the process ends on its own. Should a library
// handle linger anyway, the user still gets their prompt back.
setTimeout(() => process.exit(code), 2000).unref();
