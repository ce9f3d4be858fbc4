/**
 * The read-failover protocol (the seed's `readpath` package) as one async function over a plan:
 * resolve a key's locations and race the stored copies in order; when the metadata store is down,
 * try the location cache's backend, then broadcast to every configured backend (hedged: the
 * broadcast does not wait past the hedge delay for the cached backend). Planning is in
 * plan.ts, the race in race.ts, what a failure tells the caller in verdicts.ts, metrics in
 * read-events.ts; this module only walks one read through them.
 */
import { ReadPathError, abortedError, hasCode, messageOf } from '../errors.js';
import type { Core, LocationCache, MetadataStore, ObjectLocation, Probe } from '../types.js';
import { BackendSpeed } from '../policies/backend-speed.js';
import { planBroadcast, planCacheHit, planLocated, type Candidate, type HedgePolicy, type Plan, type PlanSettings, type ReadPathKind } from './plan.js';
import { ProbeRun, type RunOutcome } from './race.js';
import { RecorderEvents, type ReadEvents } from './read-events.js';
import type { Timers } from './timers.js';
import { classifyBroadcastFailure, locatedFailure } from './verdicts.js';

export type { ReadPathKind } from './plan.js';

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
   * a hedged located read may grow to every stored copy. A hedged degraded read's cache hit
   * is probed alone only until the hedge delay; then the broadcast starts without waiting for
   * it, and it races with the broadcast's probes. Undefined (default) = no hedging.
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
  /** The winning copy's metadata row (null in degraded mode, where there is none). */
  location: ObjectLocation | null;
}

const DEFAULT_DRAIN_MS = 30_000;

/** Everything a read needs, resolved once per Failover. */
interface Settings extends PlanSettings {
  core: Core;
  store: MetadataStore;
  cache: LocationCache;
  degradedEnabled: boolean;
  drainMs: number;
  timers: Timers | undefined;
  now: (() => number) | undefined;
  stagger: boolean;
  events: ReadEvents;
}

/** The read-failover orchestrator. */
export class Failover {
  readonly #s: Settings;

  constructor(opts: FailoverOptions) {
    const order = opts.launchOrder ?? 'fastest';
    if (order !== 'fastest' && order !== 'config') {
      throw new ReadPathError('INVALID_CONFIG', `launchOrder: expected 'fastest' or 'config', got ${JSON.stringify(order)}`);
    }
    const d = opts.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
    const core = opts.core;
    this.#s = {
      core,
      store: opts.stores,
      cache: opts.cache,
      parallel: opts.parallelBroadcast ?? false,
      parallelism: opts.degradedBroadcastParallelism ?? 0,
      degradedEnabled: opts.degradedReadsEnabled ?? true,
      drainMs: d > 0 ? d : DEFAULT_DRAIN_MS,
      hedgePolicy: opts.hedgePolicy,
      timers: opts.timers,
      now: opts.now,
      speed: order === 'fastest' ? new BackendSpeed() : undefined,
      stagger: opts.staggerLaunches ?? true,
      events: new RecorderEvents(() => core.acct()),
    };
  }

  /**
   * Read `key` with `probe`, trying copies in stored order, or broadcasting when the metadata
   * store is down. Rejects with a ReadPathError (API.md §1); never throws synchronously.
   * `rows`: the key's rows, when the caller has just looked them up itself (the object cache
   * does, to compare its entry's hash): the store is not asked twice. `lookupFailed`: that
   * lookup failed, with this error: the read goes on as after its own failed lookup (degraded,
   * or the error reported), without asking the store again — a second failure would count twice
   * toward the store breaker's threshold, and a hung store would be waited for twice.
   */
  read<T>(operation: string, key: string, probe: Probe<T>, opts?: { signal?: AbortSignal; rows?: ObjectLocation[] | undefined; lookupFailed?: { error: unknown } | undefined }): Promise<ReadOutcome<T>> {
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return readKey(this.#s, operation, key, probe, signal === undefined ? undefined : new ReadScope(signal), opts?.rows, opts?.lookupFailed);
  }

  /** The learned backend latencies behind the `fastest` launch order (undefined with `config`). */
  get speed(): BackendSpeed | undefined {
    return this.#s.speed;
  }
}

