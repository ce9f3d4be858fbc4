/** `readpath demo [--objects N] [--concurrency N]`: see src/cli/demo/run-demo.ts. */
import { runDemo } from '../demo/run-demo.js';
import { EXIT } from '../errors.js';
import type { CommandContext } from './context.js';

/** Options of `demo`. */
export interface DemoCommandOptions {
  objects: number;
  concurrency: number;
  executor: 'inline' | 'pool';
}

/** Run the demo; resolves to the exit code (1 when any read failed). */
export async function runDemoCommand(ctx: CommandContext, opts: DemoCommandOptions): Promise<number> {
  const out = (line: string): void => {
    ctx.io.stdout.write(`${ctx.reporter.scrubber.scrub(line)}\n`);
  };
  try {
    const report = await runDemo({
      objects: opts.objects,
      concurrency: opts.concurrency,
      executor: opts.executor,
      out,
      signal: ctx.signal,
      logger: ctx.reporter.readerLogger('warn'),
    });
    if (ctx.reporter.json) ctx.reporter.info('demo report', { report });
    return report.phases.some((p) => p.totals.failed > 0 || p.mismatches > 0) ? EXIT.FAILED : EXIT.OK;
  } catch (err) {
    if (ctx.signal.aborted) {
      ctx.reporter.info('demo interrupted', {}, 'demo interrupted');
      return EXIT.INTERRUPTED;
    }
    throw err;
  }
}
