/**
 * Builds the parts of a ReadPath from a resolved configuration: the backends probes run against
 * on this thread (none with the pool: its workers build their own), the backends' circuit
 * breakers, the metadata store (with its breaker), the location cache, the recorder with usage
 * limits, and the usage flusher. Each part is released by {@link Parts.close} in reverse order.
 */
import { Recorder } from './telemetry/recorder.js';
import { ProbeOwner } from './policies/probe-owner.js';
import { ReadPathError, hasCode, messageOf } from './errors.js';
import { UsageFlusher } from './policies/usage-flusher.js';
import { backendBreaker } from './policies/backend-breaker.js';
import type { CircuitBreaker } from './policies/circuit-breaker.js';
import { createS3Backend, preloadS3, s3OptionsFromConfig, warnProxyEnvironmentOnce } from './backends/s3-options.js';
import { MemoryLocationCache } from './cache/memory-location-cache.js';
import type { ResolvedConfig } from './config/types.js';
import { MemoryMetadataStore } from './stores/memory-store.js';
import { PostgresMetadataStore } from './stores/postgres-store.js';
import { SqliteMetadataStore } from './stores/sqlite-store.js';
import { postgresStoreOptions } from './stores/postgres-options.js';
import { unknownColumnsWarning } from './stores/row-mapping.js';
import { CircuitBreakerStore, type StoreBreakerState } from './policies/store-breaker.js';
import type { UsageStore } from './stores/usage-store.js';
import type { MetadataStore, ObjectBackend } from './types.js';
import type { BreakerState } from './policies/backend-breaker.js';
import { PooledBackend } from './executors/pool/pooled-backend.js';
import { buildBackends, closeBackends } from './backends/build.js';
import { transformUrl } from './probe/transform.js';
import { KeyRing } from './encryption/key-ring.js';

/** Parts a caller may supply instead of building them from the configuration. */
export interface PartOverrides {

  /** Use these backends (by name) instead of S3 clients built from `backends[]`. */
  backends?: readonly ObjectBackend[] | undefined;
  /** Use this metadata store instead of the configured database. */
  store?: MetadataStore | undefined;
  /** Use this recorder (shared metrics and usage). */
  recorder?: Recorder | undefined;
  /** Pool mode: the module that builds the workers' backends (the main thread's streams use it too). */
  backendModule?: string | URL | undefined;
  backendData?: unknown;
  /**
   * Where the parts' warnings go (the configured database's unknown columns, proxy variables
   * naming backends that ignore them).
   */
  warn?: ((message: string) => void) | undefined;
}

/** The assembled parts. */
export interface Parts {
  recorder: Recorder;
  /**
   * This reader's probes in the recorder's ledger (its executor's and its streams'): close()
   * waits for these, not for those of other readers sharing the recorder.
   */
  probes: ProbeOwner;
  /**
   * Backends by name, in the failover's view. With inline probes the real backends; with the
   * pool, placeholders naming backends that live in the workers (see PooledBackend).
   */
  backends: Map<string, ObjectBackend>;
  /** True when probes run on this thread (inline executor). */
  inline: boolean;
  /** Circuit breakers by backend name (empty when `backend_circuit_breaker` is off), applied at dispatch. */
  breakers: Map<string, CircuitBreaker>;
  order: string[];
  /** The raw metadata store (for seeding), and the breaker-wrapped one reads go through. */
  rawStore: MetadataStore;
  store: CircuitBreakerStore;
  cache: MemoryLocationCache;
  flusher: UsageFlusher | undefined;
  breakerStates(): { store: StoreBreakerState; backends: Record<string, BreakerState> };
  /**
   * Backends that do I/O on this thread, for streams (whose bytes are read where they are
   * consumed): the real backends inline; with the pool, a set of this thread's own, built on
   * first use from the same configuration (or backend module) the workers use.
   */
  streamBackends(): Promise<ReadonlyMap<string, ObjectBackend>>;
  /**
   * This thread's keys when `encryption:` is configured (built on first use): inline probes and
   * streams decrypt with them; pool workers hold their own.
   */
  keys(): KeyRing | undefined;
  /**
   * Release every part, after waiting for this reader's probes still running (see settleUsage)
   * for up to `drainLeftMs`: what is left of `circuit_breaker.drain_timeout` once the executor's
   * own close took its share (default: all of it). Idempotent.
   */
  close(opts?: { drainLeftMs?: number }): Promise<void>;
}

