// Every field's bad values: wrong type, negative/zero, unknown key, unset ${VAR}; duplicates,
// bad URLs, driver rules; one precise INVALID_CONFIG issue per mistake, in document order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { baseConfig, expectInvalid, setAt } from './config-helpers.js';

interface Case {
  /** dotted path to set (numbers index arrays) */
  set: string;
  value: unknown;
  /** the issue path expected, as the message prints it */
  path: string;
  message: RegExp;
  /** extra settings the case needs (e.g. a driver) */
  with?: Record<string, unknown>;
}

const cases: Case[] = [
  // backends
  { set: 'backends', value: undefined, path: 'backends', message: /^at least one backend is required$/ },
  { set: 'backends', value: [], path: 'backends', message: /^at least one backend is required$/ },
  { set: 'backends', value: 'b1', path: 'backends', message: /^expected an array \(list\), got string$/ },
  { set: 'backends.0', value: 5, path: 'backends[0]', message: /^expected an object \(mapping\), got number$/ },
  { set: 'backends.0.name', value: 5, path: 'backends[0].name', message: /^expected a string, got number$/ },
  { set: 'backends.0.name', value: '', path: 'backends[0].name', message: /^must not be empty$/ },
  { set: 'backends.0.endpoint', value: undefined, path: 'backends[0].endpoint', message: /^required$/ },
  { set: 'backends.0.endpoint', value: 'ftp://127.0.0.1/x', path: 'backends[0].endpoint', message: /^expected an http\(s\) URL$/ },
  { set: 'backends.0.endpoint', value: 'not a url', path: 'backends[0].endpoint', message: /^expected an http\(s\) URL$/ },
  { set: 'backends.0.endpoint', value: '127.0.0.1:9000', path: 'backends[0].endpoint', message: /^expected an http\(s\) URL$/ },
  { set: 'backends.0.endpoint', value: 42, path: 'backends[0].endpoint', message: /^expected a string, got number$/ },
  { set: 'backends.0.region', value: 7, path: 'backends[0].region', message: /^expected a string, got number$/ },
  { set: 'backends.0.bucket', value: undefined, path: 'backends[0].bucket', message: /^required$/ },
  { set: 'backends.0.bucket', value: '', path: 'backends[0].bucket', message: /^must not be empty$/ },
  { set: 'backends.0.bucket', value: ['a'], path: 'backends[0].bucket', message: /^expected a string, got array$/ },
  { set: 'backends.0.access_key_id', value: 5, path: 'backends[0].access_key_id', message: /^expected a string, got number$/ },
  { set: 'backends.0.access_key_id', value: undefined, path: 'backends[0].access_key_id', message: /^required \(credential_source is static\)$/ },
  { set: 'backends.0.secret_access_key', value: undefined, path: 'backends[0].secret_access_key', message: /^required/ },
  { set: 'backends.0.secret_access_key', value: '', path: 'backends[0].secret_access_key', message: /^required/ },
  { set: 'backends.0.secret_access_key', value: true, path: 'backends[0].secret_access_key', message: /^expected a string, got boolean$/ },
  { set: 'backends.0.credential_source', value: 'magic', path: 'backends[0].credential_source', message: /^expected one of static, default_chain$/ },
  { set: 'backends.0.force_path_style', value: 'maybe', path: 'backends[0].force_path_style', message: /^expected a boolean, got string$/ },
  { set: 'backends.0.force_path_style', value: 1, path: 'backends[0].force_path_style', message: /^expected a boolean, got number$/ },
  { set: 'backends.0.api_request_limit', value: -1, path: 'backends[0].api_request_limit', message: /^must not be negative$/ },
  { set: 'backends.0.api_request_limit', value: 1.5, path: 'backends[0].api_request_limit', message: /^expected an integer$/ },
  { set: 'backends.0.api_request_limit', value: 'lots', path: 'backends[0].api_request_limit', message: /^expected a number, got string$/ },
  { set: 'backends.0.egress_byte_limit', value: -5, path: 'backends[0].egress_byte_limit', message: /^must not be negative$/ },
  { set: 'backends.0.egress_byte_limit', value: 2 ** 60, path: 'backends[0].egress_byte_limit', message: /integer|at most/ },
  { set: 'backends.0.ingress_byte_limit', value: -5, path: 'backends[0].ingress_byte_limit', message: /^must not be negative$/ },
  { set: 'backends.0.ingress_byte_limit', value: {}, path: 'backends[0].ingress_byte_limit', message: /^expected a number, got object$/ },
  { set: 'backends.0.max_sockets', value: 0, path: 'backends[0].max_sockets', message: /^must be at least 1$/ },
  { set: 'backends.0.endpiont', value: 'http://x', path: 'backends[0].endpiont', message: /^unknown key \(did you mean endpoint\?\)$/ },
  { set: 'backends.0.colour', value: 'blue', path: 'backends[0].colour', message: /^unknown key$/ },
  // database
  { set: 'database', value: 'sqlite', path: 'database', message: /^expected an object \(mapping\), got string$/ },
  { set: 'database.driver', value: 'mysql', path: 'database.driver', message: /^expected one of sqlite, postgres, memory$/ },
  { set: 'database.path', value: 5, path: 'database.path', message: /^expected a string, got number$/ },
  { set: 'database.path', value: '', path: 'database.path', message: /^must not be empty$/ },
  { set: 'database.port', value: 0, path: 'database.port', message: /port between 1 and 65535/ },
  { set: 'database.port', value: 70000, path: 'database.port', message: /port between 1 and 65535/ },
  { set: 'database.port', value: 'five', path: 'database.port', message: /^expected a number, got string$/ },
  { set: 'database.ssl_mode', value: 'sometimes', path: 'database.ssl_mode', message: /^expected one of disable, allow, prefer, require, verify-ca, verify-full$/ },
  { set: 'database.max_conns', value: -1, path: 'database.max_conns', message: /^must not be negative \(0 = the default\)$/ },
  { set: 'database.statement_timeout', value: '0s', path: 'database.statement_timeout', message: /greater than 0/ },
  { set: 'database.statement_timeout', value: '10', path: 'database.statement_timeout', message: /missing unit/ },
  { set: 'database.busy_timeout', value: '-1s', path: 'database.busy_timeout', message: /negative/ },
  { set: 'database.busy_timeout', value: '50ms', path: 'database.busy_timeout', message: /^only valid with driver sqlite$/, with: { 'database.url': 'postgres://u@h/db' } },
  { set: 'database.url', value: 'mysql://u:p@h/db', path: 'database.url', message: /^expected a postgres:\/\/ or postgresql:\/\/ URL$/ },
  { set: 'database.url', value: 'postgres://u@h/db', path: 'database.url', message: /^only valid with driver postgres$/, with: { 'database.driver': 'sqlite' } },
  { set: 'database.host', value: 'db', path: 'database.host', message: /^not allowed together with database\.url$/, with: { 'database.url': 'postgres://u@h/db' } },
  { set: 'database.password', value: 5, path: 'database.password', message: /^expected a string, got number$/ },
  { set: 'database.passwd', value: 'x', path: 'database.passwd', message: /^unknown key \(did you mean password\?\)$/ },
  // circuit_breaker
  { set: 'circuit_breaker', value: [], path: 'circuit_breaker', message: /^expected an object \(mapping\), got array$/ },
  { set: 'circuit_breaker.failure_threshold', value: -3, path: 'circuit_breaker.failure_threshold', message: /^must not be negative \(0 = the default\)$/ },
  { set: 'circuit_breaker.failure_threshold', value: 2.5, path: 'circuit_breaker.failure_threshold', message: /^expected an integer$/ },
  { set: 'circuit_breaker.failure_threshold', value: 'three', path: 'circuit_breaker.failure_threshold', message: /^expected a number, got string$/ },
  { set: 'circuit_breaker.open_timeout', value: '-5s', path: 'circuit_breaker.open_timeout', message: /^must not be negative \(0 = the default\)$/ },
  { set: 'circuit_breaker.open_timeout', value: 'fast', path: 'circuit_breaker.open_timeout', message: /^expected a duration like 500ms/ },
  { set: 'circuit_breaker.open_timeout', value: true, path: 'circuit_breaker.open_timeout', message: /got boolean$/ },
  { set: 'circuit_breaker.cache_ttl', value: '-1s', path: 'circuit_breaker.cache_ttl', message: /^must not be negative/ },
  { set: 'circuit_breaker.parallel_broadcast', value: 'sure', path: 'circuit_breaker.parallel_broadcast', message: /^expected a boolean, got string$/ },
  { set: 'circuit_breaker.degraded_broadcast_parallelism', value: 1.5, path: 'circuit_breaker.degraded_broadcast_parallelism', message: /^expected an integer$/ },
  { set: 'circuit_breaker.degraded_reads_enabled', value: 3, path: 'circuit_breaker.degraded_reads_enabled', message: /^expected a boolean, got number$/ },
  { set: 'circuit_breaker.cache_max_entries', value: 0, path: 'circuit_breaker.cache_max_entries', message: /^must be at least 1$/ },
  { set: 'circuit_breaker.drain_timeout', value: '0ms', path: 'circuit_breaker.drain_timeout', message: /greater than 0/ },
  { set: 'circuit_breaker.failure_treshold', value: 3, path: 'circuit_breaker.failure_treshold', message: /^unknown key \(did you mean failure_threshold\?\)$/ },
  // backend_circuit_breaker
  { set: 'backend_circuit_breaker.enabled', value: 'x', path: 'backend_circuit_breaker.enabled', message: /^expected a boolean/ },
  { set: 'backend_circuit_breaker.failure_threshold', value: -1, path: 'backend_circuit_breaker.failure_threshold', message: /^must not be negative/ },
  { set: 'backend_circuit_breaker.open_timeout', value: 'never', path: 'backend_circuit_breaker.open_timeout', message: /^expected a duration/ },
  { set: 'backend_circuit_breaker.cache_ttl', value: '1s', path: 'backend_circuit_breaker.cache_ttl', message: /^unknown key$/ },
  // server
  { set: 'server.backend_timeout', value: '-1s', path: 'server.backend_timeout', message: /^must not be negative \(0 = the default\)$/ },
  { set: 'server.backend_timeout', value: 'abc', path: 'server.backend_timeout', message: /^expected a duration/ },
  { set: 'server.log_level', value: 'loud', path: 'server.log_level', message: /^expected one of debug, info, warn, error$/ },
  { set: 'server.listen_adr', value: ':9000', path: 'server.listen_adr', message: /^unknown key \(did you mean listen_addr\?\)$/ },
  // integrity
  { set: 'integrity.verify_on_read', value: 'x', path: 'integrity.verify_on_read', message: /^expected a boolean/ },
  { set: 'integrity.verify', value: true, path: 'integrity.verify', message: /^unknown key/ },
  // runtime
  { set: 'runtime.mode', value: 'threads', path: 'runtime.mode', message: /^expected one of pool, inline$/ },
  { set: 'runtime.threads', value: 0, path: 'runtime.threads', message: /^must be at least 1$/ },
  { set: 'runtime.threads', value: 1.5, path: 'runtime.threads', message: /^expected an integer$/ },
  { set: 'runtime.tasks_per_thread', value: 0, path: 'runtime.tasks_per_thread', message: /^must be at least 1$/ },
  { set: 'runtime.max_buffered_bytes', value: '12 parsecs', path: 'runtime.max_buffered_bytes', message: /^must be a byte size/ },
  { set: 'runtime.max_buffered_bytes', value: 0, path: 'runtime.max_buffered_bytes', message: /^must be at least 1 bytes$/ },
  { set: 'runtime.max_buffered_bytes', value: -5, path: 'runtime.max_buffered_bytes', message: /^must be a byte size/ },
  { set: 'runtime.stream_idle_timeout', value: '0s', path: 'runtime.stream_idle_timeout', message: /greater than 0/ },
  { set: 'striping.part_size', value: '1KiB', path: 'striping.part_size', message: /^must be at least 65536 bytes$/ },
  { set: 'striping.parts_in_flight', value: 0, path: 'striping.parts_in_flight', message: /^must be at least 1$/ },
  { set: 'striping.enabled', value: 'maybe', path: 'striping.enabled', message: /boolean/ },
  { set: 'striping.min_size', value: 'huge', path: 'striping.min_size', message: /^must be a byte size/ },
  { set: 'runtime.max_in_flight', value: -1, path: 'runtime.max_in_flight', message: /^must be at least 1$/ },
  { set: 'runtime.workers', value: 2, path: 'runtime.workers', message: /^unknown key$/ },
  // hedging
  { set: 'hedging.enabled', value: 'x', path: 'hedging.enabled', message: /^expected a boolean/ },
  { set: 'hedging.delay', value: '0ms', path: 'hedging.delay', message: /greater than 0/ },
  { set: 'hedging.delay', value: 'later', path: 'hedging.delay', message: /or auto$/ },
  { set: 'hedging.percentile', value: 0, path: 'hedging.percentile', message: /^must be in \(0, 100\]$/ },
  { set: 'hedging.percentile', value: 101, path: 'hedging.percentile', message: /^must be in \(0, 100\]$/ },
  { set: 'hedging.max_extra_load', value: -0.1, path: 'hedging.max_extra_load', message: /^must be in \[0, 1\]$/ },
  { set: 'hedging.max_extra_load', value: 1.5, path: 'hedging.max_extra_load', message: /^must be in \[0, 1\]$/ },
  { set: 'hedging.located_reads', value: 2, path: 'hedging.located_reads', message: /^expected a boolean/ },
  { set: 'hedging.dealy', value: '5ms', path: 'hedging.dealy', message: /^unknown key \(did you mean delay\?\)$/ },
  // broadcast
  { set: 'broadcast.launch_order', value: 'random', path: 'broadcast.launch_order', message: /^expected one of fastest, config$/ },
  { set: 'broadcast.stagger', value: 'sometimes', path: 'broadcast.stagger', message: /^expected a boolean/ },
  { set: 'broadcast.order', value: 'config', path: 'broadcast.order', message: /^unknown key/ },
  // usage, logging, top level
  { set: 'usage.flush_interval', value: '0s', path: 'usage.flush_interval', message: /greater than 0/ },
  { set: 'usage.interval', value: '1s', path: 'usage.interval', message: /^unknown key/ },
  { set: 'logging.level', value: 'verbose', path: 'logging.level', message: /^expected one of trace, debug, info, warn, error, fatal, silent$/ },
  { set: 'logging.format', value: 'json', path: 'logging.format', message: /^unknown key$/ },
  { set: 'circuit_breakers', value: {}, path: 'circuit_breakers', message: /^unknown key \(did you mean circuit_breaker\?\)$/ },
  { set: 'readpath', value: {}, path: 'readpath', message: /^unknown key$/ },
];

