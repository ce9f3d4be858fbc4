/**
 * What a failed read tells the caller. A located read reports its last copy's error, or
 * USAGE_LIMIT_EXCEEDED when every copy was declined for usage. A degraded broadcast reports
 * ALL_BACKENDS_FAILED with the last error, as upstream does; readpath also says "not there" when
 * every probed backend answered 404, and "over limits" when every probed backend declined for
 * usage, as the located path does — and SERVICE_UNAVAILABLE (503) when a backend refused a copy
 * it holds encrypted.
 */
import { ReadPathError, backendStatusOf, hasCode, messageOf } from '../errors.js';
import type { ProbeFailure } from './race.js';

/** The verdict on a broadcast in which every probe failed. */
export interface BroadcastVerdict {
  error: ReadPathError;
  /** Every probe answered 404. */
  notFound: boolean;
  /** Every probe declined for usage limits. */
  usageExceeded: boolean;
  /** A mix of 404s and other failures. */
  mixed: boolean;
}

/** Classify the failures (in arrival order) of a broadcast where no probe succeeded. */
export function classifyBroadcastFailure(key: string, failures: readonly ProbeFailure[]): BroadcastVerdict {
  let notFound = 0;
  let skips = 0;
  for (const f of failures) {
    if (hasCode(f.error, 'USAGE_LIMIT_SKIP')) skips++;
    else if (backendStatusOf(f.error) === 404) notFound++;
  }
  const n = failures.length;
  const last = failures[n - 1]?.error;
  if (n > 0 && skips === n) {
    return {
      error: new ReadPathError('USAGE_LIMIT_EXCEEDED', `every backend declined ${key} for usage limits`, { cause: last }),
      notFound: false, usageExceeded: true, mixed: false,
    };
  }
  const unsatisfiable = failures.filter((f) => hasCode(f.error, 'RANGE_NOT_SATISFIABLE')).length;
  if (n > 0 && unsatisfiable + notFound === n && unsatisfiable > 0) {
    // The backends that hold it said the range is past its end: that is the answer.
    const e = failures.find((f) => hasCode(f.error, 'RANGE_NOT_SATISFIABLE'))?.error as ReadPathError;
    return { error: e, notFound: false, usageExceeded: false, mixed: false };
  }
  const tooLarge = failures.find((f) => hasCode(f.error, 'OBJECT_TOO_LARGE'))?.error;
  if (tooLarge !== undefined) {
    // A holder answered with a size over runtime.max_buffered_bytes, which ends the broadcast
    // (failover's endsRun): the object is too large to buffer (413, read it with getStream),
    // whatever the backends asked before it said — not a failure of the backends.
    return { error: tooLarge as ReadPathError, notFound: false, usageExceeded: false, mixed: false };
  }
  if (n > 0 && notFound === n) {
    return {
      error: new ReadPathError('OBJECT_NOT_FOUND', `object not found: ${key} (every backend answered 404)`, { cause: last }),
      notFound: true, usageExceeded: false, mixed: false,
    };
  }
  // A backend that holds the object encrypted refused it (no key data without the database):
  // that, not whichever 404 or mismatch came last, is why the read cannot be served — a 503.
  const refused = failures.find((f) => hasCode(f.error, 'SERVICE_UNAVAILABLE'));
  const cause = refused ?? failures[n - 1];
  return {
    error: new ReadPathError('ALL_BACKENDS_FAILED', `all backends failed for ${key}${cause === undefined ? '' : failureList(failures, cause, refused === undefined ? 'last error' : 'refused')}`, { cause: cause?.error }),
    notFound: false, usageExceeded: false, mixed: notFound > 0,
  };
}

/** Most failures besides the cause an ALL_BACKENDS_FAILED message lists by name. */
const LISTED_FAILURES = 10;

/** `b2: its message`, unless the message already starts with the backend's name. */
function named(f: ProbeFailure): string {
  const m = messageOf(f.error);
  return m.startsWith(`${f.backendName}:`) ? m : `${f.backendName}: ${m}`;
}

/**
 * What each backend answered, the cause first: batch outcomes and logs keep only the outer
 * message, and the last error alone does not say which backend it came from (a cut body's
 * message names none) nor what the others answered.
 */
function failureList(failures: readonly ProbeFailure[], cause: ProbeFailure, label: string): string {
  const others = failures.filter((f) => f !== cause);
  let s = `; ${label}: ${named(cause)}`;
  if (others.length === 0) return s;
  s += `; other failures: ${others.slice(0, LISTED_FAILURES).map(named).join('; ')}`;
  if (others.length > LISTED_FAILURES) s += `; and ${others.length - LISTED_FAILURES} more`;
  return s;
}

/** The error of a located read in which every stored copy failed (`copies` rows). */
export function locatedFailure(key: string, failures: readonly ProbeFailure[], copies: number): { error: unknown; usageExceeded: boolean } {
  let skips = 0;
  for (const f of failures) if (hasCode(f.error, 'USAGE_LIMIT_SKIP')) skips++;
  const last = failures[failures.length - 1]?.error;
  if (skips > 0 && skips === copies) {
    return { error: new ReadPathError('USAGE_LIMIT_EXCEEDED', `every copy of ${key} is over its backend's usage limit`, { cause: last }), usageExceeded: true };
  }
  return { error: last ?? new ReadPathError('ALL_BACKENDS_FAILED', `no copy of ${key} could be read`), usageExceeded: false };
}
