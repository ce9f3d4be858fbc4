/**
 * The bench chart: hand-written SVG, no dependencies. Two panels share a log latency axis:
 * the CDF (where most reads land) and the tail on a "nines" scale (p90, p99, p99.9 evenly
 * spaced), where strategies differ most. One line per cell: colour by strategy, dashes for
 * the pool executor; the legend carries each line's p50/p99 and requests per read.
 */
import { cdfPoints } from './stats.js';
import type { BenchReport } from './types.js';

const W = 1000;
const PANEL_TOP = 86;
const PANEL_H = 330;
const LEFT_X = 70;
const PANEL_W = 400;
const GAP = 90;
const RIGHT_X = LEFT_X + PANEL_W + GAP;
const MAX_NINES = 3.3;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1-2-5 ticks covering [lo, hi]. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

function fmtMs(v: number): string {
  if (v >= 1000) return `${v / 1000}s`;
  return v >= 1 ? String(v) : v.toPrecision(1);
}

/** The largest 1-2-5 value <= v. */
function niceFloor(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return ([5, 2, 1].find((m) => m * e <= v) ?? 1) * e;
}

/** The smallest 1-2-5 value >= v. */
function niceCeil(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * e >= v * 0.9999) ?? 10) * e;
}

const nines = (f: number): number => Math.min(MAX_NINES, -Math.log10(Math.max(1e-9, 1 - f)));
/** The tail panel starts at the median: below it every strategy looks the same. */
const TAIL_FROM = nines(0.5);