describe('config validation: one precise issue per mistake', () => {
  for (const c of cases) {
    it(`${c.set} = ${JSON.stringify(c.value) ?? 'absent'} → ${c.path}`, async () => {
      const cfg = baseConfig();
      for (const [k, v] of Object.entries(c.with ?? {})) setAt(cfg, k, v);
      setAt(cfg, c.set, c.value);
      const err = await expectInvalid(cfg);
      assert.deepEqual(err.issues.map((i) => i.path), [c.path], err.message);
      assert.match(err.issues[0]?.message ?? '', c.message);
      assert.ok(err.message.startsWith(`${c.path}: `), err.message);
    });
  }
});

const unsetVarFields = [
  'backends.0.name', 'backends.0.endpoint', 'backends.0.region', 'backends.0.bucket', 'backends.0.access_key_id',
  'backends.0.secret_access_key', 'backends.0.force_path_style', 'backends.0.api_request_limit', 'backends.0.max_sockets',
  'database.path', 'circuit_breaker.open_timeout', 'circuit_breaker.failure_threshold', 'server.backend_timeout',
  'integrity.verify_on_read', 'runtime.mode', 'runtime.threads', 'hedging.delay', 'hedging.percentile',
  'usage.flush_interval', 'logging.level',
];

describe('config validation: unset ${VAR}', () => {
  for (const field of unsetVarFields) {
    it(`${field}: names the variable and the field`, async () => {
      const cfg = baseConfig();
      setAt(cfg, field, '${RP_TEST_UNSET_VAR}');
      const err = await expectInvalid(cfg, { env: {} });
      const path = field.replace(/\.(\d+)/g, '[$1]');
      assert.deepEqual(err.issues, [{ path, message: 'environment variable RP_TEST_UNSET_VAR is not set' }]);
    });
  }

  it('lists every unset variable of a value', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.endpoint', 'http://${HOST_A}:${PORT_A}');
    const err = await expectInvalid(cfg, { env: { HOST_A: undefined } });
    assert.equal(err.issues[0]?.message, 'environment variables HOST_A, PORT_A are not set');
  });

  it('reports a malformed reference', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.bucket', 'data-${oops');
    const err = await expectInvalid(cfg);
    assert.equal(err.issues[0]?.path, 'backends[0].bucket');
    assert.match(err.issues[0]?.message ?? '', /malformed \$\{\.\.\.\} reference/);
  });
});

