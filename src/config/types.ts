/**
 * The two shapes of a readpath configuration: {@link ReadPathConfig}, the snake_case document a
 * user writes (s3-orchestrator's config.yaml keys plus readpath's own sections), and
 * {@link ResolvedConfig}, the camelCased, fully defaulted, validated form the runtime consumes.
 */

import type { EncryptionSettings } from '../encryption/settings.js';

/** A duration: a Go-style string (`500ms`, `30s`, `5m`, `1m30s`) or a number of milliseconds. */
export type DurationInput = string | number;
/** A count or byte size; a string is accepted so `${VAR}` references can fill it. */
export type NumberInput = number | string;
/** A flag; the strings `true/false/yes/no/on/off` are accepted so `${VAR}` references can fill it. */
export type BooleanInput = boolean | string;

/** One entry of `backends:`. */
export interface BackendConfigInput {
  /** Identifier used by location rows and metrics. Default `backend-<index>` (as upstream). */
  name?: string | undefined;
  /** S3-compatible endpoint, an http(s) URL. Required. */
  endpoint: string;
  /** Default `us-east-1`. */
  region?: string | undefined;
  /** Required. */
  bucket: string;
  /** Required with `credential_source: static` (the default); forbidden with `default_chain`. */
  access_key_id?: string | undefined;
  /** Required with `credential_source: static` (the default); forbidden with `default_chain`. */
  secret_access_key?: string | undefined;
  /** `static` (default) or `default_chain` (the AWS SDK's credential chain). */
  credential_source?: 'static' | 'default_chain' | undefined;
  force_path_style?: BooleanInput | undefined;
  /** Monthly API request limit, 0 = unlimited. */
  api_request_limit?: NumberInput | undefined;
  /** Monthly egress byte limit, 0 = unlimited. */
  egress_byte_limit?: NumberInput | undefined;
  /** Monthly ingress byte limit, 0 = unlimited. */
  ingress_byte_limit?: NumberInput | undefined;
  /** readpath's own: keep-alive socket pool size per backend client. Default 50. */
  max_sockets?: NumberInput | undefined;
  /**
   * readpath's own: the S3 transport. `lean` (SigV4 over an undici keep-alive pool, the
   * default) or `sdk` (@aws-sdk/client-s3, for setups the lean one does not cover).
   */
  client?: 'lean' | 'sdk' | undefined;
  // s3-orchestrator keys readpath accepts and ignores:
  unsigned_payload?: unknown; disable_checksum?: unknown; strip_sdk_headers?: unknown;
  quota_bytes?: unknown; max_object_size?: unknown; request_limits?: unknown; unmetered?: unknown;
  http?: unknown;
}

/** The `database:` section. */
export interface DatabaseConfigInput {
  /** `sqlite` (default), `postgres` (inferred when `host` or `url` is set) or `memory`. */
  driver?: 'sqlite' | 'postgres' | 'memory' | undefined;
  /** SQLite file; relative paths resolve against the config file's directory. Default `readpath.db`. */
  path?: string | undefined;
  /** readpath's own: a whole `postgres://` connection URL, instead of host/port/database/user/password/ssl_mode. */
  url?: string | undefined;
  host?: string | undefined;
  /** Default 5432. */
  port?: NumberInput | undefined;
  database?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
  /** `disable|allow|prefer|require|verify-ca|verify-full`; default `require` (as upstream). */
  ssl_mode?: string | undefined;
  /** PostgreSQL pool size. Default 10 (0 = the default, as upstream). */
  max_conns?: NumberInput | undefined;
  /** readpath's own: bound on one metadata query. Default 10s. */
  statement_timeout?: DurationInput | undefined;
  /**
   * readpath's own, SQLite only: how long one statement waits for a lock another process holds
   * (on the event loop's thread: the loop stops that long). Default 50ms.
   */
  busy_timeout?: DurationInput | undefined;
  // s3-orchestrator keys readpath accepts and ignores:
  min_conns?: unknown; max_conn_lifetime?: unknown;
}

