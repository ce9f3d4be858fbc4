/**
 * Timers and a clock that only move when the test says so, for ProbeRun/Failover `timers`.
 */
import type { Timers } from '../../src/engine/timers.js';
import { flush } from './gate.js';

interface Pending { at: number; fn: () => void }

/** A manual clock implementing the scheduler's Timers. */
export class FakeClock implements Timers {
  t = 0;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  readonly now = (): number => this.t;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#pending.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.#pending.delete(h as number);
  }

  /** Timers not yet fired or cleared. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Due times of the timers still pending, earliest first. */
  pendingDue(): number[] {
    return [...this.#pending.values()].map((p) => p.at).sort((a, b) => a - b);
  }

  /** Remove and return the earliest timer due by `target`, if any. */
  #takeDue(target: number): Pending | undefined {
    let best: [number, Pending] | undefined;
    for (const e of this.#pending) if (e[1].at <= target && (best === undefined || e[1].at < best[1].at)) best = e;
    if (best === undefined) return undefined;
    this.#pending.delete(best[0]);
    return best[1];
  }

  /**
   * Move to `target` and fire every timer due by then, in due order, letting promises settle
   * after each. The clock reads `target` throughout, so it always equals the driver's tick.
   */
  async advanceTo(target: number): Promise<void> {
    this.t = Math.max(this.t, target);
    for (let p = this.#takeDue(target); p !== undefined; p = this.#takeDue(target)) {
      p.fn();
      await flush(1);
    }
  }

  /**
   * Move time forward by `ms`, firing due timers in order — the clock reading each timer's
   * due time as it fires — and letting promises settle after each.
   */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (let p = this.#takeDue(target); p !== undefined; p = this.#takeDue(target)) {
      this.t = p.at;
      p.fn();
      await flush();
    }
    this.t = target;
    await flush();
  }
}
