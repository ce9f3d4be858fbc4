/**
 * `readpath get KEY [-c CONFIG] [-o FILE|-]`: the body streamed to FILE (or stdout) in
 * bounded memory whatever its size, one outcome line on stderr, a progress bar on a TTY.
 */
import { closeSync, constants, createWriteStream, fchmodSync, lstatSync, openSync, readlinkSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StreamOutcome } from '../../read-path.js';
import { hasCode } from '../../errors.js';
import { EXIT, UsageError } from '../errors.js';
import { successFields } from '../outcome-format.js';
import { Output } from '../output.js';
import { openReader } from '../reader.js';
import { formatMs } from '../summary.js';
import { createByteProgress } from '../byte-progress.js';
import { checkRangeSyntax } from '../../ranges/byte-range.js';
import { nextTempName } from '../../sinks/temp-name.js';
import { removeOnExit } from '../../sinks/exit-sweep.js';
import type { CommandContext } from './context.js';

/** Options of `get`. */
export interface GetCommandOptions {
  config?: string | undefined;
  /** FILE, or `-` (the default) for stdout. */
  output?: string | undefined;
  range?: string | undefined;
  metricsPort?: number | undefined;
}

/** Run `get`; resolves to the exit code. */
export async function runGet(ctx: CommandContext, key: string, opts: GetCommandOptions): Promise<number> {
  const { reporter } = ctx;
  const toFile = opts.output !== undefined && opts.output !== '-' ? opts.output : undefined;
  if (opts.range !== undefined) checkRange(opts.range);
  if (toFile !== undefined) await checkOutputFile(toFile);
  // One read: worker threads would cost more to start than they could save.
  const reader = await openReader(reporter, { config: opts.config, metricsPort: opts.metricsPort, inline: true });
  try {
    const t0 = performance.now();
    let o: StreamOutcome;
    let verified: boolean;
    try {
      o = await reader.rp.getStream(key, { signal: ctx.signal, ...(opts.range === undefined ? {} : { range: opts.range }) });
      const progress = createByteProgress(ctx.io.stderr, o.size, key);
      if (progress !== undefined) o.body.on('data', (chunk: Buffer) => progress.add(chunk.byteLength));
      try {
        if (toFile !== undefined) await streamToFile(toFile, o.body);
        else await streamToStdout(ctx.io.stdout, o.body);
      } finally {
        progress?.stop();
      }
      verified = await o.verified;
    } catch (err) {
      if (ctx.signal.aborted) return EXIT.INTERRUPTED;
      reporter.error(err);
      // A key given on the command line that cannot be a key is a usage error.
      return hasCode(err, 'INVALID_KEY') ? EXIT.USAGE : EXIT.FAILED;
    }
    const ms = performance.now() - t0;
    const flags = [verified ? 'verified' : 'not verified', ...(o.failover ? ['failover'] : []), ...(o.degraded ? ['degraded'] : []),
      ...(o.striped ? [`striped over ${o.backends.join(', ')}`] : o.backends.length > 1 ? [`resumed on ${o.backends.slice(1).join(', ')}`] : [])];
    const { body: _body, verified: _verified, backends: _backends, striped: _striped, range: _range, ...head } = o;
    reporter.info('get', { ...successFields(head), verified, ms: Math.round(ms * 100) / 100, output: toFile ?? '-', backends: [...o.backends], striped: o.striped },
      `got ${o.key} from ${o.backend}: ${o.size} bytes, ${flags.join(', ')}, ${formatMs(ms)}${toFile === undefined ? '' : ` -> ${toFile}`}`);
    return EXIT.OK;
  } finally {
    await reader.close();
  }
}

/** A range that cannot be one whatever the object (its syntax, an end before its start) is a usage error. */
function checkRange(range: string): void {
  try {
    checkRangeSyntax(range);
  } catch (err) {
    throw new UsageError(`--range ${(err as Error).message.replace(/^range: /, '')}`);
  }
}

