/** Percentiles and CDF points of latency samples. */

/** Nearest-rank percentile (p in (0, 100]) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] as number;
}

/** Mean of samples; NaN when empty. */
export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] as number;
  return s / xs.length;
}

/** Round to `digits` decimals (JSON and tables want stable, short numbers). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * At most `maxPoints` points of the empirical CDF of ascending `sorted`: `[latencyMs, fraction]`,
 * always keeping the last 1% of samples in full, where the tail lives.
 */
export function cdfPoints(sorted: ArrayLike<number>, maxPoints = 400): Array<[number, number]> {
  const n = sorted.length;
  if (n === 0) return [];
  const out: Array<[number, number]> = [];
  const tailFrom = Math.max(0, Math.floor(n * 0.99) - 1);
  const step = Math.max(1, Math.floor(tailFrom / Math.max(1, maxPoints - Math.min(n - tailFrom, maxPoints / 2))));
  for (let i = 0; i < n; i++) {
    if (i < tailFrom && i % step !== 0) continue;
    out.push([sorted[i] as number, (i + 1) / n]);
  }
  return out;
}
