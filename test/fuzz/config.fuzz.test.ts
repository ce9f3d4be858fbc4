/**
 * Random configurations, end to end: objects and YAML files whose every field may be missing,
 * valid, of the wrong type, negative, huge, an unset or set ${VAR}, a bad URL, a duplicate name
 * or an unknown key, opened with `ReadPath.open` (so the S3 clients, the metadata store and the
 * executor are really built). Each either opens (and closes) or rejects with an INVALID_CONFIG
 * ReadPathError naming a field — never another error, never a crash, never a secret in a message.
 * (test/unit/config-property.test.ts fuzzes the loader alone; this goes through the product.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ReadPath } from '../../src/read-path.js';
import { fcParams } from '../helpers/property-params.js';

const MARK = 'S3CRET-MARK';
const ENV = { SET_VAR: 'from-env', SECRET_VAR: `${MARK}-env`, NUM_VAR: '7', EMPTY_VAR: '' };
let dir: string;
let seq = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'readpath-config-fuzz-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Values no field wants: every JSON type and then some. */
const hostile: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  null, true, false, 0, -1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, 1e308,
  '', ' ', '-5s', '0s', 'abc', '1e309', '10 parsecs', '1h30m', 'auto', '-1', '0x10', '${UNSET_VAR}', '${SET_VAR}', '${NUM_VAR}',
  '${', '${}', '$${SET_VAR}', '${EMPTY_VAR}', 'http://', 'ftp://host/x', '://', 'http://[::1', 'postgres://', 'mysql://db/x',
  [], {}, [1, 2], { a: 1 }, ['x'], 10n, new Date(0), new Map(), () => 1, 'é'.repeat(300), '\u0000', '\uD800',
);

/** A field's value: valid most of the time, wrong for this field now and then, hostile rarely. */
const v = (valid: fc.Arbitrary<unknown>, ...bad: unknown[]) => fc.oneof(
  { weight: 30, arbitrary: valid },
  { weight: bad.length > 0 ? 1 : 0, arbitrary: fc.constantFrom(...(bad.length > 0 ? bad : [null])) },
  { weight: 1, arbitrary: hostile },
);
const duration = v(fc.constantFrom('15s', '1m', '250ms', '2h', 30, '1.5s'), '-1s', '0s', 'soon', '1 fortnight');
const count = (min: number) => v(fc.oneof(fc.integer({ min, max: 1000 }), fc.constant(String(min + 1))), min - 1, 2.5, '3 apples');
const flag = v(fc.oneof(fc.boolean(), fc.constantFrom('yes', 'off', 'true')), 'maybe', 2);
const text = v(fc.constantFrom('data', 'b1', 'eu-west-1', '${SET_VAR}'), '', '${UNSET_VAR}');

/** A field that is absent `absent` times for each time it is present. */
function field<T>(arb: fc.Arbitrary<T>, absent = 1): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

function section(shape: Record<string, fc.Arbitrary<unknown>>, required: string[] = [], rare: string[] = []): fc.Arbitrary<unknown> {
  const entries = Object.entries(shape).map(([k, a]) => [k, required.includes(k) ? a : field(a, rare.includes(k) ? 40 : 1)] as const);
  const obj = fc.record(Object.fromEntries(entries))
    .map((o) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)));
  return fc.oneof({ weight: 60, arbitrary: obj }, { weight: 1, arbitrary: hostile });
}

const backend = section({
  name: v(fc.constantFrom('b1', 'b2', 'b3'), ''),
  endpoint: v(fc.constantFrom('http://127.0.0.1:9000', 'https://s3.example.com', 'http://${SET_VAR}:9000'), 'ftp://x/y', 'http://', 's3.example.com', 'http://${UNSET_VAR}'),
  region: text,
  bucket: text,
  access_key_id: v(fc.constantFrom('AKID', '${SET_VAR}'), '${UNSET_VAR}', ''),
  secret_access_key: v(fc.constantFrom(`${MARK}-1`, '${SECRET_VAR}'), '${UNSET_VAR}', `\${${MARK}`),
  credential_source: v(fc.constant('static'), 'default_chain', 'env'),
  force_path_style: flag,
  api_request_limit: count(0),
  egress_byte_limit: count(0),
  ingress_byte_limit: count(0),
  max_sockets: count(1),
  quota_bytes: hostile,
  bogus_key: hostile,
}, ['endpoint', 'bucket', 'access_key_id', 'secret_access_key'], ['bogus_key', 'credential_source']);

