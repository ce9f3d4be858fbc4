// Public entry point: re-exports only.
export * from './errors.js';
export * from './types.js';
export { Recorder, METRIC, DEFAULT_BUCKETS, type Labels, type MetricFamily } from './telemetry/recorder.js';
export { UsageTracker, usagePeriod, type UsageLimits, type UsageStat, type UsageDelta, type UsageTrackerOptions } from './policies/usage-tracker.js';
export { MemoryBackend, parseByteRange, type MemoryObjectMeta } from './backends/memory-backend.js';
export { MemoryMetadataStore } from './stores/memory-store.js';
export { MemoryLocationCache, type MemoryLocationCacheOptions } from './cache/memory-location-cache.js';
export { Failover, type FailoverOptions, type ReadOutcome, type ReadPathKind } from './engine/failover.js';
export { headProbe, getProbe, verifyBody, sha256Hex, type FetchedObject, type GetProbeOptions } from './probe/probes.js';
export { ProbeRun, type ProbeFailure, type RunOutcome, type ProbeRunOptions } from './engine/race.js';
export type { Candidate, HedgePolicy } from './engine/plan.js';
export type { Timers } from './engine/timers.js';
export { classifyBroadcastFailure, type BroadcastVerdict } from './engine/verdicts.js';
export { S3Backend, mapS3Error, DEFAULT_BACKEND_TIMEOUT_MS, DEFAULT_MAX_SOCKETS, type S3BackendOptions, type SocketStats } from './backends/s3-backend.js';
export { CircuitBreakerBackend, classifyBackendError, isBreakerRejection, type BackendBreakerOptions, type BreakerState, type Verdict as BreakerVerdict } from './policies/backend-breaker.js';
export { collectBody, discardBody, bodyError, readBody as readGetResultBody, type CollectBodyOptions } from './backends/body.js';
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from './stores/sqlite-store.js';
export { PostgresMetadataStore, isPostgresUnavailable, postgresPoolConfig, type PostgresMetadataStoreOptions, type PostgresConnectionOptions, type PostgresSslMode } from './stores/postgres-store.js';
export { CircuitBreakerStore, isStoreOutage, type CircuitBreakerStoreOptions, type StoreBreakerState } from './policies/store-breaker.js';
export { MemoryUsageStore } from './stores/memory-usage-store.js';
export { type UsageStore } from './stores/usage-store.js';
export { UsageFlusher, type UsageFlusherOptions } from './policies/usage-flusher.js';
export { ReadPath, type GetOutcome, type HeadOutcome, type BatchOutcome, type ReadManyOptions, type OpenOptions } from './read-path.js';
export { runBatch, type BatchError, type RunBatchOptions } from './engine/batch.js';
export { keyProblem, assertValidKey, MAX_KEY_BYTES } from './engine/keys.js';
export { MetricsExporter, METRIC_PREFIX } from './telemetry/metrics.js';
export { createLogger, maskSecrets } from './telemetry/logger.js';
export { loadConfig, validateConfig, type LoadConfigOptions } from './config/load.js';
export { maskConfig, renderConfigForDisplay, toConfigDocument, configSecrets, REDACTED } from './config/mask.js';
export { InvalidConfigError, type ConfigIssue } from './config/issues.js';
export { parseDuration, formatDuration } from './config/duration.js';
export type {
  ReadPathConfig, ReadPathConfigInput, ResolvedConfig, ResolvedBackendConfig, ResolvedDatabaseConfig,
  ResolvedSqliteDatabase, ResolvedPostgresDatabase, ResolvedMemoryDatabase, PgSslMode, LogLevel,
  BackendConfigInput, DatabaseConfigInput, DurationInput,
} from './config/types.js';
export { createHedging, HEDGING_DEFAULTS, type HedgingOptions, type HedgingSnapshot, type HedgePolicyFactory } from './policies/hedging.js';
export { LatencyWindow, type LatencyWindowOptions } from './policies/latency-window.js';
export { HedgeBudget, type HedgeBudgetOptions } from './policies/hedge-budget.js';
export { type ProbeExecutor, type ProbeGetOptions, type TransformedValue, type ExecutorStats, type ExecutorCloseOptions } from './executors/executor.js';
export { InlineExecutor, type InlineExecutorOptions } from './executors/inline.js';
export { PoolExecutor, defaultPoolThreads, defaultWorkerFilename, DEFAULT_TASKS_PER_THREAD, DEFAULT_CLOSE_TIMEOUT_MS, type PoolExecutorOptions, type PoolFromConfigOptions } from './executors/pool/executor.js';
export { transformUrl, type TransformFn, type TransformInfo } from './probe/transform.js';
export { type CreateBackends } from './executors/pool/protocol.js';
export { benchMain, runBroadcastBench, toBenchJson, parseBenchArgs, resolveBenchOptions, BENCH_USAGE, formatBenchTable, renderCdfSvg, parseLatencySpec, parseStrategies, strategyName, DEFAULT_STRATEGIES, type BenchIO, type ParsedBenchArgs, type BenchOptions, type ResolvedBenchOptions, type BenchResult, type BenchReport, type SkippedCell, type ExecutorKind as BenchExecutorKind, type WorldKind as BenchWorldKind, type BackendModel, type Strategy as BenchStrategy } from '../bench/harness/index.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './telemetry/metrics-server.js';
