/**
 * The executor seam: where a probe runs. Every executor is a {@link DispatchingExecutor}: it
 * builds {@link Probe} closures for the failover race, and applies the policies that belong at
 * dispatch — the copy refusal, the backend's circuit breaker, usage admission and settlement,
 * the verdict's decoding — the same way whichever executor it is. What differs is only how a
 * {@link ProbeTask} is carried to `runProbe` and its {@link Verdict} back: on the calling thread
 * (inline.ts) or to a pool worker (pool/executor.ts).
 */
import { ReadPathError, hasCode } from '../errors.js';
import { METRIC, type Recorder } from '../telemetry/recorder.js';
import { ProbeOwner } from '../policies/probe-owner.js';
import type { EncryptionSettings } from '../encryption/settings.js';
import { decode, type FetchedObject, type ProbeValue, type TransformedValue, type WrittenObject } from '../probe/decode.js';
import { refusal } from '../probe/run.js';
import { probeLocation, type ProbeTask, type Verdict } from '../probe/task.js';
import { onCancel, type CancellableRequest } from '../engine/probe-request.js';
import { transformUrl } from '../probe/transform.js';
import type { HeadResult, Probe, ProbeRequest, ProbeResult } from '../types.js';

export type { FetchedObject, TransformedValue, WrittenObject } from '../probe/decode.js';

/** Options of a GET probe. */
export interface ProbeGetOptions {
  /** An HTTP `Range` (`bytes=a-b`). A ranged body is never verified (its hash is the whole object's). */
  range?: string;
  /** The largest body to buffer (not with `out`): a bigger one is OBJECT_TOO_LARGE. Default unlimited. */
  maxBytes?: number;
  /** Verify the body against the location's content_hash before the copy may win. Default true. */
  verify?: boolean;
  /** With `verify` and no content_hash to check: a plain-MD5 ETag must match. Default true. */
  verifyEtag?: boolean;
  /**
   * A transform module (path or file: URL; relative paths resolve against the cwd) whose default
   * export `(bytes, info) => Uint8Array | object` runs on the verified body. See probe/transform.ts.
   */
  transform?: string | URL;
  /**
   * A resolved output directory: the verified body is written there at the key's path, where it
   * was read (see sinks/file-sink.ts), instead of being returned. Not with `transform`.
   */
  out?: string;
  /**
   * With `out`: the batch writing (unique in the process). What a thread learned about the
   * directory's tree (which directories are real) holds only within one batch.
   */
  outScope?: string;
}

/** Load and capacity of an executor. */
export interface ExecutorStats {
  kind: 'inline' | 'pool';
  /** Probes running (pool: dispatched to a worker). */
  inFlight: number;
  /** Probes waiting for capacity inside the executor. */
  queued: number;
  /** The executor's bound on probes in flight (Infinity inline). */
  maxInFlight: number;
  /** Worker threads (0 inline). */
  threads: number;
}

/** Options of {@link ProbeExecutor.close}. */
export interface ExecutorCloseOptions {
  /**
   * How long in-flight probes may take to finish before the pool is destroyed (inline: before
   * bodies being written under `out` are abandoned). Default 5000; a ReadPath closing its
   * executor passes `circuit_breaker.drain_timeout`.
   */
  timeoutMs?: number;
}

/** Where probes run. Probes it builds after `close()` reject with `EXECUTOR_CLOSED`. */
export interface ProbeExecutor {
  readonly kind: 'inline' | 'pool';
  /** A HEAD probe for `key`: declines over-limit backends, records one API request. */
  head(key: string): Probe<HeadResult>;
  /** A GET probe for `key`: whole body, verified, egress recorded. */
  get(key: string, opts?: ProbeGetOptions & { transform?: undefined; out?: undefined }): Probe<FetchedObject>;
  /** A GET probe whose verified body goes through a transform. */
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  /** A GET probe whose verified body is written under a directory. */
  get(key: string, opts: ProbeGetOptions & { out: string }): Probe<WrittenObject>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue | WrittenObject>;
  /** True while new probes would wait for capacity: callers should hold new reads back. */
  saturated(): boolean;
  /** Resolves when the executor has room for another probe (at once when not saturated). */
  whenCapacity(): Promise<void>;
  stats(): ExecutorStats;
  /** Ids of the threads probes run on: the live pool workers, or the calling thread inline. */
  threadIds(): number[];
  /** Drain in-flight probes (bounded by `timeoutMs`), then release threads. Idempotent. */
  close(opts?: ExecutorCloseOptions): Promise<void>;
}

