/**
 * `readpath get KEY [-c CONFIG] [-o FILE|-]`: the body to FILE (or stdout), one outcome line
 * on stderr.
 */
import { rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hasCode } from '../../errors.js';
import { EXIT, UsageError } from '../errors.js';
import { successFields } from '../outcome-format.js';
import { Output } from '../output.js';
import { openReader } from '../reader.js';
import { formatMs } from '../summary.js';
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
  if (toFile !== undefined) await checkOutputFile(toFile);
  const reader = await openReader(reporter, { config: opts.config, metricsPort: opts.metricsPort });
  try {
    const t0 = performance.now();
    let o;
    try {
      o = await reader.rp.get(key, { signal: ctx.signal, ...(opts.range === undefined ? {} : { range: opts.range }) });
    } catch (err) {
      if (ctx.signal.aborted) return EXIT.INTERRUPTED;
      reporter.error(err);
      // A key given on the command line that cannot be a key is a usage error.
      return hasCode(err, 'INVALID_KEY') ? EXIT.USAGE : EXIT.FAILED;
    }
    const ms = performance.now() - t0;
    if (toFile !== undefined) {
      await writeAtomically(toFile, o.body);
    } else {
      await new Output(ctx.io.stdout).write(o.body);
    }
    const flags = [o.verified ? 'verified' : 'not verified', ...(o.failover ? ['failover'] : []), ...(o.degraded ? ['degraded'] : [])];
    reporter.info('get', { ...successFields(o), ms: Math.round(ms * 100) / 100, output: toFile ?? '-' },
      `got ${o.key} from ${o.backend}: ${o.size} bytes, ${flags.join(', ')}, ${formatMs(ms)}${toFile === undefined ? '' : ` -> ${toFile}`}`);
    return EXIT.OK;
  } finally {
    await reader.close();
  }
}

async function checkOutputFile(file: string): Promise<void> {
  const st = await stat(file).catch(() => undefined);
  if (st?.isDirectory() === true) throw new UsageError(`-o ${file}: is a directory (give a file name)`);
  const dir = await stat(path.dirname(path.resolve(file))).catch(() => undefined);
  if (dir?.isDirectory() !== true) throw new UsageError(`-o ${file}: directory ${path.dirname(file)} does not exist`);
}

/** Write to a temporary file beside `file`, then rename: no half-written file is ever left. */
async function writeAtomically(file: string, body: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.readpath-${process.pid}.tmp`);
  try {
    await writeFile(tmp, body);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
