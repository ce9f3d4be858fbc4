/**
 * The download rows of the peer benchmark: each tool downloads one data set from the stub into
 * a fresh directory, run as a user would run it (a child process, timed from spawn to exit),
 * then the directory is checked file by file against what the stub serves.
 *
 * - rclone: `rclone copy --transfers 64 --no-check-dest`, `Other` provider, path style, MD5
 *   checks on (its default: it compares each body's MD5 with the listed ETag);
 * - aws: `aws s3 cp --recursive` with `max_concurrent_requests = 64`, path style;
 * - readpath: `readpath batch --keys FILE --out DIR`, default settings (64 in flight), every body
 *   verified against its SHA-256 in the metadata database before it is written.
 * Every child gets the environment without `AWS_CA_BUNDLE` (rclone refuses to start with the
 * one set on this machine) and without credentials or configuration of the user's.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, statSync } from 'node:fs';
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StubFleet, StubListedObject } from './stub-fleet.js';
import { loaderExecArgv } from '../../src/cli/child-start.js';
import { killAtExit } from '../process-guard.js';
import { STUB_ACCESS_KEY, STUB_SECRET_KEY, backendNames, type ReadpathSetup } from './readpath-setup.js';
import type { FloorPlan } from './floor-client.js';
import { siblingModule } from '../../src/sibling-module.js';

/** Transfers / requests in flight for every tool. */
export const TRANSFERS = 64;

/**
 * The download tools; `readpath@LABEL` is another build of the readpath CLI (see `--compare`),
 * `floor:MODE` a bare Node client (see floor-client.ts).
 */
export type Tool = 'rclone' | 'aws' | 'readpath' | `readpath@${string}` | `floor:${FloorPlan['mode']}`;

/** A finished command. */
export interface CommandRun {
  code: number | null;
  ms: number;
  /** CPU time of the command and its children (user + system), ms, when measured. */
  cpuMs?: number;
  stderr: string;
}

/** What was found on disk after a download. */
export interface Verification {
  files: number;
  bytes: number;
  /** Objects of the set with no file. */
  missing: number;
  /** Files of the set's objects with the wrong size or SHA-256. */
  wrong: number;
  /** Files that are not objects of the set. */
  unexpected: number;
  ok: boolean;
}

/** The environment every tool runs in: ours, minus what would change its behaviour. */
export function toolEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|RCLONE_)/.test(k)) continue;
    if (/^(http_proxy|https_proxy|all_proxy)$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, NO_PROXY: '127.0.0.1,localhost', ...extra };
}

/**
 * Run a command to its end; stdout goes to `stdoutFile` (or nowhere). With `cpu`, it runs under
 * `bash`, whose `times` builtin then reports the CPU the command used (all its threads and
 * children): a figure that machine load distorts far less than wall time.
 */
export async function runCommand(cmd: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; stdoutFile?: string; cpu?: boolean }): Promise<CommandRun> {
  const out = opts.stdoutFile === undefined ? undefined : await open(opts.stdoutFile, 'w');
  // `times` prints the shell's own and its children's user/system times; fd 3 carries them.
  const [file, argv] = opts.cpu === true ? ['bash', ['-c', '"$@"; c=$?; times >&3; exit $c', 'bash', cmd, ...args]] as const : [cmd, args] as const;
  try {
    return await new Promise<CommandRun>((resolve, reject) => {
      const t0 = performance.now();
      // A process group of its own: a bench stopped part-way stops the tool (and, under
      // `bash -c`, the tool the shell runs) instead of leaving it downloading.
      const child = spawn(file, argv, { env: opts.env, detached: true, stdio: ['ignore', out === undefined ? 'ignore' : out.fd, 'pipe', 'pipe'] });
      killAtExit(child, true);
      let stderr = '';
      let times = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => { stderr = (stderr + s).slice(-20_000); });
      const fd3 = child.stdio[3] as NodeJS.ReadableStream | null;
      fd3?.setEncoding('utf8');
      fd3?.on('data', (s: string) => { times += s; });
      child.once('error', reject);
      child.once('close', (code) => {
        const run: CommandRun = { code, ms: performance.now() - t0, stderr };
        const cpu = childCpuMs(times);
        if (cpu !== undefined) run.cpuMs = cpu;
        resolve(run);
      });
    });
  } finally {
    await out?.close();
  }
}