describe('config validation: cross-field rules', () => {
  it('rejects duplicate backend names, pointing at the second one', async () => {
    const cfg = baseConfig();
    cfg.backends.push({ ...cfg.backends[0], endpoint: 'http://127.0.0.1:9001' });
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues, [{ path: 'backends[1].name', message: 'duplicate backend name (same as backends[0])' }]);
  });

  it('counts upstream default names (backend-<index>) as names', async () => {
    const cfg = baseConfig();
    const second: Record<string, unknown> = { ...cfg.backends[0] };
    delete second['name'];
    cfg.backends[0] = { ...cfg.backends[0], name: 'backend-1' };
    cfg.backends.push(second);
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues, [{ path: 'backends[1]', message: 'duplicate backend name (same as backends[0])' }]);
  });

  it('default_chain credentials forbid static keys, and need none', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'backends.0.credential_source', 'default_chain');
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues.map((i) => i.path), ['backends[0].access_key_id', 'backends[0].secret_access_key']);
    assert.match(err.issues[0]?.message ?? '', /default_chain/);
    setAt(cfg, 'backends.0.access_key_id', undefined);
    setAt(cfg, 'backends.0.secret_access_key', undefined);
    const ok = await loadConfig(cfg as never, { env: {} });
    assert.equal(ok.backends[0]?.credentialSource, 'default_chain');
    assert.equal(ok.backends[0]?.secretAccessKey, '');
  });

  it('postgres needs host, database and user unless a url is given', async () => {
    const cfg = baseConfig();
    setAt(cfg, 'database.driver', 'postgres');
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues.map((i) => i.path), ['database.host', 'database.database', 'database.user']);
    assert.match(err.issues[0]?.message ?? '', /required with driver postgres/);
  });

  it('reports every problem at once, in document order', async () => {
    const cfg = {
      runtime: { threads: 0 },
      backends: [
        { name: 'b1', endpoint: 'nope', bucket: 'd', access_key_id: 'a', secret_access_key: 's', api_request_limit: -1 },
        { name: 'b1', endpoint: 'http://h', bucket: 'd', access_key_id: 'a', secret_access_key: 's' },
      ],
      circuit_breaker: { open_timeout: 'x', failure_treshold: 1 },
    };
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues.map((i) => i.path), [
      'runtime.threads',
      'backends[0].endpoint',
      'backends[0].api_request_limit',
      'backends[1].name',
      'circuit_breaker.open_timeout',
      'circuit_breaker.failure_treshold',
    ]);
    assert.ok(err.message.startsWith('runtime.threads: must be at least 1; backends[0].endpoint: expected an http(s) URL; '));
  });

  it('rejects a document that is not a mapping', async () => {
    for (const doc of [42, 'x'.repeat(3), [], true, null]) {
      const err = await expectInvalid(typeof doc === 'string' ? { backends: doc } : doc);
      assert.equal(err.issues.length, 1);
    }
    const err = await expectInvalid([]);
    assert.deepEqual(err.issues, [{ path: '(root)', message: 'expected an object (mapping), got array' }]);
  });

  it('treats a __proto__ key as an ordinary unknown key', async () => {
    const cfg = JSON.parse(
      '{"backends":[{"name":"b","endpoint":"http://h","bucket":"d","access_key_id":"a","secret_access_key":"s","__proto__":{"x":1}}],"__proto__":{"polluted":true}}',
    ) as unknown;
    const err = await expectInvalid(cfg);
    assert.deepEqual(err.issues.map((i) => i.path), ['backends[0].__proto__', '__proto__']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});
