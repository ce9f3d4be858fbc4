/**
 * The pool executor: a carrier of probe tasks to actors in a piscina worker pool. The policies at
 * dispatch (breaker, usage, decoding) are the shared ones of {@link DispatchingExecutor}; this
 * class only moves a {@link ProbeTask} to a worker, where `runProbe` makes the S3 call, checks
 * egress, verifies the body and runs the transform, and brings the {@link Verdict} back. The main
 * event loop never parses a response, hashes a body or decodes one; it holds no S3 client.
 *
 * Facts this is built on (measured here, see DESIGN.md):
 * - piscina `atomics: 'disabled'`: the default freezes an idle worker's loop, and with it its
 *   keep-alive sockets and timers.
 * - no piscina `signal` for running tasks: aborting one terminates the worker, and tasks with a
 *   signal never share a worker. Cancellation is cooperative instead: a shared Int32Array of
 *   per-slot flags (read by the worker when the task starts) plus one BroadcastChannel per pool
 *   (cancels while it runs). A MessageChannel per task doubled piscina's ~45 µs dispatch cost;
 *   the flag and channel cost nothing until a probe is actually cancelled.
 * - bodies are transferred (one unpooled ArrayBuffer each), never copied.
 * - piscina does not fail tasks of workers it terminates in destroy(): the executor settles
 *   every outstanding probe itself before destroying the pool, billed as reserved.
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel, type Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { ReadPathError, abortedError, messageOf, requirePositiveInt } from '../../errors.js';
import { s3OptionsFromConfig } from '../../backends/s3-options.js';
import type { ResolvedConfig } from '../../config/types.js';
import type { ErrorVerdict, ProbeTask, Verdict } from '../../probe/task.js';
import { transformUrl } from '../../probe/transform.js';
import type { ProbeRequest } from '../../types.js';
import { DispatchingExecutor, executorClosed, type ExecutorCloseOptions, type ExecutorStats } from '../executor.js';
import {
  DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_TASKS_PER_THREAD, defaultPoolThreads, defaultWorkerFilename, type PoolExecutorOptions, type PoolFromConfigOptions,
} from './options.js';
import { deferUntilDrained } from '../../engine/timers.js';
import { onCancel, type CancellableRequest } from '../../engine/probe-request.js';
import {
  PROBE_PROTOCOL, isReadyMessage, isReserveMessage, isVerdictBatch, type ControlMessage, type PooledTask, type ProbeWorkerData, type TaskBatch,
} from './protocol.js';
import { newProbePiscina, takePrestartedPool, type PoolShape } from './prestart.js';
import { removeOrphanTemps, removeOwnTempsSync } from '../../sinks/orphan-temps.js';
import { removeOnExit } from '../../sinks/exit-sweep.js';

export { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_TASKS_PER_THREAD, defaultPoolThreads, defaultWorkerFilename } from './options.js';
export type { PoolExecutorOptions, PoolFromConfigOptions } from './options.js';

function cancelWhy(reason: unknown): string {
  return reason !== null && typeof reason === 'object' && typeof (reason as { message?: unknown }).message === 'string'
    ? (reason as { message: string }).message
    : 'probe cancelled';
}

/** Most probes sent to a worker in one message. */
const MAX_BATCH = 64;

function failed(error: unknown): ErrorVerdict {
  return { kind: 'error', error, api: 0, egress: 0 };
}

/** One probe between dispatch and verdict. Also the cancel listener of its request. */
class Job {
  readonly task: PooledTask;
  readonly resolve: (v: Verdict) => void;
  readonly #pool: PoolExecutor;
  /** The request's signal, when the request offers no cheaper way to hear of a cancel. */
  signal: AbortSignal | undefined;
  /** The request, when it does (the race's own requests: see onCancel). */
  cancellable: CancellableRequest | undefined;
  settled = false;
  started = false;
  /** Re-dispatched once after its worker died. */
  retried = false;

  constructor(pool: PoolExecutor, task: PooledTask, resolve: (v: Verdict) => void) {
    this.#pool = pool;
    this.task = task;
    this.resolve = resolve;
  }

  /** The cancel listener (an object listener: no closure per probe). */
  handleEvent(): void {
    this.#pool.cancel(this);
  }

  get aborted(): boolean {
    return this.cancellable?.cancelled ?? this.signal?.aborted ?? false;
  }

