/**
 * Usage limits applied at dispatch: reservations of in-flight probes against backends with
 * monthly limits. A probe is admitted by reserving its API requests (see callsOf) and, on a
 * backend with an egress limit, the bytes its first request can take when the task says (see
 * admittedEgress). Every further request is reserved just before it is sent — the API call
 * admission did not count, and the bytes it can take, from its range or the row's size
 * (probe/request-budget.ts) — and a request's reservation is replaced by the size its answer
 * announces before its body is read. The probe is settled exactly once with what it really
 * used, which replaces everything it held — so N concurrent probes against a backend with R
 * requests or B bytes left never send more than R requests or ask for more than B bytes.
 * Backends without limits cost one Map lookup and reserve nothing.
 *
 * One ledger per Recorder ({@link Recorder.reservations}): the inline executor and the pool
 * (whose workers ask for egress and requests by message) reserve against the same counts.
 */
import { UsageLimitSkipError, type UsageLimitKind } from '../errors.js';
import { admittedEgress, type UsagePort } from '../probe/billing.js';
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
 * What one admitted probe holds: its API requests, and its egress — the bytes each request it
 * sent may take, of which `current` is the request it is on: reserved before it is sent (at
 * admission for a whole GET, from the row's size, so concurrent probes see each other's bodies
 * before any is answered; else just before it is sent, from its range), and replaced by the
 * size its answer announces once that is known. The requests before it keep theirs until the
 * probe settles with what it really transferred.
 */
interface Held {
  api: number;
  egress: number;
  current: number;
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
    // A first request whose size the task gives (a whole copy, a range of a plain one): a backend
    // that cannot serve that much more egress is skipped now, before a request it would be billed
    // for; the answer's announced size replaces it once the headers are in.
    const known = admittedEgress(task);
    const calls = callsOf(task);
    const limit = this.#acct.exceededLimit(name, p.api + calls, p.egress + known, 0);
    if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
    p.api += calls;
    const id = ++this.#nextId;
    task.usageId = id;
    task.reservedApi = calls;
    const held: Held = { api: calls, egress: 0, current: 0 };
    // A HEAD too: a degraded one reads the copy's first bytes, and its seek table when they
    // begin like zstd, by ranged GETs.
    if (usage.limitsOf(name).egressBytes > 0) {
      task.egressLimited = true;
      p.egress += known;
      held.egress = held.current = known;
    }
    this.#held.set(id, held);
  }

  /**
   * The request `task` is on (about to be sent, or answered and about to be read) may take
   * `bytes` of egress: that replaces what was reserved for it so far (the row's size at
   * admission, its range before it was sent). The limit it would exceed (nothing reserved for
   * the request then), or null when reserved. A probe that was settled already (one its executor
   * stopped waiting for) holds no reservation to read under: refused.
   */
  reserveEgress(task: ProbeTask, bytes: number): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) return null;
    const held = this.#held.get(id);
    if (held === undefined) return 'egress_bytes';
    const p = this.#of(task.backend);
    p.egress -= held.current;
    held.egress -= held.current;
    held.current = 0;
    const limit = this.#acct.exceededLimit(task.backend, p.api, p.egress + bytes, 0);
    if (limit !== undefined) return limit;
    p.egress += bytes;
    held.egress += bytes;
    held.current = bytes;
    return null;
  }

  /**
   * `task` is about to send another request: what the previous one reserved stays held (until
   * the probe settles with what it really transferred), and `calls` more API requests are
   * reserved for it — 0 when admission reserved it already, 1 for a request admission did not
   * count. The limit they would exceed, or null when reserved. A probe that was settled already
   * holds nothing to add to: refused.
   */
  reserveApi(task: ProbeTask, calls: number): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) return null;
    const held = this.#held.get(id);
    if (held === undefined) return 'api_requests';
    held.current = 0;
    if (calls <= 0) return null;
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
