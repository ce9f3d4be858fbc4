/**
 * Usage limits applied at dispatch: reservations of in-flight probes against backends with
 * monthly limits. A probe is admitted by reserving its API requests (see callsOf), may reserve its body's
 * announced size once the headers are in and any request admission did not reserve before it
 * sends it (probe/request-budget.ts), and is settled exactly once with what it used — so N
 * concurrent probes against a backend with R requests left never make more than R calls.
 * Backends without limits cost one Map lookup and reserve nothing.
 *
 * One ledger per Recorder ({@link Recorder.reservations}): the inline executor and the pool
 * (whose workers ask for egress and requests by message) reserve against the same counts.
 */
import { UsageLimitSkipError, type UsageLimitKind } from '../errors.js';
import type { UsagePort } from '../probe/billing.js';
import type { ProbeTask, ProbeUsage } from '../probe/task.js';
import type { Recorder } from '../telemetry/recorder.js';

interface Pending {
  api: number;
  egress: number;
}

/**
 * The requests every probe of its kind makes, reserved when it is admitted (what it did not make
 * is given back when it settles): one, plus a degraded probe's listing of the key's storage keys,
 * plus the read a range of an encrypted or compressed copy plans from (its header, its seek
 * table). Requests only some copies need — a degraded copy found to be compressed (its seek
 * table), a server whose ranged answer gives no size (a HEAD), a listing's further pages — are
 * reserved by the probe as it decides to send them ({@link UsageLedger.reserveApi}).
 */
function callsOf(task: ProbeTask): number {
  const l = task.location;
  if (l === null) return task.storedAt === undefined ? 2 : 1;
  if (task.op === 'get' && task.range !== undefined && (l.encrypted || l.compression !== undefined)) return 2;
  return 1;
}

/**
 * What one admitted probe holds: its API requests, its egress — of which `rowSized` was reserved
 * at admission from the row's size (a whole GET), so concurrent probes see each other's bodies
 * before any is answered, and is replaced by the answer's own size when the probe reserves it.
 */
interface Held {
  api: number;
  egress: number;
  rowSized: number;
}

/** Reservations of in-flight probes, per backend. */
export class UsageLedger implements UsagePort {
  readonly #acct: Recorder;
  readonly #pending = new Map<string, Pending>();
  /** What each admitted probe holds (by usage id). */
  readonly #held = new Map<number, Held>();
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
    const calls = callsOf(task);
    const limit = this.#acct.exceededLimit(name, p.api + calls, p.egress + known, 0);
    if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
    p.api += calls;
    const id = ++this.#nextId;
    task.usageId = id;
    task.reservedApi = calls;
    const held: Held = { api: calls, egress: 0, rowSized: 0 };
    if (task.op === 'get' && usage.limitsOf(name).egressBytes > 0) {
      task.egressLimited = true;
      p.egress += known;
      held.egress = held.rowSized = known;
    }
    this.#held.set(id, held);
  }

  /** Reserve `bytes` of egress for an admitted probe; the limit it would exceed, or null when reserved. */
  reserveEgress(task: ProbeTask, bytes: number): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) return null;
    const held = this.#held.get(id);
    if (held === undefined) return null;
    const p = this.#of(task.backend);
    // The answer's size replaces the row's, reserved at admission.
    p.egress -= held.rowSized;
    held.egress -= held.rowSized;
    held.rowSized = 0;
    const limit = this.#acct.exceededLimit(task.backend, p.api, p.egress + bytes, 0);
    if (limit !== undefined) return limit;
    p.egress += bytes;
    held.egress += bytes;
    return null;
  }

  /**
   * Reserve `calls` more API requests for an admitted probe, about to send a request admission did
   * not reserve; the limit they would exceed, or null when reserved. A probe that was settled
   * already (one its executor stopped waiting for) holds nothing to add to: refused.
   */
  reserveApi(task: ProbeTask, calls: number): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) return null;
    const held = this.#held.get(id);
    if (held === undefined) return 'api_requests';
    const p = this.#of(task.backend);
    const limit = this.#acct.exceededLimit(task.backend, p.api + calls, p.egress, 0);
    if (limit !== undefined) return limit;
    p.api += calls;
    held.api += calls;
    return null;
  }

  /** The probe ended: drop its reservations and record what it used. Call once per admitted probe. */
  settle(task: ProbeTask, used: ProbeUsage): void {
    const id = task.usageId ?? 0;
    if (id !== 0) {
      task.usageId = 0;
      const held = this.#held.get(id);
      if (held !== undefined) {
        this.#held.delete(id);
        const p = this.#of(task.backend);
        p.api -= held.api;
        p.egress -= held.egress;
      }
    }
    if (used.api !== 0 || used.egress !== 0) this.#acct.record(task.backend, used.api, used.egress, 0);
  }

  /** Usage reserved by probes in flight on a backend. */
  pending(backend: string): Readonly<Pending> {
    return { ...this.#of(backend) };
  }
}