async function checkOutputFile(file: string): Promise<void> {
  const st = await stat(file).catch(() => undefined);
  if (st?.isDirectory() === true) throw new UsageError(`-o ${file}: is a directory (give a file name)`);
  const dir = await stat(path.dirname(path.resolve(file))).catch(() => undefined);
  if (dir?.isDirectory() !== true) throw new UsageError(`-o ${file}: directory ${path.dirname(file)} does not exist`);
}

/**
 * Stream the body into a temporary file beside `file` (created exclusively, so nothing else is
 * overwritten through it, and named as every readpath temporary file is: temp-name.ts), renamed
 * into place only once the body ended — which a verified stream does only after its hash matched.
 * A failed, damaged or interrupted read leaves no file: the temporary file is removed when the
 * read fails, and on the process's exit should it come first (a second Ctrl-C exits at once).
 * A regular file that is replaced keeps its permission bits (a 0600 file stays private; not
 * set-user-ID and the like).
 *
 * FILE that is a symbolic link is written through, as curl -o, wget -O and a shell's `>` do: the
 * link stays, and the file it points to (created when the link dangles) gets the new contents —
 * still through a temporary file beside that file, renamed over it, so it never holds unverified
 * bytes. Renaming over the link itself would silently turn it into a regular file.
 *
 * FILE that exists and is neither a regular file nor a directory — a FIFO, `/dev/null`, a
 * terminal — is written in place as the bytes arrive, like stdout: renaming over it would replace
 * the device or pipe with a regular file.
 */
async function streamToFile(file: string, body: Readable): Promise<void> {
  // Synchronous up to the pipeline: the body starts flowing at once, as it would to stdout.
  const st = statSync(file, { throwIfNoEntry: false });
  if (st !== undefined && !st.isFile()) {
    // No O_CREAT: should it vanish meanwhile, no regular file is made in its place. Asynchronous:
    // a FIFO's open waits for its reader, and Ctrl-C must still be heard meanwhile.
    const out = await open(file, constants.O_WRONLY).catch((err: unknown) => { body.destroy(); throw err; });
    await pipeline(body, out.createWriteStream());
    return;
  }
  const target = st === undefined ? danglingTarget(file) : realpathSync(file);
  const tmp = path.join(path.dirname(target), nextTempName(path.basename(target)));
  let left = true;
  const removeLeftover = (): void => {
    if (!left) return;
    left = false;
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or gone already.
    }
  };
  const unregister = removeOnExit(removeLeftover);
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      // Only the permission bits: a set-user-ID bit must not come to new contents.
      if (st !== undefined) fchmodSync(fd, st.mode & 0o777);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    await pipeline(body, createWriteStream('', { fd }));
    await rename(tmp, target);
    left = false;
  } catch (err) {
    // Nowhere to write (the temporary file could not be made): the body is not read further.
    body.destroy();
    if (left) {
      left = false;
      await unlink(tmp).catch(() => {});
    }
    throw err;
  } finally {
    unregister();
  }
}

/** Symbolic links followed at most, as the kernel's own limit (ELOOP beyond it). */
const MAX_LINK_HOPS = 40;

/**
 * Where a write to `file`, which does not resolve to anything, lands: `file` itself, or the path at
 * the end of its chain of symbolic links (a dangling link), as open(O_CREAT) would create it.
 */
function danglingTarget(file: string): string {
  let at = path.resolve(file);
  for (let hops = 0; hops < MAX_LINK_HOPS; hops++) {
    if (lstatSync(at, { throwIfNoEntry: false })?.isSymbolicLink() !== true) return at;
    at = path.resolve(path.dirname(at), readlinkSync(at));
  }
  throw Object.assign(new Error(`${file}: too many levels of symbolic links`), { code: 'ELOOP' });
}

/** Stream the body to stdout; a reader that goes away (`| head`) ends the read quietly. */
async function streamToStdout(stdout: NodeJS.WritableStream, body: Readable): Promise<void> {
  const out = new Output(stdout);
  for await (const chunk of body) {
    if (out.closed) {
      body.destroy();
      return;
    }
    await out.write(chunk as Buffer);
  }
}
