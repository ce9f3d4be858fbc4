/**
 * What every command receives: the streams, the reporter, and a signal that aborts when the
 * user presses Ctrl-C.
 */
import type { CliIO, Reporter } from '../reporter.js';

/** See the module comment. */
export interface CommandContext {
  io: CliIO;
  reporter: Reporter;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}
