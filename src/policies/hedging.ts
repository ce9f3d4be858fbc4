/**
 * Hedged reads: the strategy between sequential and parallel broadcast ("The Tail at Scale",
 * gRPC hedging, Finagle backup requests). A read probes one copy; when it has not answered
 * within the hedge delay, the next copy is launched too, within an extra-load budget. The
 * mechanics (timers, window, cancellation) live in ProbeRun; this module is the policy: the
 * delay (fixed, or a percentile of recent successful latencies per operation), the budget
 * (a token bucket shared by every operation) and the metrics.
 */
import { ReadPathError, hasCode } from '../errors.js';
import { isBreakerRejection } from './backend-breaker.js';
import { METRIC, type Labels, type Recorder } from '../telemetry/recorder.js';
import type { HedgePolicy } from '../engine/plan.js';
import type { ReadPathKind } from '../engine/plan.js';
import type { ResolvedConfig } from '../config/types.js';
import { LatencyWindow } from './latency-window.js';
import { HedgeBudget } from './hedge-budget.js';

/** Defaults of {@link createHedging}'s tuning options. */
export const HEDGING_DEFAULTS = Object.freeze({
  percentile: 95,
  maxExtraLoad: 0.05,
  /** The `auto` delay before `minSamples` latencies were seen. */
  fallbackDelayMs: 50,
  /** The `auto` delay never goes below this (ms). */
  minDelayMs: 1,
  windowSize: 1000,
  minSamples: 20,
  budgetCapacity: 10,
});

/**
 * Options of {@link createHedging}. The first five are ResolvedConfig's `hedging` section
 * as is, so `createHedging({ ...config.hedging, recorder })` wires it.
 */
export interface HedgingOptions {
  enabled: boolean;
  /** A fixed delay in ms, or `'auto'`: the `percentile` of recent successful probe latencies. */
  delayMs: number | 'auto';
  /** In (0, 100]. Default 95. */
  percentile?: number;
  /** Hedges allowed per primary request, in [0, 1]. Default 0.05. */
  maxExtraLoad?: number;
  /** Hedge located reads too (the second stored copy after the delay). Default false. */
  locatedReads?: boolean;
  /** Where hedges_sent_total, hedges_won_total and hedge_budget_exhausted_total{operation} go. */
  recorder?: Recorder;
  /** `auto` delay before enough samples exist (ms). Default 50. */
  fallbackDelayMs?: number;
  /** Floor of the `auto` delay (ms). Default 1. */
  minDelayMs?: number;
  /** Latency samples kept per operation. Default 1000. */
  windowSize?: number;
  /** Samples needed before the percentile replaces the fallback. Default 20. */
  minSamples?: number;
  /** The budget's burst allowance, in hedges. Default 10. */
  budgetCapacity?: number;
}

/** What a hedging instance looks like now, for benchmarks, tests and status output. */
export interface HedgingSnapshot {
  enabled: boolean;
  budgetTokens: number;
  operations: Record<string, { delayMs: number | undefined; samples: number }>;
}

/** The `hedgePolicy` option of FailoverOptions, plus a look inside. */
export interface HedgePolicyFactory {
  (operation: string, path: ReadPathKind): HedgePolicy | undefined;
  snapshot(): HedgingSnapshot;
}

function invalid(field: string, why: string, value: unknown): ReadPathError {
  return new ReadPathError('INVALID_CONFIG', `hedging.${field}: ${why} (got ${JSON.stringify(value) ?? String(value)})`);
}

function checkNumber(field: string, v: unknown, ok: (n: number) => boolean, why: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalid(field, why, v);
}

function validate(o: HedgingOptions): void {
  if (typeof o.enabled !== 'boolean') throw invalid('enabled', 'must be true or false', o.enabled);
  if (o.delayMs !== 'auto') checkNumber('delay', o.delayMs, (n) => n >= 0, "must be a duration >= 0 or 'auto'");
  if (o.percentile !== undefined) checkNumber('percentile', o.percentile, (n) => n > 0 && n <= 100, 'must be in (0, 100]');
  if (o.maxExtraLoad !== undefined) checkNumber('max_extra_load', o.maxExtraLoad, (n) => n >= 0 && n <= 1, 'must be in [0, 1]');
  if (o.locatedReads !== undefined && typeof o.locatedReads !== 'boolean') throw invalid('located_reads', 'must be true or false', o.locatedReads);
  if (o.fallbackDelayMs !== undefined) checkNumber('fallbackDelayMs', o.fallbackDelayMs, (n) => n >= 0, 'must be >= 0');
  if (o.minDelayMs !== undefined) checkNumber('minDelayMs', o.minDelayMs, (n) => n >= 0, 'must be >= 0');
  if (o.windowSize !== undefined) checkNumber('windowSize', o.windowSize, (n) => Number.isInteger(n) && n >= 1, 'must be an integer >= 1');
  if (o.minSamples !== undefined) checkNumber('minSamples', o.minSamples, (n) => Number.isInteger(n) && n >= 1, 'must be an integer >= 1');
  if (o.budgetCapacity !== undefined) checkNumber('budgetCapacity', o.budgetCapacity, (n) => n >= 1, 'must be >= 1');
}

