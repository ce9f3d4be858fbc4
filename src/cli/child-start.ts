/**
 * Waiting for a child process to say it has started. The demo's local S3 servers and the
 * benchmarks' S3 stub and `readpath serve` processes all start a child and then wait, with a
 * timeout, for it to announce itself, failing if it exits or errors first. That wait is easy
 * to get subtly wrong (a listener or timer left behind, a line matched before its end has
 * arrived, an error without the child's own explanation), so it lives here once. It is under
 * src/ because the demo ships in the product and src/ does not import bench/.
 */
import type { ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/** What {@link waitForStart} waits for and how it reports a child that did not start. */
export interface WaitForStartOptions {
  /** Names the child in errors ("readpath serve", "S3 stub"...). */
  what: string;
  timeoutMs: number;
  /** How much of the end of the child's stderr the errors quote. Default 2000 characters. */
  stderrTailChars?: number;
}

/** Waiting for a line the child prints. */
export interface LineStart extends WaitForStartOptions {
  /** Tested against each complete line (without its line break). */
  match: RegExp;
  /** The stream the line is printed on. Default `stdout`. */
  stream?: 'stdout' | 'stderr';
}

/** Waiting for an IPC message the child sends. */
export interface MessageStart<T> extends WaitForStartOptions {
  /**
   * Called with each message: a result other than `undefined` means started; throwing fails
   * the start with the thrown error (for a child that reports its own failure).
   */
  match: (message: unknown) => T | undefined;
}

/** A stream's text as it arrives, whether or not the caller has set an encoding on it. */
function textOf(stream: Readable, onText: (text: string) => void): (chunk: string | Buffer) => void {
  const decoder = new StringDecoder('utf8');
  const onData = (chunk: string | Buffer): void => onText(typeof chunk === 'string' ? chunk : decoder.write(chunk));
  stream.on('data', onData);
  return onData;
}

/** A line longer than this is cut from its start: a start line is short, a runaway one is not worth the memory. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * Wait until `child` (just spawned, its stdio piped where the line or stderr is to be read)
 * has started: resolves with the match of the first matching line, or with the first
 * non-`undefined` result of `match` on an IPC message. Rejects, and SIGKILLs the child so a
 * half-started one does not linger, when `timeoutMs` passes, the child exits, `match` throws,
 * or the child emits `error` (rejecting with that error). Timeout and exit errors end with the
 * tail of the child's stderr. Either way its listeners and timer are removed before it settles;
 * the streams stay flowing and remain the caller's.
 */
export function waitForStart(child: ChildProcess, opts: LineStart): Promise<RegExpExecArray>;
export function waitForStart<T>(child: ChildProcess, opts: MessageStart<T>): Promise<T>;
export function waitForStart<T>(child: ChildProcess, opts: LineStart | MessageStart<T>): Promise<RegExpExecArray | T> {
  const { what, timeoutMs, match } = opts;
  const tailChars = opts.stderrTailChars ?? 2000;
  return new Promise((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const cleanups: (() => void)[] = [];
    const listen = (stream: Readable | null, onText: (text: string) => void): void => {
      if (stream === null) return;
      const onData = textOf(stream, onText);
      cleanups.push(() => stream.off('data', onData));
    };
    const withTail = (message: string): string => {
      const tail = stderr.trimEnd();
      return tail === '' ? message : `${message}:\n${tail}`;
    };

    function settle(): boolean {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      for (const cleanup of cleanups) cleanup();
      return true;
    }
    function succeed(value: RegExpExecArray | T): void {
      if (settle()) resolve(value);
    }
    function fail(err: unknown): void {
      if (!settle()) return;
      child.kill('SIGKILL');
      reject(err);
    }

    const timer = setTimeout(() => fail(new Error(withTail(`${what} did not start within ${timeoutMs} ms`))), timeoutMs);
    const onExit = (code: number | null): void => fail(new Error(withTail(`${what} exited (code ${String(code)}) before it was ready`)));
    child.once('exit', onExit);
    child.once('error', fail);
    cleanups.push(() => {
      child.off('exit', onExit);
      child.off('error', fail);
    });
    listen(child.stderr, (s) => {
      stderr = (stderr + s).slice(-tailChars);
    });

    if (typeof match === 'function') {
      const onMessage = (m: unknown): void => {
        let result: T | undefined;
        try {
          result = match(m);
        } catch (err) {
          fail(err);
          return;
        }
        if (result !== undefined) succeed(result);
      };
      child.on('message', onMessage);
      cleanups.push(() => child.off('message', onMessage));
    } else {
      // Whole lines only: a chunk can end inside the line, and a pattern like `on (\S+)` would
      // then match the part of a URL that has arrived.
      let partial = '';
      listen((opts as LineStart).stream === 'stderr' ? child.stderr : child.stdout, (s) => {
        const lines = (partial + s).split('\n');
        partial = (lines.pop() ?? '').slice(-MAX_LINE_CHARS);
        for (const line of lines) {
          match.lastIndex = 0;
          const m = match.exec(line.endsWith('\r') ? line.slice(0, -1) : line);
          if (m !== null) {
            succeed(m);
            return;
          }
        }
      });
    }

    // A child that is already gone would never emit 'exit' again.
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode);
  });
}

/**
 * The parent's loader flags (tsx under tests and `node --import tsx`), for a child that must
 * load the same kind of files, without the flags that would turn the child into something else
 * (`--test`, `--inspect`, `--watch`, `--cpu-prof`...).
 */
export function loaderExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (/^--(import|require|loader|experimental-loader)=/.test(a)) out.push(a);
    else if (/^(--import|--require|-r|--loader|--experimental-loader)$/.test(a) && i + 1 < argv.length) out.push(a, argv[++i] as string);
  }
  return out;
}
