/** The shapes of the broadcast benchmark harness (API.md §4 `readpath bench`). */
import type { BackendModel } from './latency-spec.js';
import type { Strategy } from './strategies.js';

/** Where probes run. */
export type ExecutorKind = 'inline' | 'pool';

/** The world the bench reads from. */
export type WorldKind = 'sim' | 's3';

/** Options of `runBroadcastBench`, as `readpath bench` flags give them. Everything is optional. */
export interface BenchOptions {
  /** `--world`, default `sim`. */
  world?: WorldKind;
  /** `--backends`, default 3. */
  backends?: number;
  /** `--latency` SPEC; backends not named take const(10). */
  latency?: string;
  /** `--strategies` LIST (or parsed strategies); default {@link DEFAULT_STRATEGIES}. */
  strategies?: string | readonly Strategy[];
  /** `--executor`, default `['inline']`. */
  executors?: readonly ExecutorKind[];
  /** `--reads` measured per cell; default 2000 (sim) / 300 (s3). */
  reads?: number;
  /** `--warmup` reads per cell before measuring; default reads/10 within [20, 200]. */
  warmup?: number;
  /** `--concurrency`: reads in flight per cell; default 16 (sim) / 1 (s3). */
  concurrency?: number;
  /** `--seed` of the latency draws; default 1. */
  seed?: number;
  /**
   * `--rounds`: the measured reads are split into this many rounds, and each round runs every
   * cell in turn, so drift on a busy machine spreads over all cells. Default 1 (sim) / 3 (s3).
   */
  rounds?: number;
  /** `--object-size` in bytes; default 1024. */
  objectSize?: number;
  /** `--percentile` of the hedged:auto delay; default 95. */
  hedgePercentile?: number;
  /** `--max-extra-load` of hedged strategies; default 0.05. */
  maxExtraLoad?: number;
  /** `--threads`: worker threads of the pool executor; default runtime.threads' default. */
  threads?: number;
  /** `--json FILE`: write the results there. */
  json?: string;
  /** `--chart FILE`: write the latency CDF chart (SVG) there. */
  chart?: string;
  /** `--scenario`: a label for the run, shown in the table, JSON and chart. */
  scenario?: string;
  /** Progress lines (one per cell); the CLI sends them to stderr. */
  onProgress?: (line: string) => void;
}

/** {@link BenchOptions} with every default applied and every spec parsed. */
export interface ResolvedBenchOptions {
  world: WorldKind;
  backends: number;
  models: BackendModel[];
  latency: string;
  strategies: Strategy[];
  executors: ExecutorKind[];
  reads: number;
  warmup: number;
  concurrency: number;
  seed: number;
  rounds: number;
  objectSize: number;
  hedgePercentile: number;
  maxExtraLoad: number;
  /** Undefined: the pool's default. */
  threads: number | undefined;
  json: string | undefined;
  chart: string | undefined;
  scenario: string;
}

/** One cell: a strategy with an executor in a world. The first ten fields are API.md's. */
export interface BenchResult {
  world: WorldKind;
  strategy: string;
  executor: ExecutorKind;
  reads: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  readsPerSec: number;
  /** Backend requests per read (cancelled losers included): the load amplification. */
  requestsPerRead: number;
  scenario: string;
  meanMs: number;
  maxMs: number;
  concurrency: number;
  /** Reads that failed (their latency is in the percentiles too). */
  errors: number;
  /** The first failure's message, when there was one. */
  firstError?: string;
  /** Requests each backend received during the measured reads. */
  backendRequests: Record<string, number>;
  /** Usage readpath accounted (what counts against monthly limits) during the measured reads. */
  usage: { apiRequests: number; egressBytes: number };
  hedges: { sent: number; won: number; budgetExhausted: number };
}

/** A cell that could not run, and why. */
export interface SkippedCell {
  strategy: string;
  executor: ExecutorKind;
  reason: string;
}

/** The outcome of a bench run. `toBenchJson` gives its JSON form. */
export interface BenchReport {
  scenario: string;
  world: WorldKind;
  latency: string;
  seed: number;
  concurrency: number;
  objectSize: number;
  rounds: number;
  /** Worker threads of the pool executor's cells; null when no pool cell ran. */
  poolThreads: number | null;
  node: string;
  startedAt: string;
  durationMs: number;
  results: BenchResult[];
  skipped: SkippedCell[];
  /** Ascending latency samples (ms) of each result, by index; not part of the JSON. */
  samples: Float64Array[];
}
