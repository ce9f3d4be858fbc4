/**
 * bench/targets.ts: run-all's PASS/MISS decisions on made-up figures — each target at its
 * boundary (equal passes, just over misses), a scenario or cell not run (no row), and figures
 * that are NaN or missing (a miss, never a pass, and no crash).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BenchReport, BenchResult } from '../../bench/harness/index.js';
import { targets, type TargetRow } from '../../bench/targets.js';

function result(strategy: string, executor: 'inline' | 'pool', f: Partial<BenchResult>): BenchResult {
  return {
    world: 'sim', strategy, executor, reads: 100, p50Ms: 10, p95Ms: 10, p99Ms: 10, p999Ms: 10, readsPerSec: 1000, requestsPerRead: 1,
    scenario: 'x', meanMs: 10, maxMs: 10, concurrency: 16, errors: 0, backendRequests: {}, usage: { apiRequests: 0, egressBytes: 0 },
    hedges: { sent: 0, won: 0, budgetExhausted: 0 }, ...f,
  };
}

function report(results: BenchResult[]): BenchReport {
  return {
    scenario: 'x', world: 'sim', latency: '', seed: 1, concurrency: 16, objectSize: 0, rounds: 1, poolThreads: null, node: process.version,
    startedAt: '', durationMs: 0, results, skipped: [], samples: [],
  };
}

/** Every scenario with the figures given; the target rows for the inline executor. */
function rows(f: { direct?: number; par?: number; fail?: number; win?: number; seq?: number; tseq99?: number; hedged99?: number; rpr?: number; s3direct?: number; s3par?: number }): TargetRow[] {
  const reports = new Map<string, BenchReport>([
    ['fastest', report([result('direct:b2', 'inline', { p50Ms: f.direct ?? 10 }), result('parallel', 'inline', { p50Ms: f.par ?? 10 })])],
    ['first-down', report([result('direct:b1', 'inline', { p50Ms: f.fail ?? 5 }), result('direct:b2', 'inline', { p50Ms: f.win ?? 10 }), result('sequential', 'inline', { p50Ms: f.seq ?? 15 })])],
    ['heavy-tail', report([result('sequential', 'inline', { p99Ms: f.tseq99 ?? 100 }), result('hedged:auto', 'inline', { p99Ms: f.hedged99 ?? 20, requestsPerRead: f.rpr ?? 1.02 })])],
    ['s3', report([result('direct:b2', 'inline', { p50Ms: f.s3direct ?? 10 }), result('parallel', 'inline', { p50Ms: f.s3par ?? 10 })])],
  ]);
  return targets(reports, ['inline']);
}

const verdict = (rs: TargetRow[], target: RegExp): boolean => {
  const r = rs.find((x) => target.test(x.target));
  assert.ok(r !== undefined, `no row ${String(target)} in ${JSON.stringify(rs.map((x) => x.target))}`);
  return r.ok;
};
const up = (x: number): number => x + Math.max(Number.EPSILON, Math.abs(x) * 1e-12);

test('targets: each limit is met at equality and missed just over it', () => {
  const ok = rows({});
  assert.equal(ok.length, 5, JSON.stringify(ok));
  assert.ok(ok.every((r) => r.ok), JSON.stringify(ok));
  const cases: Array<[RegExp, Parameters<typeof rows>[0], Parameters<typeof rows>[0]]> = [
    [/^parallel p50/, { direct: 10, par: 1.1 * 10 + 0.5 }, { direct: 10, par: up(1.1 * 10 + 0.5) }],
    [/^sequential, first down/, { fail: 5, win: 10, seq: 1.02 * 15 }, { fail: 5, win: 10, seq: up(1.02 * 15) }],
    [/hedged:auto p99/, { tseq99: 100, hedged99: 0.35 * 100 }, { tseq99: 100, hedged99: up(0.35 * 100) }],
    [/backend requests per read/, { rpr: 1.06 }, { rpr: up(1.06) }],
    [/^s3 \(fastest 2nd/, { s3direct: 10, s3par: 1.15 * 10 }, { s3direct: 10, s3par: up(1.15 * 10) }],
  ];
  for (const [target, at, over] of cases) {
    assert.equal(verdict(rows(at), target), true, `${String(target)} at the limit`);
    assert.equal(verdict(rows(over), target), false, `${String(target)} over the limit`);
  }
});

test('targets: NaN or missing figures miss (never pass, never throw); a target not run has no row', () => {
  for (const f of [{ par: Number.NaN }, { direct: Number.NaN }, { seq: Number.NaN }, { fail: Number.NaN }, { hedged99: Number.NaN }, { tseq99: Number.NaN }, { rpr: Number.NaN }, { s3par: Number.POSITIVE_INFINITY }]) {
    const rs = rows(f);
    assert.equal(rs.length, 5);
    assert.equal(rs.filter((r) => !r.ok).length >= 1, true, `${JSON.stringify(f)}: ${JSON.stringify(rs)}`);
  }
  // A field absent from a cell (a report of another shape) reads as undefined.
  const broken = new Map<string, BenchReport>([['heavy-tail', report([result('sequential', 'inline', { p99Ms: 100 }), { ...result('hedged:auto', 'inline', {}), p99Ms: undefined, requestsPerRead: undefined } as unknown as BenchResult])]]);
  const rs = targets(broken, ['inline']);
  assert.deepEqual(rs.map((r) => r.ok), [false, false], JSON.stringify(rs));
  // No pool cells, no first-down scenario: no rows for them rather than a guess.
  const fastestOnly = new Map([['fastest', report([result('direct:b2', 'inline', {}), result('parallel', 'inline', {})])]]);
  assert.deepEqual(targets(fastestOnly, ['inline', 'pool']).map((r) => r.executor), ['inline']);
  assert.deepEqual(targets(new Map(), ['inline']), []);
});
