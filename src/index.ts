// Public entry point: re-exports only.
export * from './errors.js';
export * from './types.js';
export { Recorder, METRIC, DEFAULT_BUCKETS, type Labels, type MetricFamily } from './accounting/recorder.js';
export { UsageTracker, usagePeriod, type UsageLimits, type UsageStat, type UsageDelta, type UsageTrackerOptions } from './accounting/usage-tracker.js';
export { MemoryBackend, parseByteRange, type MemoryObjectMeta } from './backend/memory-backend.js';
export { MemoryMetadataStore } from './store/memory-store.js';
export { MemoryLocationCache, type MemoryLocationCacheOptions } from './cache/memory-location-cache.js';
export { Failover, type FailoverOptions, type ReadOutcome, type ReadPathKind } from './failover/failover.js';
export { headProbe, getProbe, verifyBody, sha256Hex, type FetchedObject, type GetProbeOptions } from './failover/probes.js';
export { ProbeRun, type Candidate, type ProbeFailure, type RunOutcome, type HedgePolicy, type Timers, type ProbeRunOptions } from './scheduler/probe-run.js';
export { classifyBroadcastFailure, type BroadcastVerdict } from './broadcast/classify.js';
export { S3Backend, mapS3Error, DEFAULT_BACKEND_TIMEOUT_MS, DEFAULT_MAX_SOCKETS, type S3BackendOptions, type SocketStats } from './backend/s3-backend.js';
export { CircuitBreakerBackend, classifyBackendError, isBreakerRejection, type BackendBreakerOptions, type BreakerState, type Verdict as BreakerVerdict } from './backend/backend-breaker.js';
export { collectBody, discardBody, bodyError, readBody as readGetResultBody, type CollectBodyOptions } from './backend/body.js';
export { SqliteMetadataStore, type SqliteMetadataStoreOptions } from './store/sqlite-store.js';
export { PostgresMetadataStore, isPostgresUnavailable, postgresPoolConfig, type PostgresMetadataStoreOptions, type PostgresConnectionOptions, type PostgresSslMode } from './store/postgres-store.js';
export { CircuitBreakerStore, isStoreOutage, type CircuitBreakerStoreOptions, type StoreBreakerState } from './store/store-breaker.js';
export { MemoryUsageStore } from './store/memory-usage-store.js';
export { type UsageStore } from './store/usage-store.js';
export { UsageFlusher, type UsageFlusherOptions } from './accounting/usage-flusher.js';
export { ReadPath, type GetOutcome, type HeadOutcome, type BatchOutcome, type ReadManyOptions, type OpenOptions } from './runtime/read-path.js';
export { runBatch, type BatchError, type RunBatchOptions } from './runtime/coordinator.js';
export { keyProblem, assertValidKey, MAX_KEY_BYTES } from './runtime/keys.js';
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
export { createHedging, HEDGING_DEFAULTS, type HedgingOptions, type HedgingSnapshot, type HedgePolicyFactory } from './broadcast/hedging.js';
export { LatencyWindow, type LatencyWindowOptions } from './broadcast/latency-window.js';
export { HedgeBudget, type HedgeBudgetOptions } from './broadcast/hedge-budget.js';
export { InlineExecutor, type ProbeExecutor, type ProbeGetOptions, type TransformedValue, type ExecutorStats, type ExecutorCloseOptions, type InlineExecutorOptions } from './runtime/executor.js';
export { PoolExecutor, defaultPoolThreads, defaultWorkerFilename, s3OptionsFromConfig, DEFAULT_TASKS_PER_THREAD, DEFAULT_CLOSE_TIMEOUT_MS, type PoolExecutorOptions, type PoolFromConfigOptions } from './runtime/pool-executor.js';
export { transformUrl, type TransformFn, type TransformInfo } from './runtime/probe-transform.js';
export { type CreateBackends } from './runtime/probe-task.js';
export { benchMain, runBroadcastBench, toBenchJson, parseBenchArgs, resolveBenchOptions, BENCH_USAGE, formatBenchTable, renderCdfSvg, parseLatencySpec, parseStrategies, strategyName, DEFAULT_STRATEGIES, type BenchIO, type ParsedBenchArgs, type BenchOptions, type ResolvedBenchOptions, type BenchResult, type BenchReport, type SkippedCell, type ExecutorKind as BenchExecutorKind, type WorldKind as BenchWorldKind, type BackendModel, type Strategy as BenchStrategy } from './bench/index.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './telemetry/metrics-server.js';
