/**
 * The pool executor: probes run as actors in a piscina worker pool. A probe built here sends a
 * task described by data to a worker, which makes the S3 call, checks egress, verifies the body
 * and runs the transform, and answers with a verdict; the main thread rebuilds the result or
 * the ReadPathError. The main event loop never parses a response, hashes a body or decodes one.
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
 *   every outstanding probe itself before destroying the pool.
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import type { ResourceLimits } from 'node:worker_threads';
import v8 from 'node:v8';
import { Piscina } from 'piscina';
import { ReadPathError, UsageLimitSkipError, abortedError, deserializeError, messageOf, requirePositiveInt } from '../../errors.js';
import type { Recorder } from '../../telemetry/recorder.js';
import type { S3BackendOptions } from '../../backends/s3-backend.js';
import { s3OptionsFromConfig } from '../../backends/s3-options.js';
import type { ResolvedConfig } from '../../config/types.js';
import { defaultThreads } from '../../config/resolve.js';
import { encryptedUnsupported, type FetchedObject } from '../../probe/probes.js';
import type { HeadResult, Probe, ProbeRequest, ProbeResult } from '../../types.js';
import {
  executorClosed, rejectingProbe, type ExecutorCloseOptions, type ExecutorStats, type ProbeExecutor, type ProbeGetOptions,
  type TransformedValue,
} from '../executor.js';
import { transformUrl } from '../../probe/transform.js';
import { UsageLedger } from '../../policies/usage-ledger.js';
import {
  PROBE_PROTOCOL, isReserveMessage, type ControlMessage, type ProbeTask, type ProbeWorkerData, type Verdict,
} from './protocol.js';

/** Default concurrent probes per worker (runtime.tasks_per_thread). */
export const DEFAULT_TASKS_PER_THREAD = 32;
/** Default drain bound of {@link PoolExecutor.close}. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/** Worker threads when none are configured: the same default as `runtime.threads`. */
export function defaultPoolThreads(): number {
  return defaultThreads();
}

/** Options of {@link PoolExecutor}. */
export interface PoolExecutorOptions {
  /** Owns usage limits and metrics; only the main thread touches it. */
  recorder: Recorder;
  /** S3 backends every worker builds once (its keep-alive sockets live in the worker). */
  backends?: S3BackendOptions[];
  /**
   * A module (path or file: URL) whose `createBackends(data)` (or default export) returns the
   * backends a worker serves, built inside the worker from `backendData` — for tests and
   * embedding. May be combined with `backends`.
   */
  backendModule?: string | URL;
  /** Structured-cloneable data for `backendModule` (SharedArrayBuffers are shared). */
  backendData?: unknown;
  /** Worker threads (runtime.threads). Default {@link defaultPoolThreads}. */
  threads?: number;
  /** Concurrent probes per worker (runtime.tasks_per_thread). Default 32. */
  tasksPerThread?: number;
  /** Probes dispatched to workers at once (runtime.max_in_flight). Default threads × tasksPerThread. */
  maxInFlight?: number;
  /**
   * Probes that may wait inside the executor beyond `maxInFlight` before new ones are refused
   * with `BACKEND_ERROR`. Default 16 × maxInFlight. A coordinator honouring
   * {@link PoolExecutor.whenCapacity} never gets near it.
   */
  maxWaiting?: number;
  /**
   * Niceness (0..19) of the worker threads (Linux; ignored elsewhere). Above 0, the main thread
   * — the coordinator choosing winners and feeding the workers — gets the CPU first when the
   * machine is saturated, which keeps its event loop responsive. Default 0.
   */
  workerNice?: number;
  /** Per-worker V8 heap limits; a worker over them dies and only its probes fail. */
  resourceLimits?: ResourceLimits;
  /** The worker entry (tests); default workers/probe-worker.{ts,js} next to this module. */
  workerFilename?: string | URL;
}

/** Extra options of {@link PoolExecutor.fromConfig}. */
export type PoolFromConfigOptions = Omit<PoolExecutorOptions, 'backends' | 'threads' | 'tasksPerThread' | 'maxInFlight'>;

/**
 * The worker entry beside this module: `.ts` when running from source under tsx (worker
 * threads inherit its `--import`), the compiled `.js` in dist/.
 */
export function defaultWorkerFilename(): string {
  const here = import.meta.url;
  return new URL(`../../../workers/probe-worker${here.endsWith('.ts') ? '.ts' : '.js'}`, here).href;
}

function cancelWhy(reason: unknown): string {
  return reason !== null && typeof reason === 'object' && typeof (reason as { message?: unknown }).message === 'string'
    ? (reason as { message: string }).message
    : 'probe cancelled';
}

