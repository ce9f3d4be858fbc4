// Loading: defaults, every key honoured, ${VAR} expansion and coercion, upstream-only keys and
// sections accepted, YAML files (relative sqlite path, missing file, syntax errors), drivers.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { InvalidConfigError } from '../../src/config/issues.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { baseConfig, expectInvalid, setAt } from './config-helpers.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'config');

describe('config defaults', () => {
  it('fills every default of API.md §3', async () => {
    const cfg = await loadConfig(baseConfig() as never, { env: {}, baseDir: '/srv/rp' });
    const threads = Math.max(1, Math.min(8, availableParallelism() - 1));
    const expected: ResolvedConfig = {
      backends: [{
        name: 'b1', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', bucket: 'data', credentialSource: 'static',
        accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI-K7MDENG', forcePathStyle: false,
        apiRequestLimit: 0, egressByteLimit: 0, ingressByteLimit: 0, maxSockets: 50,
      }],
      database: { driver: 'sqlite', path: '/srv/rp/readpath.db', statementTimeoutMs: 10_000, busyTimeoutMs: 50 },
      circuitBreaker: {
        failureThreshold: 3, openTimeoutMs: 15_000, cacheTtlMs: 60_000, parallelBroadcast: false,
        degradedBroadcastParallelism: 0, degradedReadsEnabled: true, cacheMaxEntries: 100_000, drainTimeoutMs: 30_000,
      },
      backendCircuitBreaker: { enabled: false, failureThreshold: 10, openTimeoutMs: 300_000 },
      server: { backendTimeoutMs: 30_000 },
      integrity: { verifyOnRead: true, verifyEtag: true },
      runtime: { mode: 'pool', threads, tasksPerThread: 32, maxInFlight: threads * 32, maxBufferedBytes: 256 * 2 ** 20, streamIdleTimeoutMs: 30_000 },
      striping: { enabled: true, minSize: 32 * 2 ** 20, partSize: 4 * 2 ** 20, partsInFlight: 8 },
      hedging: { enabled: false, delayMs: 'auto', percentile: 95, maxExtraLoad: 0.05, locatedReads: false },
      broadcast: { launchOrder: 'fastest', stagger: true, storageKeys: true },
      usage: { flushIntervalMs: 30_000 },
      cache: { enabled: false, maxSize: 256 * 2 ** 20, maxObjectSize: 10 * 2 ** 20, ttlMs: 300_000 },
      head: { fromMetadata: true },
      logging: { level: 'info' },
      encryption: null,
      gateway: {
        listenAddr: '127.0.0.1:9000', host: '127.0.0.1', port: 9000, tls: null, maxConcurrentReads: 0, maxConcurrentRequests: 0, admissionWaitMs: 0, loadShedThreshold: 0,
        readHeaderTimeoutMs: 10_000, idleTimeoutMs: 120_000, shutdownDelayMs: 0, shutdownTimeoutMs: 60_000, maxHeaderBytes: 65_536, processes: 1, bodyBuffers: 64,
        region: 'us-east-1', metricsPath: '/metrics', healthPath: '/health', virtualHostDomains: [], buckets: [],
        rateLimit: { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 },
      },
      source: { file: null, baseDir: '/srv/rp' },
    };
    assert.deepEqual(cfg, expected);
  });

  it('treats null sections and null values as unset (YAML `key:` with no value)', async () => {
    const cfg = baseConfig();
    Object.assign(cfg, { circuit_breaker: null, server: { backend_timeout: null }, database: null });
    const r = await loadConfig(cfg as never, { env: {} });
    assert.equal(r.circuitBreaker.failureThreshold, 3);
    assert.equal(r.server.backendTimeoutMs, 30_000);
    assert.equal(r.database.driver, 'sqlite');
  });

  it('honours every key readpath reads', async () => {
    const cfg = baseConfig();
    Object.assign(cfg.backends[0] as object, {
      region: 'eu-west-1', force_path_style: true, api_request_limit: 1000, egress_byte_limit: 2_000_000,
      ingress_byte_limit: 3, max_sockets: 7,
    });
    Object.assign(cfg, {
      circuit_breaker: {
        failure_threshold: 5, open_timeout: '1m', cache_ttl: '90s', parallel_broadcast: true,
        degraded_broadcast_parallelism: 2, degraded_reads_enabled: false, cache_max_entries: 10, drain_timeout: '2s',
      },
      backend_circuit_breaker: { enabled: true, failure_threshold: 4, open_timeout: '1m30s' },
      server: { backend_timeout: '500ms' },
      integrity: { verify_on_read: false, verify_etag: false },
      runtime: { mode: 'inline', threads: 3, tasks_per_thread: 4, max_in_flight: 100, max_buffered_bytes: '1MiB', stream_idle_timeout: '2s' },
      hedging: { enabled: true, delay: '50ms', percentile: 99, max_extra_load: 0.1, located_reads: true },
      broadcast: { launch_order: 'config', stagger: false, storage_keys: false },
      usage: { flush_interval: '5s' },
      head: { from_metadata: 'off' },
      logging: { level: 'debug' },
    });
    const r = await loadConfig(cfg as never, { env: {} });
    assert.deepEqual(r.backends[0], {
      name: 'b1', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', bucket: 'data', credentialSource: 'static',
      accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI-K7MDENG', forcePathStyle: true,
      apiRequestLimit: 1000, egressByteLimit: 2_000_000, ingressByteLimit: 3, maxSockets: 7,
    });
    assert.deepEqual(r.circuitBreaker, {
      failureThreshold: 5, openTimeoutMs: 60_000, cacheTtlMs: 90_000, parallelBroadcast: true,
      degradedBroadcastParallelism: 2, degradedReadsEnabled: false, cacheMaxEntries: 10, drainTimeoutMs: 2000,
    });
    assert.deepEqual(r.backendCircuitBreaker, { enabled: true, failureThreshold: 4, openTimeoutMs: 90_000 });
    assert.deepEqual(r.server, { backendTimeoutMs: 500 });
    assert.deepEqual(r.integrity, { verifyOnRead: false, verifyEtag: false });
    assert.deepEqual(r.runtime, { mode: 'inline', threads: 3, tasksPerThread: 4, maxInFlight: 100, maxBufferedBytes: 2 ** 20, streamIdleTimeoutMs: 2000 });
    assert.deepEqual(r.hedging, { enabled: true, delayMs: 50, percentile: 99, maxExtraLoad: 0.1, locatedReads: true });
    assert.deepEqual(r.broadcast, { launchOrder: 'config', stagger: false, storageKeys: false });
    assert.deepEqual(r.usage, { flushIntervalMs: 5000 });
    assert.deepEqual(r.head, { fromMetadata: false });
    assert.deepEqual(r.logging, { level: 'debug' });
  });

  it('derives max_in_flight from threads × tasks_per_thread', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'runtime', { threads: 3, tasks_per_thread: 5 });
    const r = await loadConfig(cfg as never, { env: {} });
    assert.deepEqual(r.runtime, { mode: 'pool', threads: 3, tasksPerThread: 5, maxInFlight: 15, maxBufferedBytes: 256 * 2 ** 20, streamIdleTimeoutMs: 30_000 });
  });

  it('a program\'s default thread count applies only where runtime.threads is not set', async () => {
    const none = await loadConfig(baseConfig() as never, { env: {}, defaultThreads: 5 });
    assert.deepEqual(none.runtime, { mode: 'pool', threads: 5, tasksPerThread: 32, maxInFlight: 160, maxBufferedBytes: 256 * 2 ** 20, streamIdleTimeoutMs: 30_000 });
    const cfg = baseConfig();
    setAt(cfg, 'runtime', { threads: 3 });
    assert.equal((await loadConfig(cfg as never, { env: {}, defaultThreads: 5 })).runtime.threads, 3);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      for (const name of ['defaultThreads', 'threads'] as const) {
        await assert.rejects(loadConfig(baseConfig() as never, { env: {}, [name]: bad }), (err: unknown) => {
          assert.ok(err instanceof InvalidConfigError, String(err));
          assert.equal(err.code, 'INVALID_CONFIG');
          assert.equal(err.issues[0]?.path, name);
          return true;
        }, `${name} ${String(bad)}`);
      }
    }
  });

  it('a program\'s thread override wins over runtime.threads; max_in_flight follows it unless set', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'runtime', { threads: 3, tasks_per_thread: 4 });
    const r = await loadConfig(cfg as never, { env: {}, threads: 6, defaultThreads: 5 });
    assert.deepEqual([r.runtime.threads, r.runtime.maxInFlight], [6, 24]);
    setAt(cfg, 'runtime', { threads: 3, tasks_per_thread: 4, max_in_flight: 10 });
    const set = await loadConfig(cfg as never, { env: {}, threads: 6 });
    assert.deepEqual([set.runtime.threads, set.runtime.maxInFlight], [6, 10]);
  });

  it('takes the log level from server.log_level when logging.level is absent', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'server.log_level', 'warn');
    assert.equal((await loadConfig(cfg as never, { env: {} })).logging.level, 'warn');
    setAt(cfg, 'logging.level', 'trace');
    assert.equal((await loadConfig(cfg as never, { env: {} })).logging.level, 'trace');
  });

  it('names unnamed backends backend-<index>, as upstream does', async () => {
    const cfg = baseConfig();
    delete cfg.backends[0]?.['name'];
    assert.equal((await loadConfig(cfg as never, { env: {} })).backends[0]?.name, 'backend-0');
  });

  it('reads plain numbers as milliseconds and hedging.delay: auto', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'server.backend_timeout', 1500);
    setAt(cfg, 'hedging.delay', 'AUTO');
    const r = await loadConfig(cfg as never, { env: {} });
    assert.equal(r.server.backendTimeoutMs, 1500);
    assert.equal(r.hedging.delayMs, 'auto');
  });
});

