/**
 * What a probe costs against a backend's monthly limits. Admission and settlement happen where
 * probes are dispatched (the main thread, for both executors: see policies/usage-ledger.ts);
 * the probe itself only reports what it used and, on a backend with limits, asks its
 * {@link UsagePort} before reading a body (egress) and before a request admission did not reserve.
 */
import { backendStatusOf, hasCode, type UsageLimitKind } from '../errors.js';
import { NEVER_CONNECTED, hasErrno } from '../net-errors.js';
import type { ProbeTask } from './task.js';

/**
 * How a running probe reserves egress: on the calling thread the usage ledger itself; in a pool
 * worker a message to the main thread, which owns the ledger.
 */
export interface UsagePort {
  /**
   * Reserve `bytes` of egress for `task` (whose API request was reserved when it was
   * admitted). Resolves with the limit the bytes would exceed (nothing reserved then) or null.
   */
  reserveEgress(task: ProbeTask, bytes: number, signal: AbortSignal): UsageLimitKind | null | Promise<UsageLimitKind | null>;
  /**
   * Reserve `calls` more API requests for `task`, beyond those reserved when it was admitted
   * (see probe/request-budget.ts), before they are sent. Resolves with the limit they would
   * exceed (nothing reserved then) or null.
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