/** A backend's circuit breaker as dispatch applies it (policies/circuit-breaker.ts, made by backendBreaker). */
export interface DispatchBreaker {
  execute<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** What every executor is built with. */
export interface DispatchOptions {
  /** Owns usage limits (its reservations) and metrics; only the main thread touches it. */
  recorder: Recorder;
  /**
   * The reader whose probes these are, in the recorder's ledger: what its close() waits for and
   * bills, apart from the probes of other readers sharing the recorder. Default: the executor's
   * own. A ReadPath passes the one its streams' reads count under too.
   */
  probeOwner?: ProbeOwner;
  /** Circuit breakers by backend name, applied to every probe of that backend. */
  breakers?: ReadonlyMap<string, DispatchBreaker>;
  /**
   * The `encryption:` settings, when configured: encrypted copies are decrypted where probes
   * run. Without them an encrypted copy is refused with SERVICE_UNAVAILABLE before dispatch.
   */
  encryption?: EncryptionSettings | null;
  /**
   * Degraded probes (no row) find the backend's latest write among the key's `{key}!{id}` copies
   * by listing first (`broadcast.storage_keys`). Default true; false reads the key itself.
   */
  storageKeys?: boolean;
}

/** Whether and why a probe's request was cancelled, without building its signal when it can. */
function cancelOf(req: ProbeRequest): { cancelled: boolean; reason: unknown } {
  const c = req as Partial<CancellableRequest>;
  if (typeof c[onCancel] === 'function') return { cancelled: c.cancelled === true, reason: c.cancelReason };
  return { cancelled: req.signal.aborted, reason: req.signal.reason as unknown };
}

/** The error probes built or run after close() reject with. */
export function executorClosed(kind: string, detail = 'is closed'): ReadPathError {
  return new ReadPathError('EXECUTOR_CLOSED', `${kind} probe executor ${detail}`);
}

/** A probe that rejects with `err` (bad options must reject, never throw from a factory). */
export function rejectingProbe<T>(err: unknown): Probe<T> {
  return () => Promise.reject(err);
}

/** The policies at dispatch, shared by every executor; subclasses only carry tasks. */
export abstract class DispatchingExecutor implements ProbeExecutor {
  abstract readonly kind: 'inline' | 'pool';
  protected readonly recorder: Recorder;
  /** This executor's probes in the recorder's ledger (see DispatchOptions.probeOwner). */
  readonly #probeOwner: ProbeOwner;
  readonly #breakers: ReadonlyMap<string, DispatchBreaker> | undefined;
  /** Encryption is configured: encrypted copies are read and decrypted. */
  protected readonly decrypts: boolean;
  readonly #storageKeys: boolean;

  constructor(opts: DispatchOptions, name: string) {
    if (opts?.recorder === undefined) throw new ReadPathError('INVALID_CONFIG', `${name}: recorder is required`);
    this.recorder = opts.recorder;
    this.#probeOwner = opts.probeOwner ?? new ProbeOwner();
    this.decrypts = opts.encryption !== undefined && opts.encryption !== null;
    this.#storageKeys = opts.storageKeys ?? true;
    this.#breakers = opts.breakers !== undefined && opts.breakers.size > 0 ? opts.breakers : undefined;
  }

  /** True once close() was called: new probes are refused. */
  protected abstract get closed(): boolean;

