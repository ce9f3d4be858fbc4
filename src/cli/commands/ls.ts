/**
 * `readpath ls [PREFIX] [-c CONFIG] [--ndjson] [--max N]`: what the metadata store holds under a
 * prefix — each key once, in S3's order, with the size a reader gets (the plaintext size of an
 * encrypted object) and the time of the copy reads try first. Pages of 1000 from the store,
 * written as they come: any number of keys in constant memory. No backend is asked.
 */
import { listAll } from '../../stores/key-listing.js';
import { EXIT } from '../errors.js';
import { printableKey } from '../outcome-format.js';
import { Output } from '../output.js';
import { openReader } from '../reader.js';
import type { CommandContext } from './context.js';

/** Options of `ls`. */
export interface LsCommandOptions {
  config?: string | undefined;
  ndjson: boolean;
  /** Stop after this many keys. */
  max?: number | undefined;
}

const PAGE = 1000;

/** Run `ls`; resolves to the exit code. */
export async function runLs(ctx: CommandContext, prefix: string, opts: LsCommandOptions): Promise<number> {
  const reader = await openReader(ctx.reporter, { config: opts.config, inline: true });
  const out = new Output(ctx.io.stdout);
  let listed = 0;
  try {
    // No page larger than --max asks for.
    const pageSize = Math.min(PAGE, opts.max ?? PAGE);
    for await (const o of listAll((p) => reader.rp.listKeys(p), prefix, { signal: ctx.signal, pageSize })) {
      const when = o.lastModified.toISOString();
      await out.queue(opts.ndjson
        ? `${JSON.stringify({ key: o.key, size: o.size, lastModified: when })}\n`
        : `${when.slice(0, 19).replace('T', ' ')}  ${String(o.size).padStart(12)}  ${printableKey(o.key)}\n`);
      if (++listed === opts.max) break;
    }
    await out.flush();
    return EXIT.OK;
  } catch (err) {
    await out.flush();
    if (ctx.signal.aborted) return EXIT.INTERRUPTED;
    ctx.reporter.error(err, `ls stopped after ${listed} key${listed === 1 ? '' : 's'}`);
    return EXIT.FAILED;
  } finally {
    await reader.close();
  }
}
