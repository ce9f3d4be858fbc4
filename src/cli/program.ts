/**
 * The `readpath` command line (API.md §4), on commander. {@link runCli} parses, runs one
 * command and resolves to the exit code: 0 every read succeeded, 1 at least one read failed,
 * 2 usage or configuration error (130 when interrupted, 141 when a batch's stdout reader went away). It never throws and never calls
 * `process.exit`: main.ts owns the process.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, UsageError, exitCodeFor } from './errors.js';
import { Reporter, type CliIO, type GlobalOptions } from './reporter.js';
import { DEFAULT_CONFIG_PATH } from './config-path.js';
import { parseShard, type Shard } from './shard.js';
import { MAX_PROCESSES } from '../config/runtime-defaults.js';
import { MAX_THREADS_FLAG, countArg } from './early-start.js';
import type { CommandContext } from './commands/context.js';

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Aborted on Ctrl-C: commands stop, clean up and exit 130. */
  signal?: AbortSignal;
}

// Commander names the option in its error message itself.
function positiveInt(max: number) {
  return (value: string): number => {
    const n = countArg(value, max);
    if (n === undefined) throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    return n;
  };
}

function shardArg(value: string): Shard {
  const s = parseShard(value.trim());
  if ('problem' in s) throw new InvalidArgumentError(s.problem);
  return s;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 picks a free one)');
  return n;
}

function processes(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > MAX_PROCESSES) throw new InvalidArgumentError(`expected a count of processes from 1 to ${MAX_PROCESSES}, or 0 for one per core`);
  return n;
}