  get reason(): unknown {
    return this.cancellable !== undefined ? this.cancellable.cancelReason : (this.signal?.reason as unknown);
  }

  /** The ABORTED error of a cancelled probe, with the cancel's reason as its cause. */
  abortedError(): ReadPathError {
    const reason = this.reason;
    return new ReadPathError('ABORTED', 'read aborted by caller', reason === undefined ? undefined : { cause: reason });
  }
}

/** Carries probes to actors in a piscina worker pool. Call {@link PoolExecutor.close} when done. */
export class PoolExecutor extends DispatchingExecutor {
  readonly kind = 'pool' as const;
  readonly #pool: Piscina<TaskBatch, number>;
  readonly #channel: BroadcastChannel;
  /** The workers' configuration, sent to each as it reports ready. */
  readonly #init: ControlMessage;
  readonly #flags: Int32Array;
  readonly #freeSlots: number[];
  readonly #threads: number;
  readonly #maxInFlight: number;
  readonly #maxWaiting: number;
  /** Dispatched probes by task id. */
  readonly #running = new Map<number, Job>();
  readonly #waiting: Job[] = [];
  /** Started probes not yet sent to a worker: sent together once the microtask queue drains. */
  #outbox: Job[] = [];
  #capacityWaiters: (() => void)[] = [];
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  /**
   * The thread id of each live worker, taken while it runs: a worker that has exited reports -1,
   * and the names of the temporary files it left carry the real one.
   */
  readonly #threadIds = new Map<Worker, number>();
  /** Threads of this pool that died (ids are never reused within a process). */
  readonly #deadThreads = new Set<number>();
  /** Removals of dead workers' temporary files under way: close() waits for them. */
  readonly #sweeps = new Set<Promise<unknown>>();
  /** Probes close() gave up on: their workers may write until the pool is destroyed. */
  #givenUp: Job[] = [];
  /** Unregisters {@link PoolExecutor.#removeTempsNow} from the process's exit, once a probe wrote under `out`. */
  #unregisterExitSweep: (() => void) | undefined;