/** The database: sqlite in this case's own temp dir, memory, or an unreachable PostgreSQL. */
const database = fc.oneof(
  section({
    driver: v(fc.constantFrom('sqlite', 'memory'), 'mysql'),
    path: v(fc.constantFrom('@TMP@', ':memory:'), '', '/nonexistent-readpath-dir/x.db', '@DIR@'),
  }),
  section({
    driver: v(fc.constant('postgres')),
    url: v(fc.constantFrom('postgres://rp@127.0.0.1:1/meta', 'postgresql://127.0.0.1:1/x?sslmode=disable'), 'mysql://db/x', 'postgres:', '${UNSET_VAR}'),
    max_conns: count(1),
    statement_timeout: duration,
    ssl_mode: v(fc.constantFrom('disable', 'require'), 'sometimes'),
  }, ['url']),
  section({
    host: v(fc.constant('127.0.0.1'), ''),
    port: v(fc.constantFrom(1, 65535), 65536, 0, -5),
    database: text,
    user: text,
    password: v(fc.constantFrom(`${MARK}-db`, '${SECRET_VAR}'), '${UNSET_VAR}'),
    ssl_mode: v(fc.constantFrom('disable', 'require'), 'sometimes'),
  }, ['host', 'database', 'user']),
);

export const configArb: fc.Arbitrary<Record<string, unknown>> = fc.record({
  backends: fc.oneof({ weight: 30, arbitrary: fc.array(backend, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: hostile }),
  database: field(database),
  circuit_breaker: field(section({
    failure_threshold: count(1), open_timeout: duration, cache_ttl: duration, parallel_broadcast: flag,
    degraded_broadcast_parallelism: count(0), degraded_reads_enabled: flag, cache_max_entries: count(1), drain_timeout: duration,
  })),
  backend_circuit_breaker: field(section({ enabled: flag, failure_threshold: count(1), open_timeout: duration })),
  server: field(section({ backend_timeout: duration, log_level: v(fc.constantFrom('info', 'warn'), 'verbose'), listen_addr: v(fc.constant(':9000')) })),
  integrity: field(section({ verify_on_read: flag, scrubber_interval: v(fc.constant('1h')) })),
  // Never a valid `pool` here: a worker pool per case would make the fuzz slow, not stronger.
  runtime: section({ mode: v(fc.constant('inline'), 'threads', 3), threads: count(1), tasks_per_thread: count(1), max_in_flight: count(1) }, ['mode']),
  hedging: field(section({
    enabled: flag, delay: v(fc.constantFrom('auto', '20ms', 5), 'never', -1), percentile: v(fc.constantFrom(50, 100, 99.9), 0, 101),
    max_extra_load: v(fc.constantFrom(0, 0.05, 1), 1.5, -0.1), located_reads: flag,
  })),
  usage: field(section({ flush_interval: duration })),
  logging: fc.oneof({ weight: 30, arbitrary: fc.constant({ level: 'silent' }) }, { weight: 1, arbitrary: fc.constantFrom({ level: 'loud' }, { level: null }, 'silent') }),
  ui: field(hostile, 8),
  unknown_section: field(hostile, 40),
}, { requiredKeys: ['backends', 'runtime', 'logging'] }).map((o) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)));

/** Replace path placeholders with this case's own paths. */
function placePaths(v: unknown, tmp: string): unknown {
  if (v === '@TMP@') return join(tmp, 'meta.db');
  if (v === '@DIR@') return tmp;
  if (Array.isArray(v)) return v.map((x) => placePaths(x, tmp));
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, placePaths(x, tmp)]));
  }
  return v;
}

/** Open a config; resolve to 'opened' or 'invalid' after checking the rejection is proper. */
async function openOrInvalid(input: unknown): Promise<'opened' | 'invalid'> {
  const t0 = performance.now();
  try {
    return await openOrInvalidInner(input);
  } finally {
    const ms = performance.now() - t0;
    if (ms > 500) console.log(`slow case (${ms.toFixed(0)} ms): ${typeof input === 'string' ? input : JSON.stringify(input)}`);
  }
}

async function openOrInvalidInner(input: unknown): Promise<'opened' | 'invalid'> {
  let rp: ReadPath;
  try {
    rp = await ReadPath.open(input as string, { env: ENV, baseDir: dir });
  } catch (err) {
    const e = err as { code?: unknown; httpStatus?: unknown; message?: unknown; name?: unknown };
    assert.equal(e.code, 'INVALID_CONFIG', `rejected with ${String(e.name)} ${String(e.code)}: ${String(e.message)}`);
    assert.equal(e.httpStatus, 400);
    assert.equal(typeof e.message, 'string');
    assert.ok(!String(e.message).includes(MARK), `a secret leaked into: ${String(e.message)}`);
    assert.match(String(e.message), /\S/, 'the message says something');
    const issues = (err as { issues?: { path: string; message: string }[] }).issues;
    if (issues !== undefined) for (const i of issues) assert.ok(!`${i.path} ${i.message}`.includes(MARK), 'a secret leaked into an issue');
    return 'invalid';
  }
  await rp.close();
  return 'opened';
}