/** The `circuit_breaker:` section (the database breaker and degraded mode). */
export interface CircuitBreakerConfigInput {
  /** Default 3; 0 = the default, as upstream (so for open_timeout and cache_ttl). */
  failure_threshold?: NumberInput | undefined;
  /** Default 15s. */
  open_timeout?: DurationInput | undefined;
  /** Default 60s. */
  cache_ttl?: DurationInput | undefined;
  parallel_broadcast?: BooleanInput | undefined;
  /** 0 = no cap; a negative one too, as upstream normalises it. */
  degraded_broadcast_parallelism?: NumberInput | undefined;
  degraded_reads_enabled?: BooleanInput | undefined;
  /** readpath's own: location cache bound. Default 100000. */
  cache_max_entries?: NumberInput | undefined;
  /** readpath's own: how long losers of a broadcast are drained. Default 30s. */
  drain_timeout?: DurationInput | undefined;
}

/** The `backend_circuit_breaker:` section. */
export interface BackendCircuitBreakerConfigInput {
  enabled?: BooleanInput | undefined;
  /** Default 10 (open_timeout: 5m); 0 = the default, as upstream. */
  failure_threshold?: NumberInput | undefined;
  open_timeout?: DurationInput | undefined;
}

/** `server.tls` (upstream's keys). Empty strings are "not set"; no files: plain HTTP. */
export interface TlsConfigInput {
  /** PEM certificate (then its chain), read at load; relative to the config file. With `key_file`. */
  cert_file?: string | undefined;
  /** Unencrypted PEM private key matching the certificate, read at load. With `cert_file`. */
  key_file?: string | undefined;
  /** `"1.2"` (default) or `"1.3"` (an unquoted YAML 1.2 is read as the same). */
  min_version?: string | number | undefined;
  /** PEM CA certificates, read at load: set, clients must present a certificate they signed (mTLS). */
  client_ca_file?: string | undefined;
}

/**
 * The `server:` section: `backend_timeout` (and `log_level` as a fallback) for every read, the
 * rest for the S3 gateway (`readpath serve`).
 */
export interface ServerConfigInput {
  /** Default 30s; 0 = the default, as upstream (so for the other timeouts and max_header_bytes). */
  backend_timeout?: DurationInput | undefined;
  /** Used when `logging.level` is not set: `debug|info|warn|error`. */
  log_level?: string | undefined;
  /** The gateway's `HOST:PORT` (`:9000` = every interface, `[::1]:9000` for IPv6). Default `127.0.0.1:9000`. */
  listen_addr?: string | undefined;
  tls?: TlsConfigInput | undefined;
  /** Reads the gateway serves at once; over it, 503 SlowDown. 0 = unlimited (the default). */
  max_concurrent_reads?: NumberInput | undefined;
  /** Upstream's global limit: used when `max_concurrent_reads` is 0 (every request here is a read). 0 = unlimited (the default; upstream's is 1000). */
  max_concurrent_requests?: NumberInput | undefined;
  /** At the limit, how long a request may wait for a slot before 503 SlowDown. Default 0 (refuse at once). */
  admission_wait?: DurationInput | undefined;
  /** [0, 1): shed requests at random from this fraction of the limit (none there, all at the limit). Default 0 (off). */
  load_shed_threshold?: NumberInput | undefined;
  /** Longest wait for a request's headers. Default 10s. */
  read_header_timeout?: DurationInput | undefined;
  /** How long an idle keep-alive connection stays open. Default 120s. */
  idle_timeout?: DurationInput | undefined;
  /** How long the gateway waits after SIGTERM/SIGINT before it stops accepting and drains (time for a load balancer to deregister it). Default 0. */
  shutdown_delay?: DurationInput | undefined;
  /**
   * readpath's own: after the shutdown delay, how long requests in flight may take to finish
   * before their connections are closed. Default 60s.
   */
  shutdown_timeout?: DurationInput | undefined;
  /** Largest request line plus headers (bytes, or `64KiB`-style; 1KiB..16MiB). Default 64KiB. */
  max_header_bytes?: NumberInput | undefined;
  /**
   * readpath's own: gateway processes serving one port (`readpath serve`), so the gateway uses
   * more than one core; 0 = one per core. Default 1. Limits (`max_concurrent_reads`, `rate_limit`)
   * stay the whole gateway's.
   */
  processes?: NumberInput | undefined;
  /**
   * readpath's own: how many buffers each gateway process keeps per size (64 KiB and 1 MiB) to
   * read object bodies of up to 1 MiB into, reused from response to response (0: none, every
   * body read allocates). Default 64. Memory held: at most this many × 1.06 MiB per process.
   */
  body_buffers?: NumberInput | undefined;
  /** readpath's own: the region GetBucketLocation reports. Default `us-east-1`. */
  region?: string | undefined;
  /** readpath's own: Prometheus metrics, outside the S3 namespace. Default `/metrics`. */
  metrics_path?: string | undefined;
  /** readpath's own: the health check, outside the S3 namespace. Default `/health`. */
  health_path?: string | undefined;
  /**
   * readpath's own: domains under which the gateway also takes virtual-hosted-style requests
   * (`Host: {bucket}.{domain}`, path `/{key}`), as DuckDB, Spark's S3A and the AWS SDKs send by
   * default. Path style works whatever this says. Default: none.
   */
  virtual_host_domains?: string[] | undefined;
  // s3-orchestrator keys readpath accepts and ignores:
  max_object_size?: unknown; spill_dir?: unknown; max_concurrent_writes?: unknown;
  max_header_value_count?: unknown; read_timeout?: unknown; write_timeout?: unknown;
}

