/**
 * A throw-away PostgreSQL cluster for tests: initdb in a temp dir, run as the `postgres` user
 * (the server refuses to run as root), listening on a free 127.0.0.1 port with its unix socket
 * inside the temp dir, trust authentication. It can be stopped and restarted mid-test.
 *
 * Missing binaries are an error, never a skip: CI installs them (.ci/install-postgres.sh).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Where initdb, pg_ctl and postgres live. Throws when PostgreSQL is not installed. */
export function findPostgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // pg_config comes with libpq-dev, which may be absent: fall through to the usual places.
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // No Debian layout.
  }
  for (const p of (process.env.PATH ?? '').split(':')) if (p !== '') candidates.push(p);
  for (const dir of candidates) {
    if (['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)))) return dir;
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: run .ci/install-postgres.sh ' +
      '(apt-get install -y postgresql) or set PG_BINDIR. PostgreSQL tests never skip silently.',
  );
}

/** A free TCP port on 127.0.0.1 (released before returning; the cluster binds it next). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function idOf(flag: '-u' | '-g', user: string): number {
  return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
}

/** Options for {@link PgCluster.create}. */
export interface PgClusterOptions {
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

// Clusters still running when the process exits (a test crashed before its `after`).
const live = new Set<PgCluster>();
process.once('exit', () => {
  for (const c of live) c.killSync();
});

/** One throw-away PostgreSQL cluster. */
export class PgCluster {
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly binDir: string;
  readonly #asRoot: boolean;
  readonly #settings: Record<string, string | number>;
  #port: number;
  #running = false;

  private constructor(binDir: string, dir: string, port: number, settings: Record<string, string | number>) {
    this.binDir = binDir;
    this.dir = dir;
    this.dataDir = join(dir, 'data');
    this.socketDir = dir;
    this.logFile = join(dir, 'postgres.log');
    this.#port = port;
    this.#asRoot = process.getuid?.() === 0;
    this.#settings = settings;
  }

  /** initdb a new cluster in a temp dir and start it. */
  static async create(opts: PgClusterOptions = {}): Promise<PgCluster> {
    const binDir = findPostgresBinDir();
    const dir = mkdtempSync(join(tmpdir(), 'readpath-pg-'));
    const cluster = new PgCluster(binDir, dir, await freePort(), opts.settings ?? {});
    try {
      if (cluster.#asRoot) chownSync(dir, idOf('-u', 'postgres'), idOf('-g', 'postgres'));
      await cluster.#exec('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C', '--no-instructions']);
      await cluster.start();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /**
   * A hot standby of `primary`, started: a base backup of it (pg_basebackup, which initdb's trust
   * rules allow from 127.0.0.1; a fast checkpoint, where the default spread one can take
   * minutes) streaming its changes, read-only, replaying the locks the primary takes as well as
   * its rows. `settings` as for create (e.g. `max_standby_streaming_delay`).
   */
  static async createStandby(primary: PgCluster, opts: PgClusterOptions = {}): Promise<PgCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'readpath-pg-standby-'));
    const cluster = new PgCluster(primary.binDir, dir, await freePort(), { hot_standby: 'on', ...opts.settings });
    try {
      if (cluster.#asRoot) chownSync(dir, idOf('-u', 'postgres'), idOf('-g', 'postgres'));
      await cluster.#exec('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', cluster.dataDir, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync']);
      await cluster.start();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** Run a PostgreSQL binary, as the `postgres` user when we are root. */
  async #exec(bin: string, args: string[]): Promise<void> {
    const path = join(this.binDir, bin);
    const [cmd, argv] = this.#asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    try {
      // cwd: the postgres user may not be able to enter the test's working directory.
      await run(cmd, argv, { cwd: this.dir, timeout: 60_000 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message?: string };
      let log = '';
      try {
        log = readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n');
      } catch {
        // No log yet.
      }
      throw new Error(`${bin} ${args.join(' ')} failed: ${e.message ?? ''}\n${e.stderr ?? ''}${e.stdout ?? ''}\n${log}`, { cause: err });
    }
  }

  /** The TCP port the cluster listens on. */
  get port(): number {
    return this.#port;
  }

  /** True while the server is running. */
  get running(): boolean {
    return this.#running;
  }

  /** Connection URL of the `postgres` database (or another one). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.#port}/${database}`;
  }

  /** Start the server (waits until it accepts connections). */
  async start(): Promise<void> {
    if (this.#running) return;
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port: this.#port,
      unix_socket_directories: this.socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 50,
      ...this.#settings,
    };
    const o = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${String(v)}`)
      .join(' ');
    await this.#exec('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-o', o, 'start']);
    this.#running = true;
    live.add(this);
  }

  /** Stop the server (fast shutdown: open sessions are terminated with 57P01). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    await this.#exec('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    this.#running = false;
    live.delete(this);
  }

  /** Stop then start again, on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Create a database and return its URL. */
  async createDatabase(name: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Stop the server (immediately) and remove its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#running) {
      try {
        await this.#exec('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } catch {
        this.killSync();
      }
      this.#running = false;
      live.delete(this);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last-resort synchronous stop, for process exit. */
  killSync(): void {
    if (!this.#running) return;
    const path = join(this.binDir, 'pg_ctl');
    const args = ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop'];
    try {
      if (this.#asRoot) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { cwd: this.dir, stdio: 'ignore' });
      else execFileSync(path, args, { cwd: this.dir, stdio: 'ignore' });
    } catch {
      // Nothing more can be done at exit.
    }
    this.#running = false;
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Same.
    }
  }
}

/** `fn` with a client connected to `url`, ended afterwards whatever `fn` did. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