interface Shared {
  fixedDelay: number | undefined;
  fallback: number;
  floor: number;
  budget: HedgeBudget;
  recorder: Recorder | undefined;
}

/** The policy of one operation: stateless per read, so one object serves every read. */
class OperationHedge implements HedgePolicy {
  readonly #s: Shared;
  readonly #window: LatencyWindow | undefined;
  readonly #labels: Labels;

  constructor(operation: string, s: Shared, window: LatencyWindow | undefined) {
    this.#s = s;
    this.#window = window;
    this.#labels = Object.freeze({ operation });
  }

  delayMs(): number {
    const s = this.#s;
    if (s.fixedDelay !== undefined) return s.fixedDelay;
    const p = this.#window?.value();
    if (p === undefined) return s.fallback;
    return p < s.floor ? s.floor : p;
  }

  allowHedge(): boolean {
    return this.#s.budget.tryWithdraw();
  }

  observe(latencyMs: number): void {
    this.#window?.add(latencyMs);
  }

  onHedgeSent(): void {
    this.#s.recorder?.inc(METRIC.hedgesSent, this.#labels);
  }

  onHedgeWon(): void {
    this.#s.recorder?.inc(METRIC.hedgesWon, this.#labels);
  }

  onBudgetExhausted(): void {
    this.#s.recorder?.inc(METRIC.hedgeBudgetExhausted, this.#labels);
  }

  // The refusals dispatch makes before a request leaves: the backend's open (or probing)
  // breaker, and usage admission over a monthly limit.
  refusedAtDispatch(error: unknown): boolean {
    return isBreakerRejection(error) || hasCode(error, 'USAGE_LIMIT_SKIP');
  }

  onHedgeNotSent(): void {
    this.#s.budget.refund();
  }

  get samples(): number {
    return this.#window?.size ?? 0;
  }
}

/**
 * Build the hedge policy factory for `FailoverOptions.hedgePolicy`. The failover asks it once
 * per probe run that could hedge (two or more candidates); each such run counts as one primary
 * request for the budget. Degraded broadcasts are hedged when `enabled`; located reads only
 * with `locatedReads` too. Throws INVALID_CONFIG naming the `hedging.*` field at fault.
 */
export function createHedging(opts: HedgingOptions): HedgePolicyFactory {
  validate(opts);
  const D = HEDGING_DEFAULTS;
  const percentile = opts.percentile ?? D.percentile;
  const auto = opts.delayMs === 'auto';
  const shared: Shared = {
    fixedDelay: auto ? undefined : (opts.delayMs as number),
    fallback: opts.fallbackDelayMs ?? D.fallbackDelayMs,
    floor: opts.minDelayMs ?? D.minDelayMs,
    budget: new HedgeBudget({ ratio: opts.maxExtraLoad ?? D.maxExtraLoad, capacity: opts.budgetCapacity ?? D.budgetCapacity }),
    recorder: opts.recorder,
  };
  const enabled = opts.enabled;
  const located = opts.locatedReads ?? false;
  const byOp = new Map<string, OperationHedge>();

  const policyFor = (operation: string): OperationHedge => {
    let h = byOp.get(operation);
    if (h === undefined) {
      const window = auto
        ? new LatencyWindow({ percentile, capacity: opts.windowSize ?? D.windowSize, minSamples: opts.minSamples ?? D.minSamples })
        : undefined;
      h = new OperationHedge(operation, shared, window);
      byOp.set(operation, h);
    }
    return h;
  };

  const factory = (operation: string, path: ReadPathKind): HedgePolicy | undefined => {
    if (!enabled || (path === 'located' && !located)) return undefined;
    shared.budget.deposit();
    return policyFor(operation);
  };
  const snapshot = (): HedgingSnapshot => {
    const operations: HedgingSnapshot['operations'] = {};
    for (const [op, h] of byOp) operations[op] = { delayMs: h.delayMs(), samples: h.samples };
    return { enabled, budgetTokens: shared.budget.tokens, operations };
  };
  return Object.assign(factory, { snapshot });
}

/** The hedge policy factory of a configuration's `hedging:` section, or undefined when hedging is off. */
export function hedgingFromConfig(config: ResolvedConfig, recorder: Recorder): HedgePolicyFactory | undefined {
  if (!config.hedging.enabled) return undefined;
  return createHedging({ ...config.hedging, recorder });
}