/**
 * One client credential of a virtual bucket (upstream's keys): SigV4 (`access_key_id` and
 * `secret_access_key`) or upstream's legacy `token`. The gateway authenticates SigV4 only: a
 * token-only credential is accepted (a file shared with s3-orchestrator still loads) but never
 * authenticates; the token is not `${VAR}`-expanded and not kept.
 */
export interface BucketCredentialConfigInput {
  /** Unique across every bucket. */
  access_key_id?: string | undefined;
  secret_access_key?: string | undefined;
  token?: string | undefined;
}

/** The `rate_limit:` section (s3-orchestrator's): per-client token buckets in front of the gateway. */
export interface RateLimitConfigInput {
  /** Default false. The rest is checked only while enabled, as upstream; 0 = the default. */
  enabled?: BooleanInput | undefined;
  /** Tokens a second per client. Default 100. */
  requests_per_sec?: NumberInput | undefined;
  /** The most tokens a client holds. Default 200. */
  burst?: NumberInput | undefined;
  /** CIDRs whose X-Forwarded-For is believed: the client is the rightmost address not in them. */
  trusted_proxies?: string[] | undefined;
  /** How often idle clients are forgotten. Default 1m. */
  cleanup_interval?: DurationInput | undefined;
  /** A client idle this long is forgotten. Default 5m. */
  cleanup_max_age?: DurationInput | undefined;
}

/** One entry of `buckets:`: a virtual bucket the gateway serves, and who may read it. */
export interface BucketConfigInput {
  /** Required, without '/', unique; objects are `{name}/{key}` in the metadata store. */
  name: string;
  /** At least one. */
  credentials: BucketCredentialConfigInput[];
  // s3-orchestrator keys readpath accepts and ignores:
  max_multipart_uploads?: unknown; cors?: unknown;
}

/** The `integrity:` section. */
export interface IntegrityConfigInput {
  /** Default true (upstream's default is false; readpath never serves an unverified mismatch). */
  verify_on_read?: BooleanInput | undefined;
  /**
   * readpath's own. Default true: when there is no content_hash to check (NULL column,
   * degraded mode), a body must still match its backend's ETag when that ETag is a plain MD5
   * (single-part upload). Turn off for backends whose ETags are not MD5s of the object
   * (SSE-KMS / SSE-C encrypted buckets).
   */
  verify_etag?: BooleanInput | undefined;
  // s3-orchestrator keys readpath accepts and ignores:
  enabled?: unknown; verify_on_replicate?: unknown; scrubber_interval?: unknown;
  scrubber_batch_size?: unknown; scrubber_min_age?: unknown;
}

/** readpath's own `runtime:` section: where probes run. */
export interface RuntimeConfigInput {
  /** `pool` (piscina workers, default) or `inline`. */
  mode?: 'pool' | 'inline' | undefined;
  /** Worker threads. Default availableParallelism() − 1, at least 1, at most 8. */
  threads?: NumberInput | undefined;
  /** Concurrent probes per worker. Default 32. */
  tasks_per_thread?: NumberInput | undefined;
  /** Global bound on in-flight probes. Default threads × tasks_per_thread. */
  max_in_flight?: NumberInput | undefined;
  /**
   * The largest body `get` buffers (bytes, or `256MiB`-style); bigger objects are refused with
   * OBJECT_TOO_LARGE (use getStream). Default 256MiB.
   */
  max_buffered_bytes?: NumberInput | undefined;
  /**
   * How long a stream may wait for its next bytes from a backend (while its consumer wants
   * more) before that copy counts as failed and the read moves on. Default: server.backend_timeout.
   */
  stream_idle_timeout?: DurationInput | undefined;
}