/** Render the report's latency CDFs as an SVG document. */
export function renderCdfSvg(report: BenchReport): string {
  let lo = Infinity;
  let hi = 0;
  for (const s of report.samples) {
    if (s.length === 0) continue;
    lo = Math.min(lo, s[0] as number);
    hi = Math.max(hi, s[s.length - 1] as number);
  }
  if (!Number.isFinite(lo)) {
    lo = 1;
    hi = 10;
  }
  const xMin = niceFloor(Math.max(0.05, lo));
  const xMax = Math.max(niceCeil(hi * 1.02), xMin * 10);
  const lx = (v: number, x0: number): number => x0 + ((Math.log10(Math.max(v, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * PANEL_W;
  const yCdf = (f: number): number => PANEL_TOP + PANEL_H - f * PANEL_H;
  const yTail = (f: number): number => PANEL_TOP + PANEL_H - (Math.max(0, nines(f) - TAIL_FROM) / (MAX_NINES - TAIL_FROM)) * PANEL_H;

  const legendTop = PANEL_TOP + PANEL_H + 58;
  const H = legendTop + report.results.length * 20 + 8;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  // Long scenario names shrink rather than run off the canvas.
  const titleSize = Math.max(11, Math.min(19, Math.floor((19 * 80) / Math.max(1, report.scenario.length))));
  parts.push(`<text x="${W / 2}" y="30" font-size="${titleSize}" font-weight="bold" text-anchor="middle">${esc(report.scenario)}</text>`);
  const sub = `${report.world} world · ${report.latency} · ${report.results[0]?.reads ?? 0} reads/cell · concurrency ${report.concurrency} · seed ${report.seed}`;
  parts.push(`<text x="${W / 2}" y="52" font-size="12" fill="#444" text-anchor="middle">${esc(sub)}</text>`);

  const ticks = logTicks(xMin, xMax);
  for (const [x0, title] of [[LEFT_X, 'Latency CDF'], [RIGHT_X, 'Tail from the median: percentile on a nines scale']] as const) {
    parts.push(`<text x="${x0 + PANEL_W / 2}" y="${PANEL_TOP - 10}" font-size="14" font-weight="bold" text-anchor="middle">${title}</text>`);
    parts.push(`<rect x="${x0}" y="${PANEL_TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="#fafafa" stroke="#888"/>`);
    for (const t of ticks) {
      const x = lx(t, x0).toFixed(1);
      parts.push(`<line x1="${x}" y1="${PANEL_TOP}" x2="${x}" y2="${PANEL_TOP + PANEL_H}" stroke="#e2e2e2"/>`);
      parts.push(`<text x="${x}" y="${PANEL_TOP + PANEL_H + 16}" font-size="11" text-anchor="middle">${fmtMs(t)}</text>`);
    }
    parts.push(`<text x="${x0 + PANEL_W / 2}" y="${PANEL_TOP + PANEL_H + 34}" font-size="12" text-anchor="middle">latency (ms, log scale)</text>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const y = yCdf(f).toFixed(1);
    parts.push(`<line x1="${LEFT_X}" y1="${y}" x2="${LEFT_X + PANEL_W}" y2="${y}" stroke="#e2e2e2"/>`);
    parts.push(`<text x="${LEFT_X - 6}" y="${(+y + 4).toFixed(1)}" font-size="11" text-anchor="end">${f}</text>`);
  }
  parts.push(`<text x="18" y="${PANEL_TOP + PANEL_H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 ${PANEL_TOP + PANEL_H / 2})">fraction of reads ≤ latency</text>`);
  for (const [f, label] of [[0.5, 'p50'], [0.75, 'p75'], [0.9, 'p90'], [0.95, 'p95'], [0.99, 'p99'], [0.999, 'p99.9']] as const) {
    const y = yTail(f).toFixed(1);
    parts.push(`<line x1="${RIGHT_X}" y1="${y}" x2="${RIGHT_X + PANEL_W}" y2="${y}" stroke="#e2e2e2"/>`);
    parts.push(`<text x="${RIGHT_X - 6}" y="${(+y + 4).toFixed(1)}" font-size="11" text-anchor="end">${label}</text>`);
  }

  const strategies = [...new Set(report.results.map((r) => r.strategy))];
  const legend: string[] = [];
  report.results.forEach((r, i) => {
    const s = report.samples[i];
    if (s === undefined || s.length === 0) return;
    const color = PALETTE[strategies.indexOf(r.strategy) % PALETTE.length] as string;
    const dash = r.executor === 'pool' ? ' stroke-dasharray="7 4"' : '';
    const pts = cdfPoints(s, 200);
    const path = (x0: number, y: (f: number) => number): string => {
      // A step CDF: horizontal to each sample, then up; points that do not move are dropped.
      let px = lx(pts[0]?.[0] ?? xMin, x0).toFixed(1);
      let py = y(0).toFixed(1);
      let d = `M${px},${py}`;
      for (const [v, f] of pts) {
        const x = lx(v, x0).toFixed(1);
        const yy = y(f).toFixed(1);
        if (x !== px) d += `H${x}`;
        if (yy !== py) d += `V${yy}`;
        px = x;
        py = yy;
      }
      return d;
    };
    parts.push(`<path d="${path(LEFT_X, yCdf)}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    parts.push(`<path d="${path(RIGHT_X, yTail)}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    const ms = (v: number): string => v.toFixed(v < 10 ? 2 : 1);
    const name = `${r.strategy}${report.results.some((x) => x.executor === 'pool') ? ` (${r.executor})` : ''}`;
    const stats = `p50 ${ms(r.p50Ms)} · p99 ${ms(r.p99Ms)} · p99.9 ${ms(r.p999Ms)} ms · ${r.requestsPerRead.toFixed(3)} req/read${r.errors > 0 ? ` · ${r.errors} failed` : ''}`;
    legend.push(`${name}|${color}|${dash}|${stats}`);
  });
  legend.forEach((entry, i) => {
    const [name, color, dash, stats] = entry.split('|') as [string, string, string, string];
    const x = LEFT_X;
    const y = legendTop + i * 20;
    parts.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 28}" y2="${y - 4}" stroke="${color}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${x + 36}" y="${y}" font-size="12" font-weight="bold">${esc(name)}</text>`);
    parts.push(`<text x="${x + 210}" y="${y}" font-size="12">${esc(stats)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