function isUsageStore(s: unknown): s is UsageStore {
  return s !== null && typeof s === 'object' && typeof (s as UsageStore).loadUsage === 'function' && typeof (s as UsageStore).flushUsage === 'function';
}

/** Open the configured metadata store. */
export async function openStore(config: ResolvedConfig, warn?: (message: string) => void): Promise<MetadataStore> {
  const db = config.database;
  const onUnknownColumns = warn === undefined ? undefined : (columns: string[]): void => warn(unknownColumnsWarning(columns));
  switch (db.driver) {
    case 'memory':
      return new MemoryMetadataStore();
    case 'sqlite':
      try {
        const store = await SqliteMetadataStore.open({ path: db.path, busyTimeoutMs: db.busyTimeoutMs, ...(onUnknownColumns === undefined ? {} : { onUnknownColumns }) });
        // Reads of an empty new file all answer 404, not degraded: a wrong path must be visible.
        if (store.createdFile) warn?.(`database.path: ${JSON.stringify(db.path)} did not exist and was created empty; every key reads as not found until s3-orchestrator writes to it (check database.path)`);
        return store;
      } catch (err) {
        // A local file that cannot be opened at startup is a wrong path or permission, not an
        // outage to ride out in degraded mode: say which setting to fix.
        throw new ReadPathError('INVALID_CONFIG', `database.path: cannot open SQLite database ${JSON.stringify(db.path)}: ${messageOf(err)}`, { cause: err });
      }
    case 'postgres': {
      const opts = postgresStoreOptions(db, onUnknownColumns === undefined ? {} : { onUnknownColumns });
      // Connects on first use: a database that is down at startup must not stop readpath from
      // opening, since degraded reads exist for exactly that.
      await PostgresMetadataStore.preload();
      return new PostgresMetadataStore(opts);
    }
  }
}


/**
 * Whether probes run on this thread: `runtime.mode: inline`, or backends given as objects
 * (embedding, tests), which cannot be shipped to worker threads.
 */
export function probesRunInline(config: ResolvedConfig, overrides: PartOverrides = {}): boolean {
  return config.runtime.mode === 'inline' || overrides.backends !== undefined;
}

/**
 * Before a reader's last usage flush: wait up to `waitMs` (what is left of `timeoutMs`,
 * `circuit_breaker.drain_timeout`, the time cancelled losers are given anyway) for every probe
 * this reader admitted to settle and record what it used; bill those still out then as reserved
 * — the safe side of a limit, since their real usage would be recorded after the flush and never
 * stored — and say so. Probes of other readers sharing the recorder are theirs to wait for and bill.
 */
async function settleUsage(recorder: Recorder, own: ProbeOwner, waitMs: number, timeoutMs: number, warn: ((message: string) => void) | undefined): Promise<void> {
  const ledger = recorder.reservations;
  if (await ledger.whenSettled(waitMs, own)) return;
  const { probes, byBackend } = ledger.writeOff(own);
  if (probes === 0 || warn === undefined) return;
  const billed = [...byBackend].map(([name, u]) => `${name}: ${u.api} request${u.api === 1 ? '' : 's'}, ${u.egress} bytes`).join('; ');
  warn(`usage: ${probes} probe${probes === 1 ? ' was' : 's were'} still running ${timeoutMs} ms (circuit_breaker.drain_timeout) into close(); billed as reserved, not as used: ${billed}`);
}