/**
 * A read's one listener on its caller's signal. An abort rejects the read at once — the race it
 * is running, or the store lookup it awaits — even when a probe or the store ignores the signal.
 */
class ReadScope {
  /** The caller's signal. */
  readonly signal: AbortSignal;
  #aborted: ReadPathError | undefined;
  #run: ProbeRun<unknown> | undefined;
  #reject: ((err: unknown) => void) | undefined;

  constructor(signal: AbortSignal) {
    this.signal = signal;
    signal.addEventListener('abort', this, { once: true });
  }

  /** The abort listener (an object listener: no closure per read). */
  handleEvent(): void {
    const err = abortedError(this.signal);
    this.#aborted = err;
    this.#run?.abort(err);
    this.#reject?.(err);
  }

  /** `p`, or the abort error as soon as the caller aborts. */
  guard<T>(p: Promise<T>): Promise<T> {
    if (this.#aborted !== undefined) return Promise.reject(this.#aborted);
    return new Promise<T>((resolve, reject) => {
      this.#reject = reject;
      p.then(resolve, reject);
    });
  }

  /** Start `run`, which this scope aborts when the caller does. */
  start<T>(run: ProbeRun<T>): Promise<RunOutcome<T>> {
    if (this.#aborted !== undefined) return Promise.reject(this.#aborted);
    this.#run = run as ProbeRun<unknown>;
    this.#reject = undefined;
    return run.start();
  }

  /** The error the caller's abort ended the read with, once it did. */
  get abortError(): ReadPathError | undefined {
    return this.#aborted;
  }

  close(): void {
    this.signal.removeEventListener('abort', this);
  }
}

/**
 * In a broadcast, a copy too large to buffer answers for the others: they are the same object
 * (no rows say otherwise), so asking each holder for it again would only send more GETs.
 */
const tooLargeForAll = (e: unknown): boolean => hasCode(e, 'OBJECT_TOO_LARGE');

/**
 * `broadcast`: a degraded broadcast's run, whose losers that outlive the drain timeout are counted
 * in degraded_broadcast_drain_timeout_total (a located read's hedged losers are not broadcasts).
 */
function race<T>(s: Settings, operation: string, plan: Plan, probe: Probe<T>, scope: ReadScope | undefined, broadcast: boolean, endsRun?: (e: unknown) => boolean, lead?: Candidate): Promise<RunOutcome<T>> {
  const run = new ProbeRun<T>({
    candidates: plan.candidates,
    window: plan.window,
    hedge: plan.hedge,
    probe,
    drainTimeoutMs: s.drainMs,
    onDrainTimeout: broadcast ? () => s.events.drainTimedOut(operation) : undefined,
    timers: s.timers,
    now: s.now,
    stagger: s.stagger,
    speed: s.speed,
    operation,
    endsRun,
    lead,
  });
  return scope === undefined ? run.start() : scope.start(run);
}

function outcome<T>(backend: string, value: T, size: number, failover: boolean, degraded: boolean, cacheHit: boolean, location: ObjectLocation | null = null): ReadOutcome<T> {
  return { backend, value, size, failover, degraded, cacheHit, location };
}

async function readKey<T>(s: Settings, operation: string, key: string, probe: Probe<T>, scope: ReadScope | undefined, known: ObjectLocation[] | undefined, failed: { error: unknown } | undefined): Promise<ReadOutcome<T>> {
  const start = performance.now();
  try {
    let rows = known;
    let lookupError: unknown = failed?.error;
    if (rows === undefined && failed === undefined) {
      try {
        const lookup = s.store.getAllObjectLocations(key, scope === undefined ? undefined : { signal: scope.signal });
        rows = await (scope === undefined ? lookup : scope.guard(lookup));
      } catch (err) {
        // Aborted while the lookup settled: the caller's abort is the read's outcome.
        if (scope?.abortError !== undefined) throw scope.abortError;
        lookupError = err;
      }
    }
    const o = rows !== undefined
      ? await located(s, operation, key, probe, scope, rows)
      : await degraded(s, operation, key, probe, scope, lookupError);
    s.events.won(operation, o.backend, start);
    return o;
  } finally {
    scope?.close();
  }
}

async function located<T>(s: Settings, operation: string, key: string, probe: Probe<T>, scope: ReadScope | undefined, rows: ObjectLocation[]): Promise<ReadOutcome<T>> {
  if (rows.length === 0) throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key}`);
  const plan = planLocated(s, operation, rows, s.core.backends());
  const o = await race(s, operation, plan, probe, scope, false);
  if (o.ok) return outcome(o.backendName, o.result.value, o.result.size, o.index !== 0, false, false, plan.candidates[o.index]?.location ?? null);
  const f = locatedFailure(key, o.failures, rows.length);
  if (f.usageExceeded) s.events.usageExceeded(operation);
  throw f.error;
}

async function degraded<T>(s: Settings, operation: string, key: string, probe: Probe<T>, scope: ReadScope | undefined, lookupError: unknown): Promise<ReadOutcome<T>> {
  if (hasCode(lookupError, 'OBJECT_NOT_FOUND')) throw lookupError;
  if (!hasCode(lookupError, 'DB_UNAVAILABLE')) {
    // The cause's message goes in too: batch outcomes and logs keep only the outer message, and
    // the store's says what was wrong (e.g. which column of which row is malformed).
    throw new ReadPathError('METADATA_ERROR', `metadata lookup failed for ${key}: ${messageOf(lookupError)}`, { cause: lookupError });
  }
  if (!s.degradedEnabled) {
    throw new ReadPathError('SERVICE_UNAVAILABLE', 'metadata store unavailable and degraded reads are disabled', { cause: lookupError });
  }
  s.events.degraded(operation);
  const start = performance.now();
  const backends = s.core.backends();
  // A race rejects only on the caller's abort: the broadcast ended all the same, in an error, and
  // its duration is a sample of that outcome (as upstream observes every broadcast it starts).
  const aborted = (err: unknown): never => {
    s.events.broadcastEnded(operation, 'error', start);
    throw err;
  };
  const hit = planCacheHit(s.cache.get(key), backends);
  // Planned before the hit is probed: a hedged broadcast takes the cached probe in as its lead.
  // The hedge policy is asked once per read either way (each ask is a primary request for the
  // budget), so a failed hit does not ask it again.
  const plan = hit === undefined || s.hedgePolicy !== undefined ? planBroadcast(s, operation, s.core.backendOrder(), backends) : undefined;
  const lead = plan?.hedge === undefined ? undefined : hit?.candidates[0];
  if (hit !== undefined && lead === undefined) {
    const o = await race(s, operation, hit, probe, scope, true).catch(aborted);
    if (o.ok) {
      s.events.broadcastEnded(operation, 'cache_hit', start);
      return outcome(o.backendName, o.result.value, o.result.size, false, true, true);
    }
    const ended = o.failures.find((f) => tooLargeForAll(f.error));
    if (ended !== undefined) {
      s.events.broadcastEnded(operation, 'error', start);
      throw ended.error;
    }
    // A failed or stale hit is not part of the broadcast's tally: start it afresh.
  }
  const broadcast = plan ?? planBroadcast(s, operation, s.core.backendOrder(), backends);
  if (broadcast === undefined) {
    s.events.broadcastEnded(operation, 'not_found', start);
    throw new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key} (no eligible backend in degraded mode)`);
  }
  // Hedged, the cached probe is the run's lead: alone until the hedge delay, then one of the
  // racers (its failure still outside the tally, its backend probed again once it failed).
  const o = await race(s, operation, broadcast, probe, scope, true, tooLargeForAll, lead).catch(aborted);
  if (o.ok) {
    if (o.lead) {
      s.events.broadcastEnded(operation, 'cache_hit', start);
      return outcome(o.backendName, o.result.value, o.result.size, false, true, true);
    }
    s.cache.set(key, o.backendName);
    s.events.broadcastEnded(operation, 'success', start);
    return outcome(o.backendName, o.result.value, o.result.size, false, true, false);
  }
  const verdict = classifyBroadcastFailure(key, o.failures);
  if (verdict.mixed) s.events.mixedOutcomes(operation);
  if (verdict.usageExceeded) s.events.usageExceeded(operation);
  s.events.broadcastEnded(operation, verdict.notFound ? 'not_found' : 'error', start);
  throw verdict.error;
}