/** The children's line of bash's `times` (`0m1.234s 0m0.456s`) as user + system ms. */
export function childCpuMs(times: string): number | undefined {
  const line = times.trim().split('\n')[1];
  const m = line === undefined ? null : /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (m === null) return undefined;
  return Math.round((Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000);
}

/** `sync(1)`: write back the previous run's dirty pages before the next run starts. */
export async function syncDisks(): Promise<void> {
  await runCommand('sync', [], { env: process.env });
}

/**
 * The commands of `names` that cannot be run here: not an executable file on `PATH` (a name
 * with a `/` is checked as it is). A bench checks its peer tools before it starts anything:
 * run without one, it used to time the failed spawn as a download and report it as the
 * fastest row and the baseline of every ratio.
 */
export function missingTools(names: readonly string[], envPath: string = process.env['PATH'] ?? ''): string[] {
  const runnable = (file: string): boolean => {
    try {
      accessSync(file, fsConstants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  return names.filter((name) => (name.includes('/') ? !runnable(name) : !envPath.split(path.delimiter).some((dir) => dir !== '' && runnable(path.join(dir, name)))));
}

/** What a bench prints when {@link missingTools} found some, and exits 2 with. */
export function missingToolsMessage(bench: string, missing: readonly string[]): string {
  return `${bench}: ${missing.join(', ')} not found on PATH; install ${missing.length === 1 ? 'it' : 'them'} (Debian: apt-get install ${missing.map((m) => path.basename(m) === 'aws' ? 'awscli' : path.basename(m)).join(' ')}) and run again\n`;
}

/** The aws CLI: Debian's v2 at /usr/bin/aws when present, else the first on PATH. */
export function awsBinary(): string {
  return existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';
}

/** The readpath CLI entry next to this bench (source under tsx, dist when built). */
export function readpathMain(): string {
  return fileURLToPath(siblingModule(import.meta.url, '../../src/cli/main'));
}

/** The rclone flags the rows use (besides source and destination). */
export const RCLONE_FLAGS = ['--transfers', String(TRANSFERS), '--no-check-dest', '--stats', '0', '--log-level', 'ERROR'] as const;

/** Download the first backend's bucket with rclone. */
export async function runRclone(fleet: StubFleet, dest: string, scratch: string, extraFlags: readonly string[] = []): Promise<CommandRun> {
  const conf = path.join(scratch, 'rclone.conf');
  await writeFile(conf, '');
  const env = toolEnv({
    RCLONE_CONFIG_STUB_TYPE: 's3',
    RCLONE_CONFIG_STUB_PROVIDER: 'Other',
    RCLONE_CONFIG_STUB_ENDPOINT: fleet.endpoints[0] as string,
    RCLONE_CONFIG_STUB_REGION: 'us-east-1',
    RCLONE_CONFIG_STUB_ACCESS_KEY_ID: STUB_ACCESS_KEY,
    RCLONE_CONFIG_STUB_SECRET_ACCESS_KEY: STUB_SECRET_KEY,
    RCLONE_CONFIG_STUB_FORCE_PATH_STYLE: 'true',
  });
  return runCommand('rclone', ['--config', conf, 'copy', `stub:${fleet.buckets[0] as string}`, dest, ...RCLONE_FLAGS, ...extraFlags], { env, cpu: true });
}

/** Download the first backend's bucket with `aws s3 cp --recursive`. */
export async function runAws(fleet: StubFleet, dest: string, scratch: string): Promise<CommandRun> {
  const conf = path.join(scratch, 'aws.config');
  await writeFile(conf, `[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = ${TRANSFERS}\n  addressing_style = path\n`);
  const env = toolEnv({
    AWS_CONFIG_FILE: conf,
    AWS_SHARED_CREDENTIALS_FILE: path.join(scratch, 'aws.credentials.none'),
    AWS_ACCESS_KEY_ID: STUB_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: STUB_SECRET_KEY,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  });
  return runCommand(awsBinary(), ['--endpoint-url', fleet.endpoints[0] as string, 's3', 'cp', '--recursive', '--only-show-errors', '--no-progress', `s3://${fleet.buckets[0] as string}/`, dest], { env, cpu: true });
}

/** Node's arguments to run the entry `main`: this process's loader flags (tsx) first when it is source. */
function nodeArgs(main: string, ...args: string[]): string[] {
  return [...(main.endsWith('.ts') ? loaderExecArgv() : []), main, ...args];
}

/** Download every key of the key file with `readpath batch --out` (`main`: another build's CLI entry). */
export async function runReadpath(setup: ReadpathSetup, dest: string, scratch: string, extraArgs: readonly string[] = [], main = readpathMain()): Promise<CommandRun> {
  const args = nodeArgs(main, 'batch', '-c', setup.config, '--keys', setup.keys, '--out', dest, ...extraArgs);
  return runCommand(process.execPath, args, { env: toolEnv({ READPATH_LOG_LEVEL: '' }), stdoutFile: path.join(scratch, 'outcomes.txt'), cpu: true });
}

/** The floor client's entry next to this bench (source under tsx, dist when built). */
export function floorClientMain(): string {
  return fileURLToPath(siblingModule(import.meta.url, './floor-client'));
}

/**
 * Download the set with the bare floor client in `mode` (see floor-client.ts), as readpath's
 * default runtime would: two threads, {@link TRANSFERS} in flight. Its stdout (the objects and
 * bytes it read) goes to `scratch/floor-MODE.txt`, which {@link receivedCount} reads.
 */
export async function runFloor(mode: FloorPlan['mode'], fleet: StubFleet, setup: ReadpathSetup, dest: string, scratch: string): Promise<CommandRun> {
  const names = backendNames(fleet);
  const plan: FloorPlan = {
    mode, keys: setup.keys, db: setup.db, out: dest, threads: 2, inflight: TRANSFERS,
    backends: fleet.endpoints.map((endpoint, i) => ({ name: names[i] as string, endpoint, bucket: fleet.buckets[i] as string })),
    accessKeyId: STUB_ACCESS_KEY, secretAccessKey: STUB_SECRET_KEY,
  };
  const planFile = path.join(scratch, `floor-${mode}.json`);
  await writeFile(planFile, JSON.stringify(plan));
  return runCommand(process.execPath, nodeArgs(floorClientMain(), planFile), { env: toolEnv(), stdoutFile: path.join(scratch, `floor-${mode}.txt`), cpu: true });
}

/**
 * What the `receive` floor client said it read (`N objects, B bytes`), as a {@link Verification}
 * against the data set: it writes no files, so its count and bytes are what can be checked.
 */
export async function receivedCount(scratch: string, objects: readonly StubListedObject[]): Promise<Verification> {
  const text = await readFile(path.join(scratch, 'floor-receive.txt'), 'utf8').catch(() => '');
  const m = /^(\d+) objects, (\d+) bytes$/m.exec(text);
  const files = m === null ? 0 : Number(m[1]);
  const bytes = m === null ? 0 : Number(m[2]);
  const total = objects.reduce((n, o) => n + o.size, 0);
  const missing = Math.max(0, objects.length - files);
  return { files, bytes, missing, wrong: 0, unexpected: 0, ok: files === objects.length && bytes === total };
}

/** Compare `dir` with the data set, file by file (size and SHA-256). */
export async function verifyDownload(dir: string, objects: readonly StubListedObject[]): Promise<Verification> {
  const expected = new Map(objects.map((o) => [o.key, o]));
  const seen = new Set<string>();
  const v: Verification = { files: 0, bytes: 0, missing: 0, wrong: 0, unexpected: 0, ok: false };
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    // Node 20.x names the parent `path` (older) or `parentPath` (newer).
    const parent = (e as unknown as { parentPath?: string; path?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const rel = path.relative(dir, path.join(parent, e.name)).split(path.sep).join('/');
    const body = await readFile(path.join(dir, rel));
    v.files++;
    v.bytes += body.byteLength;
    const o = expected.get(rel);
    if (o === undefined) {
      v.unexpected++;
      continue;
    }
    seen.add(rel);
    if (body.byteLength !== o.size || createHash('sha256').update(body).digest('hex') !== o.sha256) v.wrong++;
  }
  v.missing = objects.length - seen.size;
  v.ok = v.missing === 0 && v.wrong === 0 && v.unexpected === 0 && v.files === objects.length;
  return v;
}
