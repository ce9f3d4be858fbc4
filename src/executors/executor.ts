/**
 * The executor seam: where a probe runs. An executor is a factory of {@link Probe} closures, so
 * the failover policy and the probe scheduler are the same whichever executor built them:
 * `inline` runs probes on the calling thread, `pool` (see pool-executor.ts) sends each probe as
 * data to a piscina worker and rebuilds its verdict.
 */
import { ReadPathError, toReadPathError } from '../errors.js';
import type { Recorder } from '../telemetry/recorder.js';
import { getProbe, headProbe, type FetchedObject } from '../probe/probes.js';
import type { HeadResult, Probe } from '../types.js';
import { runTransform, transformUrl } from '../probe/transform.js';

export type { FetchedObject } from '../probe/probes.js';

/** Options of a GET probe. */
export interface ProbeGetOptions {
  /** An HTTP `Range` (`bytes=a-b`). A ranged body is never verified (its hash is the whole object's). */
  range?: string;
  /** Verify the body against the location's content_hash before the copy may win. Default true. */
  verify?: boolean;
  /** With `verify` and no content_hash to check: a plain-MD5 ETag must match. Default true. */
  verifyEtag?: boolean;
  /**
   * A transform module (path or file: URL; relative paths resolve against the cwd) whose default
   * export `(bytes, info) => Uint8Array | object` runs on the verified body. See probe-transform.ts.
   */
  transform?: string | URL;
}

/** What a GET probe with a transform yields: the HEAD fields and the transform's result. */
export interface TransformedValue<V = unknown> extends HeadResult {
  value: V;
  /** True when the body the transform received matched the stored content_hash. */
  verified: boolean;
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
  /** How long in-flight probes may take to finish before the pool is destroyed. Default 5000. */
  timeoutMs?: number;
}

/** Where probes run. Probes it builds after `close()` reject with `BACKEND_ERROR`. */
export interface ProbeExecutor {
  readonly kind: 'inline' | 'pool';
  /** A HEAD probe for `key`: declines over-limit backends, records one API request. */
  head(key: string): Probe<HeadResult>;
  /** A GET probe for `key`: whole body, verified, egress recorded. */
  get(key: string, opts?: ProbeGetOptions & { transform?: undefined }): Probe<FetchedObject>;
  /** A GET probe whose verified body goes through a transform. */
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue>;
  /** True while new probes would wait for capacity: callers should hold new reads back. */
  saturated(): boolean;
  /** Resolves when the executor has room for another probe (at once when not saturated). */
  whenCapacity(): Promise<void>;
  stats(): ExecutorStats;
  /** Drain in-flight probes (bounded by `timeoutMs`), then release threads. Idempotent. */
  close(opts?: ExecutorCloseOptions): Promise<void>;
}

/** The error probes built after close() reject with. */
export function executorClosed(kind: string): ReadPathError {
  return new ReadPathError('BACKEND_ERROR', `${kind} probe executor is closed`);
}

/** A probe that rejects with `err` (bad options must reject, never throw from a factory). */
export function rejectingProbe<T>(err: unknown): Probe<T> {
  return () => Promise.reject(err);
}

/** Options of {@link InlineExecutor}. */
export interface InlineExecutorOptions {
  /** Owns usage limits and metrics. */
  recorder: Recorder;
}

const resolvedCapacity = Promise.resolve();

/**
 * A backend that fails with something other than a readpath error (a library's bare Error) is a
 * BACKEND_ERROR of that copy, as a pooled probe's failure is once it crosses threads.
 */
function coded<T>(probe: Probe<T>): Probe<T> {
  return (req) => probe(req).catch(rethrowCoded);
}

function rethrowCoded(err: unknown): never {
  throw toReadPathError(err);
}

/** Runs probes on the calling thread: the built-in headProbe/getProbe, plus transforms. */
export class InlineExecutor implements ProbeExecutor {
  readonly kind = 'inline' as const;
  readonly #acct: Recorder;
  #closed = false;

  constructor(opts: InlineExecutorOptions) {
    if (opts?.recorder === undefined) throw new ReadPathError('INVALID_CONFIG', 'InlineExecutor: recorder is required');
    this.#acct = opts.recorder;
  }

  head(key: string): Probe<HeadResult> {
    if (this.#closed) return rejectingProbe(executorClosed(this.kind));
    return coded(headProbe(this.#acct, key));
  }

  get(key: string, opts?: ProbeGetOptions & { transform?: undefined }): Probe<FetchedObject>;
  get(key: string, opts: ProbeGetOptions & { transform: string | URL }): Probe<TransformedValue>;
  get(key: string, opts?: ProbeGetOptions): Probe<FetchedObject | TransformedValue>;
  get(key: string, opts: ProbeGetOptions = {}): Probe<FetchedObject | TransformedValue> {
    if (this.#closed) return rejectingProbe(executorClosed(this.kind));
    const inner = getProbe(this.#acct, key, {
      ...(opts.range !== undefined ? { range: opts.range } : {}),
      ...(opts.verify !== undefined ? { verify: opts.verify } : {}),
      ...(opts.verifyEtag !== undefined ? { verifyEtag: opts.verifyEtag } : {}),
    });
    if (opts.transform === undefined) return coded(inner);
    let url: string;
    try {
      url = transformUrl(opts.transform);
    } catch (err) {
      return rejectingProbe(err);
    }
    const range = opts.range;
    return async (req) => {
      let r;
      try {
        r = await inner(req);
      } catch (err) {
        throw toReadPathError(err);
      }
      const { body, verified, ...head } = r.value;
      const value = await runTransform(url, body, {
        ...head,
        key,
        backend: req.backendName,
        size: body.byteLength,
        verified,
        ...(range !== undefined ? { range } : {}),
      });
      return { size: r.size, value: { ...head, value, verified } };
    };
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

  async close(): Promise<void> {
    this.#closed = true;
  }
}