describe('config ${VAR} expansion', () => {
  it('expands references in every string readpath reads, and coerces numbers and flags', async () => {
    const cfg = baseConfig();
    Object.assign(cfg.backends[0] as object, {
      endpoint: 'http://${S3_HOST}:${S3_PORT}', access_key_id: '${KEY}', secret_access_key: '${SECRET}',
      force_path_style: '${FPS}', api_request_limit: '${LIMIT}',
    });
    setAt(cfg, 'circuit_breaker.open_timeout', '${OPEN}');
    setAt(cfg, 'circuit_breaker.parallel_broadcast', '${PAR}');
    setAt(cfg, 'hedging.max_extra_load', '${LOAD}');
    const env = { S3_HOST: '127.0.0.1', S3_PORT: '9100', KEY: 'k', SECRET: 's3cr:et #x', FPS: 'yes', LIMIT: '100', OPEN: '2m', PAR: 'off', LOAD: '0.25' };
    const r = await loadConfig(cfg as never, { env });
    const b = r.backends[0];
    assert.equal(b?.endpoint, 'http://127.0.0.1:9100');
    assert.equal(b?.accessKeyId, 'k');
    assert.equal(b?.secretAccessKey, 's3cr:et #x');
    assert.equal(b?.forcePathStyle, true);
    assert.equal(b?.apiRequestLimit, 100);
    assert.equal(r.circuitBreaker.openTimeoutMs, 120_000);
    assert.equal(r.circuitBreaker.parallelBroadcast, false);
    assert.equal(r.hedging.maxExtraLoad, 0.25);
  });

  it('supports ${VAR:-fallback}', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.bucket', '${BUCKET:-fallback-bucket}');
    setAt(cfg, 'backends.0.region', '${EMPTY:-dflt}');
    const r = await loadConfig(cfg as never, { env: { EMPTY: '' } });
    assert.equal(r.backends[0]?.bucket, 'fallback-bucket');
    assert.equal(r.backends[0]?.region, 'dflt');
  });

  it('expands $VAR as well as ${VAR}, as s3-orchestrator (Go\'s os.Expand) does, and refuses an unset one', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', '$SECRET');
    setAt(cfg, 'backends.0.bucket', 'data-$ENV_1.x-${ENV_1}_$ENV_1_');
    setAt(cfg, 'backends.0.endpoint', 'http://$HOST:9000/');
    const env = { SECRET: 'from-env', ENV_1: 'prod', ENV_1_: 'p2', HOST: '127.0.0.1' };
    const r = await loadConfig(cfg as never, { env });
    assert.equal(r.backends[0]?.secretAccessKey, 'from-env');
    assert.equal(r.backends[0]?.bucket, 'data-prod.x-prod_p2', 'a name runs as far as letters, digits and _ go');
    assert.equal(r.backends[0]?.endpoint, 'http://127.0.0.1:9000/');
    setAt(cfg, 'database', { host: 'db', database: 'meta', user: 'reader', password: '$PGPASS' });
    const err = await expectInvalid(cfg, { env });
    assert.deepEqual(err.issues.map((i) => [i.path, i.message]), [['database.password', 'environment variable PGPASS is not set']]);
  });

  it('keeps a $ that starts no reference, as upstream, and refuses $$, $1, ${}, ${ (no escape: upstream has none)', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', 'US$ 5, 3$/h, $.x, $%, trailing$');
    assert.equal((await loadConfig(cfg as never, { env: {} })).backends[0]?.secretAccessKey, 'US$ 5, 3$/h, $.x, $%, trailing$');
    // What upstream reads as one-character variables (never set): an error, not "" as upstream substitutes.
    for (const [text, name] of [['pa$$word', '$'], ['a$1b', '1'], ['x$?', '?'], ['${*}', '*'], ['$-', '-']] as const) {
      setAt(cfg, 'backends.0.secret_access_key', text);
      const err = await expectInvalid(cfg);
      assert.equal(err.issues.length, 1, text);
      assert.equal(err.issues[0]?.path, 'backends[0].secret_access_key');
      assert.ok(err.issues[0]?.message.startsWith(`environment variable ${name} is not set ($ before $, a digit`), err.issues[0]?.message);
    }
    for (const text of ['${}', 'a${b', '${a b}', '${NAME:x}']) {
      setAt(cfg, 'backends.0.secret_access_key', text);
      assert.deepEqual((await expectInvalid(cfg)).issues.map((i) => i.message), ['malformed ${...} reference (use ${NAME}, $NAME or ${NAME:-default})'], text);
    }
    // A value holding such a $ comes from a variable: what it expands to is not expanded again.
    setAt(cfg, 'backends.0.secret_access_key', '$S');
    assert.equal((await loadConfig(cfg as never, { env: { S: 'pa$$word$1' } })).backends[0]?.secretAccessKey, 'pa$$word$1');
  });

  it('does not re-expand the value a variable expands to', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.secret_access_key', '${S}');
    const r = await loadConfig(cfg as never, { env: { S: '${OTHER}$$' } });
    assert.equal(r.backends[0]?.secretAccessKey, '${OTHER}$$');
  });

  it('reads process.env by default', async () => {
    const name = `RP_CONFIG_TEST_${process.pid}`;
    process.env[name] = 'from-process-env';
    try {
      const cfg = baseConfig();
      setAt(cfg, 'backends.0.bucket', `\${${name}}`);
      assert.equal((await loadConfig(cfg as never)).backends[0]?.bucket, 'from-process-env');
    } finally {
      delete process.env[name];
    }
  });

  it('never expands inside upstream-only keys and sections', async () => {
    const cfg = baseConfig();
    Object.assign(cfg.backends[0] as object, { quota_bytes: '${QUOTA_UNSET}', http: { max_idle_conns: '${X_UNSET}' } });
    Object.assign(cfg, {
      ui: { enabled: true, admin_secret: '${UI_ADMIN_SECRET}' },
      encryption: { vault: { token: '${VAULT_TOKEN}' } },
      server: { read_timeout: '${READ_TIMEOUT_UNSET}', spill_dir: '${SPILL_UNSET}' },
      buckets: [{ name: 'b', credentials: [{ token: '${LEGACY_TOKEN_UNSET}' }], max_multipart_uploads: '${MPU_UNSET}' }],
      database: { min_conns: '${MIN_UNSET}' },
      integrity: { scrubber_interval: '${SCRUB_UNSET}' },
    });
    await loadConfig(cfg as never, { env: {} });
  });
});

