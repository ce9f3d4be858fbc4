/**
 * fast-check run parameters shared by the property and fuzz suites, with replay from the
 * environment. A failing property prints its seed and path, e.g.
 *
 *   Property failed after 37 tests
 *   { seed: 1234567, path: "36:2:0", endOnFailure: true }
 *
 * Replay exactly that case (and only it) with:
 *
 *   READPATH_FC_SEED=1234567 READPATH_FC_PATH=36:2:0 node --import tsx --test test/property/failover.property.test.ts
 *
 * READPATH_FC_RUNS=N overrides every suite's run count (e.g. 5000 for a long local hunt);
 * READPATH_FC_VERBOSE=1 prints every generated case of a failure.
 */
import type { Parameters } from 'fast-check';

function intEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Parameters for `fc.assert`: `runs` by default, the environment's seed/path/runs when set. */
export function fcParams<T>(runs: number): Parameters<T> {
  const seed = intEnv('READPATH_FC_SEED');
  const path = process.env.READPATH_FC_PATH;
  const p: Parameters<T> = { numRuns: intEnv('READPATH_FC_RUNS') ?? runs, includeErrorInReport: true };
  if (seed !== undefined) p.seed = seed;
  if (path !== undefined && path !== '') p.path = path;
  if (process.env.READPATH_FC_VERBOSE === '1') p.verbose = 2;
  return p;
}
