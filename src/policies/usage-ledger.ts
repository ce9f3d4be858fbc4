/**
 * Usage limits applied at dispatch: reservations of in-flight probes against backends with
 * monthly limits. A probe is admitted by reserving its API requests (see admittedCalls) and, on a
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
 *
 * It also knows which probes have not settled yet, on every backend (limits or not), and which
 * reader admitted each ({@link ProbeOwner}), because what they use is recorded only when they
 * settle: a reader's close() waits for its own before its last usage flush
 * ({@link UsageLedger.whenSettled}), and bills those still out at its bound as reserved
 * ({@link UsageLedger.writeOff}) — not those of another reader sharing the Recorder. A probe
 * whose outcome is lost (its pool worker died, or the pool gave up on it) is billed as reserved
 * too ({@link UsageLedger.settleLost}): what it sent is unknown, and the reservation is the most
 * it was allowed to send.
 */
import { UsageLimitSkipError, type UsageLimitKind } from '../errors.js';
import { admittedCalls, admittedEgress, type UsagePort } from '../probe/billing.js';
import type { ProbeTask, ProbeUsage } from '../probe/task.js';
import type { Recorder } from '../telemetry/recorder.js';
import { ProbeOwner } from './probe-owner.js';

interface Pending {
  api: number;
  egress: number;
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
  /** The probe (its backend and what admission reserved for it, should its outcome be lost). */
  task: ProbeTask;
  api: number;
  egress: number;
  current: number;
  /** Already recorded for it by {@link UsageLedger.writeOff}: its settlement records only what it used past that. */
  billed: ProbeUsage | undefined;
  /** The reader that admitted it. */
  owner: ProbeOwner | undefined;
}

/** Usage billed for probes that had not settled: how many, and what they were billed. */
export interface WrittenOff {
  probes: number;
  /** By backend: the requests and bytes billed. */
  byBackend: Map<string, ProbeUsage>;
}

