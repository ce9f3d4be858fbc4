/**
 * readpath's public entry: the contract of API.md, as an explicit list. Internals (the race,
 * the probe, executors' plumbing), the CLI, the demo and the benchmark harness are not exported.
 */

// §1 Errors.
export { ReadPathError, UsageLimitSkipError, hasCode, httpStatusOf, HTTP_STATUS, isErrorCode } from './errors.js';
export type { ErrorCode, ReadPathErrorOptions, SerializedError, UsageLimitKind } from './errors.js';

// §2 The read-failover core and its in-memory parts.
export { noopCleanup } from './types.js';
export type {
  ObjectLocation, HeadResult, GetResult, ObjectBackend, MetadataStore, LocationCache, Core, ProbeRequest,
  ProbeResult, Probe, ListKeysOptions, ListedObject, ObjectTag, BackendListOptions, BackendListPage, BackendListedObject,
} from './types.js';
export { Failover } from './engine/failover.js';
export type { FailoverOptions, ReadOutcome, ReadPathKind } from './engine/failover.js';
export type { HedgePolicy } from './engine/plan.js';
export type { Timers } from './engine/timers.js';
export { Recorder, METRIC } from './telemetry/recorder.js';
export type { Labels, MetricFamily } from './telemetry/recorder.js';
export type { UsageTracker, UsageLimits, UsageStat } from './policies/usage-tracker.js';
export { MemoryBackend } from './backends/memory-backend.js';
export type { MemoryObjectMeta } from './backends/memory-backend.js';
export { MemoryMetadataStore } from './stores/memory-store.js';
export { MemoryLocationCache } from './cache/memory-location-cache.js';
export type { MemoryLocationCacheOptions } from './cache/memory-location-cache.js';
export { createHedging } from './policies/hedging.js';
export type { HedgingOptions, HedgingSnapshot } from './policies/hedging.js';

// Probes for the core: where they run.
export { InlineExecutor } from './executors/inline.js';
export { PoolExecutor } from './executors/pool/executor.js';
export type { ProbeExecutor, ProbeGetOptions, ExecutorStats, ExecutorCloseOptions, FetchedObject, TransformedValue } from './executors/executor.js';
export type { InlineExecutorOptions } from './executors/inline.js';
export type { PoolExecutorOptions, PoolFromConfigOptions } from './executors/pool/executor.js';
export type { CreateBackends } from './executors/pool/protocol.js';
export type { TransformFn, TransformInfo } from './probe/transform.js';

// §3 The product.
export { ReadPath } from './read-path.js';
export type { GetOutcome, HeadOutcome, StreamOutcome, StreamInto, WrittenOutcome, TransformedOutcome, BatchOutcome, ReadManyOptions, OpenOptions } from './read-path.js';
export type { StoredAs } from './compression/degraded.js';
export type { ByteSpan } from './ranges/byte-range.js';
export { DigestThread, lazyDigestThread } from './streams/digest-thread.js';
export type { DigestAlgorithm, OffloadedDigest, LazyDigestThread } from './streams/digest-thread.js';
export { keyProblem, MAX_KEY_BYTES } from './engine/keys.js';
export { keysMissingFrom } from './sinks/missing-keys.js';

// Stores and backends.
export { SqliteMetadataStore } from './stores/sqlite-store.js';
export type { SqliteMetadataStoreOptions } from './stores/sqlite-store.js';
export { PostgresMetadataStore } from './stores/postgres-store.js';
export type { PostgresMetadataStoreOptions, PostgresConnectionOptions, PostgresSslMode } from './stores/postgres-store.js';
export { MemoryUsageStore } from './stores/memory-usage-store.js';
export type { UsageStore } from './stores/usage-store.js';
export { CircuitBreakerStore } from './policies/store-breaker.js';
export type { CircuitBreakerStoreOptions, StoreBreakerState } from './policies/store-breaker.js';
export { S3Backend } from './backends/s3-backend.js';
export type { S3BackendOptions, S3ClientKind, S3Credentials, S3CredentialProvider, SocketStats } from './backends/s3-backend.js';
export { LeanS3Backend } from './backends/lean-s3-backend.js';
export { createS3Backend } from './backends/s3-options.js';
export { CircuitBreakerBackend } from './policies/backend-breaker.js';
export type { BackendBreakerOptions, BreakerState } from './policies/backend-breaker.js';

// Configuration.
export { loadConfig, validateConfig } from './config/load.js';
export type { LoadConfigOptions } from './config/load.js';
export { maskConfig } from './config/mask.js';
export { InvalidConfigError } from './config/issues.js';
export type { ConfigIssue } from './config/issues.js';
export type {
  ReadPathConfig, ReadPathConfigInput, ResolvedConfig, ResolvedBackendConfig, ResolvedDatabaseConfig,
  ResolvedSqliteDatabase, ResolvedPostgresDatabase, ResolvedMemoryDatabase, PgSslMode, LogLevel,
  BackendConfigInput, DatabaseConfigInput, DurationInput,
} from './config/types.js';
