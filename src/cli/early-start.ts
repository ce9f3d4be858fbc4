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

/** The most worker threads `batch --threads` accepts. */
export const MAX_THREADS_FLAG = 256;

/**
 * A count option's value as the CLI accepts it: a whole number from 1 to `max` (spaces around
 * it allowed), else undefined. The option parser (program.ts) and the argv scan below share it,
 * so the workers started early are the ones the command will ask for.
 */
export function countArg(value: string, max: number): number | undefined {
  const n = Number(value);
  return /^\d+$/.test(value.trim()) && Number.isSafeInteger(n) && n >= 1 && n <= max ? n : undefined;
}

/** `--threads N` (or `--threads=N`) when argv has a valid one: a whole number from 1 to {@link MAX_THREADS_FLAG}. */
export function threadsFlag(args: readonly string[]): number | undefined {
  let value: string | undefined;
  args.forEach((a, i) => {
    if (a === '--threads') value = args[i + 1];
    else if (a.startsWith('--threads=')) value = a.slice('--threads='.length);
  });
  return value === undefined ? undefined : countArg(value, MAX_THREADS_FLAG);
}

/**
 * The worker threads a command's pool has when its configuration does not set
 * `runtime.threads`: for `batch` its `--threads N`, else one per core (its main thread only
 * dispatches); for `serve` one per core but the main thread's. The prestarted pool has this
 * many, so the reader adopts it.
 */
export function poolThreadsFor(args: readonly string[]): number {
  return commandOf(args) === 'batch' ? threadsFlag(args) ?? batchThreads() : defaultThreads();
}