/** Reservations of in-flight probes, per backend. */
export class UsageLedger implements UsagePort {
  readonly #acct: Recorder;
  readonly #pending = new Map<string, Pending>();
  /** What each admitted probe holds (by usage id). */
  readonly #held = new Map<number, Held>();
  /**
   * Admitted probes on backends without limits (they hold no reservation, so no usage id), until
   * they settle, with the reader that admitted each: a Map set and delete each, so close() can
   * tell they are still out.
   */
  readonly #unreserved = new Map<ProbeTask, ProbeOwner | undefined>();
  /** Probes of {@link #unreserved} billed by {@link writeOff} before they settled. */
  readonly #billedUnreserved = new Map<ProbeTask, ProbeUsage>();
  /** Every unsettled probe, whoever admitted it ({@link whenSettled} without an owner). */
  readonly #all = new ProbeOwner();
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
   * Admit a probe for `owner` (the reader whose close() waits for it and bills it): on a backend
   * with limits, reserve its API request (throwing USAGE_LIMIT_SKIP when that would exceed a
   * limit) and give the task its usage id (0 = no reservation) and, when the backend limits
   * egress, `egressLimited`.
   */
  admit(task: ProbeTask, owner?: ProbeOwner): void {
    const name = task.backend;
    const usage = this.#acct.usage;
    if (!usage.hasLimits(name)) {
      task.usageId = 0;
      this.#unreserved.set(task, owner);
      this.#all.admitted();
      owner?.admitted();
      return;
    }
    const p = this.#of(name);
    // A first request whose size the task gives (a whole copy, a range of a plain one): a backend
    // that cannot serve that much more egress is skipped now, before a request it would be billed
    // for; the answer's announced size replaces it once the headers are in.
    const known = admittedEgress(task);
    const calls = admittedCalls(task);
    const limit = this.#acct.exceededLimit(name, p.api + calls, p.egress + known, 0);
    if (limit !== undefined) throw new UsageLimitSkipError(name, { limit });
    p.api += calls;
    const id = ++this.#nextId;
    task.usageId = id;
    task.reservedApi = calls;
    const held: Held = { task, api: calls, egress: 0, current: 0, billed: undefined, owner };
    // A HEAD too: a degraded one reads the copy's first bytes, and its seek table when they
    // begin like zstd, by ranged GETs.
    if (usage.limitsOf(name).egressBytes > 0) {
      task.egressLimited = true;
      p.egress += known;
      held.egress = held.current = known;
    }
    this.#held.set(id, held);
    this.#all.admitted();
    owner?.admitted();
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

  /**
   * The probe ended: drop its reservations and record what it used. Call once per admitted probe
   * (a probe settled already, by {@link settleLost}, holds nothing more: only `used` is recorded).
   */
  settle(task: ProbeTask, used: ProbeUsage): void {
    const id = task.usageId ?? 0;
    let billed: ProbeUsage | undefined;
    let owner: ProbeOwner | undefined;
    let out = false;
    if (id !== 0) {
      task.usageId = 0;
      const held = this.#held.get(id);
      if (held !== undefined) {
        this.#held.delete(id);
        const p = this.#of(task.backend);
        p.api -= held.api;
        p.egress -= held.egress;
        billed = held.billed;
        owner = held.owner;
        out = true;
      }
    } else {
      owner = this.#unreserved.get(task);
      out = this.#unreserved.delete(task);
      if (out && this.#billedUnreserved.size > 0) {
        billed = this.#billedUnreserved.get(task);
        this.#billedUnreserved.delete(task);
      }
    }
    // Billed as reserved already (and flushed, if its reader closed): only what it used past that.
    this.#record(task.backend, used, billed);
    if (!out) return;
    // After the record: a reader woken by its last probe flushes what that probe used.
    this.#all.settled();
    owner?.settled();
  }

  /**
   * The probe's outcome is lost — its pool worker died, or the pool gave up on it at close: what
   * it sent and read is unknown. It is settled as having used what it holds (see #reservedBy),
   * the most it was allowed to send, so a limit is never passed by usage nobody saw.
   */
  settleLost(task: ProbeTask): void {
    const id = task.usageId ?? 0;
    const held = id === 0 ? undefined : this.#held.get(id);
    if (held === undefined && !this.#unreserved.has(task)) return;
    this.settle(task, this.#reservedBy(task, held));
  }

  /**
   * The probe's attempt was lost (its pool worker died) and it is about to be sent again: the lost
   * attempt is billed as reserved, as {@link settleLost} would, and the probe holds what
   * admission gave it once more, for the new attempt. The limit that leaves no room for the new
   * attempt (the probe then holds nothing: settle it with nothing used), or null.
   */
  retry(task: ProbeTask): UsageLimitKind | null {
    const id = task.usageId ?? 0;
    if (id === 0) {
      if (!this.#unreserved.has(task)) return null;
      const lost = this.#reservedBy(task, undefined);
      const billed = this.#billedUnreserved.get(task);
      this.#billedUnreserved.delete(task);
      this.#record(task.backend, lost, billed);
      return null;
    }
    const held = this.#held.get(id);
    if (held === undefined) return null;
    this.#record(task.backend, this.#reservedBy(task, held), held.billed);
    held.billed = undefined;
    // The new attempt holds what admission reserved (the lost one may have reserved more).
    const p = this.#of(task.backend);
    const calls = admittedCalls(task);
    const known = task.egressLimited === true ? admittedEgress(task) : 0;
    p.api += calls - held.api;
    p.egress += known - held.egress;
    held.api = calls;
    held.egress = held.current = known;
    const limit = this.#acct.exceededLimit(task.backend, p.api, p.egress, 0);
    if (limit !== undefined) {
      this.settle(task, { api: 0, egress: 0 });
      return limit;
    }
    return null;
  }

  /** Probes admitted and not yet settled, on every backend. */
  get unsettled(): number {
    return this.#held.size + this.#unreserved.size;
  }

  /**
   * Resolves true once none of `owner`'s admitted probes (without one, no admitted probe at all)
   * is left unsettled, or false after `timeoutMs` with some still out (see
   * {@link ProbeOwner.whenSettled}).
   */
  whenSettled(timeoutMs: number, owner: ProbeOwner = this.#all): Promise<boolean> {
    return owner.whenSettled(timeoutMs);
  }

  /**
   * Bill every probe of `owner` (without one, every probe) not yet settled as reserved (see
   * #reservedBy), now: a reader closing records them before its last flush instead of losing
   * what they use. They go on running and holding their reservations; when one settles, only
   * what it used past its bill is recorded. A probe billed before is not billed again.
   */
  writeOff(owner?: ProbeOwner): WrittenOff {
    const byBackend = new Map<string, ProbeUsage>();
    let probes = 0;
    const bill = (task: ProbeTask, u: ProbeUsage): void => {
      probes++;
      this.#record(task.backend, u, undefined);
      const b = byBackend.get(task.backend);
      if (b === undefined) byBackend.set(task.backend, { ...u });
      else {
        b.api += u.api;
        b.egress += u.egress;
      }
    };
    for (const held of this.#held.values()) {
      if (held.billed !== undefined || (owner !== undefined && held.owner !== owner)) continue;
      const u = this.#reservedBy(held.task, held);
      held.billed = u;
      bill(held.task, u);
    }
    for (const [task, by] of this.#unreserved) {
      if (this.#billedUnreserved.has(task) || (owner !== undefined && by !== owner)) continue;
      const u = this.#reservedBy(task, undefined);
      this.#billedUnreserved.set(task, u);
      bill(task, u);
    }
    return { probes, byBackend };
  }

  /** Record `u` less what was billed for it already. */
  #record(backend: string, u: ProbeUsage, billed: ProbeUsage | undefined): void {
    const api = Math.max(0, u.api - (billed?.api ?? 0));
    const egress = Math.max(0, u.egress - (billed?.egress ?? 0));
    if (api !== 0 || egress !== 0) this.#acct.record(backend, api, egress, 0);
  }

  /**
   * What a probe whose outcome is unknown is billed: the API requests it holds (admission's, and
   * those it reserved as it went) and the bytes it holds on a backend with an egress limit (the
   * answer's announced size once it had one); elsewhere what admission would reserve — its
   * requests, and the bytes of a first request the task describes.
   */
  #reservedBy(task: ProbeTask, held: Held | undefined): ProbeUsage {
    if (held === undefined) return { api: admittedCalls(task), egress: admittedEgress(task) };
    return { api: held.api, egress: task.egressLimited === true ? held.egress : admittedEgress(task) };
  }

  /** Usage reserved by probes in flight on a backend. */
  pending(backend: string): Readonly<Pending> {
    return { ...this.#of(backend) };
  }
}
