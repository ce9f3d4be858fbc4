/**
 * The inline executor: probes run on the calling thread, `runProbe` called directly, the
 * usage port being the recorder's own ledger.
 */
import { threadId } from 'node:worker_threads';
import { runProbe } from '../probe/run.js';
import type { ProbeTask, Verdict } from '../probe/task.js';
import type { ProbeRequest } from '../types.js';
import { DispatchingExecutor, type DispatchOptions, type ExecutorStats } from './executor.js';
import { KeyRing } from '../encryption/key-ring.js';
import { boundProbe } from '../engine/bounded-call.js';

/** Options of {@link InlineExecutor}. */
export interface InlineExecutorOptions extends DispatchOptions {
  /** Keys to decrypt with, shared with this thread's streams (else built from `encryption`). */
  keys?: KeyRing | undefined;
  /**
   * `server.backend_timeout` in ms (0: none): the bound of a probe on a backend that does not
   * bound its own calls ({@link ObjectBackend.boundsCalls}) — backend objects given in code.
   */
  probeTimeoutMs?: number;
}

const resolvedCapacity = Promise.resolve();

/** Runs probes on the calling thread. */
export class InlineExecutor extends DispatchingExecutor {
  readonly kind = 'inline' as const;
  #closed = false;
  /** This thread's keys, when encryption is configured. */
  readonly #keys: KeyRing | undefined;
  /** The keys were built here, so close() closes them. */
  readonly #ownKeys: boolean;
  readonly #probeTimeoutMs: number;

  constructor(opts: InlineExecutorOptions) {
    super(opts, 'InlineExecutor');
    const settings = opts.encryption ?? null;
    this.#ownKeys = opts.keys === undefined && settings !== null;
    this.#keys = opts.keys ?? (settings === null ? undefined : new KeyRing(settings));
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? 0;
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  protected carry(task: ProbeTask, req: ProbeRequest): Promise<Verdict> {
    if (this.#probeTimeoutMs > 0 && req.backend.boundsCalls !== true) {
      return boundProbe(task, req.backend, this.#probeTimeoutMs, req.signal, (signal) => runProbe(task, req.backend, signal, this.recorder.reservations, this.#keys));
    }
    return runProbe(task, req.backend, req.signal, this.recorder.reservations, this.#keys);
  }

  saturated(): boolean {
    return false;
  }

  whenCapacity(): Promise<void> {
    return resolvedCapacity;
  }

  stats(): ExecutorStats {
    return { kind: this.kind, inFlight: 0, queued: 0, maxInFlight: Number.POSITIVE_INFINITY, threads: 0 };
  }

  threadIds(): number[] {
    return [threadId];
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#ownKeys) await this.#keys?.close();
  }
}
