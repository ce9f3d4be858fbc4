/**
 * `readpath bench [...]`: the broadcast benchmark harness (API.md §4, bench/harness/). Its flags,
 * `--help` and output are the harness's own (`benchMain`); it is imported only when this
 * command runs, since it pulls in tinybench and the simulated worlds no other command needs.
 */
import type { CommandContext } from './context.js';

/** Run `bench` with its own arguments (everything after `bench`); resolves to the exit code. */
export async function runBenchCommand(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const { benchMain } = await import('../../../bench/harness/index.js');
  return benchMain(argv, { stdout: ctx.io.stdout, stderr: ctx.io.stderr });
}
