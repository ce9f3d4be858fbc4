/**
 * Planning a read: which copies to try, in which order, how many at once, and whether to hedge.
 * Pure functions of the location rows (or the configured backends in degraded mode) and the
 * failover's settings; the race (race.ts) carries a plan out.
 */
import type { ObjectBackend, ObjectLocation } from '../types.js';
import type { BackendSpeed } from '../policies/backend-speed.js';

/** One copy to try. `backend` undefined means the location names an unconfigured backend. */
export interface Candidate {
  backendName: string;
  backend: ObjectBackend | undefined;
  location: ObjectLocation | null;
}

/**
 * Decides when to launch a probe before the current ones have failed (hedging). Called each
 * time a probe is launched while the window still has room; returns the delay in ms before the
 * next launch, or undefined for none. `allowHedge` is asked when the delay expires.
 */
export interface HedgePolicy {
  delayMs(): number | undefined;
  allowHedge(): boolean;
  /** Notified of a successful probe's latency (ms), for adaptive delays. */
  observe?(latencyMs: number): void;
  /** A hedge left: dispatch did not refuse it (see {@link refusedAtDispatch}). */
  onHedgeSent?(): void;
  onHedgeWon?(): void;
  onBudgetExhausted?(): void;
  /**
   * True when a probe's `error` is dispatch refusing it before it sent anything (an open
   * breaker, a usage limit). A hedge refused so was never sent: the next copy is launched in its
   * place, as the hedge, on the budget `allowHedge` granted it.
   */
  refusedAtDispatch?(error: unknown): boolean;
  /** What `allowHedge` granted went unused (every copy left was refused or not configured). */
  onHedgeNotSent?(): void;
}

/** Which path a hedge policy is asked for. */
export type ReadPathKind = 'located' | 'degraded';

/** A read's attempt, decided before any probe runs. */
export interface Plan {
  /** Copies in launch order. */
  candidates: readonly Candidate[];
  /** Most probes in flight at once (>= 1). */
  window: number;
  hedge: HedgePolicy | undefined;
}

/** The settings plans are made from. */
export interface PlanSettings {
  /** Broadcast to several backends at once in degraded mode. */
  parallel: boolean;
  /** The per-key probe window of a parallel broadcast; 0 = no cap. */
  parallelism: number;
  hedgePolicy: ((operation: string, path: ReadPathKind) => HedgePolicy | undefined) | undefined;
  /** Learned latencies behind the `fastest` launch order; undefined keeps BackendOrder. */
  speed: BackendSpeed | undefined;
}

/**
 * The hedge policy of a run over `candidates` copies. A single candidate cannot hedge, so the
 * policy (whose every call counts a primary request in its budget) is not asked.
 */
function hedgeFor(s: PlanSettings, operation: string, path: ReadPathKind, candidates: number): HedgePolicy | undefined {
  if (candidates < 2 || s.hedgePolicy === undefined) return undefined;
  return s.hedgePolicy(operation, path);
}

/**
 * The broadcast window for `eligible` backends. A hedged broadcast starts with one probe
 * whatever `parallel` says, and may grow to the parallelism cap.
 */
export function broadcastWindow(s: PlanSettings, eligible: number, hedged: boolean): number {
  if ((!s.parallel && !hedged) || eligible < 2) return 1;
  const p = s.parallelism;
  return p <= 0 || p > eligible ? eligible : p;
}

/**
 * The located path: the stored copies in row order (createdAt ascending). Unhedged reads try one
 * at a time; hedged ones may have every stored copy in flight.
 */
export function planLocated(s: PlanSettings, operation: string, rows: readonly ObjectLocation[], backends: ReadonlyMap<string, ObjectBackend>): Plan {
  const candidates = new Array<Candidate>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const loc = rows[i] as ObjectLocation;
    candidates[i] = { backendName: loc.backendName, backend: backends.get(loc.backendName), location: loc };
  }
  const hedge = hedgeFor(s, operation, 'located', candidates.length);
  return { candidates, window: hedge === undefined ? 1 : candidates.length, hedge };
}

/**
 * Degraded mode, first step: the backend that served the key last, if the cache knows one.
 * Probed as a run of its own, or, when the broadcast is hedged, as that run's lead.
 */
export function planCacheHit(cached: string | undefined, backends: ReadonlyMap<string, ObjectBackend>): Plan | undefined {
  const backend = cached === undefined ? undefined : backends.get(cached);
  if (cached === undefined || backend === undefined) return undefined;
  return { candidates: [{ backendName: cached, backend, location: null }], window: 1, hedge: undefined };
}

const nameOfCandidate = (c: Candidate): string => c.backendName;

/**
 * Degraded mode: every configured backend, in BackendOrder — or fastest first when every one
 * of them is probed at once anyway (no hedge, no cap below the backend count), since only then
 * the order decides nothing but which request leaves first. Undefined when no backend is
 * configured.
 */
export function planBroadcast(s: PlanSettings, operation: string, order: readonly string[], backends: ReadonlyMap<string, ObjectBackend>): Plan | undefined {
  const candidates: Candidate[] = [];
  for (const name of order) {
    const b = backends.get(name);
    if (b !== undefined) candidates.push({ backendName: name, backend: b, location: null });
  }
  if (candidates.length === 0) return undefined;
  const hedge = hedgeFor(s, operation, 'degraded', candidates.length);
  const window = broadcastWindow(s, candidates.length, hedge !== undefined);
  const ordered = hedge === undefined && window >= candidates.length && s.speed !== undefined
    ? s.speed.order(operation, candidates, nameOfCandidate)
    : candidates;
  return { candidates: ordered, window, hedge };
}