/** readpath's own `striping:` section: large objects read in parts from several copies at once. */
export interface StripingConfigInput {
  /** Default true. */
  enabled?: BooleanInput | undefined;
  /** Objects (or ranges) at least this big are striped. Default 32MiB. */
  min_size?: NumberInput | undefined;
  /** Bytes per part (at least 64KiB). Default 4MiB. */
  part_size?: NumberInput | undefined;
  /** Parts fetched ahead of the consumer (the reorder window: memory is about this × part_size). Default 8. */
  parts_in_flight?: NumberInput | undefined;
}

/** readpath's own `hedging:` section. */
export interface HedgingConfigInput {
  /** Default false. */
  enabled?: BooleanInput | undefined;
  /** A fixed delay, or `auto` (the chosen percentile of recent probe latencies). Default `auto`. */
  delay?: DurationInput | undefined;
  /** Percentile for `delay: auto`, in (0, 100]. Default 95. */
  percentile?: NumberInput | undefined;
  /** Budget of extra requests as a fraction of primary requests, in [0, 1]. Default 0.05. */
  max_extra_load?: NumberInput | undefined;
  /** Hedge located reads too (not only degraded broadcasts). Default false. */
  located_reads?: BooleanInput | undefined;
}

/** readpath's own `broadcast:` section: how a parallel broadcast launches its requests. */
export interface BroadcastConfigInput {
  /**
   * `fastest` (default): a parallel broadcast that probes every backend starts with the one
   * that has been answering fastest; `config`: always BackendOrder. Sequential, capped and
   * hedged broadcasts follow BackendOrder either way.
   */
  launch_order?: 'fastest' | 'config' | undefined;
  /** Send the first request before building the others. Default true. */
  stagger?: BooleanInput | undefined;
  /**
   * Degraded reads find where each backend holds an object's latest write: a listing under the
   * key, then the newest of the key itself and its `{key}!{id}` copies (s3-orchestrator's storage
   * keys), as upstream reads degraded. Default true; `false` reads the key itself at once (one
   * request less per backend tried), right only for data written before upstream's storage keys.
   */
  storage_keys?: BooleanInput | undefined;
}

/**
 * The `cache:` section (s3-orchestrator's object data cache): verified bodies of small objects
 * kept in memory, used while the database still gives the same content hash.
 */
export interface CacheConfigInput {
  /** Default false. */
  enabled?: BooleanInput | undefined;
  /** Total bytes kept (`256MiB`-style). Default 256 MiB. */
  max_size?: NumberInput | undefined;
  /** The largest object kept. Default 10 MiB. */
  max_object_size?: NumberInput | undefined;
  /** How long an entry may be used. Default 5m (0 = the default, as upstream). */
  ttl?: DurationInput | undefined;
}

/** readpath's own `head:` section: how a HEAD is answered. */
export interface HeadConfigInput {
  /**
   * Answer a HEAD from the metadata alone when the object's first row carries its ETag
   * (s3-orchestrator's identity columns), as upstream does: no backend request. Default true;
   * false: every HEAD asks a backend (which also shows a copy is there).
   */
  from_metadata?: BooleanInput | undefined;
}

/** readpath's own `usage:` section. */
export interface UsageConfigInput {
  /** How often usage counters are flushed. Default: `usage_flush.interval`, else 30s. */
  flush_interval?: DurationInput | undefined;
}

/** The `usage_flush:` section (s3-orchestrator's). */
export interface UsageFlushConfigInput {
  /** Upstream's flush interval, used when `usage.flush_interval` is not set; 0 = the default (30s). */
  interval?: DurationInput | undefined;
  // s3-orchestrator keys readpath accepts and ignores:
  adaptive_enabled?: unknown; adaptive_threshold?: unknown; fast_interval?: unknown;
}

/** readpath's own `logging:` section. */
export interface LoggingConfigInput {
  /** `trace|debug|info|warn|error|fatal|silent`. Default `server.log_level`, else `info`. */
  level?: string | undefined;
}

