/**
 * The few helpers the encryption and compression benches share: means, number
 * formatting, this process's CPU time, and one round of variants measured side by side.
 */
import { Bench } from 'tinybench';

/** A line on stderr (stdout carries the report). */
export function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/** `n` with `d` decimals and thousands separators. */
export function fmt(n: number, d = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** CPU time of this process so far (user + system, all threads), ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** `xs` rotated left by `n` places: each round starts with another variant. */
export function rotated<T>(xs: readonly T[], n: number): T[] {
  const k = ((n % xs.length) + xs.length) % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** What one variant measured in one round. */
export interface VariantSamples {
  /** Wall time per run, ms (tinybench's samples). */
  ms: number[];
  /** This process's CPU time per run, ms. */
  cpu: number[];
}

/** A row of a side-by-side table: how it reads a variant's key, and its samples by variant so far. */
export interface MeasuredCell {
  read: string;
  runtime: string;
  run: (key: string) => Promise<void>;
  ms: Record<string, number[]>;
  cpu: Record<string, number[]>;
}

/**
 * One cell of one round: each variant (`[name, key, …]`, in `order`) read `iterations` times with
 * the cell's `run`, by one tinybench; the samples are added to the cell's unless it is a warm-up
 * round (`keep` false), and returned by variant. Throws when a variant has none.
 */
export async function measureRound(cell: MeasuredCell, order: readonly (readonly [string, string, ...unknown[]])[], iterations: number, keep: boolean): Promise<Record<string, VariantSamples>> {
  const bench = new Bench({ iterations, time: 0, warmup: false, retainSamples: true, throws: true });
  const cpu: Record<string, number[]> = {};
  for (const [variant, key] of order) {
    bench.add(variant, async () => {
      const c0 = cpuMs();
      await cell.run(key);
      (cpu[variant] ??= []).push(cpuMs() - c0);
    });
  }
  await bench.run();
  const out: Record<string, VariantSamples> = {};
  for (const t of bench.tasks) {
    const samples = [...((t.result as unknown as { latency?: { samples?: number[] } }).latency?.samples ?? [])];
    if (samples.length === 0) throw new Error(`${cell.read} ${cell.runtime} ${t.name}: no samples`);
    const got = { ms: samples, cpu: cpu[t.name] ?? [] };
    out[t.name] = got;
    if (keep) {
      (cell.ms[t.name] ??= []).push(...got.ms);
      (cell.cpu[t.name] ??= []).push(...got.cpu);
    }
  }
  return out;
}
