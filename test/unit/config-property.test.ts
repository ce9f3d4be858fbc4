// Fuzzing the loader: whatever it is given, it resolves or rejects with an INVALID_CONFIG
// ReadPathError, and no rejection ever carries a secret value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidConfigError } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { ReadPathError } from '../../src/errors.js';
import { setAt } from './config-helpers.js';
import { fcParams } from '../helpers/property-params.js';

const MARK = 'MARKSECRET';

/** Resolves to the config, or to null after checking the rejection is a proper INVALID_CONFIG. */
async function loadOrInvalid(input: unknown, env: Record<string, string> = {}): Promise<ResolvedConfig | null> {
  try {
    return await loadConfig(input as never, { env, baseDir: '/base' });
  } catch (err) {
    assert.ok(err instanceof ReadPathError, `non-ReadPathError thrown: ${String(err)}`);
    assert.ok(err instanceof InvalidConfigError);
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.ok(err.issues.length > 0);
    for (const i of err.issues) assert.equal(typeof i.message, 'string');
    return null;
  }
}

function richConfig(): Record<string, unknown> {
  return {
    backends: [
      { name: 'b1', endpoint: 'http://127.0.0.1:9000', bucket: 'd', access_key_id: 'a', secret_access_key: `${MARK}-1`, api_request_limit: 10 },
      { name: 'b2', endpoint: 'https://s3.example.com', region: 'eu', bucket: 'd', access_key_id: 'a', secret_access_key: `${MARK}-2`, force_path_style: true },
    ],
    database: { driver: 'postgres', host: 'db', database: 'meta', user: 'rp', password: `${MARK}-db`, port: 5432 },
    circuit_breaker: { failure_threshold: 3, open_timeout: '15s', cache_ttl: '1m', parallel_broadcast: true, degraded_broadcast_parallelism: 2 },
    backend_circuit_breaker: { enabled: true, failure_threshold: 2, open_timeout: '5m' },
    server: { backend_timeout: '30s', listen_addr: ':9000', max_concurrent_reads: 4, region: 'us-east-1', metrics_path: '/metrics' },
    integrity: { verify_on_read: true },
    runtime: { mode: 'pool', threads: 2, tasks_per_thread: 8 },
    hedging: { enabled: true, delay: 'auto', percentile: 95, max_extra_load: 0.05 },
    usage: { flush_interval: '30s' },
    logging: { level: 'info' },
    ui: { admin_secret: '${UNSET_UPSTREAM_VAR}' },
    encryption: { enabled: true, master_key: Buffer.alloc(32, 7).toString('base64'), previous_keys: [Buffer.alloc(32, 9).toString('base64')] },
    buckets: [{ name: 'photos', credentials: [{ access_key_id: 'AKP', secret_access_key: `${MARK}-bucket` }, { token: `${MARK}-token` }] }],
  };
}

const MUTABLE_PATHS = [
  'backends', 'backends.0', 'backends.1', 'backends.0.name', 'backends.1.name', 'backends.0.endpoint', 'backends.0.bucket',
  'backends.0.region', 'backends.0.access_key_id', 'backends.1.secret_access_key', 'backends.0.credential_source',
  'backends.0.force_path_style', 'backends.0.api_request_limit', 'backends.1.egress_byte_limit', 'backends.0.max_sockets',
  'backends.0.quota_bytes', 'backends.0.extra', 'database', 'database.driver', 'database.host', 'database.url', 'database.port',
  'database.path', 'database.ssl_mode', 'database.max_conns', 'database.statement_timeout', 'circuit_breaker',
  'circuit_breaker.failure_threshold', 'circuit_breaker.open_timeout', 'circuit_breaker.cache_ttl',
  'circuit_breaker.degraded_broadcast_parallelism', 'circuit_breaker.degraded_reads_enabled', 'circuit_breaker.drain_timeout',
  'backend_circuit_breaker.enabled', 'backend_circuit_breaker.open_timeout', 'server', 'server.backend_timeout',
  'server.log_level', 'server.tls', 'integrity.verify_on_read', 'runtime', 'runtime.mode', 'runtime.threads',
  'runtime.max_in_flight', 'hedging.delay', 'hedging.percentile', 'hedging.max_extra_load', 'usage.flush_interval',
  'logging.level', 'ui', 'unknown_section', 'encryption', 'encryption.enabled', 'encryption.master_key', 'encryption.master_key_file',
  'encryption.previous_keys', 'encryption.previous_keys.0', 'encryption.chunk_size', 'encryption.vault', 'encryption.vault.address',
  'encryption.vault.token', 'encryption.vault.token_file', 'encryption.vault.ca_cert', 'encryption.key_cache.ttl',
  'buckets', 'buckets.0', 'buckets.1', 'buckets.0.name', 'buckets.0.credentials', 'buckets.0.credentials.0',
  'buckets.0.credentials.0.access_key_id', 'buckets.0.credentials.0.secret_access_key', 'buckets.0.credentials.1.token',
  'buckets.0.max_multipart_uploads', 'server.listen_addr', 'server.max_concurrent_reads', 'server.metrics_path', 'server.health_path',
  'server.region', 'server.max_header_bytes', 'server.idle_timeout', 'server.read_header_timeout', 'server.shutdown_delay',
  'server.tls.cert_file', 'server.tls.key_file', 'server.tls.min_version', 'server.tls.client_ca_file',
];

