/**
 * `readpath batch [-c CONFIG] [--keys FILE|-] [--op get|head] [--concurrency N] [--out DIR
 * [--skip-existing]] [--ndjson] [--shard I/N] [--prefix P]`: read every key of a key file (or
 * stdin, or the metadata store's listing under a prefix) with bounded concurrency.
 *
 * stdout: one line per key — an NDJSON record with --ndjson, a text line otherwise — and
 * nothing else; bodies are never printed (with --out DIR each goes to DIR/<key>).
 * stderr: a progress bar on a TTY, then the one-line summary.
 * Keys stream from the input as reads finish: a huge key file is never held in memory.
 */
import { keyProblem, MAX_KEY_BYTES } from '../../engine/keys.js';
import { messageOf } from '../../errors.js';
import { EXIT, UsageError } from '../errors.js';
import { countKeys, isOverlong, openKeyFile, readKeyLines, type KeyLine } from '../key-source.js';
import { outcomeRecord, outcomeText, printableKey, type CliFailure, type OutcomeExtra, type PrintedOutcome } from '../outcome-format.js';
import { FileSink, outPathError, outPathProblem } from '../../sinks/file-sink.js';
import { Output } from '../output.js';
import { createProgress } from '../progress.js';
import { shardOf, shardText, type Shard } from '../shard.js';
import { openReader } from '../reader.js';
import { batchThreads } from '../../config/runtime-defaults.js';
import { BatchStats, summaryLine } from '../summary.js';
import type { CommandContext } from './context.js';

/** Options of `batch`. */
export interface BatchCommandOptions {
  config?: string | undefined;
  /** FILE, or `-` for stdin. Default: stdin, when it is not a terminal. */
  keys?: string | undefined;
  op: 'get' | 'head';
  concurrency: number;
  out?: string | undefined;
  ndjson: boolean;
  metricsPort?: number | undefined;
  /** `--shard I/N`: only the keys of shard I are read; the others get no outcome. */
  shard?: Shard | undefined;
  /** With `out`: keys whose file is already in the directory get a `skip` line and are not read. */
  skipExisting?: boolean | undefined;
  /** Read every key the metadata store lists under this prefix (`''`: every key), instead of a key file. */
  prefix?: string | undefined;
  /** `--threads N`: probe worker threads, whatever `runtime.threads` says. */
  threads?: number | undefined;
}

