/**
 * Monthly per-backend usage against limits (API requests, egress and ingress bytes).
 * The tracker keeps the stored monthly total (baseline, loaded from `backend_usage`) and the
 * deltas recorded since the last flush; limits are checked against their sum, so processes that
 * share one database respect one limit. Deltas are kept per period so a flush straddling a month
 * boundary still lands each delta in its own month.
 */
import type { UsageLimitKind } from '../errors.js';

/** Monthly limits of one backend; 0 means unlimited. */
export interface UsageLimits {
  apiRequests: number;
  egressBytes: number;
  ingressBytes: number;
}

/** Usage counts of one backend in one period. */
export interface UsageStat {
  apiRequests: number;
  egressBytes: number;
  ingressBytes: number;
}

/** Unflushed usage of one backend in one period. */
export interface UsageDelta extends UsageStat {
  backendName: string;
  /** `YYYY-MM`, UTC. */
  period: string;
}

const zero = (): UsageStat => ({ apiRequests: 0, egressBytes: 0, ingressBytes: 0 });

/** The `YYYY-MM` (UTC) period a date falls in. */
export function usagePeriod(d: Date): string {
  const m = d.getUTCMonth() + 1;
  return `${d.getUTCFullYear()}-${m < 10 ? '0' : ''}${m}`;
}

/** `a` + `b`, a new stat. */
function sum(a: UsageStat, b: UsageStat): UsageStat {
  return { apiRequests: a.apiRequests + b.apiRequests, egressBytes: a.egressBytes + b.egressBytes, ingressBytes: a.ingressBytes + b.ingressBytes };
}

/** Add `sign` × `s` to the stat of `backend` in `period`; a stat back at zero is dropped. */
function addTo(m: Map<string, Map<string, UsageStat>>, period: string, backend: string, s: UsageStat, sign: 1 | -1): void {
  let byBackend = m.get(period);
  if (byBackend === undefined) {
    byBackend = new Map();
    m.set(period, byBackend);
  }
  const cur = byBackend.get(backend) ?? zero();
  cur.apiRequests += sign * s.apiRequests;
  cur.egressBytes += sign * s.egressBytes;
  cur.ingressBytes += sign * s.ingressBytes;
  if (cur.apiRequests === 0 && cur.egressBytes === 0 && cur.ingressBytes === 0) {
    byBackend.delete(backend);
    if (byBackend.size === 0) m.delete(period);
  } else byBackend.set(backend, cur);
}

/** Options for {@link UsageTracker}. */
export interface UsageTrackerOptions {
  limits?: Record<string, Partial<UsageLimits>>;
  /** Clock, for tests of the month rollover. */
  now?: () => Date;
}

/** Tracks monthly usage per backend and answers whether a call stays within its limits. */
export class UsageTracker {
  readonly #limits = new Map<string, UsageLimits>();
  /** Stored monthly totals, keyed by backend, for {@link #baselinePeriod}. */
  readonly #baseline = new Map<string, UsageStat>();
  #baselinePeriod: string;
  /** Unflushed deltas keyed by period, then backend. */
  readonly #deltas = new Map<string, Map<string, UsageStat>>();
  /**
   * Deltas taken by a flush still in flight (keyed as {@link #deltas}): counted against limits
   * until the flush has put them back, into the baseline, or into a baseline load.
   */
  readonly #flushing = new Map<string, Map<string, UsageStat>>();
  readonly #now: () => Date;

  constructor(opts: UsageTrackerOptions = {}) {
    this.#now = opts.now ?? (() => new Date());
    this.#baselinePeriod = usagePeriod(this.#now());
    for (const [name, l] of Object.entries(opts.limits ?? {})) this.setLimits(name, l);
  }

  /** Set (replace) a backend's monthly limits; omitted fields are unlimited. */
  setLimits(backendName: string, limits: Partial<UsageLimits>): void {
    const l: UsageLimits = {
      apiRequests: limits.apiRequests ?? 0,
      egressBytes: limits.egressBytes ?? 0,
      ingressBytes: limits.ingressBytes ?? 0,
    };
    if (l.apiRequests <= 0 && l.egressBytes <= 0 && l.ingressBytes <= 0) this.#limits.delete(backendName);
    else this.#limits.set(backendName, l);
  }

  /** The limits of a backend (all zero when unlimited). */
  limitsOf(backendName: string): UsageLimits {
    return this.#limits.get(backendName) ?? { apiRequests: 0, egressBytes: 0, ingressBytes: 0 };
  }

  /** True when the backend has any limit at all (fast path for the common unlimited case). */
  hasLimits(backendName: string): boolean {
    return this.#limits.has(backendName);
  }

