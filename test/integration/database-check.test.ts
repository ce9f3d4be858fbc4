/**
 * How an operator learns at start that the database settings are wrong (src/cli/database-check.ts):
 * `readpath validate --connect` against a throw-away PostgreSQL cluster (a role with a password
 * behind scram-sha-256, a role that may not read, a database without s3-orchestrator's tables, a
 * port where nothing listens, TLS the server does not have) and real SQLite files; and `readpath
 * serve`, which listens first and then says once, on stderr, which setting to check when the
 * server refuses its session, but stays quiet about a server that is merely down; with
 * `--processes 2`, says so once for the whole gateway (the primary looks, not each process). The
 * CLI runs in this process (runCli), as users run it, except with `--processes`, which node:cluster
 * forks: that one is spawned.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { runCli } from '../../src/cli/program.js';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import type { ObjectLocation } from '../../src/types.js';
import { PgCluster, freePort, withClient } from '../helpers/pg-cluster.js';
import { until } from '../helpers/executor-world.js';
import { within } from '../helpers/within.js';

const PASSWORD = 'S3CR3T-right-password';
const WRONG = 'S3CR3T-wrong-password';
const ROW: ObjectLocation = { objectKey: 'docs/a.txt', backendName: 'b1', sizeBytes: 3, createdAt: new Date(Date.UTC(2025, 0, 1)), encrypted: false };

/** A run of the CLI in this process: exit code, stdout, stderr. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await runCli(args, { stdin: new PassThrough(), stdout, stderr, env: {} });
  return { code, out, err };
}

/** The lines of `text` that are warnings or errors. */
function complaints(text: string): string[] {
  return text.split('\n').filter((l) => /^readpath: (warning|error): /.test(l));
}

