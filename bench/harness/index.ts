// The broadcast benchmark harness (API.md §4 `readpath bench`): re-exports only.
export { benchMain, type BenchIO } from './main.js';
export { runBroadcastBench, toBenchJson, benchKeys } from './runner.js';
export { parseBenchArgs, resolveBenchOptions, parseExecutors, BENCH_USAGE, type ParsedBenchArgs } from './options.js';
export { formatBenchTable } from './report.js';
export { renderCdfSvg } from './chart.js';
export { parseLatencySpec, parseDist, formatLatencySpec, sampleModel, DEFAULT_LATENCY, type BackendModel, type LatencyTerm, type Sample } from './latency-spec.js';
export { parseStrategies, parseStrategy, strategyName, failoverOptionsFor, DEFAULT_STRATEGIES, type Strategy, type HedgeTuning } from './strategies.js';
export { SimBackend, createBackends as createSimBackends, simWorldData, type SimWorldData } from './sim-world.js';
export { LatencyProxy, type LatencyProxyOptions } from './latency-proxy.js';
export { percentile, cdfPoints } from './stats.js';
export type { BenchOptions, ResolvedBenchOptions, BenchResult, BenchReport, SkippedCell, ExecutorKind, WorldKind } from './types.js';
