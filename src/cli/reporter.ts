/**
 * Everything the CLI writes to stderr goes through the reporter: error lines, outcome lines,
 * summaries and the reader's logs. For people it writes plain `readpath: ...` lines; with
 * `--json` it writes pino JSON lines for machines. Either way every known secret is scrubbed
 * from the text, and an active progress bar is erased before a line is written.
 */
import type { Logger } from 'pino';
import { createLogger, lazyPino } from '../telemetry/logger.js';
import { CoalescedWriter, type CoalescedWriterOptions } from './coalesced-writer.js';
import { codeOf, formatError, oneLine, Scrubber } from './errors.js';

/** The streams a CLI run uses. */
export interface CliIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

/** Options every command has. */
export interface GlobalOptions {
  /** Machine-readable JSON log lines on stderr. */
  json: boolean;
  /** Add stack traces (and cause chains) to errors. */
  verbose: boolean;
}

/** Something drawn on stderr that must be erased before a line is written. */
export interface Overlay {
  clear(): void;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const HIDDEN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** See the module comment. */
export class Reporter {
  readonly scrubber = new Scrubber();
  readonly json: boolean;
  readonly verbose: boolean;
  readonly #stderr: CliIO['stderr'];
  readonly #env: NodeJS.ProcessEnv;
  readonly #events: Logger | undefined;
  #overlay: Overlay | undefined;
  #coalesced: CoalescedWriter | undefined;

  constructor(io: CliIO, opts: GlobalOptions) {
    this.#stderr = io.stderr;
    this.#env = io.env;
    this.json = opts.json;
    this.verbose = opts.verbose;
    // The CLI's own events are command output, not logs: never filtered by the log level.
    // pino loads with the first line (telemetry/logger.ts): not at all for a quiet run.
    this.#events = opts.json ? lazyPino({ name: 'readpath', level: 'info' }, this.#jsonSink()) : undefined;
  }

  /** Erase `overlay` before each line (the progress bar), or stop doing so (undefined). */
  setOverlay(overlay: Overlay | undefined): void {
    // The overlay draws straight on stderr: lines held back would land after it.
    this.#coalesced?.flush();
    this.#overlay = overlay;
  }

  /**
   * From now until the returned function is called, lines written in one turn of the event loop
   * (or within `opts.holdMs`) reach stderr as one write (see CoalescedWriter): for `serve`, whose
   * access log has a line per request. Anything written to stderr other than through this
   * reporter should wait for the returned function, which writes what is pending.
   */
  coalesce(opts: CoalescedWriterOptions = {}): () => void {
    const writer = (this.#coalesced ??= new CoalescedWriter(this.#stderr, opts));
    return () => {
      if (this.#coalesced !== writer) return;
      this.#coalesced = undefined;
      writer.close();
    };
  }

  /** A human line (`readpath: text`) or, with --json, an info event with `fields`. */
  info(msg: string, fields: Record<string, unknown> = {}, human?: string): void {
    if (this.#events !== undefined) this.#events.info(fields, this.scrubber.scrub(msg));
    else this.#write(`readpath: ${human ?? msg}\n`);
  }

  /** A warning line or event. */
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    if (this.#events !== undefined) this.#events.warn(fields, this.scrubber.scrub(msg));
    else this.#write(`readpath: warning: ${msg}\n`);
  }

  /** One line for an error (the stack too with --verbose). */
  error(err: unknown, context?: string): void {
    if (this.#events !== undefined) {
      const fields: Record<string, unknown> = { code: codeOf(err) };
      if (this.verbose && err instanceof Error && err.stack !== undefined) fields['stack'] = this.scrubber.scrub(err.stack);
      this.#events.error(fields, this.scrubber.scrub(oneLine(`${context === undefined ? '' : `${context}: `}${formatError(err)}`)));
      return;
    }
    const text = formatError(err, { verbose: this.verbose, scrubber: this.scrubber });
    this.#write(`readpath: error: ${context === undefined ? '' : `${context}: `}${text}\n`);
  }

  /**
   * The logger for the reader: pino, at `level` (READPATH_LOG_LEVEL wins), credentials
   * redacted; JSON lines with --json, `readpath: <level>: msg key=value` lines otherwise.
   */
  readerLogger(level: string = 'warn'): Logger {
    const env = this.#env['READPATH_LOG_LEVEL'];
    const logger = createLogger(level, (this.json ? this.#jsonSink() : this.#humanSink()) as unknown as NodeJS.WritableStream);
    if (env !== undefined && env !== '' && env !== logger.level) {
      try {
        logger.level = env;
      } catch {
        // createLogger already ignored an unknown level name.
      }
    }
    return logger;
  }

  /** Set the reader logger's level from the configuration, unless READPATH_LOG_LEVEL chose one. */
  applyConfiguredLevel(logger: Logger, level: string): void {
    const env = this.#env['READPATH_LOG_LEVEL'];
    if (env !== undefined && env !== '') return;
    try {
      logger.level = level;
    } catch {
      // The configuration's schema only lets valid level names through.
    }
  }

  #write(text: string): void {
    this.#overlay?.clear();
    // Every line, whatever built it, is scrubbed here (scrubbing twice is harmless).
    const line = this.scrubber.scrub(text);
    if (this.#coalesced !== undefined) this.#coalesced.write(line);
    else this.#stderr.write(line);
  }

  #jsonSink(): { write(line: string): void } {
    return { write: (line: string) => this.#write(this.scrubber.scrub(line)) };
  }

  #humanSink(): { write(line: string): void } {
    return {
      write: (line: string) => {
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          this.#write(this.scrubber.scrub(line));
          return;
        }
        const level = LEVEL_NAMES[rec['level'] as number] ?? String(rec['level']);
        const fields = Object.entries(rec)
          .filter(([k]) => !HIDDEN_FIELDS.has(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        const msg = typeof rec['msg'] === 'string' ? rec['msg'] : '';
        this.#write(this.scrubber.scrub(`readpath: ${level}: ${oneLine(msg)}${fields === '' ? '' : ` (${oneLine(fields)})`}\n`));
      },
    };
  }
}
