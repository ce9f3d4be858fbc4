/**
 * Defaults and derived values: turns a validated snake_case document into the camelCased
 * {@link ResolvedConfig}. Defaults follow API.md §3 (and s3-orchestrator where API.md is silent).
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { EncryptionSettings, LocalMasterKey } from '../encryption/settings.js';
import { NO_ENCRYPTION_FILES, type EncryptionFiles } from './encryption-files.js';
import { NO_GATEWAY_FILES, type GatewayFiles } from './gateway-files.js';
import { DEFAULT_TASKS_PER_THREAD, MAX_DEFAULT_THREADS, defaultThreads, processCount } from './runtime-defaults.js';
import type { ParsedConfig } from './schema.js';
import type { RateLimitSettings, ResolvedConfig, ResolvedDatabaseConfig, ResolvedGatewayConfig } from './types.js';

/** The defaults readpath applies (durations in ms). */
export const CONFIG_DEFAULTS = Object.freeze({
  region: 'us-east-1',
  maxSockets: 50,
  sqlitePath: 'readpath.db',
  /** The SQLite store's own default (DEFAULT_SQLITE_BUSY_TIMEOUT_MS), kept here to not load the driver. */
  sqliteBusyTimeoutMs: 50,
  pgPort: 5432,
  pgSslMode: 'require' as const,
  pgMaxConns: 10,
  statementTimeoutMs: 10_000,
  failureThreshold: 3,
  openTimeoutMs: 15_000,
  cacheTtlMs: 60_000,
  cacheMaxEntries: 100_000,
  drainTimeoutMs: 30_000,
  backendBreakerFailureThreshold: 10,
  backendBreakerOpenTimeoutMs: 300_000,
  backendTimeoutMs: 30_000,
  tasksPerThread: DEFAULT_TASKS_PER_THREAD,
  maxDefaultThreads: MAX_DEFAULT_THREADS,
  maxBufferedBytes: 256 * 2 ** 20,
  stripeMinSize: 32 * 2 ** 20,
  stripePartSize: 4 * 2 ** 20,
  stripePartsInFlight: 8,
  hedgePercentile: 95,
  hedgeMaxExtraLoad: 0.05,
  usageFlushIntervalMs: 30_000,
  /** upstream's `encryption.chunk_size` default (writers' setting; validated, not used for reads). */
  encryptionChunkSize: 65_536,
  vaultMountPath: 'transit',
  vaultRenewIntervalMs: 300_000,
  vaultTimeoutMs: 10_000,
  keyCacheMaxEntries: 10_000,
  keyCacheTtlMs: 300_000,
  /** The gateway's address when `server.listen_addr` is not set (upstream requires one): loopback only. */
  listenAddr: '127.0.0.1:9000',
  listenHost: '127.0.0.1',
  listenPort: 9000,
  tlsMinVersion: 'TLSv1.2' as const,
  maxConcurrentReads: 0,
  readHeaderTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  shutdownDelayMs: 0,
  shutdownTimeoutMs: 60_000,
  /**
   * 64 KiB: Node's own default (16 KiB) counts the request line too, and a presigned GET — a
   * 1024-byte key percent-encoded to up to 3 KiB, an STS session token of several KiB, the other
   * X-Amz-* parameters — plus a proxy's forwarding and tracing headers can pass it (431); Go's,
   * upstream's, 1 MiB lets every slow client pin a MiB. 64 KiB is four times Node's and 1/16 of Go's.
   */
  maxHeaderBytes: 64 * 1024,
  gatewayRegion: 'us-east-1',
  bodyBuffers: 64,
  metricsPath: '/metrics',
  healthPath: '/health',
  /** `cache:`, upstream's defaults (its `256MB` and `10MB` are binary megabytes). */
  objectCacheMaxSize: 256 * 2 ** 20,
  objectCacheMaxObjectSize: 10 * 2 ** 20,
  objectCacheTtlMs: 300_000,
  /** `rate_limit:`, upstream's defaults. */
  rateLimitRequestsPerSec: 100,
  rateLimitBurst: 200,
  rateLimitCleanupIntervalMs: 60_000,
  rateLimitCleanupMaxAgeMs: 300_000,
});

export { defaultThreads };

