/**
 * The race over a plan: a rolling window of probes over the plan's ordered candidates, hedges
 * launched on the plan's policy, the first success wins, losers are cancelled and drained in the
 * background with a bound. Policy (what a failure means, what the caller is told) lives in
 * failover.ts and verdicts.ts.
 *
 * Cost matters here: this runs once per read. No listener is registered on any signal (the
 * owner of the caller's signal calls {@link ProbeRun.abort} directly), children are aborted by
 * calling their controllers, and the drain timer exists only while losers are still in flight.
 *
 * Over 300 lines on purpose: the window, the hedge timer, the staggered launch, the cancel and
 * the drain are one state machine; split, each piece would need the others' private state.
 */
import { ReadPathError } from '../errors.js';
import type { ObjectBackend, Probe, ProbeResult } from '../types.js';
import { LazyProbeRequest } from './probe-request.js';
import type { Candidate, HedgePolicy } from './plan.js';
import { backgroundTimers, deferUntilDrained, cancelDeferred, realTimers, type Timers } from './timers.js';

/** A failed attempt, in arrival order. */
export interface ProbeFailure {
  index: number;
  backendName: string;
  error: unknown;
}

/**
 * How a run ended when it was not aborted. `lead`: the winner is the run's lead probe
 * ({@link ProbeRunOptions.lead}); its `index` is then `candidates.length`.
 */
export type RunOutcome<T> =
  | { ok: true; index: number; backendName: string; result: ProbeResult<T>; failures: ProbeFailure[]; lead: boolean }
  | { ok: false; failures: ProbeFailure[] };

/**
 * Told how fast each backend answered, to order later broadcasts fastest first (see
 * BackendSpeed). Failures are not reported: a fast failure says nothing about speed.
 */
export interface SpeedObserver {
  /** A probe of `operation` on `backend` succeeded after `ms`. */
  succeeded(operation: string, backend: string, ms: number): void;
  /** A probe was cancelled after `elapsedMs` because another copy won in `winnerMs`. */
  lost(operation: string, backend: string, elapsedMs: number, winnerMs: number): void;
}

/** Options of one run. */
export interface ProbeRunOptions<T> {
  candidates: readonly Candidate[];
  probe: Probe<T>;
  /** Most probes in flight at once (>= 1). */
  window: number;
  /** How long losers may take to settle after the run ended. */
  drainTimeoutMs: number;
  /** Called once when the drain gave up on losers still in flight. */
  onDrainTimeout?: () => void;
  hedge?: HedgePolicy | undefined;
  timers?: Timers | undefined;
  /** Monotonic clock in ms (for hedge latency samples). */
  now?: () => number;
  /**
   * When a fill launches several probes, launch the first at once and the rest once the
   * microtask queue has drained. A remote probe spends its client CPU (request building,
   * signing) in a chain of microtasks before its request is on the wire; launched together,
   * the probes' chains interleave and even the first request leaves only after all of them are
   * built. Staggered, the first (with the `fastest` launch order, the likely winner) leaves as
   * soon as it is built.
   */
  stagger?: boolean;
  /** Receives latency samples, labelled with `operation`. */
  speed?: SpeedObserver;
  /** The operation the samples given to `speed` are for. */
  operation?: string;
  /**
   * A failure that answers for every candidate (the object is too large to buffer, found by a
   * broadcast): the run ends with it at once, probes in flight are cancelled and no other
   * candidate is launched.
   */
  endsRun?: (error: unknown) => boolean;
  /**
   * A probe launched alone before the candidates (a degraded read's location-cache backend).
   * Its failure is not one of the run's `failures` (unless `endsRun` says it answers for every
   * candidate), and the candidates are then launched as if it had never run, its own backend
   * included. Only a hedge launches a candidate while it is still in flight: it then races with
   * them, and its backend's candidate is passed over while it runs — that probe is the
   * backend's attempt — and launched next if the lead fails after its turn came.
   */
  lead?: Candidate | undefined;
}

/** The abort reason of a cancelled loser; one shared instance, since building an Error costs µs. */
const LOSER_CANCELLED = new ReadPathError('ABORTED', 'probe cancelled: another copy won');

/** The abort reason of probes cancelled because another's failure ended the run. */
const RUN_ENDED = new ReadPathError('ABORTED', 'probe cancelled: another copy\'s answer ended the read');

const monotonicNow = (): number => performance.now();

