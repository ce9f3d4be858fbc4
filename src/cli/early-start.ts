/**
 * What the CLI starts before it has loaded its commands, decided from argv alone.
 */
import { batchThreads, defaultThreads } from '../config/runtime-defaults.js';

/**
 * The command of a CLI invocation with arguments `args` (process.argv without node and script).
 * Global options are flags without values, so it is the first non-option argument.
 */
export function commandOf(args: readonly string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

/**
 * True for the commands whose probes run in the worker pool with a default configuration
 * (`batch`, `serve`): their workers are started first, to load while the main thread loads the
 * rest (src/executors/pool/prestart.ts). Not for `--help`, which starts nothing.
 */
export function startsPoolEarly(args: readonly string[]): boolean {
  const command = commandOf(args);
  return (command === 'batch' || command === 'serve') && !args.includes('--help') && !args.includes('-h');
}

/**
 * The worker threads a command's pool has when its configuration does not set
 * `runtime.threads`: one per core for `batch` (its main thread only dispatches), else one per
 * core but the main thread's. The prestarted pool has this many, so the reader adopts it.
 */
export function poolThreadsFor(args: readonly string[]): number {
  return commandOf(args) === 'batch' ? batchThreads() : defaultThreads();
}