/** Run `batch`; resolves to the exit code. */
export async function runBatchCommand(ctx: CommandContext, opts: BatchCommandOptions): Promise<number> {
  const { io, reporter } = ctx;
  if (opts.out !== undefined && opts.op !== 'get') throw new UsageError('--out DIR needs --op get (HEAD has no body to write)');
  if (opts.skipExisting === true && opts.out === undefined) throw new UsageError('--skip-existing needs --out DIR (it skips keys whose file is already there)');
  if (opts.prefix !== undefined && opts.keys !== undefined) throw new UsageError('--prefix and --keys are exclusive: the keys come from one or the other');
  const keysArg = opts.prefix !== undefined ? undefined : opts.keys ?? (io.stdin.isTTY === true ? undefined : '-');
  if (keysArg === undefined && opts.prefix === undefined) throw new UsageError('no keys: pass --keys FILE, pipe keys on stdin (--keys -), or list them with --prefix P');

  // With --prefix the keys come from the store's listing, once the reader is open.
  let source: AsyncGenerator<KeyLine, void, undefined> | undefined;
  if (keysArg === '-') {
    source = readKeyLines(io.stdin as AsyncIterable<Uint8Array | string>);
  } else if (keysArg !== undefined) {
    try {
      source = await openKeyFile(keysArg);
    } catch (err) {
      throw new UsageError(`--keys ${keysArg}: ${fsReason(err)}`, { cause: err });
    }
  }
  // With --out, each verified body is written where it was read (the probe's worker), through
  // readMany's `out`; here the directory is only checked, for a usage error up front.
  let outDir: FileSink | undefined;
  if (opts.out !== undefined) {
    try {
      outDir = FileSink.open(opts.out);
    } catch (err) {
      await source?.return(undefined);
      throw new UsageError(`--out ${opts.out}: ${fsReason(err)}`, { cause: err });
    }
  }
  let reader;
  try {
    reader = await openReader(reporter, { config: opts.config, metricsPort: opts.metricsPort, defaultThreads: batchThreads(), threads: opts.threads });
  } catch (err) {
    await source?.return(undefined);
    throw err;
  }
  const rp = reader.rp;

  const stdout = new Output(io.stdout);
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onInterrupt, { once: true });
  // A Ctrl-C while the configuration loaded and the workers started came before that listener.
  if (ctx.signal.aborted) onInterrupt();
  let outputClosed = false;
  stdout.onClosed(() => {
    outputClosed = true;
    stop.abort(new Error('stdout closed'));
  });

  const keySource = source ?? rp.keysUnder(opts.prefix ?? '', { signal: stop.signal });
  const stats = new BatchStats();
  const progress = createProgress(io.stderr, { label: opts.op });
  reporter.setOverlay(progress);
  const counting = new AbortController();
  if (progress !== undefined && keysArg !== undefined && keysArg !== '-') {
    countKeys(keysArg, counting.signal, opts.shard).then((n) => progress.setTotal(n), () => {});
  }

  // When a key was handed to the reader: a number, or a list for a key given more than once.
  const starts = new Map<string, number | number[]>();
  // On a terminal each line is written as it comes; into a pipe or a file, the lines of one
  // event-loop turn go out in one write.
  const interactive = io.stdout.isTTY === true;
  const writeLine = (line: string): Promise<void> => {
    if (!interactive) return stdout.queue(`${line}\n`);
    progress?.clear();
    return stdout.write(`${line}\n`);
  };
  const emit = (o: PrintedOutcome, extra: OutcomeExtra): Promise<void> => {
    stats.add(o, extra.ms);
    progress?.tick(o.ok);
    return writeLine(opts.ndjson ? JSON.stringify(outcomeRecord(o, extra, reporter.scrubber)) : outcomeText(o, extra, reporter.scrubber));
  };

  // With --skip-existing, a key whose file an earlier run left gets a line of its own, no read.
  let existing = 0;
  const emitExisting = (key: string): Promise<void> => {
    existing++;
    progress?.tick(true);
    return writeLine(opts.ndjson ? JSON.stringify({ key, ok: true, skipped: 'exists', path: key }) : `skip  ${printableKey(key)}  exists  -> ${printableKey(key)}`);
  };

  // With --shard, keys of other shards are dropped here: no read, no outcome line.
  const shard = opts.shard !== undefined && opts.shard.count > 1 ? opts.shard : undefined;
  let inShard = 0;
  let skipped = 0;
  // Lines that cannot be keys, and keys --out cannot store, are answered here without a read.
  async function* keys(): AsyncGenerator<string, void, undefined> {
    for await (const line of keySource) {
      if (shard !== undefined) {
        // An overlong line is not kept whole, so it cannot be hashed: shard 0 reports it.
        if ((isOverlong(line) ? 0 : shardOf(line, shard.count)) !== shard.index) {
          skipped++;
          continue;
        }
        inShard++;
      }
      if (isOverlong(line)) {
        await emit(failure(`${line.prefix}...`, 'INVALID_KEY', `key line is ${line.length} characters long, over the ${MAX_KEY_BYTES}-byte key limit`), {});
        continue;
      }
      if (outDir !== undefined && keyProblem(line) === undefined) {
        const problem = outPathProblem(line);
        if (problem !== undefined) {
          await emit(failure(line, 'INVALID_KEY', outPathError(line, problem).message), {});
          continue;
        }
        if (opts.skipExisting === true && outDir.hasFile(line)) {
          await emitExisting(line);
          continue;
        }
      }
      const now = performance.now();
      const before = starts.get(line);
      if (before === undefined) starts.set(line, now);
      else if (typeof before === 'number') starts.set(line, [before, now]);
      else before.push(now);
      yield line;
    }
  }
  const latencyOf = (key: string): number | undefined => {
    const at = starts.get(key);
    let t: number | undefined;
    if (typeof at === 'number') {
      t = at;
      starts.delete(key);
    } else if (at !== undefined) {
      t = at.shift();
      if (at.length === 0) starts.delete(key);
    }
    return t === undefined ? undefined : performance.now() - t;
  };
  let fatal: unknown;
  try {
    const out = outDir === undefined ? {} : { out: outDir.root };
    for await (const o of rp.readMany(keys(), { op: opts.op, concurrency: opts.concurrency, signal: stop.signal, ...out })) {
      const ms = latencyOf(o.key);
      const extra: OutcomeExtra = ms === undefined ? {} : { ms };
      if (o.ok && 'path' in o) extra.path = o.path;
      await emit(o, extra);
    }
  } catch (err) {
    fatal = err;
  } finally {
    // A batch that ended before its input did (Ctrl-C, stdout closed, a fatal error) leaves the
    // key reader waiting on stdin for a line that may never come, and that read alone would keep
    // the process alive: the input is not needed any more.
    if (keysArg === '-') releaseInput(io.stdin);
    await stdout.flush();
    ctx.signal.removeEventListener('abort', onInterrupt);
    counting.abort();
    progress?.stop();
    reporter.setOverlay(undefined);
    stats.finish();
  }
  const cacheHits = rp.recorder.count('degraded_cache_hits_total');
  await reader.close();

  // Quietly, as `cat` piped into `head` ends; but not as a success: keys may be left unread.
  if (outputClosed) return EXIT.OUTPUT_CLOSED;
  const totals = stats.totals();
  const interrupted = ctx.signal.aborted;
  if (fatal !== undefined && !interrupted) reporter.error(fatal, `batch stopped after ${totals.reads} key${totals.reads === 1 ? '' : 's'}`);
  const shardInfo = opts.shard === undefined ? undefined : { shard: shardText(opts.shard), keys: shard === undefined ? totals.reads : inShard, skipped };
  const existingInfo = opts.skipExisting === true ? { existing } : {};
  reporter.info('batch summary', { ...totals, cacheHits, ...existingInfo, ...(shardInfo === undefined ? {} : { shard: shardInfo }), ...(interrupted ? { interrupted: true } : {}) },
    `${interrupted ? 'interrupted: ' : ''}${summaryLine(totals, { cacheHits, ...existingInfo, ...(shardInfo === undefined ? {} : { shard: shardInfo }) })}`);
  if (interrupted) return EXIT.INTERRUPTED;
  return stats.failed > 0 || fatal !== undefined ? EXIT.FAILED : EXIT.OK;
}

function failure(key: string, code: string, message: string): CliFailure {
  return { key, ok: false, error: { code, message, httpStatus: code === 'INVALID_KEY' ? 400 : 500 } };
}

function releaseInput(stdin: NodeJS.ReadableStream): void {
  const stream = stdin as NodeJS.ReadableStream & { destroy?: () => void };
  if (typeof stream.destroy === 'function') stream.destroy();
}

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return 'file not found';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'EISDIR': return 'is a directory';
    case 'ENOTDIR': return 'a parent of the path is not a directory';
    case 'EEXIST': return 'exists and is not a directory';
    default: return code ?? messageOf(err);
  }
}
