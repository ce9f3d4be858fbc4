/**
 * Reservations of in-flight probes against backends with usage limits. Checks count what
 * probes already in flight are about to use: one API request when a probe starts, and the
 * body's announced size once its headers are in, so N concurrent probes against a backend with
 * R requests left never make more than R calls. Backends without limits cost one Map lookup.
 *
 * The pool executor keeps one ledger (the main thread owns the Recorder: workers report what a
 * probe consumed in its verdict, and the ledger records it); the inline probes share one per
 * Recorder (see `getProbe`).
 */
import type { UsageLimitKind } from '../errors.js';
import type { Recorder } from '../telemetry/recorder.js';

interface Pending {
  api: number;
  egress: number;
}

/** Reservations of in-flight probes, per backend. */
export class UsageLedger {
  readonly #acct: Recorder;
  readonly #pending = new Map<string, Pending>();
  /** Egress reserved by each probe (by task id). */
  readonly #egressById = new Map<number, number>();

  constructor(acct: Recorder) {
    this.#acct = acct;
  }

  /** True when the backend has any limit (then probes reserve). */
  limited(backend: string): boolean {
    return this.#acct.usage.hasLimits(backend);
  }

  #of(backend: string): Pending {
    let p = this.#pending.get(backend);
    if (p === undefined) {
      p = { api: 0, egress: 0 };
      this.#pending.set(backend, p);
    }
    return p;
  }

  /** Reserve one API request; returns the limit it would exceed (nothing reserved then). */
  reserveApi(backend: string): UsageLimitKind | undefined {
    const p = this.#of(backend);
    const limit = this.#acct.exceededLimit(backend, p.api + 1, p.egress, 0);
    if (limit === undefined) p.api++;
    return limit;
  }

  /**
   * Reserve `bytes` of egress for probe `id` (whose API request is already reserved); returns
   * the limit it would exceed, or null when reserved.
   */
  reserveEgress(id: number, backend: string, bytes: number): UsageLimitKind | null {
    const p = this.#of(backend);
    const limit = this.#acct.exceededLimit(backend, p.api, p.egress + bytes, 0);
    if (limit !== undefined) return limit;
    p.egress += bytes;
    this.#egressById.set(id, (this.#egressById.get(id) ?? 0) + bytes);
    return null;
  }

  /**
   * Probe `id` ended: drop its reservations (`apiReserved`: it reserved an API request at
   * dispatch) and record what it actually used.
   */
  settle(id: number, backend: string, apiReserved: boolean, api: number, egress: number): void {
    if (apiReserved) {
      const p = this.#of(backend);
      p.api--;
      const e = this.#egressById.get(id);
      if (e !== undefined) {
        this.#egressById.delete(id);
        p.egress -= e;
      }
    }
    if (api !== 0 || egress !== 0) this.#acct.record(backend, api, egress, 0);
  }

  /** Reserved usage of a backend (tests). */
  pending(backend: string): Readonly<Pending> {
    return { ...this.#of(backend) };
  }
}