/** `encryption.vault`: HashiCorp Vault transit as the key provider (upstream's keys, plus `timeout`). */
export interface VaultConfigInput {
  /** Vault's base URL, http(s). Required. */
  address?: string | undefined;
  /** A Vault token; exactly one of `token` and `token_file`. */
  token?: string | undefined;
  /** A file holding the token (must exist and be non-empty at load); re-read every `renew_interval`. */
  token_file?: string | undefined;
  /** The transit key. Required. */
  key_name?: string | undefined;
  /** The transit mount. Default `transit`. */
  mount_path?: string | undefined;
  /** A PEM file of CA certificates to trust for Vault's TLS, read at load. Default: the system CAs. */
  ca_cert?: string | undefined;
  /** How often a static token is renewed, or the token file re-read. Default 5m. */
  renew_interval?: DurationInput | undefined;
  /** readpath's own: longest a Vault request may take. Default 10s. */
  timeout?: DurationInput | undefined;
}

/** readpath's own `encryption.key_cache`: unwrapped data keys kept in memory (per thread). */
export interface KeyCacheConfigInput {
  /** Default 10000. */
  max_entries?: NumberInput | undefined;
  /** Default 5m. */
  ttl?: DurationInput | undefined;
}

/**
 * The `encryption:` section (upstream's keys): how encrypted copies are decrypted. Nothing in it
 * is validated unless `enabled` is true; then exactly one of `master_key`, `master_key_file`,
 * `vault` must be set.
 */
export interface EncryptionConfigInput {
  /** Default false: encrypted copies are then refused (never served as ciphertext). */
  enabled?: BooleanInput | undefined;
  /** Writers' setting (readers take each object's from its header): 0 (= 65536) or a power of two in 4096..1048576. */
  chunk_size?: NumberInput | undefined;
  /** Standard base64 of a 32-byte key; key id `config-0`. `""` means not set. */
  master_key?: string | undefined;
  /** A file of exactly 32 raw bytes, read at load; key id `file-0`. `""` means not set. */
  master_key_file?: string | undefined;
  /** Earlier master keys (base64 of 32 bytes each), tried after the current one; key ids `config-<i+1>`. Local keys only. */
  previous_keys?: string[] | undefined;
  vault?: VaultConfigInput | undefined;
  key_cache?: KeyCacheConfigInput | undefined;
}

/**
 * A readpath configuration as written: the keys of s3-orchestrator's config.yaml (snake_case) plus
 * readpath's own sections. Keys and sections s3-orchestrator defines but readpath does not use
 * are accepted and ignored; anything else is rejected with `INVALID_CONFIG`.
 */
export interface ReadPathConfig {
  backends: BackendConfigInput[];
  database?: DatabaseConfigInput | undefined;
  circuit_breaker?: CircuitBreakerConfigInput | undefined;
  backend_circuit_breaker?: BackendCircuitBreakerConfigInput | undefined;
  server?: ServerConfigInput | undefined;
  integrity?: IntegrityConfigInput | undefined;
  runtime?: RuntimeConfigInput | undefined;
  striping?: StripingConfigInput | undefined;
  hedging?: HedgingConfigInput | undefined;
  broadcast?: BroadcastConfigInput | undefined;
  usage?: UsageConfigInput | undefined;
  /** Upstream's usage flushing: its `interval` when `usage.flush_interval` is not set. */
  usage_flush?: UsageFlushConfigInput | undefined;
  /** The object data cache (upstream's section). */
  cache?: CacheConfigInput | undefined;
  /** How a HEAD is answered (readpath's own). */
  head?: HeadConfigInput | undefined;
  logging?: LoggingConfigInput | undefined;
  encryption?: EncryptionConfigInput | undefined;
  /** The gateway's virtual buckets and their client credentials (upstream's keys). */
  buckets?: BucketConfigInput[] | undefined;
  /** Per-client rate limiting of the gateway (upstream's section). */
  rate_limit?: RateLimitConfigInput | undefined;
  // s3-orchestrator sections readpath accepts and ignores:
  telemetry?: unknown; rebalance?: unknown; replication?: unknown;
  compression?: unknown; ui?: unknown; auth?: unknown; cleanup_queue?: unknown;
  write_path?: unknown; lifecycle?: unknown; reconcile?: unknown;
  redis?: unknown; notifications?: unknown; debug?: unknown; routing_strategy?: unknown;
}