function version(): string {
  // src/cli/ under tsx, dist/src/cli/ when built: look upward for our package.json.
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'readpath' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

/**
 * --json and --verbose are needed before commander has parsed anything (to report its own
 * errors in the right format). `bench` has a `--json FILE` of its own, so for it only the
 * flags before the command name count.
 */
export function scanGlobalFlags(argv: readonly string[]): GlobalOptions {
  const end = argv.indexOf('--');
  const args = end < 0 ? argv : argv.slice(0, end);
  const commandAt = args.findIndex((a) => !a.startsWith('-'));
  const scope = commandAt >= 0 && args[commandAt] === 'bench' ? args.slice(0, commandAt) : args;
  return { json: scope.includes('--json'), verbose: scope.includes('--verbose') };
}

const COMMON_HELP = `
Exit codes: 0 every read succeeded, 1 at least one read failed, 2 usage or configuration error,
130 interrupted (Ctrl-C), 141 a batch whose output's reader went away with keys left unread.
The configuration defaults to ${DEFAULT_CONFIG_PATH}; \${VAR} in it expands from the environment.`;

/** Parse `argv` (the arguments after `readpath`), run the command, resolve to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO, opts: RunCliOptions = {}): Promise<number> {
  const globals = scanGlobalFlags(argv);
  const reporter = new Reporter(io, globals);
  const signal = opts.signal ?? new AbortController().signal;
  const ctx: CommandContext = { io, reporter, signal };
  let code: number = EXIT.OK;
  let ran = false;

  const program = new Command('readpath')
    .description('Read objects replicated across S3-compatible backends: per-key failover, verified bodies, degraded-mode broadcast.')
    .version(version(), '-V, --version')
    .option('--json', 'JSON log lines on stderr, for machines')
    .option('--verbose', 'add stack traces to errors')
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s) => reporter.error(new UsageError(s.replace(/^error:\s*/i, '').trim())),
    })
    .addHelpText('after', COMMON_HELP);

  const common = (cmd: Command, withMetrics: boolean): Command => {
    cmd.option('-c, --config <file>', `configuration file (default ${DEFAULT_CONFIG_PATH})`)
      .option('--json', 'JSON log lines on stderr, for machines')
      .option('--verbose', 'add stack traces to errors');
    if (withMetrics) cmd.addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:PORT/metrics while running').argParser(port));
    return cmd;
  };
  const run = (fn: () => Promise<number>) => async (): Promise<void> => {
    ran = true;
    code = await fn();
  };

  common(program.command('get')
    .description('read one object: the body to FILE or stdout, one outcome line on stderr')
    .argument('<key>', 'object key')
    .option('-o, --output <file>', 'write the body to FILE ("-" for stdout, the default)')
    .option('--range <range>', 'HTTP byte range, e.g. bytes=0-99 (a ranged body is not verified)'), true)
    .action(async (key: string, o: { config?: string; output?: string; range?: string; metricsPort?: number }) => {
      const { runGet } = await import('./commands/get.js');
      await run(() => runGet(ctx, key, o))();
    });

  common(program.command('head')
    .description('HEAD one object: one JSON object on stdout')
    .argument('<key>', 'object key'), true)
    .action(async (key: string, o: { config?: string; metricsPort?: number }) => {
      const { runHead } = await import('./commands/head.js');
      await run(() => runHead(ctx, key, o))();
    });

  common(program.command('batch')
    .description('read many keys: one outcome line per key on stdout, a summary on stderr')
    .option('--keys <file>', 'key file, one key per line ("-" for stdin; default stdin when piped)')
    .option('--prefix <prefix>', 'read every key the metadata store lists under PREFIX ("" for all), instead of a key file')
    .addOption(new Option('--op <op>', 'operation').choices(['get', 'head']).default('get'))
    .addOption(new Option('--concurrency <n>', 'reads in flight').argParser(positiveInt(10_000)).default(64))
    .addOption(new Option('--threads <n>', `probe worker threads (default: runtime.threads, else one per core, at most 8)`).argParser(positiveInt(MAX_THREADS_FLAG)))
    .option('--out <dir>', 'write each body to DIR/<key> (never outside DIR)')
    .option('--skip-existing', 'with --out: keys whose file is already in DIR are not read (an earlier run left it whole and verified)')
    .option('--ndjson', 'one JSON object per key on stdout (machine-readable)')
    .addOption(new Option('--shard <I/N>', 'read only the keys of shard I of N (0-based), so N machines split one key list').argParser(shardArg)), true)
    .addHelpText('after', `
Key files: one key per line, exactly as written (spaces kept); empty lines are ignored; a CRLF
line ending loses its \\r; UTF-8. Keys that cannot be keys or cannot be stored under --out get a
failed outcome line of their own (INVALID_KEY), like any read that fails.

Shards: with --shard I/N a key is read (and gets an outcome line) only when H mod N = I, H being
the first 8 bytes (big-endian) of the SHA-256 of its UTF-8 bytes; other keys are skipped without
a read. Every machine gets the same key list and its own I (e.g. a Kubernetes Indexed Job's
$JOB_COMPLETION_INDEX); together the N shards read every key exactly once. The summary says how
many keys were in the shard and how many were skipped.

Listing: --prefix P reads every key the metadata store has under P (in S3's order, a page of
1000 at a time as reads finish) instead of a key file: with --out, "copy everything under P".
It needs the database (a listing cannot be degraded).

Resuming: files appear in DIR only once whole and verified, so after an interrupted batch
--skip-existing reads only what is missing: a key whose DIR/<key> is a regular file gets a
"skip" line (NDJSON: "skipped": "exists") and is not read. A file an earlier run wrote is kept
as it is, even if the object has changed since.

Examples:
  readpath batch -c readpath.yaml --keys keys.txt --ndjson > outcomes.ndjson
  cat keys.txt | readpath batch --op head
  readpath batch --keys keys.txt --out ./downloads --concurrency 128
  readpath batch --keys keys.txt --out ./downloads --shard "$JOB_COMPLETION_INDEX/8"
  readpath batch --keys keys.txt --out ./downloads --skip-existing   # resume
  readpath batch --prefix photos/2024/ --out ./downloads`)
    .action(async (o: { config?: string; keys?: string; prefix?: string; op: 'get' | 'head'; concurrency: number; threads?: number; out?: string; ndjson?: boolean; skipExisting?: boolean; metricsPort?: number; shard?: Shard }) => {
      const { runBatchCommand } = await import('./commands/batch.js');
      await run(() => runBatchCommand(ctx, { ...o, ndjson: o.ndjson === true, skipExisting: o.skipExisting === true }))();
    });

  common(program.command('ls')
    .description('list what the metadata store holds under a prefix: time, size and key of each object (no backend is asked)')
    .argument('[prefix]', 'key prefix (default: every key)', '')
    .option('--ndjson', 'one JSON object per key: {"key","size","lastModified"}')
    .addOption(new Option('--max <n>', 'stop after N keys').argParser(positiveInt(1_000_000_000))), false)
    .addHelpText('after', `
Each key once, in S3's order (UTF-8 bytes), with the size a reader gets (the plaintext size of an
encrypted object) and the created_at of the copy reads try first. Needs the database.

Examples:
  readpath ls photos/2024/
  readpath ls --ndjson | jq -r 'select(.size > 1e9) | .key'`)
    .action(async (prefix: string, o: { config?: string; ndjson?: boolean; max?: number }) => {
      const { runLs } = await import('./commands/ls.js');
      await run(() => runLs(ctx, prefix, { config: o.config, ndjson: o.ndjson === true, max: o.max }))();
    });

  common(program.command('serve')
    .description('serve the objects as a read-only S3 endpoint (path style, SigV4 against buckets[].credentials)')
    .option('--listen <host:port>', 'address to listen on (default server.listen_addr, else 127.0.0.1:9000; port 0 picks a free one)')
    .addOption(new Option('--processes <n>', 'gateway processes sharing the port, 0 = one per core (default server.processes, else 1)').argParser(processes)), true)
    .action(async (o: { config?: string; listen?: string; metricsPort?: number; processes?: number }) => {
      const { runServe } = await import('./commands/serve.js');
      await run(() => runServe(ctx, o))();
    });

  program.command('validate')
    .description('check a configuration and print it resolved, secrets masked')
    .option('-c, --config <file>', `configuration file (default ${DEFAULT_CONFIG_PATH})`)
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .option('--connect', 'also connect to the metadata database once (nothing written): exit 2 naming the setting it refuses, 1 when it cannot be reached')
    .option('--json', 'JSON log lines on stderr, for machines')
    .option('--verbose', 'add stack traces to errors')
    .action(async (o: { config?: string; format: 'yaml' | 'json'; connect?: boolean }) => {
      const { runValidate } = await import('./commands/validate.js');
      await run(() => runValidate(ctx, o))();
    });

  program.command('demo')
    .description('self-contained demo: local S3 backends, a SQLite database, failover and degraded reads')
    .addOption(new Option('--objects <n>', 'objects to seed').argParser(positiveInt(1_000_000)).default(2000))
    .addOption(new Option('--concurrency <n>', 'reads in flight').argParser(positiveInt(10_000)).default(16))
    .addOption(new Option('--executor <mode>', 'where probes run').choices(['inline', 'pool']).default('inline'))
    .option('--json', 'JSON log lines on stderr, and the report as JSON at the end')
    .option('--verbose', 'add stack traces to errors')
    .action(async (o: { objects: number; concurrency: number; executor: 'inline' | 'pool' }) => {
      const { runDemoCommand } = await import('./commands/demo.js');
      await run(() => runDemoCommand(ctx, o))();
    });

  program.command('walkthrough', { hidden: true })
    .description('in-memory walk-through of the failover paths (needs nothing)')
    .action(async () => {
      const { runWalkthrough } = await import('./walkthrough.js');
      await run(async () => {
        await runWalkthrough((line) => void io.stdout.write(`${line}\n`));
        return EXIT.OK;
      })();
    });

  program.command('bench')
    .description('the broadcast benchmark harness: strategies x executors over simulated or local S3 backends (bench --help)')
    // The harness parses its own flags (its --json takes a FILE) and prints its own help.
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async () => {
      const { runBenchCommand } = await import('./commands/bench.js');
      await run(() => runBenchCommand(ctx, argv.slice(argv.indexOf('bench') + 1)))();
    });

  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // `--help`, `help [command]` (commander.help) and `--version` are answers, not usage errors.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return EXIT.OK;
      // commander has already reported it (through outputError): one line.
      return EXIT.USAGE;
    }
    if (signal.aborted) return EXIT.INTERRUPTED;
    reporter.error(err);
    return exitCodeFor(err);
  }
  return ran ? code : EXIT.USAGE;
}
