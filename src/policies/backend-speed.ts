/**
 * Which backend has been answering fastest, for the launch order of a parallel broadcast.
 *
 * A parallel broadcast sends every request anyway, so its order decides only which request
 * goes out first. On the real protocol that matters: a request costs about a millisecond of
 * client CPU before it is on the wire (SDK middleware, signing), so the copy launched third
 * leaves ~2 ms late. Launching the historically fastest copy first puts the likely winner on
 * the wire as early as a direct GET would.
 *
 * Estimates are an exponentially weighted mean of successful probe latencies per operation and
 * backend. Failures are not samples (a refused connection is fast and says nothing about
 * speed). A loser cancelled when another copy won is known to be slower than the winner in
 * that race, so its estimate is raised to at least the winner's latency (times a small margin)
 * or its own elapsed time, whichever is larger; a later real sample replaces such a bound
 * instead of being averaged with it. Backends never seen rank last, in configured order.
 */

/** Options of {@link BackendSpeed}. */
export interface BackendSpeedOptions {
  /** Weight of a new sample in the moving mean, in (0, 1]. Default 0.2. */
  alpha?: number;
  /** A cancelled loser ranks at least this factor behind the race's winner. Default 1.05. */
  loserMargin?: number;
}

interface Estimate {
  ms: number;
  /** The estimate is a lower bound from a lost race, not a measured latency. */
  bound: boolean;
}

/** Per-operation, per-backend latency estimates and the launch order they give. */
export class BackendSpeed {
  readonly #alpha: number;
  readonly #margin: number;
  readonly #byOp = new Map<string, Map<string, Estimate>>();

  constructor(opts: BackendSpeedOptions = {}) {
    const alpha = opts.alpha ?? 0.2;
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
    const margin = opts.loserMargin ?? 1.05;
    if (!(margin >= 1 && Number.isFinite(margin))) throw new RangeError('loserMargin must be a finite number >= 1');
    this.#alpha = alpha;
    this.#margin = margin;
  }

  #table(operation: string): Map<string, Estimate> {
    let t = this.#byOp.get(operation);
    if (t === undefined) {
      t = new Map();
      this.#byOp.set(operation, t);
    }
    return t;
  }

  /** A probe of `operation` on `backend` succeeded after `ms`. */
  succeeded(operation: string, backend: string, ms: number): void {
    if (!(ms >= 0) || ms === Infinity) return;
    const t = this.#table(operation);
    const e = t.get(backend);
    if (e === undefined) t.set(backend, { ms, bound: false });
    else if (e.bound) {
      e.ms = ms;
      e.bound = false;
    } else e.ms += this.#alpha * (ms - e.ms);
  }

  /**
   * A probe of `operation` on `backend` was cancelled after `elapsedMs` because another copy
   * won in `winnerMs`: it is at least as slow as the winner.
   */
  lost(operation: string, backend: string, elapsedMs: number, winnerMs: number): void {
    const floor = Math.max(elapsedMs, winnerMs * this.#margin);
    if (!(floor >= 0) || floor === Infinity) return;
    const t = this.#table(operation);
    const e = t.get(backend);
    if (e === undefined) t.set(backend, { ms: floor, bound: true });
    else if (e.ms < floor) {
      e.ms = floor;
      e.bound = true;
    }
  }

  /** The current estimate for a backend (ms), or undefined when it has none. */
  estimate(operation: string, backend: string): number | undefined {
    return this.#byOp.get(operation)?.get(backend)?.ms;
  }

  /**
   * `items` sorted fastest first by `nameOf(item)`'s estimate; unknown backends last; ties and
   * unknowns keep their given order. Returns `items` itself when the order does not change.
   */
  order<I>(operation: string, items: readonly I[], nameOf: (item: I) => string): readonly I[] {
    const t = this.#byOp.get(operation);
    if (t === undefined || items.length < 2) return items;
    const keyed = items.map((item, i) => ({ item, i, ms: t.get(nameOf(item))?.ms ?? Infinity }));
    let sorted = true;
    for (let i = 1; i < keyed.length && sorted; i++) if ((keyed[i] as { ms: number }).ms < (keyed[i - 1] as { ms: number }).ms) sorted = false;
    if (sorted) return items;
    keyed.sort((a, b) => (a.ms === b.ms ? a.i - b.i : a.ms < b.ms ? -1 : 1));
    return keyed.map((k) => k.item);
  }
}