/** Where a config came from, for resolving relative paths. */
export interface ResolveContext {
  baseDir: string;
  file: string | null;
  /** What was read from the files `encryption:` names (encryption-files.ts); needed when it names any. */
  encryptionFiles?: EncryptionFiles;
  /** What was read from the files `server.tls` names (gateway-files.ts); needed when it names any. */
  gatewayFiles?: GatewayFiles;
  /** Worker threads when `runtime.threads` is not set (default {@link defaultThreads}). */
  defaultThreads?: number | undefined;
  /** Worker threads whatever `runtime.threads` says (a command-line override). */
  threads?: number | undefined;
}

/** Apply every default to a validated document. */
export function resolveConfig(c: ParsedConfig, ctx: ResolveContext): ResolvedConfig {
  const D = CONFIG_DEFAULTS;
  const cb = c.circuit_breaker ?? {};
  const bcb = c.backend_circuit_breaker ?? {};
  const rt = c.runtime ?? {};
  const hd = c.hedging ?? {};
  const threads = ctx.threads ?? rt.threads ?? ctx.defaultThreads ?? defaultThreads();
  const tasksPerThread = rt.tasks_per_thread ?? D.tasksPerThread;
  return {
    backends: c.backends.map((b, i) => ({
      name: b.name ?? `backend-${i}`,
      endpoint: b.endpoint,
      region: b.region ?? D.region,
      bucket: b.bucket,
      credentialSource: b.credential_source ?? 'static',
      accessKeyId: b.access_key_id ?? '',
      secretAccessKey: b.secret_access_key ?? '',
      forcePathStyle: b.force_path_style ?? false,
      apiRequestLimit: b.api_request_limit ?? 0,
      egressByteLimit: b.egress_byte_limit ?? 0,
      ingressByteLimit: b.ingress_byte_limit ?? 0,
      maxSockets: b.max_sockets ?? D.maxSockets,
      ...(b.client !== undefined ? { client: b.client } : {}),
    })),
    database: resolveDatabase(c.database ?? {}, ctx),
    circuitBreaker: {
      failureThreshold: cb.failure_threshold ?? D.failureThreshold,
      openTimeoutMs: cb.open_timeout ?? D.openTimeoutMs,
      cacheTtlMs: cb.cache_ttl ?? D.cacheTtlMs,
      parallelBroadcast: cb.parallel_broadcast ?? false,
      degradedBroadcastParallelism: cb.degraded_broadcast_parallelism ?? 0,
      degradedReadsEnabled: cb.degraded_reads_enabled ?? true,
      cacheMaxEntries: cb.cache_max_entries ?? D.cacheMaxEntries,
      drainTimeoutMs: cb.drain_timeout ?? D.drainTimeoutMs,
    },
    backendCircuitBreaker: {
      enabled: bcb.enabled ?? false,
      failureThreshold: bcb.failure_threshold ?? D.backendBreakerFailureThreshold,
      openTimeoutMs: bcb.open_timeout ?? D.backendBreakerOpenTimeoutMs,
    },
    server: { backendTimeoutMs: c.server?.backend_timeout ?? D.backendTimeoutMs },
    integrity: { verifyOnRead: c.integrity?.verify_on_read ?? true, verifyEtag: c.integrity?.verify_etag ?? true },
    runtime: {
      mode: rt.mode ?? 'pool',
      threads,
      tasksPerThread,
      maxInFlight: rt.max_in_flight ?? threads * tasksPerThread,
      maxBufferedBytes: rt.max_buffered_bytes ?? D.maxBufferedBytes,
      streamIdleTimeoutMs: rt.stream_idle_timeout ?? c.server?.backend_timeout ?? D.backendTimeoutMs,
    },
    striping: {
      enabled: c.striping?.enabled ?? true,
      minSize: c.striping?.min_size ?? D.stripeMinSize,
      partSize: c.striping?.part_size ?? D.stripePartSize,
      partsInFlight: c.striping?.parts_in_flight ?? D.stripePartsInFlight,
    },
    hedging: {
      enabled: hd.enabled ?? false,
      delayMs: hd.delay ?? 'auto',
      percentile: hd.percentile ?? D.hedgePercentile,
      maxExtraLoad: hd.max_extra_load ?? D.hedgeMaxExtraLoad,
      locatedReads: hd.located_reads ?? false,
    },
    broadcast: { launchOrder: c.broadcast?.launch_order ?? 'fastest', stagger: c.broadcast?.stagger ?? true, storageKeys: c.broadcast?.storage_keys ?? true },
    // readpath's own key first, then the one a file shared with s3-orchestrator sets for both.
    usage: { flushIntervalMs: c.usage?.flush_interval ?? c.usage_flush?.interval ?? D.usageFlushIntervalMs },
    cache: {
      enabled: c.cache?.enabled ?? false,
      maxSize: c.cache?.max_size ?? D.objectCacheMaxSize,
      maxObjectSize: c.cache?.max_object_size ?? D.objectCacheMaxObjectSize,
      ttlMs: c.cache?.ttl ?? D.objectCacheTtlMs,
    },
    head: { fromMetadata: c.head?.from_metadata ?? true },
    // s3-orchestrator keeps its level in server.log_level; a shared file can rely on that.
    logging: { level: c.logging?.level ?? c.server?.log_level ?? 'info' },
    encryption: resolveEncryption(c.encryption, ctx.encryptionFiles ?? NO_ENCRYPTION_FILES),
    gateway: resolveGateway(c, ctx.gatewayFiles ?? NO_GATEWAY_FILES),
    source: { file: ctx.file, baseDir: ctx.baseDir },
  };
}

