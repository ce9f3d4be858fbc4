/** `readpath head KEY [-c CONFIG]`: one JSON object on stdout. */
import { hasCode } from '../../errors.js';
import { EXIT } from '../errors.js';
import { successFields } from '../outcome-format.js';
import { Output } from '../output.js';
import { openReader } from '../reader.js';
import type { CommandContext } from './context.js';

/** Options of `head`. */
export interface HeadCommandOptions {
  config?: string | undefined;
  metricsPort?: number | undefined;
}

/** Run `head`; resolves to the exit code. */
export async function runHead(ctx: CommandContext, key: string, opts: HeadCommandOptions): Promise<number> {
  const reader = await openReader(ctx.reporter, { config: opts.config, metricsPort: opts.metricsPort, inline: true });
  try {
    let o;
    try {
      o = await reader.rp.head(key, { signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) return EXIT.INTERRUPTED;
      ctx.reporter.error(err);
      return hasCode(err, 'INVALID_KEY') ? EXIT.USAGE : EXIT.FAILED;
    }
    await new Output(ctx.io.stdout).write(`${JSON.stringify(successFields(o))}\n`);
    return EXIT.OK;
  } finally {
    await reader.close();
  }
}
