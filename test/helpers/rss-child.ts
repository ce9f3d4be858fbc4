/**
 * Run a TypeScript script in a fresh Node process (under tsx, from the repository root, as
 * run-ts-child.ts does) and learn its peak resident set size (bench/large/peak-rss.ts): for
 * memory-bound tests of streaming. The figure includes tsx's footprint (~60–90 MiB here).
 */
import { fileURLToPath } from 'node:url';
import { runWithPeakRss as runNode, type PeakRssOptions, type PeakRssResult } from '../../bench/large/peak-rss.js';

export type { PeakRssOptions, PeakRssResult } from '../../bench/large/peak-rss.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `node [nodeArgs] --import tsx SCRIPT ...args` in the repository root, with its peak RSS. */
export function runWithPeakRss(script: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env, opts: PeakRssOptions = {}): Promise<PeakRssResult> {
  return runNode(script, args, env, { ...opts, cwd: ROOT, nodeArgs: [...(opts.nodeArgs ?? []), '--import', 'tsx'] });
}
