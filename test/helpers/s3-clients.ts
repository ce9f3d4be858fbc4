/**
 * Running S3 clients nobody here wrote — the aws CLI, rclone, s3cmd — against an endpoint, and
 * `readpath serve` as a child process for them to talk to. Each tool runs with an environment
 * scrubbed of the caller's credentials, configuration and proxies, under a HOME of the test's
 * own. The tools are never skipped: a missing one fails with a pointer to
 * .ci/install-s3-clients.sh.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForStart } from '../../src/cli/child-start.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');

/** The region every client and the gateway's fixtures use. */
export const CLIENT_REGION = 'us-east-1';

/** The executable `name` on PATH, or a clear failure (CI installs them; nothing here skips). */
export function tool(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH: the gateway's client tests need awscli, rclone, s3cmd, curl and openssl (bash .ci/install-s3-clients.sh installs them with apt-get). These tests never skip.`);
}

/** How a tool's run ended. */
export interface Run { code: number | null; stdout: string; stderr: string }

/** Run `cmd` to its end (killed after `timeoutMs`); rejects only when it could not run at all. */
export function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, cwd: os.tmpdir(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

/** `r`, asserted to have exited 0 (the failure message carries both outputs). */
export function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (exit ${String(r.code)}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Our environment minus whatever would change a tool's behaviour (credentials, config, proxies). */
export function toolEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|RCLONE_|S3CMD)/.test(k) || /^(http_proxy|https_proxy|all_proxy|no_proxy)$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, NO_PROXY: '127.0.0.1,localhost', ...extra };
}

/** A client's access key pair. */
export interface ClientCred { id: string; secret: string }

/**
 * The three command-line clients, configured for path-style SigV4 against any endpoint: an aws
 * config file (SigV4 for presigned URLs too: aws CLI v1 presigns with SigV2 otherwise), rclone
 * remotes from environment variables, s3cmd from its flags — no config file of the user's read.
 */
export class S3Clients {
  readonly aws = tool('aws');
  readonly rclone = tool('rclone');
  readonly s3cmd = tool('s3cmd');
  readonly home: string;
  /** An empty file, for `--config`/`-c` (so no user configuration is read). */
  readonly emptyFile: string;
  readonly awsConfig: string;

  private constructor(dir: string) {
    this.home = path.join(dir, 'home');
    this.emptyFile = path.join(dir, 'empty.conf');
    this.awsConfig = path.join(dir, 'aws-config');
  }

  /** Check the tools are there and write their configuration under `dir`. */
  static async create(dir: string): Promise<S3Clients> {
    const c = new S3Clients(dir);
    await mkdir(c.home, { recursive: true });
    await writeFile(c.emptyFile, '');
    await writeFile(c.awsConfig, `[default]\nregion = ${CLIENT_REGION}\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n`);
    const version = await run(c.aws, ['--version'], toolEnv(c.home, {}));
    assert.equal(version.code, 0, `\`aws --version\` failed: is awscli installed (bash .ci/install-s3-clients.sh)?\n${version.stderr}`);
    return c;
  }

  /** The environment the aws CLI runs with for `cred`. */
  awsEnv(cred: ClientCred): NodeJS.ProcessEnv {
    return toolEnv(this.home, {
      AWS_ACCESS_KEY_ID: cred.id, AWS_SECRET_ACCESS_KEY: cred.secret, AWS_DEFAULT_REGION: CLIENT_REGION,
      AWS_CONFIG_FILE: this.awsConfig, AWS_SHARED_CREDENTIALS_FILE: this.emptyFile, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
    });
  }

  /** `aws --endpoint-url URL ARGS…` as `cred`. */
  awsRun(url: string, cred: ClientCred, args: readonly string[], timeoutMs?: number): Promise<Run> {
    return run(this.aws, ['--endpoint-url', url, ...args], this.awsEnv(cred), timeoutMs);
  }

  /**
   * `rclone ARGS…` with remotes named after the keys of `remotes` (a remote `gw` is
   * `gw:bucket/key`; path style unless `pathStyle: false`); `extraEnv` is added to its environment.
   */
  rcloneRun(remotes: Record<string, { url: string; cred: ClientCred; pathStyle?: boolean }>, args: readonly string[], timeoutMs?: number, extraEnv: Record<string, string> = {}): Promise<Run> {
    const env: Record<string, string> = { ...extraEnv };
    for (const [name, { url, cred, pathStyle }] of Object.entries(remotes)) {
      const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
      Object.assign(env, {
        [`${p}TYPE`]: 's3', [`${p}PROVIDER`]: 'Other', [`${p}ENDPOINT`]: url, [`${p}REGION`]: CLIENT_REGION,
        [`${p}ACCESS_KEY_ID`]: cred.id, [`${p}SECRET_ACCESS_KEY`]: cred.secret, [`${p}FORCE_PATH_STYLE`]: String(pathStyle ?? true),
      });
    }
    return run(this.rclone, ['--config', this.emptyFile, '--low-level-retries', '1', '--retries', '1', ...args], toolEnv(this.home, env), timeoutMs);
  }

