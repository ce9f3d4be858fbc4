/**
 * The parent side of the peer benchmark's S3 stub: forks stub-process in its own process (so
 * the servers' CPU is not the measured client's event loop), waits for it to generate the data
 * set and listen, and stops it. No server outlives {@link StubFleet.close} or the parent.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loaderExecArgv, waitForStart } from '../../src/cli/child-start.js';
import { siblingModule } from '../../src/sibling-module.js';

/** Parent → child. */
export interface StubRequest {
  type: 'start';
  /** Data set name: the first segment of every key. */
  set: string;
  count: number;
  size: number;
  /** One server per bucket. */
  buckets: string[];
  /** Scheduling priority of the stub process (0 = unchanged). */
  nice?: number;
}

/** What the stub serves, as the parent needs it to seed metadata and verify downloads. */
export interface StubListedObject {
  key: string;
  size: number;
  sha256: string;
}

/** Child → parent. */
export type StubReply =
  | { type: 'ready'; endpoints: string[]; objects: StubListedObject[] }
  | { type: 'error'; message: string };

/** A running stub process. */
export interface StubFleet {
  /** One per bucket, in the order given. */
  readonly endpoints: readonly string[];
  readonly buckets: readonly string[];
  readonly objects: readonly StubListedObject[];
  readonly pid: number | undefined;
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 120_000;

function entry(): string {
  return fileURLToPath(siblingModule(import.meta.url, './stub-process'));
}

/** Start a stub serving `count` random objects of `size` bytes in each of `buckets`. */
export async function startStubFleet(req: Omit<StubRequest, 'type'>): Promise<StubFleet> {
  const child: ChildProcess = fork(entry(), [], { execArgv: loaderExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const ready = waitForStart(child, {
    what: 'S3 stub',
    timeoutMs: START_TIMEOUT_MS,
    match: (m) => {
      const msg = m as StubReply;
      if (msg.type === 'error') throw new Error(`S3 stub failed: ${msg.message}`);
      return msg.type === 'ready' ? msg : undefined;
    },
  });
  child.send({ type: 'start', ...req } satisfies StubRequest);
  const reply = await ready;
  let closing: Promise<void> | undefined;
  return {
    endpoints: reply.endpoints,
    buckets: req.buckets,
    objects: reply.objects,
    pid: child.pid,
    close() {
      closing ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        if (child.connected) child.send({ type: 'stop' });
        else child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      })();
      return closing;
    },
  };
}

/** A data set's stub: `backends` buckets named bench-b1, bench-b2, ... serving `set`'s objects. */
export function startSetStub(set: { name: string; count: number; size: number }, backends: number, nice?: number): Promise<StubFleet> {
  return startStubFleet({
    set: set.name, count: set.count, size: set.size,
    buckets: Array.from({ length: backends }, (_, i) => `bench-b${i + 1}`),
    ...(nice === undefined ? {} : { nice }),
  });
}
