/**
 * The inline executor: probes run on the calling thread, `runProbe` called directly, the
 * usage port being the recorder's own ledger.
 */
import { threadId } from 'node:worker_threads';
import type { ProbeTask, Verdict } from '../probe/task.js';
import type { ProbeRequest } from '../types.js';
import { onCancel, type CancellableRequest } from '../engine/probe-request.js';
import { SpareControllers } from './spare-controllers.js';
import { DispatchingExecutor, type DispatchOptions, type ExecutorStats } from './executor.js';
import { KeyRing } from '../encryption/key-ring.js';
import { runProbeWithin } from './probe-within.js';

/** Options of {@link InlineExecutor}. */
export interface InlineExecutorOptions extends DispatchOptions {
  /** Keys to decrypt with, shared with this thread's streams (else built from `encryption`). */
  keys?: KeyRing | undefined;
  /**
   * `server.backend_timeout` in ms (0: none): the bound of a probe on a backend that does not
   * bound its own calls (`ObjectBackend.boundsCalls`) — backend objects given in code.
   */
  probeTimeoutMs?: number;
}

const resolvedCapacity = Promise.resolve();

/** Probes' controllers kept for reuse: about the reads a batch keeps in flight. */
const SPARE_CONTROLLERS = 256;

/** Passes a request's cancel to the controller its probe runs under, until the probe ended. */
class CancelLink {
  done = false;
  readonly #ac: AbortController;
  readonly #req: CancellableRequest;

  constructor(ac: AbortController, req: CancellableRequest) {
    this.#ac = ac;
    this.#req = req;
  }

  handleEvent(): void {
    if (!this.done) this.#ac.abort(this.#req.cancelReason);
  }
}

/** Runs probes on the calling thread. */
export class InlineExecutor extends DispatchingExecutor {
  readonly kind = 'inline' as const;
  #closed = false;
  /** This thread's keys, when encryption is configured. */
  readonly #keys: KeyRing | undefined;
  /** The keys were built here, so close() closes them. */
  readonly #ownKeys: boolean;
  readonly #probeTimeoutMs: number;
  readonly #spare = new SpareControllers(SPARE_CONTROLLERS);

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
    const c = req as Partial<CancellableRequest>;
    if (typeof c[onCancel] !== 'function') return runProbeWithin(this.#probeTimeoutMs, task, req.backend, req.signal, this.recorder.reservations, this.#keys);
    // The race's request tells of a cancel without building its own AbortSignal: the probe runs
    // under a spare controller, linked to the request for as long as the probe runs.
    const ac = this.#spare.take();
    const link = new CancelLink(ac, req as CancellableRequest);
    if (!(req as CancellableRequest)[onCancel](link)) ac.abort(c.cancelReason);
    return runProbeWithin(this.#probeTimeoutMs, task, req.backend, ac.signal, this.recorder.reservations, this.#keys).then((v) => {
      link.done = true;
      this.#spare.give(ac);
      return v;
    });
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
