/**
 * Usage limits applied at dispatch: reservations of in-flight probes against backends with
 * monthly limits. A probe is admitted by reserving its API request, may reserve its body's
 * announced size once the headers are in, and is settled exactly once with what it used — so N
 * concurrent probes against a backend with R requests left never make more than R calls.
 * Backends without limits cost one Map lookup and reserve nothing.
 *
 * One ledger per Recorder ({@link Recorder.reservations}): the inline executor and the pool
 * (whose workers ask for egress by message) reserve against the same counts.
 */
import { UsageLimitSkipError, type UsageLimitKind } from '../errors.js';
import type { UsagePort } from '../probe/billing.js';
import type { ProbeTask, ProbeUsage } from '../probe/task.js';
import type { Recorder } from '../telemetry/recorder.js';

interface Pending {
  api: number;
  egress: number;
}

/** Reservations of in-flight probes, per backend. */
export class UsageLedger implements UsagePort {
  readonly #acct: Recorder;
  readonly #pending = new Map<string, Pending>();
  /** Egress reserved by each probe (by usage id). */
  readonly #egressById = new Map<number, number>();
  #nextId = 0;

  constructor(acct: Recorder) {
    this.#acct = acct;
  }

  #of(backend: string): Pending {
    let p = this.#pending.get(backend);
    if (p === undefined) {
      p = { api: 0, egress: 0 };
      this.#pending.set(backend, p);
    }
    return p;
  }

  /**
   * Admit a probe: on a backend with limits, reserve its API request (throwing
   * USAGE_LIMIT_SKIP when that would exceed a limit) and give the task its usage id (0 = no
   * reservation) and, when the backend limits egress, `egressLimited`.
   */
  admit(task: ProbeTask): void {
    const name = task.backend;
    const usage = this.#acct.usage;
    if (!usage.hasLimits(name)) {
      task.usageId = 0;
      return;
    }
    const p = this.#of(name);
    // A whole GET of a copy whose row gives its size: a backend that cannot serve that much more
    // egress is skipped now, before a request it would be billed for (the bytes themselves are
    // reserved once the answer's headers say how many).
    const known = task.op === 'get' && task.range === undefined ? (task.location?.sizeBytes ?? 0) : 0;
    const limit = this.#acct.exceededLimit(name, p.api + 1, p.egress + known, 0);
    if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
    p.api++;
    task.usageId = ++this.#nextId;
    if (task.op === 'get' && usage.limitsOf(name).egressBytes > 0) task.egressLimited = true;
  }

  /** Reserve `bytes` of egress for an admitted probe; the limit it would exceed, or null when reserved. */
  reserveEgress(task: ProbeTask, bytes: number): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) return null;
    const p = this.#of(task.backend);
    const limit = this.#acct.exceededLimit(task.backend, p.api, p.egress + bytes, 0);
    if (limit !== undefined) return limit;
    p.egress += bytes;
    this.#egressById.set(id, (this.#egressById.get(id) ?? 0) + bytes);
    return null;
  }

  /** The probe ended: drop its reservations and record what it used. Call once per admitted probe. */
  settle(task: ProbeTask, used: ProbeUsage): void {
    const id = task.usageId ?? 0;
    if (id !== 0) {
      task.usageId = 0;
      const p = this.#of(task.backend);
      p.api--;
      const e = this.#egressById.get(id);
      if (e !== undefined) {
        this.#egressById.delete(id);
        p.egress -= e;
      }
    }
    if (used.api !== 0 || used.egress !== 0) this.#acct.record(task.backend, used.api, used.egress, 0);
  }

  /** Usage reserved by probes in flight on a backend. */
  pending(backend: string): Readonly<Pending> {
    return { ...this.#of(backend) };
  }
}