describe('config: upstream s3-orchestrator compatibility', () => {
  it('accepts every upstream-only section and key, with any value', async () => {
    const cfg = baseConfig();
    const junk = { nested: [1, 'two', { three: null }], weird: true };
    // rate_limit: and cache: are readpath's too now (gateway-rate-limit.test.ts, object-cache.test.ts).
    for (const section of ['telemetry', 'rebalance', 'replication', 'compression', 'ui', 'auth',
      'cleanup_queue', 'write_path', 'lifecycle', 'reconcile', 'redis', 'notifications', 'debug', 'routing_strategy']) {
      cfg[section] = junk;
    }
    // readpath reads encryption:, but, as upstream, validates nothing in it unless it is enabled.
    cfg['encryption'] = junk;
    Object.assign(cfg.backends[0] as object, {
      unsigned_payload: true, disable_checksum: false, strip_sdk_headers: true, quota_bytes: 1, max_object_size: 2,
      request_limits: [{ name: 'all', operations: ['*'], limit: 5 }], unmetered: ['HeadObject'], http: { force_http2: false },
    });
    Object.assign(cfg, {
      database: { min_conns: 1, max_conn_lifetime: '5m' },
      // readpath reads listen_addr, tls, the admission keys (max_concurrent_reads/_requests, admission_wait,
      // load_shed_threshold), max_header_bytes and the timeouts now (config-gateway.test.ts).
      server: {
        max_object_size: junk, spill_dir: junk, max_concurrent_writes: junk,
        max_header_value_count: junk, read_timeout: junk, write_timeout: junk,
      },
      buckets: [{ name: 'b', credentials: [{ token: 't' }], max_multipart_uploads: junk }],
      integrity: { enabled: true, verify_on_replicate: true, scrubber_interval: '6h', scrubber_batch_size: 100, scrubber_min_age: '24h' },
    });
    const r = await loadConfig(cfg as never, { env: {} });
    assert.equal(r.backends.length, 1);
    assert.ok(!('ui' in r) && !('telemetry' in r), 'ignored sections do not reach the resolved config');
    assert.equal(r.encryption, null);
  });

  it('reads a 0 as upstream does, as the default, where upstream does (and a negative broadcast window as 0)', async () => {
    const zeros = {
      ...baseConfig(),
      server: { backend_timeout: '0s', read_header_timeout: 0, idle_timeout: '0s', max_header_bytes: 0 },
      circuit_breaker: { failure_threshold: 0, open_timeout: '0s', cache_ttl: 0, degraded_broadcast_parallelism: -1 },
      backend_circuit_breaker: { enabled: true, failure_threshold: 0, open_timeout: '0s' },
      cache: { enabled: true, ttl: '0s' },
      database: { host: 'db', database: 'meta', user: 'reader', max_conns: 0 },
      rate_limit: { enabled: true, requests_per_sec: 0, burst: 0, cleanup_interval: 0, cleanup_max_age: '0s' },
      encryption: { enabled: true, vault: { address: 'https://vault:8200', token: 't', key_name: 'k', renew_interval: '0s' } },
    };
    const unset = {
      ...baseConfig(), database: { host: 'db', database: 'meta', user: 'reader' }, backend_circuit_breaker: { enabled: true }, cache: { enabled: true }, rate_limit: { enabled: true },
      encryption: { enabled: true, vault: { address: 'https://vault:8200', token: 't', key_name: 'k' } },
    };
    const [r, d] = await Promise.all([loadConfig(zeros as never, { env: {} }), loadConfig(unset as never, { env: {} })]);
    assert.deepEqual(r.server, d.server);
    assert.equal(r.runtime.streamIdleTimeoutMs, d.runtime.streamIdleTimeoutMs, 'stream_idle_timeout follows the defaulted backend_timeout');
    assert.deepEqual(r.circuitBreaker, d.circuitBreaker);
    assert.equal(r.circuitBreaker.degradedBroadcastParallelism, 0);
    assert.deepEqual(r.backendCircuitBreaker, d.backendCircuitBreaker);
    assert.deepEqual(r.cache, d.cache);
    assert.deepEqual(r.database, d.database);
    assert.deepEqual(r.gateway, d.gateway);
    assert.deepEqual(r.encryption, d.encryption);
    assert.equal(r.encryption?.vault?.renewIntervalMs, 300_000);
    assert.equal(r.server.backendTimeoutMs, 30_000);
    assert.equal(r.gateway.readHeaderTimeoutMs, 10_000);
    assert.equal(r.circuitBreaker.failureThreshold, 3);
  });

  it('checks rate_limit\'s rate, burst and cleanup times only while it is enabled, as upstream', async () => {
    const off = { ...baseConfig(), rate_limit: { enabled: false, requests_per_sec: 0, burst: -5, cleanup_interval: '-1s', cleanup_max_age: 0 } };
    const r = await loadConfig(off as never, { env: {} });
    assert.deepEqual(r.gateway.rateLimit, { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 });
    const err = await expectInvalid({ ...off, rate_limit: { ...off.rate_limit, enabled: true, requests_per_sec: -1 } });
    assert.deepEqual(err.issues.map((i) => i.path), ['rate_limit.requests_per_sec', 'rate_limit.burst', 'rate_limit.cleanup_interval']);
    // Types are checked either way (upstream's YAML decoding would fail on them too).
    assert.deepEqual((await expectInvalid({ ...off, rate_limit: { enabled: false, burst: 'lots' } })).issues.map((i) => i.path), ['rate_limit.burst']);
  });

  it('flushes usage every usage_flush.interval (upstream\'s key) unless usage.flush_interval (readpath\'s) is set', async () => {
    const flush = async (doc: Record<string, unknown>, env: Record<string, string> = {}): Promise<number> =>
      (await loadConfig({ ...baseConfig(), ...doc } as never, { env })).usage.flushIntervalMs;
    const adaptive = { adaptive_enabled: true, adaptive_threshold: '${THRESHOLD_UNSET}', fast_interval: { any: 'value' } };
    assert.equal(await flush({ usage_flush: { interval: '${FLUSH}', ...adaptive } }, { FLUSH: '10s' }), 10_000);
    assert.equal(await flush({ usage_flush: { interval: '10s' }, usage: { flush_interval: '45s' } }), 45_000, 'readpath\'s own key wins');
    assert.equal(await flush({ usage_flush: { interval: 0 } }), 30_000, '0 is the default, as upstream');
    assert.equal(await flush({ usage_flush: adaptive }), 30_000);
    const err = await expectInvalid({ ...baseConfig(), usage_flush: { interval: '-1s', fast_intervall: '5s' } });
    assert.deepEqual(err.issues.map((i) => [i.path, i.message]), [
      ['usage_flush.interval', 'must not be negative (0 = the default)'],
      ['usage_flush.fast_intervall', 'unknown key (did you mean fast_interval?)'],
    ]);
  });

  it('loads a config.yaml shared with s3-orchestrator, resolving the sqlite path against its directory', async () => {
    const env = { OCI_KEY: 'ok', OCI_SECRET: 'os', B2_KEY: 'bk', B2_SECRET: 'bs', APP_KEY: 'ak', APP_SECRET: 'as' };
    const file = join(FIXTURES, 'shared-with-upstream.yaml');
    const r = await loadConfig(file, { env });
    assert.deepEqual(r.source, { file, baseDir: FIXTURES });
    assert.deepEqual(r.database, { driver: 'sqlite', path: join(FIXTURES, 'data', 'meta.db'), statementTimeoutMs: 10_000, busyTimeoutMs: 50 });
    assert.equal(r.encryption, null, 'encryption: enabled: false, and its ${MASTER_KEY} (unset) is not expanded');
    assert.deepEqual(r.backends.map((b) => [b.name, b.region, b.forcePathStyle, b.apiRequestLimit, b.egressByteLimit]), [
      ['oci', 'us-ashburn-1', true, 50000, 10737418240],
      ['b2', 'us-west-004', false, 0, 0],
    ]);
    assert.equal(r.backends[1]?.secretAccessKey, 'bs');
    assert.deepEqual(r.circuitBreaker, {
      failureThreshold: 5, openTimeoutMs: 30_000, cacheTtlMs: 120_000, parallelBroadcast: true,
      degradedBroadcastParallelism: 2, degradedReadsEnabled: true, cacheMaxEntries: 100_000, drainTimeoutMs: 30_000,
    });
    assert.deepEqual(r.backendCircuitBreaker, { enabled: true, failureThreshold: 4, openTimeoutMs: 90_000 });
    assert.equal(r.server.backendTimeoutMs, 45_000);
    assert.equal(r.integrity.verifyOnRead, false);
    assert.equal(r.logging.level, 'warn');
    assert.deepEqual(r.runtime, { mode: 'inline', threads: 3, tasksPerThread: 8, maxInFlight: 24, maxBufferedBytes: 256 * 2 ** 20, streamIdleTimeoutMs: 45_000 });
    assert.deepEqual(r.hedging, { enabled: true, delayMs: 50, percentile: 95, maxExtraLoad: 0.05, locatedReads: true });
    assert.equal(r.usage.flushIntervalMs, 10_000);
    assert.deepEqual(r.gateway, {
      listenAddr: '0.0.0.0:9000', host: '0.0.0.0', port: 9000, tls: null, maxConcurrentReads: 200, maxConcurrentRequests: 0, admissionWaitMs: 0, loadShedThreshold: 0,
      readHeaderTimeoutMs: 10_000, idleTimeoutMs: 120_000, shutdownDelayMs: 0, shutdownTimeoutMs: 60_000, maxHeaderBytes: 65_536, processes: 1, bodyBuffers: 64,
      region: 'us-east-1', metricsPath: '/metrics', healthPath: '/health', virtualHostDomains: [],
      buckets: [{ name: 'app', credentials: [{ accessKeyId: 'ak', secretAccessKey: 'as' }] }],
      rateLimit: { enabled: false, requestsPerSec: 100, burst: 200, trustedProxies: [], cleanupIntervalMs: 60_000, cleanupMaxAgeMs: 300_000 },
    }, 'tls with empty cert_file and key_file is plain HTTP, as upstream');
  });
});