/** The name `loadConfig`'s signature uses for {@link ReadPathConfig}. */
export type ReadPathConfigInput = ReadPathConfig;

/** A resolved backend. */
export interface ResolvedBackendConfig {
  name: string;
  endpoint: string;
  region: string;
  bucket: string;
  credentialSource: 'static' | 'default_chain';
  /** Empty with `credentialSource: 'default_chain'`. */
  accessKeyId: string;
  /** Empty with `credentialSource: 'default_chain'`. */
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** 0 = unlimited. */
  apiRequestLimit: number;
  /** 0 = unlimited. */
  egressByteLimit: number;
  /** 0 = unlimited. */
  ingressByteLimit: number;
  maxSockets: number;
  /** The S3 transport, when configured; unset means the default (s3-options.ts). */
  client?: 'lean' | 'sdk';
}

/** PostgreSQL `sslmode` values. */
export type PgSslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** A resolved SQLite metadata store. */
export interface ResolvedSqliteDatabase {
  driver: 'sqlite';
  /** Absolute path (or `:memory:` / a `file:` URI, kept as written). */
  path: string;
  statementTimeoutMs: number;
  /** `database.busy_timeout` in ms. */
  busyTimeoutMs: number;
}
/** A resolved PostgreSQL metadata store: either `url`, or the separate fields (then `url` is null). */
export interface ResolvedPostgresDatabase {
  driver: 'postgres';
  url: string | null;
  host: string | null;
  port: number | null;
  database: string | null;
  user: string | null;
  password: string | null;
  sslMode: PgSslMode | null;
  maxConns: number;
  statementTimeoutMs: number;
}
/** The in-memory metadata store (tests, demos). */
export interface ResolvedMemoryDatabase {
  driver: 'memory';
  statementTimeoutMs: number;
}
/** A resolved `database:` section. */
export type ResolvedDatabaseConfig = ResolvedSqliteDatabase | ResolvedPostgresDatabase | ResolvedMemoryDatabase;

/** Log levels readpath's logger understands. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** The validated configuration: camelCase, durations in ms (`…Ms`), every default applied. */
export interface ResolvedConfig {
  /** In config order, which is the BackendOrder of degraded broadcasts. */
  backends: ResolvedBackendConfig[];
  database: ResolvedDatabaseConfig;
  circuitBreaker: {
    failureThreshold: number;
    openTimeoutMs: number;
    cacheTtlMs: number;
    parallelBroadcast: boolean;
    /** 0 = no cap. */
    degradedBroadcastParallelism: number;
    degradedReadsEnabled: boolean;
    cacheMaxEntries: number;
    drainTimeoutMs: number;
  };
  backendCircuitBreaker: { enabled: boolean; failureThreshold: number; openTimeoutMs: number };
  server: { backendTimeoutMs: number };
  integrity: { verifyOnRead: boolean; verifyEtag: boolean };
  runtime: {
    mode: 'pool' | 'inline';
    threads: number;
    tasksPerThread: number;
    maxInFlight: number;
    /** `get` refuses bodies larger than this with OBJECT_TOO_LARGE. */
    maxBufferedBytes: number;
    /** A stream's longest wait for its next bytes, ms. */
    streamIdleTimeoutMs: number;
  };
  striping: { enabled: boolean; minSize: number; partSize: number; partsInFlight: number };
  hedging: {
    enabled: boolean;
    /** A fixed delay in ms, or `'auto'`. */
    delayMs: number | 'auto';
    percentile: number;
    maxExtraLoad: number;
    locatedReads: boolean;
  };
  broadcast: { launchOrder: 'fastest' | 'config'; stagger: boolean; storageKeys: boolean };
  usage: { flushIntervalMs: number };
  /** `cache:`, the object data cache. */
  cache: { enabled: boolean; maxSize: number; maxObjectSize: number; ttlMs: number };
  /** `head:`: a HEAD answered from the row when it carries the object's ETag. */
  head: { fromMetadata: boolean };
  logging: { level: LogLevel };
  /**
   * `encryption:`: the keys encrypted copies are decrypted with; null when the section is absent
   * or not enabled. Plain data (key bytes as Uint8Array), so it can go to pool workers as is;
   * it holds secrets: show it only through maskConfig.
   */
  encryption: EncryptionSettings | null;
  /**
   * The S3 gateway (`readpath serve`): `server.*` and `buckets:`. Always resolved (defaults when
   * the keys are absent); only `serve` uses it. Holds secrets (credentials, the TLS key): show it
   * only through maskConfig.
   */
  gateway: ResolvedGatewayConfig;
  /** Where the configuration came from; relative paths were resolved against `baseDir`. */
  source: { file: string | null; baseDir: string };
}

