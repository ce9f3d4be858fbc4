/**
 * Run a script in a fresh Node process and learn its peak resident set size: the stream bench
 * measures `readpath get -o` with it, and the large-object tests (through
 * test/helpers/rss-child.ts, under tsx) check that a 1 GiB stream does not cost 1 GiB of RSS.
 *
 * The peak is the kernel's `maxRSS` (`process.resourceUsage()`), read by a reporter preloaded
 * into the child at its 'exit' — not sampled, so short spikes count. It includes Node's own
 * footprint (and tsx's, ~60–90 MiB here, when preloaded): compare against a baseline child,
 * not against zero.
 */
import { spawn } from 'node:child_process';

const MARK = '__readpath_peak_rss_kib__';

// writeSync: at 'exit' no asynchronous I/O runs any more. The leading newline keeps the report on
// a line of its own whatever the script printed last; stdout to a pipe is synchronous on Linux,
// so the report is the last thing on stdout.
const REPORTER_SOURCE = `import { writeSync } from 'node:fs';
process.on('exit', () => { try { writeSync(1, '\\n' + JSON.stringify({ ${MARK}: process.resourceUsage().maxRSS }) + '\\n'); } catch {} });`;
const REPORTER = `data:text/javascript,${encodeURIComponent(REPORTER_SOURCE)}`;
const REPORT_LINE = new RegExp(`\\n\\{"${MARK}":(\\d+)\\}\\n$`);

/** What {@link runWithPeakRss} resolves with. */
export interface PeakRssResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The script's stdout, without the RSS report. */
  stdout: string;
  stderr: string;
  /** Peak RSS in bytes; undefined when the child died without running its 'exit' handlers (a signal). */
  maxRssBytes: number | undefined;
}

/** Options for {@link runWithPeakRss}. */
export interface PeakRssOptions {
  /** Extra Node flags, e.g. `['--expose-gc', '--max-old-space-size=64']`. */
  nodeArgs?: string[];
  /** Kill the child (SIGKILL) and reject after this long; default 120 s. */
  timeoutMs?: number;
  /** The child's working directory (relative script paths resolve from it). Default: this process's. */
  cwd?: string;
}

/**
 * Spawn `node [nodeArgs] SCRIPT ...args` and resolve with its exit status, output and peak
 * RSS. A nonzero exit resolves (check `code`); a spawn failure or the timeout rejects.
 */
export function runWithPeakRss(script: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env, opts: PeakRssOptions = {}): Promise<PeakRssResult> {
  return new Promise<PeakRssResult>((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', REPORTER, script, ...args], { ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }), env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString();
      if (timedOut) {
        reject(new Error(`child ${script} timed out after ${opts.timeoutMs ?? 120_000} ms\n${stderr}`));
        return;
      }
      const raw = Buffer.concat(out).toString();
      const m = REPORT_LINE.exec(raw);
      resolve({
        code,
        signal,
        stdout: m === null ? raw : raw.slice(0, m.index),
        stderr,
        maxRssBytes: m?.[1] === undefined ? undefined : Number(m[1]) * 1024,
      });
    });
  });
}
