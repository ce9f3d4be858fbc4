/**
 * The inline executor: probes run on the calling thread, `runProbe` called directly, the
 * usage port being the recorder's own ledger.
 */
import { threadId } from 'node:worker_threads';
import type { ProbeTask, Verdict } from '../probe/task.js';
import type { ProbeRequest } from '../types.js';
import { onCancel, type CancellableRequest } from '../engine/probe-request.js';
import { SpareControllers } from './spare-controllers.js';
import { DispatchingExecutor, executorClosed, type DispatchOptions, type ExecutorCloseOptions, type ExecutorStats } from './executor.js';
import { DEFAULT_CLOSE_TIMEOUT_MS } from './pool/options.js';
import { KeyRing } from '../encryption/key-ring.js';
import { runProbeWithin } from './probe-within.js';
import { abandonWrite } from '../probe/to-file.js';
import { removeOnExit } from '../sinks/exit-sweep.js';

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
  /**
   * Probes writing a body under `out`, each with the controller it runs under: close() waits for
   * them, and aborts those it gives up on, so that no temporary file outlives it.
   */
  readonly #writing = new Map<Promise<Verdict>, { task: ProbeTask; ac: AbortController }>();
  #closing: Promise<void> | undefined;
  /**
   * Unregisters the exit sweep, once a probe wrote under `out`: a process exiting at once (a
   * second Ctrl-C) never lets these writes see their abort, so their temporary files go then.
   */
  #unregisterExitSweep: (() => void) | undefined;

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
    if (task.out !== undefined) return this.#carryWriting(task, req);
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

  /** A probe writing under `out`: run under a controller of its own, which close() can abort. */
  #carryWriting(task: ProbeTask, req: ProbeRequest): Promise<Verdict> {
    const ac = new AbortController();
    const c = req as Partial<CancellableRequest>;
    let link: CancelLink | undefined;
    let onAbort: (() => void) | undefined;
    if (typeof c[onCancel] === 'function') {
      link = new CancelLink(ac, req as CancellableRequest);
      if (!(req as CancellableRequest)[onCancel](link)) ac.abort(c.cancelReason);
    } else if (req.signal.aborted) {
      ac.abort(req.signal.reason);
    } else {
      const signal = req.signal;
      onAbort = () => ac.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const probe = runProbeWithin(this.#probeTimeoutMs, task, req.backend, ac.signal, this.recorder.reservations, this.#keys).finally(() => {
      if (link !== undefined) link.done = true;
      if (onAbort !== undefined) req.signal.removeEventListener('abort', onAbort);
      this.#writing.delete(probe);
    });
    this.#writing.set(probe, { task, ac });
    this.#unregisterExitSweep ??= removeOnExit(() => {
      for (const w of this.#writing.values()) abandonWrite(w.task);
    });
    return probe;
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

  /**
   * Refuse new probes; let probes writing under `out` finish for up to `timeoutMs`, then abort the
   * rest and drop their temporary files at once — whether or not their body read has heard the
   * abort yet — so that none outlives the returned promise, and none of them renames a file into
   * place later. Other probes are not waited for: nothing of theirs outlives them. Idempotent.
   */
  close(opts: ExecutorCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(opts.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    if (this.#writing.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(this.#writing.keys()),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      clearTimeout(timer);
      for (const { task, ac } of this.#writing.values()) {
        ac.abort(executorClosed(this.kind, 'closed before the probe finished writing'));
        abandonWrite(task);
      }
    }
    this.#unregisterExitSweep?.();
    if (this.#ownKeys) await this.#keys?.close();
  }
}