function notConfigured(name: string): ReadPathError {
  return new ReadPathError('BACKEND_NOT_FOUND', `backend ${name} is not configured`);
}

/** One read's attempt over its candidates. Start it once; abort it at most once. */
export class ProbeRun<T> {
  readonly #o: ProbeRunOptions<T>;
  readonly #n: number;
  #next = 0;
  /** The lead's index (`#n`), or -1 without a lead. */
  readonly #leadIdx: number;
  /** The candidate passed over while the lead is in flight (the lead's backend); -1 once it settled. */
  #leadAt = -1;
  /** A candidate passed over for the lead, to launch before `#next` once the lead failed. */
  #retry = -1;
  #inflight = 0;
  #done = false;
  #controllers: (LazyProbeRequest | undefined)[];
  #started: number[] | undefined;
  #hedgedIdx: Set<number> | undefined;
  /**
   * Hedges launched that dispatch may still refuse. Dispatch decides before any request leaves,
   * and its refusal arrives within the microtask chain of the launch; a hedge still here once
   * the microtask queue has drained was sent ({@link #confirmHedges}).
   */
  #unconfirmed: Set<number> | undefined;
  #failures: ProbeFailure[] = [];
  #resolve!: (o: RunOutcome<T>) => void;
  #reject!: (e: unknown) => void;
  #drainPending = 0;
  #drainTimer: unknown;
  #drainGaveUp = false;
  #hedgeTimer: unknown;
  #staggered = false;
  #winnerMs = 0;
  readonly #now: () => number;
  /** The operation label of `speed` samples. */
  readonly #op: string;
  /** Probes that should be in flight: the window, or for hedged runs 1 plus the hedges sent. */
  #target: number;

  constructor(opts: ProbeRunOptions<T>) {
    this.#o = opts;
    const n = opts.candidates.length;
    this.#n = n;
    const lead = opts.lead?.backend === undefined ? undefined : opts.lead;
    this.#leadIdx = lead === undefined ? -1 : n;
    if (lead !== undefined) this.#leadAt = opts.candidates.findIndex((c) => c.backendName === lead.backendName);
    // The lead, when there is one, has the slot after the candidates'.
    const slots = lead === undefined ? n : n + 1;
    this.#controllers = new Array<LazyProbeRequest | undefined>(slots);
    this.#target = opts.hedge === undefined ? opts.window : 1;
    this.#now = opts.now ?? monotonicNow;
    this.#op = opts.operation ?? '';
    if (opts.hedge !== undefined || opts.speed !== undefined) this.#started = new Array<number>(slots);
    if (opts.hedge !== undefined) this.#hedgedIdx = new Set();
  }