function resolveDatabase(db: NonNullable<ParsedConfig['database']>, ctx: ResolveContext): ResolvedDatabaseConfig {
  const D = CONFIG_DEFAULTS;
  const statementTimeoutMs = db.statement_timeout ?? D.statementTimeoutMs;
  const driver = db.driver ?? (db.url !== undefined || db.host !== undefined ? 'postgres' : 'sqlite');
  switch (driver) {
    case 'memory':
      return { driver, statementTimeoutMs };
    case 'sqlite': {
      const p = db.path ?? D.sqlitePath;
      const keep = p === ':memory:' || p.startsWith('file:') || isAbsolute(p);
      return { driver, path: keep ? p : resolvePath(ctx.baseDir, p), statementTimeoutMs, busyTimeoutMs: db.busy_timeout ?? D.sqliteBusyTimeoutMs };
    }
    case 'postgres': {
      const maxConns = db.max_conns ?? D.pgMaxConns;
      if (db.url !== undefined) {
        return { driver, url: db.url, host: null, port: null, database: null, user: null, password: null, sslMode: null, maxConns, statementTimeoutMs };
      }
      return {
        driver,
        url: null,
        host: db.host ?? null,
        port: db.port ?? D.pgPort,
        database: db.database ?? null,
        user: db.user ?? null,
        password: db.password ?? null,
        sslMode: db.ssl_mode ?? D.pgSslMode,
        maxConns,
        statementTimeoutMs,
      };
    }
  }
}

/**
 * The `encryption:` settings, null unless enabled. Key ids as upstream labels what it wraps:
 * `config-0` (master_key), `file-0` (master_key_file), `config-<i+1>` (previous_keys[i]);
 * the current key first. checks.ts has made sure exactly one key source is set; previous_keys
 * go with any of them, Vault included.
 */
function resolveEncryption(e: ParsedConfig['encryption'], files: EncryptionFiles): EncryptionSettings | null {
  if (e?.enabled !== true) return null;
  const D = CONFIG_DEFAULTS;
  const localKeys: LocalMasterKey[] = [];
  if (e.master_key !== undefined) localKeys.push({ id: 'config-0', key: e.master_key });
  else if (e.master_key_file !== undefined && e.master_key_file !== '') {
    if (files.masterKey === null) throw new Error('resolveConfig: encryption.master_key_file was not read (pass encryptionFiles)');
    localKeys.push({ id: 'file-0', key: files.masterKey });
  }
  // With Vault too: upstream unwraps what they wrapped before the move to Vault.
  (e.previous_keys ?? []).forEach((key, i) => localKeys.push({ id: `config-${i + 1}`, key }));
  const v = e.vault;
  const tokenFileSet = v?.token_file !== undefined && v.token_file !== '';
  if (v !== undefined && tokenFileSet && files.tokenFile === null) throw new Error('resolveConfig: encryption.vault.token_file was not checked (pass encryptionFiles)');
  return {
    localKeys,
    vault: v === undefined ? null : {
      address: (v.address ?? '').replace(/\/+$/, ''),
      token: v.token === undefined || v.token === '' ? null : v.token,
      tokenFile: tokenFileSet ? files.tokenFile : null,
      keyName: v.key_name ?? '',
      mountPath: v.mount_path === undefined || v.mount_path === '' ? D.vaultMountPath : v.mount_path,
      caCert: files.caCert,
      renewIntervalMs: v.renew_interval ?? D.vaultRenewIntervalMs,
      timeoutMs: v.timeout ?? D.vaultTimeoutMs,
    },
    keyCacheMaxEntries: e.key_cache?.max_entries ?? D.keyCacheMaxEntries,
    keyCacheTtlMs: e.key_cache?.ttl ?? D.keyCacheTtlMs,
  };
}