  #current(): string {
    const p = usagePeriod(this.#now());
    if (p !== this.#baselinePeriod) {
      // Month rolled over: last month's stored totals no longer count against this month's limits.
      this.#baseline.clear();
      this.#baselinePeriod = p;
    }
    return p;
  }

  /** This month's total for a backend: stored baseline plus unflushed deltas. */
  usage(backendName: string): UsageStat {
    const p = this.#current();
    return sum(this.#baseline.get(backendName) ?? zero(), this.#unflushed(p, backendName));
  }

  /**
   * This month's total for a backend in its two parts: the stored baseline (every process that
   * shares the database sees the same, as of its last load) and this process's unflushed deltas.
   * Processes of one gateway add up to baseline + the sum of their deltas.
   */
  usageParts(backendName: string): { baseline: UsageStat; unflushed: UsageStat } {
    const p = this.#current();
    return { baseline: { ...(this.#baseline.get(backendName) ?? zero()) }, unflushed: this.#unflushed(p, backendName) };
  }

  /** A backend's deltas in `period` not yet in the baseline: recorded, and taken by a flush in flight. */
  #unflushed(period: string, backendName: string): UsageStat {
    return sum(this.#deltas.get(period)?.get(backendName) ?? zero(), this.#flushing.get(period)?.get(backendName) ?? zero());
  }

  /** The limit a call of this size would exceed, or undefined when it fits. */
  exceededLimit(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): UsageLimitKind | undefined {
    const l = this.#limits.get(backendName);
    if (l === undefined) return undefined;
    const u = this.usage(backendName);
    if (l.apiRequests > 0 && u.apiRequests + apiCalls > l.apiRequests) return 'api_requests';
    if (l.egressBytes > 0 && u.egressBytes + egressBytes > l.egressBytes) return 'egress_bytes';
    if (l.ingressBytes > 0 && u.ingressBytes + ingressBytes > l.ingressBytes) return 'ingress_bytes';
    return undefined;
  }

  /** True when a call of this size stays within the backend's monthly limits. */
  withinLimits(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): boolean {
    return this.exceededLimit(backendName, apiCalls, egressBytes, ingressBytes) === undefined;
  }

  /** Record usage against the current month. */
  record(backendName: string, apiCalls: number, egressBytes: number, ingressBytes: number): void {
    const p = this.#current();
    let byBackend = this.#deltas.get(p);
    if (byBackend === undefined) {
      byBackend = new Map();
      this.#deltas.set(p, byBackend);
    }
    let d = byBackend.get(backendName);
    if (d === undefined) {
      d = zero();
      byBackend.set(backendName, d);
    }
    d.apiRequests += apiCalls;
    d.egressBytes += egressBytes;
    d.ingressBytes += ingressBytes;
  }

  /** Replace the stored monthly total of a backend (loaded from the database). */
  setBaseline(backendName: string, stat: UsageStat, period: string = this.#current()): void {
    if (period !== this.#current()) return;
    this.#baseline.set(backendName, { ...stat });
  }

  /**
   * Remove and return every unflushed delta. A flush that fails hands them back with
   * {@link restoreDeltas}, so nothing is lost.
   */
  takeDeltas(): UsageDelta[] {
    const out: UsageDelta[] = [];
    for (const [period, byBackend] of this.#deltas) {
      for (const [backendName, d] of byBackend) {
        if (d.apiRequests === 0 && d.egressBytes === 0 && d.ingressBytes === 0) continue;
        out.push({ backendName, period, ...d });
        addTo(this.#flushing, period, backendName, d, 1);
      }
    }
    this.#deltas.clear();
    return out;
  }

  /** Taken deltas a baseline load now holds: no longer counted as in flight. */
  flushed(deltas: readonly UsageDelta[]): void {
    for (const d of deltas) addTo(this.#flushing, d.period, d.backendName, d, -1);
  }

  /**
   * Hand deltas back after a failed flush, or fold flushed deltas into the baseline after a
   * successful one (`intoBaseline`), so limits keep counting them until the next baseline load.
   */
  restoreDeltas(deltas: readonly UsageDelta[], intoBaseline = false): void {
    const p = this.#current();
    this.flushed(deltas);
    for (const d of deltas) {
      if (intoBaseline) {
        if (d.period !== p) continue;
        const b = this.#baseline.get(d.backendName) ?? zero();
        b.apiRequests += d.apiRequests;
        b.egressBytes += d.egressBytes;
        b.ingressBytes += d.ingressBytes;
        this.#baseline.set(d.backendName, b);
        continue;
      }
      addTo(this.#deltas, d.period, d.backendName, d, 1);
    }
  }

  /** The current `YYYY-MM` period. */
  period(): string {
    return this.#current();
  }
}
