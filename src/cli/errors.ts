/**
 * How the CLI reports failures: exit codes, and one clear line per error (the stack and the
 * cause chain only with `--verbose`), with every known secret scrubbed from the text.
 */
import { findReadPathError, messageOf } from '../errors.js';

/** Exit codes (API.md §4). */
export const EXIT = Object.freeze({
  /** Every read succeeded. */
  OK: 0,
  /** At least one read failed (or could not be made). */
  FAILED: 1,
  /** Usage or configuration error: nothing was read. */
  USAGE: 2,
  /** Interrupted (Ctrl-C), as shells report SIGINT. */
  INTERRUPTED: 130,
  /**
   * stdout's reader went away (`| head`) before every outcome was written: the batch stopped
   * with keys unread, as shells report a writer ended by SIGPIPE (`set -o pipefail` sees it).
   */
  OUTPUT_CLOSED: 141,
});

/** A problem with the command line itself: exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.USAGE;
  const rp = findReadPathError(err);
  if (rp?.code === 'INVALID_CONFIG') return EXIT.USAGE;
  return EXIT.FAILED;
}

/** The code shown for an error: readpath's code, USAGE, or the system's (ENOENT...). */
export function codeOf(err: unknown): string | undefined {
  if (err instanceof UsageError) return err.code;
  const rp = findReadPathError(err);
  if (rp !== undefined) return rp.code;
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Replaces known secrets in text. Secrets are added as soon as a configuration is loaded. */
export class Scrubber {
  #secrets: string[] = [];

  /** Add secrets (empty strings and very short values are ignored: they would mangle text). */
  add(secrets: Iterable<string>): void {
    const all = new Set(this.#secrets);
    for (const s of secrets) {
      if (s.length < 4) continue;
      all.add(s);
      // As it appears inside JSON output, when it holds quotes, backslashes or control characters.
      all.add(JSON.stringify(s).slice(1, -1));
    }
    this.#secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** `text` with every secret replaced by `(redacted)`. */
  scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join('(redacted)');
    return out;
  }
}

/** One line describing `err`; with `verbose`, the stack and the cause chain follow. */
export function formatError(err: unknown, opts: { verbose?: boolean; scrubber?: Scrubber } = {}): string {
  const code = codeOf(err);
  const message = oneLine(messageOf(err));
  let text = code === undefined || code === 'USAGE' || message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
  if (opts.verbose === true) {
    const lines: string[] = [];
    let cur: unknown = err;
    for (let depth = 0; depth < 16 && cur !== null && cur !== undefined; depth++) {
      const stack = cur instanceof Error ? cur.stack : undefined;
      lines.push(depth === 0 ? (stack ?? '') : `caused by: ${stack ?? messageOf(cur)}`);
      cur = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
    }
    text += `\n${lines.filter((l) => l !== '').join('\n')}`;
  }
  return opts.scrubber === undefined ? text : opts.scrubber.scrub(text);
}

/** Collapse a message onto one line (some library messages span several). */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
