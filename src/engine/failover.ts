/**
 * The read-failover protocol (the seed's `readpath` package): resolve a key's locations, try
 * the copies in stored order, and when the metadata store is down fall back to the location
 * cache and a broadcast over every configured backend. This module is policy: what counts as a
 * win, a skip or a failure, and what the caller is told. The mechanics live in ProbeRun.
 */
import { ReadPathError, abortedError, hasCode, messageOf } from '../errors.js';
import { METRIC } from '../telemetry/recorder.js';
import type { Core, LocationCache, MetadataStore, ObjectLocation, Probe } from '../types.js';
import { ProbeRun, type Candidate, type HedgePolicy, type ProbeFailure, type RunOutcome, type Timers } from './race.js';
import { classifyBroadcastFailure } from './classify.js';
import { BackendSpeed } from '../policies/backend-speed.js';

/** Which path a hedge policy is asked for. */
export type ReadPathKind = 'located' | 'degraded';

/** Options of {@link Failover}. */
export interface FailoverOptions {
  core: Core;
  stores: MetadataStore;
  cache: LocationCache;
  /** Broadcast to several backends at once in degraded mode. Default false. */
  parallelBroadcast?: boolean;
  /** The per-key probe window of a parallel broadcast; 0 (default) = no cap. */
  degradedBroadcastParallelism?: number;
  /** Serve reads by broadcast while the store is down. Default true. */
  degradedReadsEnabled?: boolean;
  /** How long cancelled losers may take to settle; <= 0 means the default 30000. */
  drainTimeoutMs?: number;
  /**
   * Hedging: asked once per probe run over two or more copies; a policy makes the run launch
   * the next copy when the current one is slower than its delay. A hedged degraded broadcast
   * starts with one probe whatever `parallelBroadcast` says and grows up to the parallelism cap;
   * a hedged located read may grow to every stored copy. Undefined (default) = no hedging.
   * See `createHedging`.
   */
  hedgePolicy?: (operation: string, path: ReadPathKind) => HedgePolicy | undefined;
  /**
   * Launch order of a broadcast that sends to every eligible backend at once (parallel, no
   * cap below the backend count): `fastest` (default) starts with the backend that has been
   * answering fastest (learned from every read's probes), `config` keeps BackendOrder. Either
   * way every backend is probed; sequential, capped and hedged broadcasts always follow
   * BackendOrder, since there the order decides which backends are probed at all.
   */
  launchOrder?: 'fastest' | 'config';
  /**
   * When a broadcast launches several probes at once, send the first one's request before
   * building the others' (see ProbeRunOptions.stagger). A first answer that arrives before
   * the others are launched wins alone. Default true.
   */
  staggerLaunches?: boolean;
  /** Timers for the drain and hedges (tests pass fake ones). */
  timers?: Timers;
  /** Monotonic clock in ms for hedge latency samples (tests pass fake ones). Default performance.now. */
  now?: () => number;
}

/** What a successful read returns. */
export interface ReadOutcome<T> {
  backend: string;
  value: T;
  size: number;
  /** Located path: the winner is not the first stored location. Degraded: false. */
  failover: boolean;
  /** Served by the degraded-mode path. */
  degraded: boolean;
  /** Served by the location cache in degraded mode. */
  cacheHit: boolean;
}

const DEFAULT_DRAIN_MS = 30_000;
const now = (): number => performance.now();

const nameOfCandidate = (c: Candidate): string => c.backendName;

/** The read-failover orchestrator. */
export class Failover {
  readonly #core: Core;
  readonly #store: MetadataStore;
  readonly #cache: LocationCache;
  readonly #parallel: boolean;
  readonly #parallelism: number;
  readonly #degradedEnabled: boolean;
  readonly #drainMs: number;
  readonly #hedgePolicy: FailoverOptions['hedgePolicy'];
  readonly #timers: Timers | undefined;
  readonly #now: (() => number) | undefined;
  readonly #speed: BackendSpeed | undefined;
  readonly #stagger: boolean;

  constructor(opts: FailoverOptions) {
    this.#core = opts.core;
    this.#store = opts.stores;
    this.#cache = opts.cache;
    this.#parallel = opts.parallelBroadcast ?? false;
    this.#parallelism = opts.degradedBroadcastParallelism ?? 0;
    this.#degradedEnabled = opts.degradedReadsEnabled ?? true;
    const d = opts.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
    this.#drainMs = d > 0 ? d : DEFAULT_DRAIN_MS;
    this.#hedgePolicy = opts.hedgePolicy;
    this.#timers = opts.timers;
    this.#now = opts.now;
    const order = opts.launchOrder ?? 'fastest';
    if (order !== 'fastest' && order !== 'config') {
      throw new ReadPathError('INVALID_CONFIG', `launchOrder: expected 'fastest' or 'config', got ${JSON.stringify(order)}`);
    }
    this.#speed = order === 'fastest' ? new BackendSpeed() : undefined;
    this.#stagger = opts.staggerLaunches ?? true;
  }