  /** Launch the first probes; the promise settles when a probe wins or every candidate failed. */
  start(): Promise<RunOutcome<T>> {
    return new Promise<RunOutcome<T>>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      const lead = this.#o.lead;
      if (this.#leadIdx >= 0 && lead?.backend !== undefined) {
        this.#launch(this.#leadIdx, lead, lead.backend, false);
        this.#armHedge();
      } else {
        this.#fill(false);
      }
    });
  }

  /** Stop the run: abort every probe in flight, never launch another, reject with `err`. */
  abort(err: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#cancelOthers(-1, err);
    this.#reject(err);
  }

  /** True once the run has a result or was aborted. */
  get done(): boolean {
    return this.#done;
  }

  /** Launch probes up to the target; true when `hedge` was set and a probe took it. */
  #fill(hedge: boolean, together = false): boolean {
    const o = this.#o;
    const asked = hedge;
    let launched = false;
    while (!this.#done && this.#inflight < this.#target && this.#hasNext()) {
      if (launched && !together && o.stagger === true) {
        if (!this.#staggered) {
          this.#staggered = true;
          deferUntilDrained(this.#launchStaggered);
        }
        return asked;
      }
      const i = this.#take();
      const c = o.candidates[i] as Candidate;
      if (c.backend === undefined) {
        this.#failures.push({ index: i, backendName: c.backendName, error: notConfigured(c.backendName) });
        continue;
      }
      this.#launch(i, c, c.backend, hedge);
      hedge = false;
      launched = true;
    }
    const took = asked && launched;
    if (this.#done) return took;
    if (this.#inflight === 0 && !this.#hasNext()) {
      this.#finish();
      this.#resolve({ ok: false, failures: this.#failures });
      return took;
    }
    this.#armHedge();
    return took;
  }

  /** True when a candidate is left to launch. */
  #hasNext(): boolean {
    if (this.#retry >= 0) return true;
    // The lead's own candidate does not count while the lead runs: it is passed over.
    const k = this.#next === this.#leadAt ? this.#next + 1 : this.#next;
    return k < this.#n;
  }

  /** The next candidate to launch (call only when {@link #hasNext}). */
  #take(): number {
    const r = this.#retry;
    if (r >= 0) {
      this.#retry = -1;
      return r;
    }
    if (this.#next === this.#leadAt) this.#next++;
    return this.#next++;
  }

  /** Probe `i`'s candidate: one of the plan's, or the lead. */
  #candidate(i: number): Candidate {
    return (i === this.#leadIdx ? this.#o.lead : this.#o.candidates[i]) as Candidate;
  }

  // Runs once the microtask queue has drained: after the first probe's promise chain has built
  // and sent its request, and before any timer or I/O callback (a macrotask hop such as
  // setImmediate could let a fast first answer in first).
  readonly #launchStaggered = (): void => {
    this.#staggered = false;
    // The first request is on the wire; the rest go together (one hop, not one per probe, so
    // a fast first answer cannot overtake a chain of hops and leave backends unprobed).
    if (!this.#done) this.#fill(false, true);
  };

  #launch(i: number, c: Candidate, backend: ObjectBackend, hedged: boolean): void {
    const req = new LazyProbeRequest(c, backend);
    this.#controllers[i] = req;
    this.#inflight++;
    if (this.#started !== undefined) {
      this.#started[i] = this.#now();
      if (hedged) {
        this.#hedgedIdx?.add(i);
        (this.#unconfirmed ??= new Set()).add(i);
        deferUntilDrained(this.#confirmHedges);
      }
    }
    let p: Promise<ProbeResult<T>>;
    try {
      p = this.#o.probe(req);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => this.#onSuccess(i, r),
      (e: unknown) => this.#onFailure(i, e),
    );
  }

  #armHedge(): void {
    const h = this.#o.hedge;
    if (h === undefined || this.#hedgeTimer !== undefined) return;
    if (this.#inflight === 0 || this.#target >= this.#o.window || !this.#hasNext()) return;
    const delay = h.delayMs();
    if (delay === undefined) return;
    const timers = this.#o.timers ?? realTimers;
    this.#hedgeTimer = timers.setTimeout(() => {
      this.#hedgeTimer = undefined;
      if (this.#done) return;
      if (!h.allowHedge()) {
        h.onBudgetExhausted?.();
        return;
      }
      // Counted as sent only once dispatch has not refused it (see #unconfirmed).
      this.#target++;
      if (!this.#fill(true)) h.onHedgeNotSent?.();
    }, delay);
  }

  // Runs once the microtask queue has drained after a hedge's launch: a hedge dispatch had
  // refused would have failed by now, so those still unconfirmed were sent. Also after the run
  // ended: a hedge launched and then cancelled was sent all the same.
  readonly #confirmHedges = (): void => {
    const u = this.#unconfirmed;
    if (u === undefined || u.size === 0) return;
    const h = this.#o.hedge;
    for (let k = u.size; k > 0; k--) h?.onHedgeSent?.();
    u.clear();
  };

  /**
   * Settle the bookkeeping of probe `i` if it is a hedge not yet confirmed; true when dispatch
   * refused it, so that it was never sent and the budget it was granted is still unspent.
   */
  #refusedHedge(i: number, error: unknown): boolean {
    if (this.#unconfirmed?.delete(i) !== true) return false;
    const h = this.#o.hedge as HedgePolicy;
    if (error !== undefined && h.refusedAtDispatch?.(error) === true) return true;
    h.onHedgeSent?.();
    return false;
  }

  #clearHedge(): void {
    if (this.#hedgeTimer !== undefined) {
      (this.#o.timers ?? realTimers).clearTimeout(this.#hedgeTimer);
      this.#hedgeTimer = undefined;
    }
  }

  #onSuccess(i: number, r: ProbeResult<T>): void {
    this.#inflight--;
    this.#controllers[i] = undefined;
    this.#refusedHedge(i, undefined);
    const o = this.#o;
    const c = this.#candidate(i);
    // Latency samples: a late winner's too, it beat the cancel.
    const ms = this.#started === undefined ? 0 : this.#now() - (this.#started[i] as number);
    if (this.#started !== undefined) o.speed?.succeeded(this.#op, c.backendName, ms);
    if (this.#done) {
      this.#late(r);
      return;
    }
    this.#finish();
    const h = o.hedge;
    if (this.#started !== undefined) {
      this.#winnerMs = ms;
      if (h !== undefined) {
        h.observe?.(ms);
        if (this.#hedgedIdx?.has(i) === true) h.onHedgeWon?.();
      }
    }
    // The winner's release runs once, now; its signal is never aborted by us.
    if (r.cleanup !== undefined) {
      try {
        r.cleanup();
      } catch {
        // A throwing cleanup must not turn a won read into a failure.
      }
    }
    this.#cancelOthers(i, undefined);
    this.#resolve({ ok: true, index: i, backendName: c.backendName, result: r, failures: this.#failures, lead: i === this.#leadIdx });
  }

  #onFailure(i: number, e: unknown): void {
    this.#inflight--;
    this.#controllers[i] = undefined;
    // A hedge dispatch refused was never sent: the next copy goes in its place as the hedge
    // (it is launched because of the delay, not because a sent probe failed), on the same
    // budget; with no copy left to take it, the budget is given back.
    const refused = this.#refusedHedge(i, e);
    if (this.#done) {
      if (refused) this.#o.hedge?.onHedgeNotSent?.();
      this.#late(undefined);
      return;
    }
    const c = this.#candidate(i);
    const ends = this.#o.endsRun?.(e) === true;
    if (i === this.#leadIdx) {
      // Its backend's candidate, passed over while it ran, goes next: the candidates are
      // launched as if the lead had never run.
      if (this.#leadAt >= 0 && this.#leadAt < this.#next) this.#retry = this.#leadAt;
      this.#leadAt = -1;
    }
    // The lead's failure is not the run's, unless it answers for every candidate.
    if (i !== this.#leadIdx || ends) this.#failures.push({ index: i, backendName: c.backendName, error: e });
    if (ends) {
      if (refused) this.#o.hedge?.onHedgeNotSent?.();
      this.#finish();
      this.#cancelOthers(-1, RUN_ENDED);
      this.#resolve({ ok: false, failures: this.#failures });
      return;
    }
    // A failure launches the next candidate at once, hedge delay or not.
    this.#clearHedge();
    if (!this.#fill(refused) && refused) this.#o.hedge?.onHedgeNotSent?.();
  }

  #finish(): void {
    this.#done = true;
    this.#clearHedge();
    if (this.#staggered) {
      this.#staggered = false;
      cancelDeferred(this.#launchStaggered);
    }
  }

  #cancelOthers(winner: number, reason: unknown): void {
    if (this.#inflight === 0) return;
    // Deferred by one microtask: losers whose answers are already queued settle first and need
    // no abort (an abort costs ~5 µs of event dispatch); the rest are aborted before any I/O.
    queueMicrotask(() => {
      const cs = this.#controllers;
      // Only a race lost to a winner says something about a loser's speed, not a caller abort.
      const speed = reason === undefined ? this.#o.speed : undefined;
      const at = speed !== undefined ? this.#now() : 0;
      for (let j = 0; j < cs.length; j++) {
        const ac = cs[j];
        if (ac === undefined || j === winner) continue;
        cs[j] = undefined;
        speed?.lost(this.#op, ac.backendName, at - (this.#started?.[j] ?? at), this.#winnerMs);
        ac.abort(reason ?? LOSER_CANCELLED);
      }
      if (this.#inflight > 0) this.#startDrain();
    });
  }

  #startDrain(): void {
    this.#drainPending = this.#inflight;
    const timers = this.#o.timers ?? backgroundTimers;
    this.#drainTimer = timers.setTimeout(() => {
      this.#drainTimer = undefined;
      if (this.#drainPending === 0) return;
      this.#drainGaveUp = true;
      this.#o.onDrainTimeout?.();
    }, this.#o.drainTimeoutMs);
  }

  #late(r: ProbeResult<T> | undefined): void {
    if (this.#drainGaveUp) return; // Past the drain, a late success is the probe's own to release.
    if (r?.cleanup !== undefined) {
      try {
        r.cleanup();
      } catch {
        // Releasing a loser must never throw into the runtime.
      }
    }
    // Losers that settle before the drain starts (see #cancelOthers) are not counted in it.
    if (this.#drainTimer !== undefined && --this.#drainPending === 0) {
      (this.#o.timers ?? backgroundTimers).clearTimeout(this.#drainTimer);
      this.#drainTimer = undefined;
    }
  }
}