describe('config database drivers', () => {
  const withDb = (db: Record<string, unknown>) => ({ ...baseConfig(), database: db });

  it('infers postgres from host, with upstream defaults', async () => {
    const r = await loadConfig(withDb({ host: 'db', database: 'meta', user: 'rp', password: 'pw' }) as never, { env: {} });
    assert.deepEqual(r.database, {
      driver: 'postgres', url: null, host: 'db', port: 5432, database: 'meta', user: 'rp', password: 'pw',
      sslMode: 'require', maxConns: 10, statementTimeoutMs: 10_000,
    });
  });

  it('reads database.busy_timeout for SQLite (0: a locked file fails at once)', async () => {
    const r = await loadConfig(withDb({ path: '/srv/m.db', busy_timeout: '250ms' }) as never, { env: {} });
    assert.deepEqual(r.database, { driver: 'sqlite', path: '/srv/m.db', statementTimeoutMs: 10_000, busyTimeoutMs: 250 });
    const zero = await loadConfig(withDb({ path: '/srv/m.db', busy_timeout: '0s' }) as never, { env: {} });
    assert.equal(zero.database.driver === 'sqlite' && zero.database.busyTimeoutMs, 0);
  });

  it('infers postgres from url and keeps it whole', async () => {
    const url = 'postgresql://rp:pw@127.0.0.1:5433/meta?sslmode=disable';
    const r = await loadConfig(withDb({ url, max_conns: 4, statement_timeout: '2s' }) as never, { env: {} });
    assert.deepEqual(r.database, {
      driver: 'postgres', url, host: null, port: null, database: null, user: null, password: null, sslMode: null,
      maxConns: 4, statementTimeoutMs: 2000,
    });
  });

  it('accepts port as a string (from ${VAR}) and the memory driver', async () => {
    const r = await loadConfig(withDb({ driver: 'postgres', host: 'h', database: 'd', user: 'u', port: '${PGPORT}', ssl_mode: 'disable' }) as never, { env: { PGPORT: '6543' } });
    assert.equal(r.database.driver === 'postgres' && r.database.port, 6543);
    const m = await loadConfig(withDb({ driver: 'memory' }) as never, { env: {} });
    assert.deepEqual(m.database, { driver: 'memory', statementTimeoutMs: 10_000 });
  });

  it('resolves a relative sqlite path against baseDir and keeps absolute, :memory: and file: paths', async () => {
    const at = async (p: string) => {
      const r = await loadConfig(withDb({ path: p }) as never, { env: {}, baseDir: '/data/rp' });
      return r.database.driver === 'sqlite' ? r.database.path : '';
    };
    assert.equal(await at('meta/x.db'), '/data/rp/meta/x.db');
    assert.equal(await at('/abs/x.db'), '/abs/x.db');
    assert.equal(await at(':memory:'), ':memory:');
    assert.equal(await at('file:x.db?mode=ro'), 'file:x.db?mode=ro');
  });
});