const junk = fc.oneof(
  fc.anything({ maxDepth: 3, withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true }),
  fc.constant(undefined),
  fc.constantFrom('', '0', '-1', '1.5', '30', '5s', '-5s', 'auto', 'true', 'no', 'http://h', 'ftp://h', 'postgres://u:p@h/d', '${X}', '${UNSET}', '$${X}', '${', 'pool', 'sqlite', 'memory'),
  fc.integer({ min: -3, max: 70000 }),
  fc.double(),
  fc.boolean(),
);

function checkInvariants(r: ResolvedConfig): void {
  assert.ok(r.backends.length >= 1);
  assert.equal(new Set(r.backends.map((b) => b.name)).size, r.backends.length);
  for (const b of r.backends) {
    assert.ok(/^https?:/.test(b.endpoint));
    for (const n of [b.apiRequestLimit, b.egressByteLimit, b.ingressByteLimit]) assert.ok(Number.isSafeInteger(n) && n >= 0);
    assert.ok(b.maxSockets >= 1);
  }
  assert.ok(r.circuitBreaker.failureThreshold >= 1 && r.circuitBreaker.openTimeoutMs > 0 && r.circuitBreaker.cacheTtlMs > 0);
  assert.ok(r.circuitBreaker.degradedBroadcastParallelism >= 0 && r.circuitBreaker.drainTimeoutMs > 0);
  assert.ok(r.server.backendTimeoutMs > 0);
  assert.ok(r.runtime.threads >= 1 && r.runtime.tasksPerThread >= 1 && r.runtime.maxInFlight >= 1);
  assert.ok(r.hedging.delayMs === 'auto' || r.hedging.delayMs > 0);
  assert.ok(r.hedging.percentile > 0 && r.hedging.percentile <= 100);
  assert.ok(r.hedging.maxExtraLoad >= 0 && r.hedging.maxExtraLoad <= 1);
  const g = r.gateway;
  assert.ok(Number.isInteger(g.port) && g.port >= 0 && g.port <= 65535);
  assert.ok(Number.isSafeInteger(g.maxConcurrentReads) && g.maxConcurrentReads >= 0);
  assert.ok(g.readHeaderTimeoutMs > 0 && g.idleTimeoutMs > 0 && g.shutdownDelayMs >= 0);
  assert.ok(g.maxHeaderBytes >= 1024 && g.maxHeaderBytes <= 16 * 2 ** 20);
  assert.ok(g.metricsPath.startsWith('/') && g.healthPath.startsWith('/') && g.metricsPath !== g.healthPath);
  const names = g.buckets.map((b) => b.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) {
    assert.ok(n !== '' && !n.includes('/'));
    assert.ok(n !== g.metricsPath.split('/')[1] && n !== g.healthPath.split('/')[1]);
  }
  const ids = g.buckets.flatMap((b) => b.credentials.map((c) => c.accessKeyId));
  assert.equal(new Set(ids).size, ids.length);
  for (const b of g.buckets) for (const c of b.credentials) assert.ok(c.accessKeyId !== '' && c.secretAccessKey !== '');
  if (r.encryption !== null) {
    assert.ok((r.encryption.localKeys.length > 0) !== (r.encryption.vault !== null), 'exactly one key source');
    for (const k of r.encryption.localKeys) assert.equal(k.key.length, 32);
    assert.ok(r.encryption.keyCacheMaxEntries >= 1 && r.encryption.keyCacheTtlMs > 0);
  }
}

describe('config fuzzing', () => {
  it('random junk documents only ever fail with INVALID_CONFIG', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ maxDepth: 4, withBigInt: true, withDate: true, withMap: true, withNullPrototype: true, withSparseArray: true }), async (doc) => {
        await loadOrInvalid(doc);
      }),
      fcParams(300),
    );
  });

  it('random junk under the real section names only ever fails with INVALID_CONFIG', async () => {
    const sections = ['backends', 'database', 'circuit_breaker', 'backend_circuit_breaker', 'server', 'integrity', 'runtime', 'hedging', 'usage', 'logging', 'buckets', 'encryption'];
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...sections), junk), async (doc) => {
        await loadOrInvalid(doc);
      }),
      fcParams(300),
    );
  });

  it('random mutations of a valid config resolve to a sane config or fail with INVALID_CONFIG, never leaking secrets', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ path: fc.constantFrom(...MUTABLE_PATHS), value: junk }), { minLength: 1, maxLength: 4 }), async (mutations) => {
        const cfg = richConfig();
        for (const m of mutations) setAt(cfg, m.path, m.value);
        try {
          const r = await loadConfig(cfg as never, { env: { X: 'x' }, baseDir: '/base' });
          checkInvariants(r);
        } catch (err) {
          assert.ok(err instanceof InvalidConfigError, `unexpected ${String(err)}`);
          assert.equal(err.code, 'INVALID_CONFIG');
          assert.ok(!err.message.includes(MARK), err.message);
        }
      }),
      fcParams(400),
    );
  });

  it('the unmutated rich config is valid', async () => {
    const r = await loadOrInvalid(richConfig());
    assert.ok(r !== null);
    checkInvariants(r);
  });

  it('string values never surface in messages, only key names do', async () => {
    const secretish = fc.string({ maxLength: 12 }).map((s) => `${MARK}${s}`);
    const key = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !k.includes(MARK));
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, secretish, fc.integer(), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 3 })),
    })).v;
    const sections = ['backends', 'database', 'circuit_breaker', 'server', 'runtime', 'hedging', 'logging', 'encryption', 'buckets'];
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...sections), value), async (doc) => {
        try {
          await loadConfig(doc as never, { env: {} });
        } catch (err) {
          assert.ok(err instanceof InvalidConfigError);
          assert.ok(!err.message.includes(MARK), err.message);
        }
      }),
      fcParams(300),
    );
  });
});