/**
 * The gateway's settings: `server.*` and `buckets:`. TLS is on when both `cert_file` and
 * `key_file` are set (checks.ts has made sure it is both or neither); only SigV4 credentials are
 * kept (a token-only credential never authenticates).
 */
function resolveGateway(c: ParsedConfig, files: GatewayFiles): ResolvedGatewayConfig {
  const D = CONFIG_DEFAULTS;
  const s = c.server ?? {};
  const t = s.tls;
  const tlsOn = t?.cert_file !== undefined && t.cert_file !== '' && t.key_file !== undefined && t.key_file !== '';
  const caSet = t?.client_ca_file !== undefined && t.client_ca_file !== '';
  if (tlsOn && (files.cert === null || files.key === null || (caSet && files.clientCa === null))) {
    throw new Error('resolveConfig: server.tls files were not read (pass gatewayFiles)');
  }
  const addr = s.listen_addr;
  return {
    listenAddr: addr?.text ?? D.listenAddr,
    host: addr?.host ?? D.listenHost,
    port: addr?.port ?? D.listenPort,
    tls: !tlsOn || files.cert === null || files.key === null ? null : {
      cert: files.cert,
      key: files.key,
      minVersion: t?.min_version ?? D.tlsMinVersion,
      clientCa: caSet ? files.clientCa : null,
    },
    maxConcurrentReads: s.max_concurrent_reads ?? D.maxConcurrentReads,
    maxConcurrentRequests: s.max_concurrent_requests ?? 0,
    admissionWaitMs: s.admission_wait ?? 0,
    loadShedThreshold: s.load_shed_threshold ?? 0,
    readHeaderTimeoutMs: s.read_header_timeout ?? D.readHeaderTimeoutMs,
    idleTimeoutMs: s.idle_timeout ?? D.idleTimeoutMs,
    shutdownDelayMs: s.shutdown_delay ?? D.shutdownDelayMs,
    shutdownTimeoutMs: s.shutdown_timeout ?? D.shutdownTimeoutMs,
    maxHeaderBytes: s.max_header_bytes ?? D.maxHeaderBytes,
    processes: processCount(s.processes),
    bodyBuffers: s.body_buffers ?? D.bodyBuffers,
    region: s.region ?? D.gatewayRegion,
    metricsPath: s.metrics_path ?? D.metricsPath,
    healthPath: s.health_path ?? D.healthPath,
    virtualHostDomains: [...new Set((s.virtual_host_domains ?? []).map((d) => d.toLowerCase().replace(/\.$/, '')))],
    buckets: (c.buckets ?? []).map((b) => ({
      name: b.name,
      credentials: b.credentials.flatMap((cr) =>
        cr.access_key_id !== undefined && cr.access_key_id !== '' && cr.secret_access_key !== undefined && cr.secret_access_key !== ''
          ? [{ accessKeyId: cr.access_key_id, secretAccessKey: cr.secret_access_key }]
          : []),
    })),
    rateLimit: resolveRateLimit(c.rate_limit),
  };
}

/**
 * `rate_limit:` with upstream's defaults for what is 0 (or, in a disabled section, which upstream
 * does not check, anything below): schema.ts refused negatives in an enabled one.
 */
function resolveRateLimit(r: ParsedConfig['rate_limit']): RateLimitSettings {
  const D = CONFIG_DEFAULTS;
  const set = (v: number | undefined): number | undefined => (v !== undefined && v > 0 ? v : undefined);
  return {
    enabled: r?.enabled ?? false,
    requestsPerSec: set(r?.requests_per_sec) ?? D.rateLimitRequestsPerSec,
    burst: set(r?.burst) ?? D.rateLimitBurst,
    trustedProxies: (r?.trusted_proxies ?? []).map((p) => p.trim()),
    cleanupIntervalMs: set(r?.cleanup_interval) ?? D.rateLimitCleanupIntervalMs,
    cleanupMaxAgeMs: set(r?.cleanup_max_age) ?? D.rateLimitCleanupMaxAgeMs,
  };
}
