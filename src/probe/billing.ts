/**
 * What a probe costs against a backend's monthly limits. Admission and settlement happen where
 * probes are dispatched (the main thread, for both executors: see policies/usage-ledger.ts);
 * the probe itself only reports what it used and, on a backend with limits, asks its
 * {@link UsagePort} before reading a body (egress) and before a request admission did not reserve.
 */
import { backendStatusOf, hasCode, type UsageLimitKind } from '../errors.js';
import { NEVER_CONNECTED, hasErrno } from '../net-errors.js';
import type { ProbeTask } from './task.js';
import { endsBeforeStart, parseRange, selectRange } from '../ranges/byte-range.js';

/**
 * How a running probe reserves egress: on the calling thread the usage ledger itself; in a pool
 * worker a message to the main thread, which owns the ledger.
 */
export interface UsagePort {
  /**
   * The request `task` is on (admitted with it, or announced by {@link reserveApi}) may take
   * `bytes` of egress: before it is sent, its range's length or the row's size; once answered,
   * the size the answer announces, which replaces that. Resolves with the limit the bytes would
   * exceed (nothing reserved for the request then) or null.
   */
  reserveEgress(task: ProbeTask, bytes: number, signal: AbortSignal): UsageLimitKind | null | Promise<UsageLimitKind | null>;
  /**
   * `task` is about to send another request (see probe/request-budget.ts): what the previous one
   * reserved stays held, and `calls` more API requests are reserved — 1 for a request admission
   * did not count, 0 for one it did. Resolves with the limit they would exceed (nothing reserved
   * then) or null.
   */
  reserveApi(task: ProbeTask, calls: number, signal: AbortSignal): UsageLimitKind | null | Promise<UsageLimitKind | null>;
}

/**
 * Whether a failed backend call still cost an API request. A request that was sent is billed
 * by the provider whether it answered an error, timed out, or was cancelled as a broadcast
 * loser; only calls that never left readpath (a breaker's rejection, a declined copy, bad
 * input, a signal already aborted, a connection never made) are free. Counting a cancelled
 * loser keeps parallel broadcasts honest against free-tier request limits; when in doubt this
 * over-counts, the safe side of a limit.
 */
export function isBilledFailure(err: unknown): boolean {
  if (backendStatusOf(err) !== undefined) return true;
  if (hasCode(err, 'BACKEND_UNAVAILABLE') || hasCode(err, 'USAGE_LIMIT_SKIP') || hasCode(err, 'INVALID_KEY') || hasCode(err, 'SERVICE_UNAVAILABLE')) return false;
  return !hasErrno(err, NEVER_CONNECTED);
}

/** The stored size a probe's row gives, when it is a byte count (degraded mode has no row). */
function storedSizeOf(task: ProbeTask): number | undefined {
  const stored = task.location?.sizeBytes as unknown;
  return typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 ? stored : undefined;
}

/**
 * The most egress one GET of `task`'s copy can take: the length of its `range` (a range of the
 * stored bytes, resolved against the stored size the row gives, as ranges/byte-range.ts reads it
 * everywhere), or without one the row's stored size. Undefined when neither says (degraded mode
 * without a closed range or a suffix): then only the answer's announced size can be reserved,
 * once it is in. An end or a suffix past what a number holds (the AWS SDK for Java v1's
 * `bytes=N-9223372036854775806`, "from N on") is open: it bounds nothing, and reserving it would
 * decline every copy of a small object.
 */
export function egressBound(task: ProbeTask, range: string | undefined): number | undefined {
  const stored = storedSizeOf(task);
  if (range === undefined) return stored;
  const r = parseRange(range);
  // Not a range S3 honours: it answers the whole object.
  if (r === undefined || endsBeforeStart(r)) return stored;
  if (stored !== undefined) {
    const s = selectRange(r, stored);
    return s === undefined ? 0 : s.end - s.start + 1;
  }
  const n = r.suffix ?? (r.last === undefined ? undefined : r.last - r.first + 1);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The egress admission reserves for a probe's first request, before it is dispatched: a GET
 * whose first request is the object's own bytes as the task gives them — a whole copy (its
 * stored size) or a range of a copy stored as it is (the range's length). 0 for the rest: a
 * range of an encrypted or compressed copy plans its request from a header or seek table first,
 * and reserves each request as it sends it (see probe/request-budget.ts).
 */
export function admittedEgress(task: ProbeTask): number {
  if (task.op !== 'get') return 0;
  const l = task.location;
  if (task.range !== undefined && (l === null || l.encrypted || l.compression !== undefined)) return 0;
  return egressBound(task, task.range) ?? 0;
}

/**
 * The requests every probe of its kind makes, reserved when it is admitted (what it did not make
 * is given back when it settles): one, plus a degraded probe's listing of the key's storage keys,
 * plus the read a range of an encrypted or compressed copy plans from (its header, its seek
 * table). Requests only some copies need — a degraded copy found to be compressed (its seek
 * table), a server whose ranged answer gives no size (a HEAD), a listing's further pages — are
 * reserved by the probe as it decides to send them (UsageLedger.reserveApi).
 */
export function admittedCalls(task: ProbeTask): number {
  const l = task.location;
  if (l === null) return task.storedAt === undefined ? 2 : 1;
  if (task.op === 'get' && task.range !== undefined && (l.encrypted || l.compression !== undefined)) return 2;
  return 1;
}