describe('config YAML files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rp-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  it('loads the minimal fixture with env credentials', async () => {
    const file = join(FIXTURES, 'minimal.yaml');
    const r = await loadConfig(file, { env: { B1_KEY: 'k', B1_SECRET: 's' } });
    assert.equal(r.backends[0]?.forcePathStyle, true);
    assert.equal(r.database.driver === 'sqlite' && r.database.path, join(FIXTURES, 'readpath.db'));
  });

  it('lets baseDir override the file directory', async () => {
    const r = await loadConfig(join(FIXTURES, 'minimal.yaml'), { env: { B1_KEY: 'k', B1_SECRET: 's' }, baseDir: dir });
    assert.equal(r.database.driver === 'sqlite' && r.database.path, join(dir, 'readpath.db'));
  });

  it('names the file when it is missing', async () => {
    const missing = join(dir, 'nope.yaml');
    const err = await expectInvalid(missing);
    assert.equal(err.message, `${missing}: cannot read config file: file not found`);
    assert.equal(err.file, missing);
  });

  it('rejects an empty path', async () => {
    const err = await expectInvalid('  ');
    assert.equal(err.message, 'the config file path is empty');
  });

  it('names the file when it is a directory', async () => {
    const err = await expectInvalid(dir);
    assert.match(err.message, /is a directory/);
  });

  it('names file, line and column of a YAML syntax error without quoting the line', async () => {
    const file = join(FIXTURES, 'bad-syntax.yaml');
    const err = await expectInvalid(file);
    assert.match(err.message, /bad-syntax\.yaml: line 4, column \d+: YAML syntax error/);
    assert.ok(!err.message.includes('hunter2'), err.message);
    assert.ok(!JSON.stringify(err).includes('hunter2'));
  });

  it('rejects duplicate keys, several documents and an empty file', async () => {
    let err = await expectInvalid(await write('dup.yaml', 'backends: []\nbackends: []\n'));
    assert.match(err.message, /line 2, column 1: YAML syntax error: duplicate key/);
    err = await expectInvalid(await write('multi.yaml', 'backends: []\n---\nserver: {}\n'));
    assert.match(err.message, /more than one document/);
    err = await expectInvalid(await write('empty.yaml', '# nothing here\n'));
    assert.match(err.message, /empty\.yaml: \(root\): the configuration is empty/);
  });

  it('prefixes validation errors with the file name', async () => {
    const file = await write('bad.yaml', 'backends:\n  - name: b1\n    endpoint: ftp://x\n    bucket: d\n    access_key_id: a\n    secret_access_key: s\n');
    const err = await expectInvalid(file);
    assert.equal(err.message, `${file}: backends[0].endpoint: expected an http(s) URL`);
  });

  it('expands ${VAR} after parsing, so values cannot change the YAML structure', async () => {
    const file = await write('inject.yaml', 'backends:\n  - name: b1\n    endpoint: http://h\n    bucket: "${BUCKET}"\n    access_key_id: a\n    secret_access_key: s\n');
    const r = await loadConfig(file, { env: { BUCKET: 'x\nserver: {backend_timeout: 1ms}' } });
    assert.equal(r.backends[0]?.bucket, 'x\nserver: {backend_timeout: 1ms}');
    assert.equal(r.server.backendTimeoutMs, 30_000);
  });

  it('survives an alias bomb', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}]`);
    const err = await expectInvalid(await write('bomb.yaml', `${lines.join('\n')}\n`));
    assert.match(err.message, /alias/);
  });
});