  /**
   * Read `key` with `probe`, trying copies in stored order, or broadcasting when the metadata
   * store is down. Rejects with a ReadPathError (API.md §1); never throws synchronously.
   */
  read<T>(operation: string, key: string, probe: Probe<T>, opts?: { signal?: AbortSignal }): Promise<ReadOutcome<T>> {
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return new Promise<ReadOutcome<T>>((resolve, reject) => {
      new ReadJob<T>(this, operation, key, probe, signal, resolve, reject).start();
    });
  }

  /** @internal */ get core(): Core { return this.#core; }
  /** @internal */ get store(): MetadataStore { return this.#store; }
  /** @internal */ get cache(): LocationCache { return this.#cache; }
  /** @internal */ get degradedEnabled(): boolean { return this.#degradedEnabled; }
  /** @internal */ get drainMs(): number { return this.#drainMs; }
  /** @internal */ get timers(): Timers | undefined { return this.#timers; }
  /** @internal */ get now(): (() => number) | undefined { return this.#now; }
  /** @internal */ get stagger(): boolean { return this.#stagger; }
  /** The learned backend latencies behind the `fastest` launch order (undefined with `config`). */
  get speed(): BackendSpeed | undefined { return this.#speed; }
  /**
   * @internal The hedge policy of a run over `candidates` copies. A single candidate cannot
   * hedge, so the policy (whose every call counts a primary request in its budget) is not asked.
   */
  hedge(operation: string, path: ReadPathKind, candidates: number): HedgePolicy | undefined {
    if (candidates < 2 || this.#hedgePolicy === undefined) return undefined;
    return this.#hedgePolicy(operation, path);
  }

  /**
   * @internal The broadcast window for `eligible` backends. A hedged broadcast starts with one
   * probe whatever `parallelBroadcast` says, and may grow to the parallelism cap.
   */
  windowFor(eligible: number, hedged = false): number {
    if ((!this.#parallel && !hedged) || eligible < 2) return 1;
    const p = this.#parallelism;
    return p <= 0 || p > eligible ? eligible : p;
  }
}

/**
 * One read in progress. Holds the single abort listener a read may register, and forwards a
 * caller abort straight to the current probe run.
 */
class ReadJob<T> {
  readonly #f: Failover;
  readonly #op: string;
  readonly #key: string;
  readonly #probe: Probe<T>;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (o: ReadOutcome<T>) => void;
  readonly #reject: (e: unknown) => void;
  readonly #start = now();
  #done = false;
  #run: ProbeRun<T> | undefined;
  #onAbort: (() => void) | undefined;
  #degradedStart = 0;

  constructor(f: Failover, op: string, key: string, probe: Probe<T>, signal: AbortSignal | undefined,
    resolve: (o: ReadOutcome<T>) => void, reject: (e: unknown) => void) {
    this.#f = f;
    this.#op = op;
    this.#key = key;
    this.#probe = probe;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    const signal = this.#signal;
    if (signal !== undefined) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    let p: Promise<ObjectLocation[]>;
    try {
      p = this.#f.store.getAllObjectLocations(this.#key, signal === undefined ? undefined : { signal });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then((locs) => this.#located(locs), (err: unknown) => this.#storeFailed(err));
  }

  #abort(): void {
    if (this.#done) return;
    const err = abortedError(this.#signal);
    this.#finish();
    // The run rejects its own promise; the job's promise is rejected here, at once, even when
    // a probe ignores its signal.
    this.#run?.abort(err);
    this.#reject(err);
  }

  #finish(): void {
    this.#done = true;
    if (this.#onAbort !== undefined) {
      this.#signal?.removeEventListener('abort', this.#onAbort);
      this.#onAbort = undefined;
    }
  }

  #fail(err: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#reject(err);
  }

  #runProbes(candidates: readonly Candidate[], window: number, hedge: HedgePolicy | undefined): Promise<RunOutcome<T>> {
    const f = this.#f;
    const run = new ProbeRun<T>({
      candidates,
      probe: this.#probe,
      window,
      drainTimeoutMs: f.drainMs,
      onDrainTimeout: () => f.core.acct().inc(METRIC.drainTimeouts, { operation: this.#op }),
      hedge,
      timers: f.timers,
      now: f.now,
      stagger: f.stagger,
      speed: f.speed,
      operation: this.#op,
    });
    this.#run = run;
    return run.start();
  }

  #win(backend: string, value: T, size: number, failover: boolean, degraded: boolean, cacheHit: boolean): void {
    if (this.#done) return;
    this.#finish();
    this.#f.core.acct().observe(METRIC.operationDuration, { operation: this.#op, backend }, (now() - this.#start) / 1000);
    this.#resolve({ backend, value, size, failover, degraded, cacheHit });
  }

  // --- located path -------------------------------------------------------------------

  #located(locs: ObjectLocation[]): void {
    if (this.#done) return;
    if (locs.length === 0) {
      this.#fail(new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${this.#key}`));
      return;
    }
    const backends = this.#f.core.backends();
    const candidates: Candidate[] = new Array<Candidate>(locs.length);
    for (let i = 0; i < locs.length; i++) {
      const loc = locs[i] as ObjectLocation;
      candidates[i] = { backendName: loc.backendName, backend: backends.get(loc.backendName), location: loc };
    }
    // Hedged located reads may have every stored copy in flight; unhedged ones try one at a time.
    const hedge = this.#f.hedge(this.#op, 'located', candidates.length);
    this.#runProbes(candidates, hedge === undefined ? 1 : candidates.length, hedge).then((o) => {
      if (o.ok) {
        this.#win(o.backendName, o.result.value, o.result.size, o.index !== 0, false, false);
        return;
      }
      this.#fail(this.#locatedFailure(o.failures, locs.length));
    }, (err: unknown) => this.#fail(err));
  }

  #locatedFailure(failures: ProbeFailure[], locations: number): unknown {
    let skips = 0;
    for (const fl of failures) if (hasCode(fl.error, 'USAGE_LIMIT_SKIP')) skips++;
    if (skips > 0 && skips === locations) {
      this.#f.core.acct().inc(METRIC.usageLimitRejections, { operation: this.#op, direction: 'read' });
      return new ReadPathError('USAGE_LIMIT_EXCEEDED', `every copy of ${this.#key} is over its backend's usage limit`, {
        cause: failures[failures.length - 1]?.error,
      });
    }
    return failures[failures.length - 1]?.error ?? new ReadPathError('ALL_BACKENDS_FAILED', `no copy of ${this.#key} could be read`);
  }

  #storeFailed(err: unknown): void {
    if (this.#done) return;
    if (hasCode(err, 'OBJECT_NOT_FOUND')) {
      this.#fail(err);
      return;
    }
    if (hasCode(err, 'DB_UNAVAILABLE')) {
      if (!this.#f.degradedEnabled) {
        this.#fail(new ReadPathError('SERVICE_UNAVAILABLE', 'metadata store unavailable and degraded reads are disabled', { cause: err }));
        return;
      }
      this.#degraded();
      return;
    }
    // The cause's message goes in too: batch outcomes and logs keep only the outer message, and
    // the store's says what was wrong (e.g. which column of which row is malformed).
    this.#fail(new ReadPathError('METADATA_ERROR', `metadata lookup failed for ${this.#key}: ${messageOf(err)}`, { cause: err }));
  }

  // --- degraded path ------------------------------------------------------------------

  #degraded(): void {
    const f = this.#f;
    const acct = f.core.acct();
    acct.inc(METRIC.degradedReads, { operation: this.#op });
    this.#degradedStart = now();
    const backends = f.core.backends();
    const cached = f.cache.get(this.#key);
    const cachedBackend = cached === undefined ? undefined : backends.get(cached);
    if (cached === undefined || cachedBackend === undefined) {
      this.#broadcast();
      return;
    }
    this.#runProbes([{ backendName: cached, backend: cachedBackend, location: null }], 1, undefined).then((o) => {
      if (this.#done) return;
      if (o.ok) {
        acct.inc(METRIC.degradedCacheHits, { operation: this.#op });
        this.#observeBroadcast('cache_hit');
        this.#win(o.backendName, o.result.value, o.result.size, false, true, true);
        return;
      }
      // A failed or stale hit is not part of the broadcast's tally: start it afresh.
      this.#broadcast();
    }, (err: unknown) => this.#fail(err));
  }

  #observeBroadcast(outcome: 'cache_hit' | 'success' | 'not_found' | 'error'): void {
    this.#f.core.acct().observe(METRIC.broadcastDuration, { operation: this.#op, outcome }, (now() - this.#degradedStart) / 1000);
  }

  #broadcast(): void {
    const f = this.#f;
    const backends = f.core.backends();
    const order = f.core.backendOrder();
    const candidates: Candidate[] = [];
    for (const name of order) {
      const b = backends.get(name);
      if (b !== undefined) candidates.push({ backendName: name, backend: b, location: null });
    }
    if (candidates.length === 0) {
      this.#observeBroadcast('not_found');
      this.#fail(new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${this.#key} (no eligible backend in degraded mode)`));
      return;
    }
    const hedge = f.hedge(this.#op, 'degraded', candidates.length);
    const window = f.windowFor(candidates.length, hedge !== undefined);
    // Every backend gets a request either way: only then may the order follow speed, not config.
    const ordered = hedge === undefined && window >= candidates.length && f.speed !== undefined
      ? f.speed.order(this.#op, candidates, nameOfCandidate)
      : candidates;
    this.#runProbes(ordered, window, hedge).then((o) => {
      if (this.#done) return;
      if (o.ok) {
        f.cache.set(this.#key, o.backendName);
        this.#observeBroadcast('success');
        this.#win(o.backendName, o.result.value, o.result.size, false, true, false);
        return;
      }
      const verdict = classifyBroadcastFailure(this.#key, o.failures);
      const acct = f.core.acct();
      if (verdict.mixed) acct.inc(METRIC.mixedOutcomes, { operation: this.#op });
      if (verdict.usageExceeded) acct.inc(METRIC.usageLimitRejections, { operation: this.#op, direction: 'read' });
      this.#observeBroadcast(verdict.notFound ? 'not_found' : 'error');
      this.#fail(verdict.error);
    }, (err: unknown) => this.#fail(err));
  }
}