test('random configuration objects open or fail with INVALID_CONFIG naming a field, never anything else', async () => {
  const seen = { opened: 0, invalid: 0 };
  await fc.assert(fc.asyncProperty(configArb, async (cfg) => {
    const tmp = mkdtempSync(join(dir, `c${++seq}-`));
    seen[await openOrInvalid(placePaths(cfg, tmp))]++;
  }), fcParams(200));
  // The generator must reach both sides, or it tests nothing.
  console.log(`opened ${seen.opened}, invalid ${seen.invalid}`);
  assert.ok(seen.opened > 0 && seen.invalid > 0, `opened ${seen.opened}, invalid ${seen.invalid}`);
});

/**
 * Text-level damage to a YAML document. The undamaged document is weighted up: of the generated
 * configurations about one in five opens, and the property below must see some open (with the
 * eleven forms equally likely, a run of 150 saw none about once in a few hundred runs).
 */
const mutationArb = fc.oneof(
  { arbitrary: fc.constant((t: string) => t), weight: 5 },
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
  fc.nat().map((n) => (t: string) => `${t.slice(0, n % (t.length + 1))}\t${t.slice(n % (t.length + 1))}`),
  fc.nat().map((n) => (t: string) => {
    const lines = t.split('\n');
    const i = n % lines.length;
    return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join('\n');
  }),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([n, junk]) => (t: string) => `${t.slice(0, n % (t.length + 1))}${junk}${t.slice(n % (t.length + 1))}`),
  fc.constant((t: string) => `${t}\n---\nbackends: []\n`),
  fc.constant((t: string) => `a: &a [*a, *a]\n${t}`),
  fc.constant((t: string) => t.replace(/: /g, '= ')),
  fc.constant(() => 'x: [1, 2\n'),
  fc.constant(() => ''),
  fc.constant(() => '\u0000\u0001binary'),
);

test('random YAML files, damaged or not, open or fail with INVALID_CONFIG, never leaking a secret', async () => {
  const seen = { opened: 0, invalid: 0 };
  await fc.assert(fc.asyncProperty(configArb, mutationArb, async (cfg, mutate) => {
    const tmp = mkdtempSync(join(dir, `y${++seq}-`));
    let text: string;
    try {
      text = stringify(placePaths(cfg, tmp));
    } catch {
      text = 'backends: 1\n';
    }
    const file = join(tmp, 'readpath.yaml');
    writeFileSync(file, mutate(text));
    seen[await openOrInvalid(file)]++;
  }), fcParams(150));
  console.log(`opened ${seen.opened}, invalid ${seen.invalid}`);
  assert.ok(seen.opened > 0 && seen.invalid > 0, `opened ${seen.opened}, invalid ${seen.invalid}`);
});

test('config paths that are not files are INVALID_CONFIG', async () => {
  for (const p of [join(dir, 'missing.yaml'), dir, '', '   ', join(dir, 'missing', 'deeper.yaml')]) {
    assert.equal(await openOrInvalid(p), 'invalid', p);
  }
});

test('a YAML alias that contains itself is INVALID_CONFIG, not a runaway walk', async () => {
  // `&a [*a, *a]` is a cycle with two branches: walked to the depth limit it is 2^64 nodes (OOM).
  for (const text of ['a: &a [*a, *a]\nbackends: []\n', 'backends: &b [*b, *b]\n', 'circuit_breaker: &c {x: *c, y: *c}\nbackends: []\n']) {
    const file = join(dir, `alias-${++seq}.yaml`);
    writeFileSync(file, text);
    await assert.rejects(ReadPath.open(file, { env: ENV }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'INVALID_CONFIG');
      assert.match(e.message ?? '', /contains itself/);
      return true;
    });
  }
  const loop: Record<string, unknown> = { backends: [] };
  loop.self = [loop, loop];
  await assert.rejects(ReadPath.open(loop as never, { env: ENV }), { code: 'INVALID_CONFIG' });
});

test('a SQLite path that cannot be opened is INVALID_CONFIG naming database.path', async () => {
  for (const path of [join(dir, 'no-such-dir', 'meta.db'), dir]) {
    await assert.rejects(ReadPath.open({
      backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'a', secret_access_key: 's' }],
      database: { driver: 'sqlite', path }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
    }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'INVALID_CONFIG', `${path}: ${e.code}: ${e.message}`);
      assert.match(e.message ?? '', /database\.path/);
      return true;
    });
  }
});
