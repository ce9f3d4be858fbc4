/**
 * `npm run bench`'s issue-6 targets: which figures of which scenarios are compared, against what
 * limit, and whether each is met (PASS) or not (MISS). Apart from run-all.ts so it can be tested
 * on made-up figures.
 */
import type { BenchReport, BenchResult } from './harness/index.js';

function cell(r: BenchReport | undefined, strategy: string, executor = 'inline'): BenchResult | undefined {
  return r?.results.find((x) => x.strategy === strategy && x.executor === executor);
}

/** One target checked: `ok` is PASS, else MISS. */
export interface TargetRow {
  target: string;
  executor: string;
  measured: string;
  limit: string;
  ok: boolean;
}

/**
 * The issue-6 target rows from `reports` (scenario name -> report), for each of `executors`. A
 * target whose scenario or cells were not run has no row; one whose figures are not finite
 * numbers (NaN, a missing field) is a miss, never a pass.
 */
export function targets(reports: ReadonlyMap<string, BenchReport>, executors: readonly string[]): TargetRow[] {
  const rows: TargetRow[] = [];
  // A figure missing from a report reads as undefined: printed as such, not a TypeError at the
  // end of a run of minutes.
  const fmt = (n: number, d = 2): string => (typeof n === 'number' ? n.toFixed(d) : String(n));
  // Only a finite figure at or under a finite limit passes: NaN, undefined or Infinity miss.
  const within = (measured: number, limit: number): boolean => Number.isFinite(measured) && Number.isFinite(limit) && measured <= limit;
  for (const ex of executors) {
    const fastest = reports.get('fastest');
    const direct = cell(fastest, 'direct:b2');
    const par = cell(fastest, 'parallel', ex);
    if (direct && par) {
      const limit = 1.1 * direct.p50Ms + 0.5;
      rows.push({ target: 'parallel p50 ≤ 1.1 × fastest backend alone (+0.5 ms)', executor: ex, measured: `${fmt(par.p50Ms)} ms (fastest alone ${fmt(direct.p50Ms)} ms)`, limit: `${fmt(limit)} ms`, ok: within(par.p50Ms, limit) });
    }
    const down = reports.get('first-down');
    const fail = cell(down, 'direct:b1');
    const win = cell(down, 'direct:b2');
    const seq = cell(down, 'sequential', ex);
    if (fail && win && seq) {
      const base = fail.p50Ms + win.p50Ms;
      rows.push({ target: 'sequential, first down: p50 ≤ 1.02 × (failure time + winner latency)', executor: ex, measured: `${fmt(seq.p50Ms)} ms (${fmt(fail.p50Ms)} + ${fmt(win.p50Ms)} = ${fmt(base)} ms)`, limit: `${fmt(1.02 * base)} ms`, ok: within(seq.p50Ms, 1.02 * base) });
    }
    const tail = reports.get('heavy-tail');
    const tseq = cell(tail, 'sequential', ex);
    const hedged = cell(tail, 'hedged:auto', ex);
    if (tseq && hedged) {
      rows.push({ target: 'heavy tail: hedged:auto p99 ≤ 0.35 × sequential p99', executor: ex, measured: `${fmt(hedged.p99Ms)} ms vs ${fmt(tseq.p99Ms)} ms (${fmt(hedged.p99Ms / tseq.p99Ms)}×)`, limit: `${fmt(0.35 * tseq.p99Ms)} ms`, ok: within(hedged.p99Ms, 0.35 * tseq.p99Ms) });
      rows.push({ target: 'heavy tail: hedged:auto ≤ 1.06 backend requests per read', executor: ex, measured: fmt(hedged.requestsPerRead, 3), limit: '1.06', ok: within(hedged.requestsPerRead, 1.06) });
    }
    for (const [name, fastest, where] of [['s3', 'direct:b2', 'fastest 2nd of 3'], ['s3-first', 'direct:b1', 'fastest 1st of 3']] as const) {
      const s3 = reports.get(name);
      const sdirect = cell(s3, fastest);
      const spar = cell(s3, 'parallel', ex);
      if (sdirect && spar) {
        rows.push({ target: `s3 (${where}): parallel p50 ≤ 1.15 × direct SDK GET against the fastest`, executor: ex, measured: `${fmt(spar.p50Ms)} ms vs ${fmt(sdirect.p50Ms)} ms (${fmt(spar.p50Ms / sdirect.p50Ms)}×)`, limit: `${fmt(1.15 * sdirect.p50Ms)} ms`, ok: within(spar.p50Ms, 1.15 * sdirect.p50Ms) });
      }
    }
  }
  return rows;
}
