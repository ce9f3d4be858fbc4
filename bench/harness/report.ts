/** The bench's table for people. */
import type { BenchReport, BenchResult } from './types.js';

function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

const COLUMNS: Array<{ head: string; right: boolean; cell: (r: BenchResult) => string }> = [
  { head: 'strategy', right: false, cell: (r) => r.strategy },
  { head: 'executor', right: false, cell: (r) => r.executor },
  { head: 'reads', right: true, cell: (r) => String(r.reads) },
  { head: 'p50 ms', right: true, cell: (r) => fmt(r.p50Ms) },
  { head: 'p95 ms', right: true, cell: (r) => fmt(r.p95Ms) },
  { head: 'p99 ms', right: true, cell: (r) => fmt(r.p99Ms) },
  { head: 'p99.9 ms', right: true, cell: (r) => fmt(r.p999Ms) },
  { head: 'reads/s', right: true, cell: (r) => fmt(r.readsPerSec, 0) },
  { head: 'req/read', right: true, cell: (r) => fmt(r.requestsPerRead, 3) },
  { head: 'usage req', right: true, cell: (r) => String(r.usage.apiRequests) },
  { head: 'hedges sent/won', right: true, cell: (r) => (r.strategy.startsWith('hedged') ? `${r.hedges.sent}/${r.hedges.won}` : '-') },
  { head: 'failed', right: true, cell: (r) => String(r.errors) },
];

/** A plain-text table of the report's cells, with a header naming the scenario. */
export function formatBenchTable(report: BenchReport): string {
  const rows = report.results.map((r) => COLUMNS.map((c) => c.cell(r)));
  const widths = COLUMNS.map((c, i) => Math.max(c.head.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (COLUMNS[i]?.right ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number))).join('  ').trimEnd();
  const out = [
    `${report.scenario}`,
    `  ${report.world} world, ${report.latency}, concurrency ${report.concurrency}, seed ${report.seed}, ${report.objectSize} B objects` +
      (report.poolThreads === null ? '' : `, pool ${report.poolThreads} thread(s)`),
    '',
    line(COLUMNS.map((c) => c.head)),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  for (const s of report.skipped) out.push(`skipped: ${s.strategy} (${s.executor}): ${s.reason}`);
  return out.join('\n') + '\n';
}