  constructor(opts: PoolExecutorOptions) {
    super(opts, 'PoolExecutor');
    const threads = requirePositiveInt(opts.threads ?? defaultPoolThreads(), 'runtime.threads');
    const perThread = requirePositiveInt(opts.tasksPerThread ?? DEFAULT_TASKS_PER_THREAD, 'runtime.tasks_per_thread');
    const maxInFlight = requirePositiveInt(opts.maxInFlight ?? threads * perThread, 'runtime.max_in_flight');
    this.#maxWaiting = opts.maxWaiting ?? maxInFlight * 16;
    if (opts.backends === undefined && opts.backendModule === undefined) {
      throw new ReadPathError('INVALID_CONFIG', 'PoolExecutor: give backends (S3 options) or a backendModule');
    }
    this.#threads = threads;
    this.#maxInFlight = maxInFlight;
    const flags = new SharedArrayBuffer(4 * maxInFlight);
    this.#flags = new Int32Array(flags);
    this.#freeSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - 1 - i);
    const data: ProbeWorkerData = { protocol: PROBE_PROTOCOL, flags, concurrency: perThread };
    if (opts.workerNice !== undefined) {
      if (!Number.isSafeInteger(opts.workerNice) || opts.workerNice < 0 || opts.workerNice > 19) {
        throw new ReadPathError('INVALID_CONFIG', `runtime.worker_nice: must be an integer in 0..19, got ${String(opts.workerNice)}`);
      }
      data.nice = opts.workerNice;
    }
    if (opts.backends !== undefined) data.s3 = opts.backends;
    if (opts.encryption !== undefined && opts.encryption !== null) data.encryption = opts.encryption;
    if (opts.backendModule !== undefined) {
      data.backendModule = transformUrl(opts.backendModule);
      data.backendData = opts.backendData;
    }
    if (opts.probeTimeoutMs !== undefined && opts.probeTimeoutMs > 0) data.probeTimeoutMs = opts.probeTimeoutMs;
    try {
      // Checked here: the workers get it by message, and a failing post would throw later, in a listener.
      structuredClone(data);
    } catch (err) {
      throw new ReadPathError('INVALID_CONFIG', `PoolExecutor: the workers' configuration cannot be sent to them (backendData must be structured-cloneable): ${messageOf(err)}`, { cause: err });
    }
    this.#init = { t: 'init', data };
    const shape: PoolShape = {
      filename: opts.workerFilename === undefined ? defaultWorkerFilename() : transformUrl(opts.workerFilename),
      threads,
      perThread,
      maxQueue: maxInFlight,
      resourceLimits: opts.resourceLimits,
    };
    // Workers started at the program's start, if they fit (see prestart.ts), else our own.
    const adopted = takePrestartedPool(shape);
    const channel = adopted?.channel ?? `readpath-probes-${randomUUID()}`;
    this.#channel = new BroadcastChannel(channel);
    this.#channel.unref();
    this.#pool = adopted?.pool ?? newProbePiscina(shape, { protocol: PROBE_PROTOCOL, channel });
    // Workers of a prestarted pool exist already; later ones are noted as they start.
    this.#noteThreads();
    this.#pool.on('workerCreate', () => this.#noteThreads());
    this.#pool.on('message', (m: unknown) => {
      if (isReadyMessage(m)) {
        // A worker listens on the channel now: (re)send the configuration, which it takes once.
        if (!this.#closed) this.#post(this.#init);
        return;
      }
      if (isVerdictBatch(m)) {
        for (let i = 0; i < m.ids.length; i++) {
          const job = this.#running.get(m.ids[i] as number);
          if (job !== undefined) this.#settle(job, m.verdicts[i] as Verdict);
        }
        return;
      }
      if (!isReserveMessage(m)) return;
      // The request travels apart from the verdict: it may arrive after its probe ended (the
      // worker stopped waiting on an abort). Reserving then would never be released.
      const job = this.#running.get(m.id);
      if (job === undefined || job.task.backend !== m.backend) return;
      const ledger = this.recorder.reservations;
      this.#post({ t: 'grant', id: m.id, limit: m.api === undefined ? ledger.reserveEgress(job.task, m.bytes) : ledger.reserveApi(job.task, m.api) });
    });
    // Workers of a prestarted pool may have said they were ready before we listened.
    if (adopted !== undefined) this.#post(this.#init);
  }

  /**
   * A pool over a resolved configuration's `runtime` section, its workers serving S3 clients
   * built from `backends[]`, or with `opts.backendModule` the backends that module builds.
   */
  static fromConfig(config: ResolvedConfig, opts: PoolFromConfigOptions): PoolExecutor {
    return new PoolExecutor({
      ...opts,
      ...(opts.backendModule === undefined ? { backends: s3OptionsFromConfig(config) } : {}),
      probeTimeoutMs: config.server.backendTimeoutMs,
      threads: config.runtime.threads,
      tasksPerThread: config.runtime.tasksPerThread,
      maxInFlight: config.runtime.maxInFlight,
    });
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  saturated(): boolean {
    return this.#running.size + this.#waiting.length >= this.#maxInFlight;
  }

  whenCapacity(): Promise<void> {
    if (!this.saturated() || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  stats(): ExecutorStats {
    return {
      kind: this.kind,
      inFlight: this.#running.size,
      queued: this.#waiting.length,
      maxInFlight: this.#maxInFlight,
      threads: this.#threads,
    };
  }

  threadIds(): number[] {
    return this.#pool.threads.map((w) => w.threadId);
  }

  protected carry(probe: ProbeTask, req: ProbeRequest): Promise<Verdict> {
    if (this.#closed) return Promise.resolve(failed(executorClosed(this.kind)));
    const task = probe as PooledTask;
    task.id = 0;
    task.slot = -1;
    return new Promise<Verdict>((resolve) => {
      const job = new Job(this, task, resolve);
      const hook = (req as Partial<CancellableRequest>)[onCancel];
      if (typeof hook === 'function') {
        // The race's request tells the job of a cancel directly: no AbortSignal is built.
        job.cancellable = req as CancellableRequest;
        if (!hook.call(req, job)) {
          resolve(failed(job.abortedError()));
          return;
        }
      } else {
        const signal = req.signal;
        if (signal.aborted) {
          resolve(failed(abortedError(signal)));
          return;
        }
        job.signal = signal;
        signal.addEventListener('abort', job, { once: true });
      }
      if (this.#running.size < this.#maxInFlight && this.#waiting.length === 0) {
        this.#start(job);
      } else if (this.#waiting.length >= this.#maxWaiting) {
        this.#settle(job, failed(new ReadPathError('EXECUTOR_SATURATED', `probe pool queue full: ${this.#waiting.length} probes waiting for ${this.#maxInFlight} slots`)));
      } else {
        this.#waiting.push(job);
      }
    });
  }

  #start(job: Job): void {
    const slot = this.#freeSlots.pop() as number;
    Atomics.store(this.#flags, slot, 0);
    job.task.slot = slot;
    job.task.id = this.#nextId++;
    job.started = true;
    this.#running.set(job.task.id, job);
    if (job.task.out !== undefined && this.#unregisterExitSweep === undefined) this.#unregisterExitSweep = removeOnExit(this.#removeTempsNow);
    this.#send(job);
  }

  /** Queue a started probe for the next batch. */
  #send(job: Job): void {
    this.#outbox.push(job);
    if (this.#outbox.length === 1) deferUntilDrained(this.#flush);
  }

  /**
   * Send the outbox as batches, one piscina task each: as many batches as there are workers (so
   * piscina's least-busy balancing spreads them), at most MAX_BATCH probes in one.
   */
  readonly #flush = (): void => {
    const jobs = this.#outbox;
    this.#outbox = [];
    const size = Math.min(MAX_BATCH, Math.ceil(jobs.length / this.#threads));
    for (let at = 0; at < jobs.length; at += size) {
      const part = jobs.slice(at, at + size);
      const tasks: PooledTask[] = [];
      for (const job of part) if (!job.settled) tasks.push(job.task);
      if (tasks.length === 0) continue;
      // The verdicts come back on their own (see the 'message' listener); the batch's result
      // only says its worker is done with it.
      this.#pool.run({ tasks }).then(undefined, (err: unknown) => this.#onBatchLost(part, err));
    }
  };

  /** @internal The job's signal aborted: cancel it where it is. */
  cancel(job: Job): void {
    if (job.settled) return;
    const reason: unknown = job.reason;
    if (!job.started) {
      const i = this.#waiting.indexOf(job);
      if (i >= 0) this.#waiting.splice(i, 1);
      this.#settle(job, failed(job.abortedError()));
      return;
    }
    // Flag first, then broadcast: a worker that has not seen the task yet reads the flag when
    // it starts it; one that has finds its controller registered when the message arrives.
    Atomics.store(this.#flags, job.task.slot, 1);
    this.#post({ t: 'cancel', id: job.task.id, why: cancelWhy(reason) });
  }

  #post(m: ControlMessage): void {
    this.#channel.postMessage(m);
  }

  /** Release everything a job holds and hand its verdict back. Once per job. */
  #settle(job: Job, v: Verdict): void {
    if (job.settled) return;
    job.settled = true;
    if (job.signal !== undefined) job.signal.removeEventListener('abort', job);
    if (job.started) {
      this.#running.delete(job.task.id);
      this.#freeSlots.push(job.task.slot);
    }
    job.resolve(v);
    this.#pump();
  }

  /** Note the thread ids of the pool's workers (once a worker starts: its id is -1 after it exits). */
  #noteThreads(): void {
    for (const worker of this.#pool.threads) {
      if (!this.#threadIds.has(worker) && worker.threadId >= 0) this.#threadIds.set(worker, worker.threadId);
    }
  }

  /** A batch's worker died: its unanswered probes go once more to a live worker, or fail. */
  #onBatchLost(jobs: Job[], err: unknown): void {
    // Verdicts the worker posted before it died may still be queued on its port: let them land.
    setImmediate(() => {
      const sweep = this.#sweepDeadTemps(jobs);
      if (sweep === undefined) this.#retryLost(jobs, err);
      // Its temporary files go before the retries run: once a key has its outcome, none is left.
      else void sweep.then(() => this.#retryLost(jobs, err));
    });
  }

  /**
   * Remove the temporary files dead workers left beside the `out` targets of `jobs` (a worker that
   * dies mid-write never cleans up after itself). Undefined when there is nothing to look for.
   */
  #sweepDeadTemps(jobs: readonly Job[]): Promise<unknown> | undefined {
    // piscina removed the dead worker from its threads before failing its batch.
    const live = new Set(this.#pool.threads);
    for (const [worker, id] of this.#threadIds) {
      if (live.has(worker)) continue;
      this.#threadIds.delete(worker);
      this.#deadThreads.add(id);
    }
    const byRoot = new Map<string, string[]>();
    for (const { task } of jobs) {
      if (task.op !== 'get' || task.out === undefined) continue;
      const keys = byRoot.get(task.out);
      if (keys === undefined) byRoot.set(task.out, [task.key]);
      else keys.push(task.key);
    }
    if (byRoot.size === 0 || this.#deadThreads.size === 0) return undefined;
    const dead = new Set(this.#deadThreads);
    const sweep = Promise.all([...byRoot].map(([root, keys]) => removeOrphanTemps(root, keys, dead)));
    this.#sweeps.add(sweep);
    void sweep.then(() => this.#sweeps.delete(sweep));
    return sweep;
  }

  /**
   * Send the lost batch's unanswered probes once more, or fail them. What a probe used on the
   * worker that died is unknown: each lost attempt is billed as reserved (see
   * UsageLedger.settleLost), the most it was allowed to send — never less than it may have used.
   */
  #retryLost(jobs: readonly Job[], err: unknown): void {
    const ledger = this.recorder.reservations;
    for (const job of jobs) {
      if (job.settled) continue;
      if (!job.retried && !this.#closed && !job.aborted) {
        // Its worker died (its own fault or a neighbour's): once more, on a live worker, if the
        // lost attempt's bill leaves the backend room for another.
        job.retried = true;
        const limit = ledger.retry(job.task);
        if (limit === null) this.#send(job);
        else this.#settle(job, { kind: 'skip', limit, api: 0, egress: 0 });
        continue;
      }
      const error = job.aborted
        ? job.abortedError()
        : new ReadPathError('WORKER_LOST', `${job.task.backend}: probe worker died twice: ${messageOf(err)}`, { cause: err });
      // Billed here; the verdict's settlement then finds nothing held and records its zero usage.
      ledger.settleLost(job.task);
      this.#settle(job, failed(error));
    }
  }

  /** Start waiting probes while there is room, and wake capacity waiters. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#running.size < this.#maxInFlight && !this.#closed) {
      this.#start(this.#waiting.shift() as Job);
    }
    if (this.#capacityWaiters.length > 0 && !this.saturated()) {
      const ws = this.#capacityWaiters;
      this.#capacityWaiters = [];
      for (const w of ws) w();
    }
    if (this.#drained !== undefined && this.#running.size === 0) this.#drained();
  }

  /**
   * Refuse new probes, fail the waiting ones, let running probes finish for up to `timeoutMs`,
   * then fail what is left with `EXECUTOR_CLOSED` (each billed as reserved: its usage is never
   * reported) and destroy the pool: no thread, port or timer outlives the returned promise.
   * Idempotent.
   */
  close(opts: ExecutorCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(opts.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    for (const job of this.#waiting.splice(0)) this.#settle(job, failed(executorClosed(this.kind)));
    const ws = this.#capacityWaiters;
    this.#capacityWaiters = [];
    for (const w of ws) w();
    if (this.#running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#drained = undefined;
    }
    this.#givenUp = [...this.#running.values()];
    for (const job of this.#givenUp) {
      // Tell the worker too, in case destroying it takes a while; the probe fails now.
      Atomics.store(this.#flags, job.task.slot, 1);
      // Its verdict will never arrive: what it sent is unknown, so it is billed as reserved.
      this.recorder.reservations.settleLost(job.task);
      // A probe its caller had already cancelled ends as the cancel said, as on a worker's death:
      // whether its verdict beat close() is a race the caller must not see.
      this.#settle(job, failed(job.aborted ? job.abortedError() : executorClosed(this.kind, `closed before the probe on ${job.task.backend} finished`)));
    }
    try {
      await this.#pool.destroy();
      // Leftovers of workers that died are removed before close() resolves, not after.
      await Promise.all(this.#sweeps);
    } finally {
      this.#channel.close();
      this.#givenUp = [];
      this.#unregisterExitSweep?.();
    }
  }

  /**
   * On the process's exit (a second Ctrl-C exits without waiting): the workers stop mid-write and
   * never remove their temporary files, so this thread does, beside the target of every probe a
   * worker may still be writing — a job stays in `#running` until its worker's verdict, which comes
   * only after the write was committed or dropped.
   */
  readonly #removeTempsNow = (): void => {
    const byRoot = new Map<string, string[]>();
    for (const { task } of [...this.#running.values(), ...this.#givenUp]) {
      if (task.op !== 'get' || task.out === undefined) continue;
      const keys = byRoot.get(task.out);
      if (keys === undefined) byRoot.set(task.out, [task.key]);
      else keys.push(task.key);
    }
    for (const [root, keys] of byRoot) removeOwnTempsSync(root, keys);
  };
}
