/**
 * A probe's backend calls held to its usage reservation. Admission reserves the requests every
 * probe of its kind makes (see admittedCalls in probe/billing.ts) and the bytes of a first
 * request the task describes; the rest are reserved here, as the probe is about to send them: a
 * degraded copy's seek table once its first bytes begin like zstd, a HEAD after a ranged answer
 * that gave no size, a listing's further pages, a second read of a seek table longer than the
 * prefetch — and on a backend with an egress limit, the bytes of every GET admission did not
 * reserve (an encrypted copy's header and chunk ranges, a compressed copy's seek table and
 * frames, a stream's part or resumed remainder). When the backend's limit has no room for one,
 * the request is not sent and the probe ends declined for usage (USAGE_LIMIT_SKIP), the
 * requests it already made billed as usual — so the requests sent to a backend never pass its
 * API limit, nor the bytes they can take its egress limit, however many probes decide on extra
 * ones at once.
 */
import { UsageLimitSkipError, type UsageLimitKind } from '../errors.js';
import type { BackendListOptions, ObjectBackend } from '../types.js';
import { admittedEgress, egressBound, type UsagePort } from './billing.js';
import type { ProbeTask } from './task.js';

/** The signal of a caller that gave none: never aborted. */
const NEVER = new AbortController().signal;

/**
 * `backend` as `task`'s probe (or stream segment) may call it: as it is when the task holds no
 * reservation (a backend without limits costs nothing here), else each call is reserved through
 * `usage` before it is sent, and refused with USAGE_LIMIT_SKIP when it cannot be: the API call
 * when it is past those reserved at admission, and — on a backend with an egress limit — the
 * bytes a GET can take (its range's length, or the row's size: {@link egressBound}) unless
 * admission reserved them already. Once a GET is answered, the probe replaces that reservation
 * by the size the answer announces; the probe's settlement trues it all up to what was sent.
 */
export function withinReservation(backend: ObjectBackend, task: ProbeTask, usage: UsagePort, signal: AbortSignal = NEVER): ObjectBackend {
  const reserved = task.reservedApi;
  if (reserved === undefined || (task.usageId ?? 0) === 0) return backend;
  const egress = task.egressLimited === true;
  // What admission reserved for the first request's bytes (the ledger computes the same).
  const admitted = egress ? admittedEgress(task) : 0;
  let started = 0;
  // The last request may hold egress (a GET's, or admission's for the first): the next one must
  // tell the ledger it is another request, so that reservation is kept, not replaced.
  let mayHold = admitted > 0;
  const refuse = (limit: UsageLimitKind | null): void => {
    if (limit !== null) throw new UsageLimitSkipError(task.backend, { limit });
  };
  // A probe makes its calls one after another, so at most one reservation is asked at a time.
  const admit = async (get: boolean, range: string | undefined): Promise<void> => {
    started += 1;
    const bound = get && egress ? (egressBound(task, range) ?? 0) : 0;
    if (started === 1) {
      // Its API call was reserved at admission; its bytes too, when they were known then.
      if (egress && bound !== admitted) refuse(await usage.reserveEgress(task, bound, signal));
    } else {
      const extra = started > reserved ? 1 : 0;
      if (extra > 0 || mayHold) refuse(await usage.reserveApi(task, extra, signal));
      if (bound > 0) refuse(await usage.reserveEgress(task, bound, signal));
    }
    mayHold = get && egress;
  };
  const held: { -readonly [K in keyof ObjectBackend]: ObjectBackend[K] } = {
    name: backend.name,
    head: async (key, opts) => {
      await admit(false, undefined);
      return backend.head(key, opts);
    },
    get: async (key, opts) => {
      await admit(true, opts?.range);
      return backend.get(key, opts);
    },
  };
  if (backend.boundsCalls !== undefined) held.boundsCalls = backend.boundsCalls;
  if (backend.list !== undefined) {
    const list = backend.list.bind(backend);
    held.list = async (opts: BackendListOptions) => {
      await admit(false, undefined);
      return list(opts);
    };
  }
  return held;
}
