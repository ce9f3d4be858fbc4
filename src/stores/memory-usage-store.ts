/**
 * An in-memory `backend_usage`, for tests, the demo and embedding without a database.
 */
import { ReadPathError } from '../errors.js';
import type { UsageDelta, UsageStat } from '../policies/usage-tracker.js';
import { checkDeltas, checkPeriod, type UsageStore } from './usage-store.js';

/** A usage store that keeps the monthly totals in memory, with an outage switch. */
export class MemoryUsageStore implements UsageStore {
  /** Totals keyed by period, then backend. */
  readonly #rows = new Map<string, Map<string, UsageStat>>();
  #available = true;
  /** Successful flushes: tests read this. */
  flushes = 0;

  /** Simulate an outage: while unavailable every call throws DB_UNAVAILABLE. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  /** The stored total of one backend in one period (zeros when absent). */
  get(backendName: string, period: string): UsageStat {
    const s = this.#rows.get(period)?.get(backendName);
    return s === undefined ? { apiRequests: 0, egressBytes: 0, ingressBytes: 0 } : { ...s };
  }

  async loadUsage(period: string): Promise<Map<string, UsageStat>> {
    checkPeriod(period);
    if (!this.#available) throw new ReadPathError('DB_UNAVAILABLE', 'usage store unavailable');
    const out = new Map<string, UsageStat>();
    for (const [name, s] of this.#rows.get(period) ?? []) out.set(name, { ...s });
    return out;
  }

  async flushUsage(deltas: readonly UsageDelta[]): Promise<void> {
    checkDeltas(deltas);
    if (!this.#available) throw new ReadPathError('DB_UNAVAILABLE', 'usage store unavailable');
    for (const d of deltas) {
      let byBackend = this.#rows.get(d.period);
      if (byBackend === undefined) {
        byBackend = new Map();
        this.#rows.set(d.period, byBackend);
      }
      const cur = byBackend.get(d.backendName) ?? { apiRequests: 0, egressBytes: 0, ingressBytes: 0 };
      cur.apiRequests += d.apiRequests;
      cur.egressBytes += d.egressBytes;
      cur.ingressBytes += d.ingressBytes;
      byBackend.set(d.backendName, cur);
    }
    this.flushes++;
  }
}