/** The gateway's TLS: PEM texts read from `server.tls`'s files at load. */
export interface ResolvedGatewayTls {
  /** The server's certificate, then its chain. */
  cert: string;
  /** Its private key (unencrypted PEM). A secret. */
  key: string;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Set: client certificates are required and verified against these CAs (requestCert + rejectUnauthorized). */
  clientCa: string | null;
}

/** A virtual bucket and the SigV4 credentials that may read it. */
export interface ResolvedBucketConfig {
  name: string;
  /** SigV4 credentials only (token-only ones never authenticate and are dropped); may be empty. Access key ids are unique across buckets. */
  credentials: { accessKeyId: string; secretAccessKey: string }[];
}

/** The resolved `rate_limit:` settings (s3-orchestrator's section; defaults as upstream's). */
export interface RateLimitSettings {
  /** Default false. */
  enabled: boolean;
  /** Tokens a second per client. Default 100. */
  requestsPerSec: number;
  /** The most tokens a client holds (its burst). Default 200. */
  burst: number;
  /** CIDRs (`10.0.0.0/8`, `fd00::/8`) whose X-Forwarded-For is believed. Default none. */
  trustedProxies: string[];
  /** How often idle clients are forgotten. Default 1m. */
  cleanupIntervalMs: number;
  /** A client idle this long is forgotten. Default 5m. */
  cleanupMaxAgeMs: number;
}

/** The resolved gateway settings (`server.*`, `buckets:` and `rate_limit:`). */
export interface ResolvedGatewayConfig {
  /** `server.listen_addr` as written, or `127.0.0.1:9000`. */
  listenAddr: string;
  /** From listenAddr, without brackets; `''` (from `:PORT`) = every interface, as Node's listen takes it. */
  host: string;
  /** 0 = any free port. */
  port: number;
  /** null: plain HTTP. */
  tls: ResolvedGatewayTls | null;
  /** 0 = unlimited. */
  maxConcurrentReads: number;
  /** Upstream's global limit, used when maxConcurrentReads is 0. 0 = unlimited. */
  maxConcurrentRequests: number;
  /** How long a request waits for a slot at the limit; 0 = refused at once. */
  admissionWaitMs: number;
  /** [0, 1); 0 = no load shedding. */
  loadShedThreshold: number;
  /**
   * Node's `headersTimeout`. Node refuses one above `requestTimeout` (default 5 min): the
   * server must set requestTimeout (e.g. 0) when this is longer.
   */
  readHeaderTimeoutMs: number;
  /** Node's `keepAliveTimeout`. */
  idleTimeoutMs: number;
  /** After SIGTERM/SIGINT: wait this long (still serving) before it stops accepting and drains. */
  shutdownDelayMs: number;
  /** After the delay: how long requests in flight may take to finish before they are cut. */
  shutdownTimeoutMs: number;
  /** Node's `maxHeaderSize` (request line plus headers). */
  maxHeaderBytes: number;
  /** Gateway processes serving the port (`server.processes`, 0 resolved to the core count). */
  processes: number;
  /** Body buffers kept for reuse per process (`server.body_buffers`). */
  bodyBuffers: number;
  /** What GetBucketLocation reports. */
  region: string;
  /** Served outside the S3 namespace; no bucket is named like its first segment. */
  metricsPath: string;
  /** Served outside the S3 namespace; no bucket is named like its first segment. */
  healthPath: string;
  /** Lower case, without a trailing dot; empty: path style only. */
  virtualHostDomains: string[];
  /** In config order; empty when `buckets:` is absent (then the gateway has nothing to serve). */
  buckets: ResolvedBucketConfig[];
  /** `rate_limit:`. */
  rateLimit: RateLimitSettings;
}