describe('database settings checked at start', () => {
  let cluster: PgCluster;
  let tmp: string;
  /** s3-orchestrator's database: its tables, one row. */
  let metaUrl: string;

  before(async () => {
    cluster = await PgCluster.create();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-db-check-'));
    metaUrl = await cluster.createDatabase('meta');
    await cluster.createDatabase('other');
    await cluster.createDatabase('empty');
    for (const url of [metaUrl, cluster.url('empty')]) await (await PostgresMetadataStore.open({ url })).close();
    const store = await PostgresMetadataStore.open({ url: metaUrl });
    await store.addLocation(ROW);
    await store.close();
    await withClient(metaUrl, async (c) => {
      await c.query(`CREATE ROLE reader LOGIN PASSWORD '${PASSWORD}'`);
      await c.query('GRANT SELECT ON object_locations, backend_usage TO reader');
      await c.query('CREATE ROLE nosuchgrant LOGIN');
    });
    // The cluster trusts every local connection: the role with a password must give it.
    const hba = await readFile(path.join(cluster.dataDir, 'pg_hba.conf'), 'utf8');
    await writeFile(path.join(cluster.dataDir, 'pg_hba.conf'), `host all reader 127.0.0.1/32 scram-sha-256\n${hba}`);
    await withClient(cluster.url(), (c) => c.query('SELECT pg_reload_conf()'));
  });
  after(async () => {
    await cluster.destroy();
    await rm(tmp, { recursive: true, force: true });
  });

  let n = 0;
  /** A configuration file over `database` (YAML lines under `database:`), one bucket for serve. */
  async function configWith(database: Record<string, unknown>, extra: string[] = []): Promise<string> {
    const file = path.join(tmp, `readpath-${++n}.yaml`);
    await writeFile(file, [
      'backends:',
      '  - { name: b1, endpoint: "http://127.0.0.1:9", bucket: data, access_key_id: AKIADBCHECK000000001, secret_access_key: db-check-backend-secret }',
      `database: ${JSON.stringify(database)}`,
      'runtime: { mode: inline }',
      'buckets:',
      '  - { name: docs, credentials: [ { access_key_id: AKIADBCHECK000000002, secret_access_key: db-check-client-secret } ] }',
      ...extra,
      '',
    ].join('\n'));
    return file;
  }

  const pgAt = (o: Record<string, unknown>): Record<string, unknown> => ({ driver: 'postgres', host: '127.0.0.1', port: cluster.port, ssl_mode: 'disable', ...o });

  describe('validate --connect', () => {
    it('the right settings: the resolved configuration, then the database answered (exit 0); the password never shown', async () => {
      const r = await cli(['validate', '--connect', '-c', await configWith(pgAt({ database: 'meta', user: 'reader', password: PASSWORD }))]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /password: "?\(redacted\)"?/);
      assert.match(r.err, new RegExp(`^readpath: database: PostgreSQL 127\\.0\\.0\\.1:${cluster.port}/meta as reader answered$`, 'm'));
      assert.match(r.err, /configuration is valid \(1 backend, postgres metadata store, database answered\)/);
      assert.deepEqual(complaints(r.err), []);
      assert.ok(!`${r.out}${r.err}`.includes(PASSWORD));
    });

    it('without --connect it touches no database, as before', async () => {
      const r = await cli(['validate', '-c', await configWith(pgAt({ database: 'meta', user: 'reader', password: WRONG }))]);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.err, /database answered/);
    });

    it('a session the server refuses is INVALID_CONFIG (exit 2) naming the setting, never the password', async () => {
      const cases: [Record<string, unknown>, RegExp][] = [
        [pgAt({ database: 'meta', user: 'reader', password: WRONG }), /^readpath: error: INVALID_CONFIG: database\.password: PostgreSQL 127\.0\.0\.1:\d+\/meta as reader refused readpath's session \(28P01: password authentication failed for user "reader"; check database\.user and database\.password\)$/],
        [pgAt({ database: 'meta', user: 'ghost', password: WRONG }), /^readpath: error: INVALID_CONFIG: database\.user: .* refused readpath's session \(28000: role "ghost" does not exist; check database\.user and database\.password\)$/],
        [pgAt({ database: 'no_such_db', user: 'postgres' }), /^readpath: error: INVALID_CONFIG: database\.database: .* refused readpath's session \(3D000: database "no_such_db" does not exist; check database\.database\)$/],
        // The cluster has no TLS; upstream's (and readpath's) default ssl_mode is require.
        [pgAt({ database: 'meta', user: 'postgres', ssl_mode: 'require' }), /^readpath: error: INVALID_CONFIG: database\.ssl_mode: .* refused readpath's session \(The server does not support SSL connections; check database\.ssl_mode\)$/],
        [{ driver: 'postgres', url: `postgres://reader:${WRONG}@127.0.0.1:${cluster.port}/meta?sslmode=disable` }, /^readpath: error: INVALID_CONFIG: the password in database\.url: PostgreSQL postgres:\/\/reader:\(redacted\)@127\.0\.0\.1:\d+\/meta\?sslmode=disable refused readpath's session \(28P01: /],
      ];
      for (const [database, line] of cases) {
        const r = await cli(['validate', '--connect', '-c', await configWith(database)]);
        assert.equal(r.code, 2, r.err);
        assert.deepEqual(complaints(r.err).length, 1, r.err);
        assert.match(complaints(r.err)[0] ?? '', line);
        assert.ok(!`${r.out}${r.err}`.includes(WRONG), r.err);
      }
    });

    it('a database that is not s3-orchestrator\'s, or a role that may not read it, is INVALID_CONFIG naming the setting; nothing is created', async () => {
      let r = await cli(['validate', '--connect', '-c', await configWith(pgAt({ database: 'other', user: 'postgres' }))]);
      assert.equal(r.code, 2, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: INVALID_CONFIG: database\.database: PostgreSQL 127\.0\.0\.1:\d+\/other as postgres has no object_locations table: not s3-orchestrator's database/);
      assert.equal(await withClient(cluster.url('other'), async (c) => (await c.query<{ t: string | null }>(`SELECT to_regclass('object_locations')::text AS t`)).rows[0]?.t), null, 'validate created no table');

      r = await cli(['validate', '--connect', '-c', await configWith(pgAt({ database: 'meta', user: 'nosuchgrant' }))]);
      assert.equal(r.code, 2, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: INVALID_CONFIG: database\.user: .* the role may not read s3-orchestrator's tables \(grant it SELECT\): .*42501/);
    });

    it('a server that cannot be reached is DB_UNAVAILABLE (exit 1) naming host and port; an empty table is a warning (exit 0)', async () => {
      let r = await cli(['validate', '--connect', '-c', await configWith(pgAt({ port: await freePort(), database: 'meta', user: 'postgres' }))]);
      assert.equal(r.code, 1, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: DB_UNAVAILABLE: PostgreSQL 127\.0\.0\.1:\d+\/meta as postgres cannot be reached \(.*ECONNREFUSED.*; check database\.host and database\.port, and that the server is up\)$/);

      r = await cli(['validate', '--connect', '-c', await configWith(pgAt({ database: 'empty', user: 'postgres' }))]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(complaints(r.err), [`readpath: warning: database: PostgreSQL 127.0.0.1:${cluster.port}/empty as postgres lists no object: every read will be OBJECT_NOT_FOUND until s3-orchestrator writes there`]);
    });

    it('SQLite: s3-orchestrator\'s file answers; a path that does not exist, a file that is not SQLite, or one without object_locations is INVALID_CONFIG naming database.path, and is left as it was', async () => {
      const good = path.join(tmp, 's3-orchestrator.db');
      const store = await SqliteMetadataStore.open({ path: good });
      await store.addLocation(ROW);
      await store.close();
      let r = await cli(['validate', '--connect', '-c', await configWith({ driver: 'sqlite', path: good })]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, new RegExp(`^readpath: database: SQLite ${good} answered$`, 'm'));
      assert.deepEqual(complaints(r.err), []);

      const missing = path.join(tmp, 'readpath-typo.db');
      r = await cli(['validate', '--connect', '-c', await configWith({ driver: 'sqlite', path: missing })]);
      assert.equal(r.code, 2, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: INVALID_CONFIG: database\.path: .*readpath-typo\.db does not exist \(readpath would create an empty database there/);
      assert.equal(existsSync(missing), false, 'not created');

      const text = path.join(tmp, 'notes.txt');
      await writeFile(text, 'not a database, but long enough to be read as a header by SQLite '.repeat(20));
      r = await cli(['validate', '--connect', '-c', await configWith({ driver: 'sqlite', path: text })]);
      assert.equal(r.code, 2, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: INVALID_CONFIG: database\.path: cannot open .*notes\.txt: .*not a database/);

      const foreign = path.join(tmp, 'another-app.db');
      const db = new Database(foreign);
      db.exec('CREATE TABLE things (id INTEGER PRIMARY KEY)');
      db.close();
      r = await cli(['validate', '--connect', '-c', await configWith({ driver: 'sqlite', path: foreign })]);
      assert.equal(r.code, 2, r.err);
      assert.match(complaints(r.err)[0] ?? '', /^readpath: error: INVALID_CONFIG: database\.path: .*another-app\.db has no object_locations table: not an s3-orchestrator database/);
      const after = new Database(foreign, { readonly: true });
      assert.deepEqual(after.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all(), [{ name: 'things' }], 'no table added');
      after.close();
    });
  });

  describe('serve', () => {
    /** Run serve until its database check has said what it found (`done`), then stop it. */
    async function serveUntil(config: string, done: (err: string) => boolean): Promise<string> {
      const stderr = new PassThrough();
      let err = '';
      stderr.on('data', (b: Buffer) => (err += b.toString()));
      const stop = new AbortController();
      const exit = runCli(['serve', '-c', config, '--listen', '127.0.0.1:0'], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, { signal: stop.signal });
      try {
        await until(() => done(err), 'the database check', 60_000);
      } finally {
        stop.abort();
        assert.equal(await within(exit, 60_000, 'serve to exit'), 0, err);
      }
      return err;
    }

    it('a refused session: after listening, one warning naming the setting to check; the gateway serves on (exit 0 on SIGTERM)', async () => {
      for (const [database, field] of [
        [pgAt({ database: 'meta', user: 'reader', password: WRONG }), 'database.password'],
        [pgAt({ database: 'no_such_db', user: 'postgres' }), 'database.database'],
        [pgAt({ database: 'meta', user: 'postgres', ssl_mode: 'require' }), 'database.ssl_mode'],
      ] as const) {
        const err = await serveUntil(await configWith(database), (e) => complaints(e).length > 0);
        const warnings = complaints(err);
        assert.equal(warnings.length, 1, err);
        assert.match(warnings[0] ?? '', new RegExp(`^readpath: warning: ${field.replace('.', '\\.')}: PostgreSQL .* refused readpath's session \\(.*; check [^)]*\\): reads go degraded \\(every backend asked\\) until it is fixed$`));
        assert.ok(err.indexOf('serving S3 on') < err.indexOf('readpath: warning:'), 'listening came first');
        assert.ok(!err.includes(WRONG));
      }
    });

    it('a server that is merely down, or the right settings: no warning (the check\'s finding is an info log line)', async () => {
      const down = await serveUntil(await configWith(pgAt({ port: await freePort(), database: 'meta', user: 'postgres' }), ['logging: { level: info }']), (e) => /database check: .*cannot be reached/.test(e));
      assert.deepEqual(complaints(down), [], down);
      const fine = await serveUntil(await configWith(pgAt({ database: 'meta', user: 'reader', password: PASSWORD }), ['logging: { level: info }']), (e) => /database check: .* answered/.test(e));
      assert.deepEqual(complaints(fine), [], fine);
    });

    /**
     * Run `serve --processes 2` as users do (node:cluster forks this same CLI) until `done`, then
     * SIGTERM it. Its stderr once it has exited: every process has drained by then, and a process
     * waits for any look at the database it started before it exits, so nothing is still to come.
     */
    async function serveProcessesUntil(config: string, done: (err: string) => boolean): Promise<string> {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', config, '--listen', '127.0.0.1:0', '--processes', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await until(() => done(err) || child.exitCode !== null, 'the primary\'s database check', 120_000);
        child.kill('SIGTERM');
        assert.equal(await within(exit, 60_000, 'serve --processes 2 to exit'), 0, err);
      } finally {
        child.kill('SIGKILL');
      }
      return err;
    }

    it('--processes 2, a refused session: one warning for the whole gateway, from the primary once every process listens, not one per process', async () => {
      const err = await serveProcessesUntil(await configWith(pgAt({ database: 'meta', user: 'reader', password: WRONG })), (e) => complaints(e).length > 0);
      assert.equal(err.match(/^readpath: serving S3 on /gm)?.length, 1, err);
      const warnings = complaints(err);
      assert.equal(warnings.length, 1, err);
      assert.match(warnings[0] ?? '', /^readpath: warning: database\.password: PostgreSQL .* refused readpath's session \(28P01: .*; check database\.user and database\.password\): reads go degraded \(every backend asked\) until it is fixed$/);
      assert.ok(err.indexOf('serving S3 on') < err.indexOf('readpath: warning:'), 'listening came first');
      assert.ok(!err.includes(WRONG));
    });

    it('--processes 2, a server that is merely down: no warning (the primary logs its finding at info)', async () => {
      const err = await serveProcessesUntil(await configWith(pgAt({ port: await freePort(), database: 'meta', user: 'postgres' }), ['logging: { level: info }']), (e) => /database check: .*cannot be reached/.test(e));
      assert.match(err, /^readpath: serving S3 on /m, err);
      assert.match(err, /database check: .*cannot be reached/, err);
      assert.deepEqual(complaints(err), [], err);
    });
  });
});
