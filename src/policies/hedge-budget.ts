/**
 * The extra-load budget of hedging: a token bucket, as gRPC retry throttling and Finagle's
 * retry budget do. Every primary request deposits `ratio` tokens, every hedge withdraws one,
 * and the bucket holds at most `capacity`. Over any stretch of P primary requests, hedges are
 * therefore at most `capacity + ratio × P`: the burst allowance plus the steady share.
 */

/** Options of {@link HedgeBudget}. */
export interface HedgeBudgetOptions {
  /** Tokens one primary request deposits: the allowed extra load, in [0, 1]. */
  ratio: number;
  /** Most tokens held (the burst allowance). Default 10, as gRPC's example `max_tokens`. */
  capacity?: number;
  /** Tokens at start. Default `capacity`, so tail protection works from the first reads. */
  initial?: number;
}

/** A token bucket of hedges. */
export class HedgeBudget {
  readonly ratio: number;
  readonly capacity: number;
  #tokens: number;

  constructor(opts: HedgeBudgetOptions) {
    this.ratio = Math.max(0, opts.ratio);
    // A zero ratio means no hedging at all, not a one-off burst.
    this.capacity = this.ratio === 0 ? 0 : Math.max(1, opts.capacity ?? 10);
    this.#tokens = Math.min(this.capacity, Math.max(0, opts.initial ?? this.capacity));
  }

  /** A primary request was sent. */
  deposit(): void {
    const t = this.#tokens + this.ratio;
    this.#tokens = t > this.capacity ? this.capacity : t;
  }

  /** Take one token for a hedge; false (and nothing taken) when under one token is left. */
  tryWithdraw(): boolean {
    // Twenty deposits of 0.05 sum to 0.9999999999999999 in binary floating point.
    if (this.#tokens < 1 - 1e-9) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Give back a token taken for a hedge that was not sent after all. */
  refund(): void {
    const t = this.#tokens + 1;
    this.#tokens = t > this.capacity ? this.capacity : t;
  }

  /** Tokens available now. */
  get tokens(): number {
    return this.#tokens;
  }
}