type Kind = 0 | 1 | 2; // head | get | get with transform

/** One probe between dispatch and verdict. Also the abort listener of its request's signal. */
class Job {
  readonly task: ProbeTask;
  readonly kind: Kind;
  readonly req: ProbeRequest;
  readonly resolve: (r: ProbeResult<unknown>) => void;
  readonly reject: (e: unknown) => void;
  readonly apiReserved: boolean;
  readonly #pool: PoolExecutor;
  signal: AbortSignal | undefined;
  settled = false;
  started = false;

  constructor(pool: PoolExecutor, task: ProbeTask, kind: Kind, req: ProbeRequest, apiReserved: boolean,
    resolve: (r: ProbeResult<unknown>) => void, reject: (e: unknown) => void) {
    this.#pool = pool;
    this.task = task;
    this.kind = kind;
    this.req = req;
    this.apiReserved = apiReserved;
    this.resolve = resolve;
    this.reject = reject;
  }

  /** The signal's abort listener (an object listener: no closure per probe). */
  handleEvent(): void {
    this.#pool.cancel(this);
  }
}

/** Runs probes as actors in a piscina worker pool. Call {@link PoolExecutor.close} when done. */
export class PoolExecutor implements ProbeExecutor {
  readonly kind = 'pool' as const;
  readonly #pool: Piscina<ProbeTask, Verdict>;
  readonly #channel: BroadcastChannel;
  readonly #flags: Int32Array;
  readonly #freeSlots: number[];
  readonly #ledger: UsageLedger;
  readonly #acct: Recorder;
  readonly #threads: number;
  readonly #maxInFlight: number;
  readonly #maxWaiting: number;
  /** Dispatched probes by task id. */
  readonly #running = new Map<number, Job>();
  readonly #waiting: Job[] = [];
  #capacityWaiters: (() => void)[] = [];
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(opts: PoolExecutorOptions) {
    if (opts?.recorder === undefined) throw new ReadPathError('INVALID_CONFIG', 'PoolExecutor: recorder is required');
    const threads = requirePositiveInt(opts.threads ?? defaultPoolThreads(), 'runtime.threads');
    const perThread = requirePositiveInt(opts.tasksPerThread ?? DEFAULT_TASKS_PER_THREAD, 'runtime.tasks_per_thread');
    const maxInFlight = requirePositiveInt(opts.maxInFlight ?? threads * perThread, 'runtime.max_in_flight');
    this.#maxWaiting = opts.maxWaiting ?? maxInFlight * 16;
    if (opts.backends === undefined && opts.backendModule === undefined) {
      throw new ReadPathError('INVALID_CONFIG', 'PoolExecutor: give backends (S3 options) or a backendModule');
    }
    this.#acct = opts.recorder;
    this.#ledger = new UsageLedger(opts.recorder);
    this.#threads = threads;
    this.#maxInFlight = maxInFlight;
    const flags = new SharedArrayBuffer(4 * maxInFlight);
    this.#flags = new Int32Array(flags);
    this.#freeSlots = Array.from({ length: maxInFlight }, (_, i) => maxInFlight - 1 - i);
    const channel = `readpath-probes-${randomUUID()}`;
    const data: ProbeWorkerData = { protocol: PROBE_PROTOCOL, channel, flags };
    if (opts.workerNice !== undefined) {
      if (!Number.isSafeInteger(opts.workerNice) || opts.workerNice < 0 || opts.workerNice > 19) {
        throw new ReadPathError('INVALID_CONFIG', `runtime.worker_nice: must be an integer in 0..19, got ${String(opts.workerNice)}`);
      }
      data.nice = opts.workerNice;
    }
    if (opts.backends !== undefined) data.s3 = opts.backends;
    if (opts.backendModule !== undefined) {
      data.backendModule = transformUrl(opts.backendModule);
      data.backendData = opts.backendData;
    }
    this.#channel = new BroadcastChannel(channel);
    this.#channel.unref();
    const filename = opts.workerFilename === undefined ? defaultWorkerFilename() : transformUrl(opts.workerFilename);
    this.#pool = new Piscina<ProbeTask, Verdict>({
      filename,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: perThread,
      atomics: 'disabled',
      // Every dispatched probe must fit, including while a crashed worker is being replaced.
      maxQueue: maxInFlight,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: data,
      ...(opts.resourceLimits !== undefined ? { resourceLimits: opts.resourceLimits } : {}),
    });
    // A worker dying with no task in flight is reported here; without a listener it would crash the process.
    this.#pool.on('error', () => {});
    this.#pool.on('message', (m: unknown) => {
      if (!isReserveMessage(m)) return;
      // The request travels apart from the verdict: it may arrive after its probe ended (the
      // worker stopped waiting on an abort). Reserving then would never be released.
      const job = this.#running.get(m.id);
      if (job === undefined || job.task.backend !== m.backend) return;
      this.#post({ t: 'grant', id: m.id, limit: this.#ledger.reserveEgress(m.id, m.backend, m.bytes) });
    });
  }

  /**
   * A pool over a resolved configuration's `runtime` section, its workers serving S3 clients
   * built from `backends[]`, or with `opts.backendModule` the backends that module builds.
   */
  static fromConfig(config: ResolvedConfig, opts: PoolFromConfigOptions): PoolExecutor {
    return new PoolExecutor({
      ...opts,
      ...(opts.backendModule === undefined ? { backends: s3OptionsFromConfig(config) } : {}),
      threads: config.runtime.threads,
      tasksPerThread: config.runtime.tasksPerThread,
      maxInFlight: config.runtime.maxInFlight,
    });
  }

  head(key: string): Probe<HeadResult> {
    if (this.#closed) return rejectingProbe(executorClosed(this.kind));
    return (req) => this.#dispatch(0, { op: 'head', id: 0, slot: -1, backend: req.backendName, key, location: null }, req) as Promise<ProbeResult<HeadResult>>;
  }

  get(key: string, opts?: ProbeGetOptions & { transform?: undefined }): Probe<FetchedObject>;
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue>;
  get(key: string, opts: ProbeGetOptions = {}): Probe<FetchedObject | TransformedValue> {
    if (this.#closed) return rejectingProbe(executorClosed(this.kind));
    let transform: string | undefined;
    try {
      if (opts.transform !== undefined) transform = transformUrl(opts.transform);
    } catch (err) {
      return rejectingProbe(err);
    }
    const { range, verify, verifyEtag } = opts;
    const kind: Kind = transform === undefined ? 1 : 2;
    return (req) => {
      const task: ProbeTask = { op: 'get', id: 0, slot: -1, backend: req.backendName, key, location: null };
      if (range !== undefined) task.range = range;
      if (verify !== undefined) task.verify = verify;
      if (verifyEtag !== undefined) task.verifyEtag = verifyEtag;
      if (transform !== undefined) task.transform = transform;
      return this.#dispatch(kind, task, req) as Promise<ProbeResult<FetchedObject | TransformedValue>>;
    };
  }

  saturated(): boolean {
    return this.#running.size + this.#waiting.length >= this.#maxInFlight;
  }

  whenCapacity(): Promise<void> {
    if (!this.saturated() || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#capacityWaiters.push(resolve));
  }

  stats(): ExecutorStats {
    return { kind: this.kind, inFlight: this.#running.size, queued: this.#waiting.length, maxInFlight: this.#maxInFlight, threads: this.#threads };
  }

  /** Thread ids of the live workers (tests: a cancelled probe must not cost a thread). */
  threadIds(): number[] {
    return this.#pool.threads.map((w) => w.threadId);
  }

  /** Reserved usage of in-flight probes on a backend (tests). */
  pendingUsage(backend: string): { api: number; egress: number } {
    return this.#ledger.pending(backend);
  }

  #dispatch(kind: Kind, task: ProbeTask, req: ProbeRequest): Promise<ProbeResult<unknown>> {
    if (this.#closed) return Promise.reject(executorClosed(this.kind));
    const l = req.location;
    // As getProbe: readpath cannot decrypt s3-orchestrator's envelope encryption (no backend call).
    if (kind !== 0 && l?.encrypted === true) return Promise.reject(encryptedUnsupported(task.key));
    const name = task.backend;
    let apiReserved = false;
    if (this.#ledger.limited(name)) {
      const limit = this.#ledger.reserveApi(name);
      if (limit !== undefined) return Promise.reject(new UsageLimitSkipError(name, { limit }));
      apiReserved = true;
      if (kind !== 0 && this.#acct.usage.limitsOf(name).egressBytes > 0) task.egressLimited = true;
    }
    if (l !== null) task.location = { contentHash: l.contentHash ?? null, sizeBytes: l.sizeBytes };
    return new Promise<ProbeResult<unknown>>((resolve, reject) => {
      const job = new Job(this, task, kind, req, apiReserved, resolve, reject);
      // Reading req.signal creates it (ProbeRun builds signals lazily); the pool needs it to cancel.
      const signal = req.signal;
      if (signal.aborted) {
        this.#finish(job, 0, 0);
        reject(abortedError(signal));
        return;
      }
      job.signal = signal;
      signal.addEventListener('abort', job, { once: true });
      if (this.#running.size < this.#maxInFlight && this.#waiting.length === 0) {
        this.#start(job);
      } else if (this.#waiting.length >= this.#maxWaiting) {
        this.#finish(job, 0, 0);
        reject(new ReadPathError('BACKEND_ERROR', `probe pool queue full: ${this.#waiting.length} probes waiting for ${this.#maxInFlight} slots`));
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
    this.#pool.run(job.task).then(
      (v) => this.#onVerdict(job, v),
      (err: unknown) => this.#onWorkerFailure(job, err),
    );
  }

  /** @internal The job's signal aborted: cancel it where it is. */
  cancel(job: Job): void {
    if (job.settled) return;
    const reason: unknown = job.signal?.reason;
    if (!job.started) {
      const i = this.#waiting.indexOf(job);
      if (i >= 0) this.#waiting.splice(i, 1);
      this.#finish(job, 0, 0);
      job.reject(abortedError(job.signal));
      this.#pump();
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

  /** Release everything a job holds and record its usage. Idempotent per job. */
  #finish(job: Job, api: number, egress: number): boolean {
    if (job.settled) return false;
    job.settled = true;
    if (job.signal !== undefined) job.signal.removeEventListener('abort', job);
    if (job.started) {
      this.#running.delete(job.task.id);
      this.#freeSlots.push(job.task.slot);
    }
    this.#ledger.settle(job.task.id, job.task.backend, job.apiReserved, api, egress);
    return true;
  }

  #onVerdict(job: Job, v: Verdict): void {
    if (!this.#finish(job, v.api, v.egress)) return;
    this.#pump();
    if (v.kind === 'ok') {
      let result: ProbeResult<unknown>;
      try {
        result = this.#result(job, v);
      } catch (err) {
        job.reject(new ReadPathError('BACKEND_ERROR', `${job.task.backend}: transform result could not be decoded: ${messageOf(err)}`, { cause: err }));
        return;
      }
      job.resolve(result);
      return;
    }
    if (v.kind === 'skip') {
      job.reject(new UsageLimitSkipError(job.task.backend, { limit: v.limit }));
      return;
    }
    const signal = job.signal;
    job.reject(deserializeError(v.error, v.error.code === 'ABORTED' && signal?.aborted ? signal.reason : undefined));
  }

  #result(job: Job, v: Extract<Verdict, { kind: 'ok' }>): ProbeResult<unknown> {
    const head: HeadResult = { size: v.objectSize, ...v.head };
    if (job.kind === 0) {
      // As headProbe: an encrypted copy's stored size is the ciphertext's; callers want the object's own.
      const l = job.req.location;
      const plain = l?.encrypted === true ? l.plaintextSize : undefined;
      if (plain !== undefined && plain !== null) head.size = plain;
      return { size: head.size, value: head };
    }
    if (job.kind === 1) return { size: v.size, value: { ...head, body: v.body ?? new Uint8Array(0), verified: v.verified ?? false } };
    const value = v.bytes !== undefined ? v.bytes : v.serialized !== undefined ? v8.deserialize(v.serialized) : undefined;
    return { size: v.size, value: { ...head, value, verified: v.verified ?? false } };
  }

  #onWorkerFailure(job: Job, err: unknown): void {
    // What the probe used before its worker died is unknown; nothing is recorded for it.
    if (!this.#finish(job, 0, 0)) return;
    this.#pump();
    job.reject(new ReadPathError('BACKEND_ERROR', `${job.task.backend}: probe worker failed: ${messageOf(err)}`, { cause: err }));
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
   * Refuse new probes, reject the waiting ones, let running probes finish for up to
   * `timeoutMs`, then fail what is left with `BACKEND_ERROR` and destroy the pool: no thread,
   * port or timer outlives the returned promise. Idempotent.
   */
  close(opts: ExecutorCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(opts.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closed = true;
    for (const job of this.#waiting.splice(0)) {
      this.#finish(job, 0, 0);
      job.reject(executorClosed(this.kind));
    }
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
    for (const job of [...this.#running.values()]) {
      // Tell the worker too, in case destroying it takes a while; the probe fails now.
      Atomics.store(this.#flags, job.task.slot, 1);
      this.#finish(job, 0, 0);
      job.reject(new ReadPathError('BACKEND_ERROR', `${job.task.backend}: probe executor closed before the probe finished`));
    }
    try {
      await this.#pool.destroy();
    } finally {
      this.#channel.close();
    }
  }
}