  /** Carry `task` to `runProbe` and its verdict back. Resolves with a verdict; never rejects. */
  protected abstract carry(task: ProbeTask, req: ProbeRequest): Promise<Verdict>;

  head(key: string): Probe<HeadResult> {
    if (this.closed) return rejectingProbe(executorClosed(this.kind));
    return (req) => this.#dispatch(this.#task('head', req, key), req);
  }

  get(key: string, opts?: ProbeGetOptions & { transform?: undefined; out?: undefined }): Probe<FetchedObject>;
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  get(key: string, opts: ProbeGetOptions & { out: string }): Probe<WrittenObject>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue | WrittenObject>;
  get(key: string, opts: ProbeGetOptions = {}): Probe<FetchedObject | TransformedValue | WrittenObject> {
    if (this.closed) return rejectingProbe(executorClosed(this.kind));
    let transform: string | undefined;
    try {
      if (opts.transform !== undefined) transform = transformUrl(opts.transform);
      if (opts.out !== undefined && (transform !== undefined || typeof opts.out !== 'string' || opts.out === '')) {
        throw new ReadPathError('INVALID_CONFIG', 'out: a resolved directory path, and not with a transform');
      }
    } catch (err) {
      return rejectingProbe(err);
    }
    const { range, verify, verifyEtag, out, outScope, maxBytes } = opts;
    return (req) => {
      const task = this.#task('get', req, key);
      if (range !== undefined) task.range = range;
      if (verify !== undefined) task.verify = verify;
      if (verifyEtag !== undefined) task.verifyEtag = verifyEtag;
      if (maxBytes !== undefined && out === undefined) task.maxBytes = maxBytes;
      if (transform !== undefined) task.transform = transform;
      if (out !== undefined) task.out = out;
      if (out !== undefined && outScope !== undefined) task.outScope = outScope;
      return this.#dispatch(task, req) as Promise<ProbeResult<FetchedObject | TransformedValue | WrittenObject>>;
    };
  }

  #task(op: 'head' | 'get', req: ProbeRequest, key: string): ProbeTask {
    const task: ProbeTask = { op, backend: req.backendName, key, location: probeLocation(req.location) };
    // Degraded without looking for storage keys: the key itself is where the probe reads.
    if (task.location === null && !this.#storageKeys) task.storedAt = key;
    return task;
  }

  #dispatch(task: ProbeTask, req: ProbeRequest): Promise<ProbeResult<ProbeValue>> {
    if (this.closed) return Promise.reject(executorClosed(this.kind));
    const refused = refusal(task, this.decrypts);
    if (refused !== undefined) return Promise.reject(refused);
    const breaker = this.#breakers?.get(task.backend);
    if (breaker === undefined) return this.#admitted(task, req);
    return breaker.execute(() => this.#admitted(task, req), req.signal);
  }

  #admitted(task: ProbeTask, req: ProbeRequest): Promise<ProbeResult<ProbeValue>> {
    const ledger = this.recorder.reservations;
    try {
      ledger.admit(task, this.#probeOwner);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.carry(task, req).then((v) => {
      ledger.settle(task, v);
      if (v.kind === 'ok') {
        if (v.decrypted === true) this.recorder.inc(METRIC.decrypts, { backend: task.backend, kind: 'get' });
        if (v.decompressed === true) this.recorder.inc(METRIC.decompressions, { backend: task.backend, kind: 'get' });
      } else if (v.kind === 'error') {
        if (v.decryptFailure !== undefined) this.recorder.inc(METRIC.decryptFailures, { backend: task.backend, kind: v.decryptFailure });
        if (hasCode(v.error, 'DECOMPRESSION_FAILED')) this.recorder.inc(METRIC.decompressFailures, { backend: task.backend });
      }
      return decode(v, task, () => cancelOf(req));
    });
  }

  abstract saturated(): boolean;
  abstract whenCapacity(): Promise<void>;
  abstract stats(): ExecutorStats;
  abstract threadIds(): number[];
  abstract close(opts?: ExecutorCloseOptions): Promise<void>;
}