/** Build every part from the configuration (and overrides). */
export async function assemble(config: ResolvedConfig, overrides: PartOverrides = {}): Promise<Parts> {
  const recorder = overrides.recorder ?? new Recorder();
  const probes = new ProbeOwner();
  for (const b of config.backends) {
    recorder.usage.setLimits(b.name, { apiRequests: b.apiRequestLimit, egressBytes: b.egressByteLimit, ingressBytes: b.ingressByteLimit });
  }
  const inline = probesRunInline(config, overrides);
  // The main thread builds S3 clients only when it makes the calls itself.
  const buildS3 = inline && overrides.backends === undefined;
  const s3 = buildS3 ? s3OptionsFromConfig(config) : [];
  // S3 clients built from `backends[]`, here or in the pool's workers: the warning that they
  // ignore proxy variables is the reader's, told through its hook like its other warnings.
  if (buildS3) warnProxyEnvironmentOnce(s3, overrides.warn);
  else if (!inline && overrides.backendModule === undefined) warnProxyEnvironmentOnce(config.backends, overrides.warn);
  // Only the transports these backends use, loaded before they are built.
  if (s3.length > 0) await preloadS3(s3);
  const raw: ObjectBackend[] = overrides.backends !== undefined
    ? [...overrides.backends]
    : buildS3
      ? s3.map(createS3Backend)
      : config.backends.map((b) => new PooledBackend(b.name));
  const breakers = new Map<string, CircuitBreaker>();
  const backends = new Map<string, ObjectBackend>();
  const bcb = config.backendCircuitBreaker;
  for (const b of raw) {
    backends.set(b.name, b);
    if (bcb.enabled) breakers.set(b.name, backendBreaker(b.name, { failureThreshold: bcb.failureThreshold, openTimeoutMs: bcb.openTimeoutMs }));
  }
  const order = overrides.backends !== undefined ? raw.map((b) => b.name) : config.backends.map((b) => b.name);
  const cb = config.circuitBreaker;
  const cache = new MemoryLocationCache({ ttlMs: cb.cacheTtlMs, maxEntries: cb.cacheMaxEntries });
  let rawStore: MetadataStore;
  try {
    rawStore = overrides.store ?? (await openStore(config, overrides.warn));
  } catch (err) {
    if (buildS3) await closeBackends(raw);
    throw err;
  }
  // Stale degraded winners must not outlive the outage.
  const store = new CircuitBreakerStore(rawStore, { failureThreshold: cb.failureThreshold, openTimeoutMs: cb.openTimeoutMs, onClose: () => cache.clear() });
  let flusher: UsageFlusher | undefined;
  if (isUsageStore(rawStore)) {
    // A failure other than an outage (which reads already report, and which ends by itself) is
    // told, each distinct one once: a backend upstream's database refuses (backend_usage's
    // foreign key to backend_quotas) would otherwise keep its usage unshared in silence.
    const told = new Set<string>();
    const warn = overrides.warn;
    flusher = new UsageFlusher({
      tracker: recorder.usage, store: rawStore, intervalMs: config.usage.flushIntervalMs,
      onError: (err, phase) => {
        if (hasCode(err, 'DB_UNAVAILABLE')) return;
        const message = `usage ${phase === 'flush' ? 'flush to' : 'load from'} the database failed: ${messageOf(err)}`;
        if (warn === undefined || told.has(message)) return;
        told.add(message);
        warn(`${message} (usage is still counted in this process; tried again every flush)`);
      },
    });
    await flusher.start();
  }
  let closed: Promise<void> | undefined;
  let own: Promise<Map<string, ObjectBackend>> | undefined;
  let keyRing: KeyRing | undefined;
  const encryption = config.encryption;
  const keys = (): KeyRing | undefined => {
    if (encryption === null) return undefined;
    keyRing ??= new KeyRing(encryption);
    return keyRing;
  };
  const streamBackends = (): Promise<ReadonlyMap<string, ObjectBackend>> => {
    if (inline) return Promise.resolve(backends);
    if (closed !== undefined) return Promise.reject(new ReadPathError('SERVICE_UNAVAILABLE', 'readpath is closed'));
    own ??= buildBackends(overrides.backendModule !== undefined
      ? { backendModule: transformUrl(overrides.backendModule), backendData: overrides.backendData }
      : { s3: s3OptionsFromConfig(config) });
    return own;
  };
  return {
    streamBackends,
    keys,
    recorder, probes, backends, inline, breakers, order, rawStore, store, cache, flusher,
    breakerStates: () => ({
      store: store.state(),
      backends: Object.fromEntries([...backends.keys()].map((n) => [n, breakers.get(n)?.state() ?? 'closed'])),
    }),
    close: (opts = {}) => {
      closed ??= (async () => {
        // Usage first, while the store is still open: a final flush must not be lost, nor what
        // probes still out will use (a loser on a backend that ignores its abort, a body being
        // drained), which is recorded only when they settle.
        if (flusher !== undefined) {
          await settleUsage(recorder, probes, opts.drainLeftMs ?? cb.drainTimeoutMs, cb.drainTimeoutMs, overrides.warn);
          await flusher.close().catch(() => {});
        }
        if (overrides.store === undefined) await rawStore.close?.().catch(() => {});
        if (buildS3) {
          await closeBackends(raw);
        }
        if (own !== undefined) await closeBackends((await own.catch(() => new Map<string, ObjectBackend>())).values());
        await keyRing?.close();
        // An outage's worth of entries (up to cache_max_entries) is not kept by a closed reader.
        cache.clear();
      })();
      return closed;
    },
  };
}