  /**
   * `s3cmd ARGS…` against the plain-HTTP endpoint `url` as `cred`: path style, unless
   * `o.hostBucket` gives s3cmd's `--host-bucket` template; `o.config` instead of an empty file.
   */
  s3cmdRun(url: string, cred: ClientCred, args: readonly string[], timeoutMs?: number, o: { hostBucket?: string; config?: string } = {}): Promise<Run> {
    const host = new URL(url).host;
    return run(this.s3cmd, ['-c', o.config ?? this.emptyFile, `--host=${host}`, `--host-bucket=${o.hostBucket ?? host}`, '--no-ssl', `--access_key=${cred.id}`, `--secret_key=${cred.secret}`,
      `--region=${CLIENT_REGION}`, ...args], toolEnv(this.home, {}), timeoutMs);
  }
}

/** `readpath serve` running as a child process. */
export interface Serve { url: string; child: ChildProcess; stderr: () => string; exit: Promise<number | string> }

/**
 * Start `readpath serve -c CONFIG --listen 127.0.0.1:0` as users run it (under tsx, from
 * src/) and wait for its stderr line with the URL.
 */
export async function startServe(config: string): Promise<Serve> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '-c', config, '--listen', '127.0.0.1:0'], {
    cwd: ROOT, env: { ...process.env, READPATH_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout?.resume();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    err += s;
  });
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const started = await waitForStart(child, { what: 'readpath serve', match: /^readpath: serving S3 on (https?:\/\/127\.0\.0\.1:\d+)$/, stream: 'stderr', timeoutMs: 60_000, stderrTailChars: 20_000 });
  const url = started[1] as string;
  return { url, child, stderr: () => err, exit };
}

/**
 * Write `dir/readpath.yaml` for a gateway over `backends` (config-shaped entries), rows in
 * `dir/meta.db`, encrypted copies read with `masterKey`, one bucket readable by one credential;
 * access logs on (info), one probe thread. Returns the file's path.
 */
export async function writeServeConfig(dir: string, backends: readonly object[], o: { masterKey: Uint8Array; bucket: string; cred: ClientCred }): Promise<string> {
  const { stringify } = await import('yaml');
  const file = path.join(dir, 'readpath.yaml');
  await writeFile(file, stringify({
    backends,
    database: { driver: 'sqlite', path: 'meta.db' },
    encryption: { enabled: true, master_key: Buffer.from(o.masterKey).toString('base64') },
    server: { backend_timeout: '30s' },
    runtime: { threads: 1 },
    logging: { level: 'info' },
    buckets: [{ name: o.bucket, credentials: [{ access_key_id: o.cred.id, secret_access_key: o.cred.secret }] }],
  }));
  return file;
}

/** The statuses of a gateway's access-log lines for GETs of `key` in `bucket` (`readpath: info: request (… status=206 …)` on stderr). */
export function getStatuses(serve: Serve | undefined, bucket: string, key: string): number[] {
  const want = `path=/${bucket}/${key} `;
  return (serve?.stderr() ?? '').split('\n').filter((l) => l.startsWith('readpath: info: request (') && l.includes(' method=GET ') && l.includes(want))
    .map((l) => Number(/ status=(\d+) /.exec(l)?.[1]));
}

/** Stop a `readpath serve` child that is still running (SIGKILL: the test is over). */
export async function killServe(serve: Serve | undefined): Promise<void> {
  if (serve === undefined || serve.child.exitCode !== null || serve.child.signalCode !== null) return;
  serve.child.kill('SIGKILL');
  await serve.exit;
}

/** S3's listing order (UTF-8 bytes). */
export function s3Order(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Every file under `dir` (relative paths with `/`) and its bytes. */
export async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p).split(path.sep).join('/'), await readFile(p));
    }
  };
  await walk(dir);
  return out;
}

/** `got` holds exactly the files of `want`, each with its bytes. */
export function assertSameFiles(got: Map<string, Buffer>, want: ReadonlyMap<string, Buffer>, what: string): void {
  assert.deepEqual(s3Order(got.keys()), s3Order(want.keys()), `${what}: the same file names`);
  for (const [k, v] of want) assert.ok(got.get(k)?.equals(v), `${what}: ${k} has the object's bytes`);
}
