/**
 * Local S3 backends for the demo: s3rver instances on 127.0.0.1, each in its own temporary
 * directory on an ephemeral port, each in its own child process (so the servers' work does
 * not compete with the reader for one event loop). A backend can be stopped — its port then
 * refuses connections, as a crashed server's would — and started again on the same port with
 * the same data. Everything is removed by {@link LocalS3Fleet.close}.
 *
 * This ships in the product (`readpath demo`), so it does not reuse the test fleet helper.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loaderExecArgv, waitForStart } from '../child-start.js';
import { UsageError } from '../errors.js';
import { siblingModule } from '../../sibling-module.js';

/** s3rver accepts any request signed with these. */
export const LOCAL_S3_ACCESS_KEY = 'S3RVER';
/** s3rver accepts any request signed with these. */
export const LOCAL_S3_SECRET_KEY = 'S3RVER';
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 30_000;

/**
 * The s3rver release the demo runs on (package.json's devDependencies; types/s3rver.d.ts).
 * s3rver and its tree (koa, lodash, busboy, winston…) serve the demo only, so readpath does
 * not install them for library users: the demo asks for it when it is missing.
 */
export const S3RVER_PACKAGE = 's3rver@3.7.1';

/**
 * Throw a {@link UsageError} saying how to install s3rver when it cannot be resolved from here
 * (where the server processes will import it from).
 */
export function requireS3rver(resolve: (specifier: string) => string = (s) => createRequire(import.meta.url).resolve(s)): void {
  try {
    resolve('s3rver');
  } catch (err) {
    throw new UsageError(
      'readpath demo needs s3rver for its local S3 backends, and it is not installed (readpath installs it for its own development, not for library users). ' +
        `Run \`npm install --save-dev ${S3RVER_PACKAGE}\` in this project, then the demo again.`,
      { cause: err },
    );
  }
}

/** One local backend. */
export interface LocalS3Backend {
  readonly name: string;
  /** `http://127.0.0.1:<port>`; stays the same across stop/start. */
  readonly endpoint: string;
  readonly directory: string;
  /** False between {@link LocalS3Fleet.stop} and {@link LocalS3Fleet.start}. */
  readonly running: boolean;
}

/** A set of running local backends. */
export interface LocalS3Fleet {
  readonly bucket: string;
  readonly backends: readonly LocalS3Backend[];
  /** Stop one backend: its port refuses connections from now on. */
  stop(name: string): Promise<void>;
  /** Start a stopped backend again on its port, with its data. */
  start(name: string): Promise<void>;
  /** Stop every backend and delete their directories. Idempotent. */
  close(): Promise<void>;
}

interface Member {
  name: string;
  endpoint: string;
  directory: string;
  port: number;
  child: ChildProcess | undefined;
  readonly running: boolean;
}

function serverEntry(): string {
  return fileURLToPath(siblingModule(import.meta.url, './s3-server-process'));
}

async function runServer(directory: string, port: number, bucket: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(serverEntry(), [JSON.stringify({ directory, port, bucket })], {
    execArgv: loaderExecArgv(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const { port: ready } = await waitForStart(child, {
    what: 'local S3 server',
    timeoutMs: START_TIMEOUT_MS,
    match: (m) => {
      const msg = m as { type?: string; port?: number; message?: string };
      if (msg.type === 'error') throw new Error(`local S3 server failed to start: ${msg.message ?? 'unknown error'}`);
      return msg.type === 'ready' && typeof msg.port === 'number' ? { port: msg.port } : undefined;
    },
  });
  return { child, port: ready };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' });
  else child.kill('SIGTERM');
  // A server that does not stop promptly is killed: the demo must not hang on cleanup.
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
}

/**
 * Start one s3rver backend per name, each with `bucket` created.
 *
 * @param tmpRoot where the per-backend directories are created (default: the OS temp dir).
 */
export async function startLocalS3Fleet(names: readonly string[], bucket: string, tmpRoot: string = os.tmpdir()): Promise<LocalS3Fleet> {
  requireS3rver();
  const members: Member[] = [];
  let closed = false;

  const startMember = async (name: string): Promise<Member> => {
    const directory = await mkdtemp(path.join(tmpRoot, `readpath-demo-${name}-`));
    try {
      const { child, port } = await runServer(directory, 0, bucket);
      const m: Member = {
        name, directory, port, child, endpoint: `http://${HOST}:${port}`,
        get running() { return m.child !== undefined; },
      };
      return m;
    } catch (err) {
      await rm(directory, { recursive: true, force: true });
      throw err;
    }
  };

  const closeMember = async (m: Member): Promise<void> => {
    const child = m.child;
    m.child = undefined;
    if (child !== undefined) await stopServer(child);
    await rm(m.directory, { recursive: true, force: true });
  };

  const started = await Promise.allSettled(names.map(startMember));
  for (const r of started) if (r.status === 'fulfilled') members.push(r.value);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled(members.map(closeMember));
    throw failed.reason;
  }

  const member = (name: string): Member => {
    const m = members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no local backend named ${name}`);
    return m;
  };

  return {
    bucket,
    backends: members,
    async stop(name) {
      const m = member(name);
      const child = m.child;
      m.child = undefined;
      if (child !== undefined) await stopServer(child);
    },
    async start(name) {
      const m = member(name);
      if (m.child !== undefined || closed) return;
      m.child = (await runServer(m.directory, m.port, bucket)).child;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled(members.map(closeMember));
    },
  };
}
