/**
 * A probe's backend calls held to its usage reservation. Admission reserves the requests every
 * probe of its kind makes (see callsOf in policies/usage-ledger.ts); the ones only some copies
 * need are reserved here, as the probe is about to send them: a degraded copy's seek table once
 * its first bytes begin like zstd, a HEAD after a ranged answer that gave no size, a listing's
 * further pages, a second read of a seek table longer than the prefetch. When the backend's limit
 * has no room for one, the request is not sent and the probe ends declined for usage
 * (USAGE_LIMIT_SKIP), the requests it already made billed as usual — so the requests sent to a
 * backend never pass its API limit, however many probes decide on extra ones at once.
 */
import { UsageLimitSkipError } from '../errors.js';
import type { BackendListOptions, ObjectBackend } from '../types.js';
import type { UsagePort } from './billing.js';
import type { ProbeTask } from './task.js';

/** The signal of a caller that gave none: never aborted. */
const NEVER = new AbortController().signal;

/**
 * `backend` as `task`'s probe (or stream segment) may call it: as it is when the task holds no reservation (a backend
 * without limits costs nothing here), else each call past the requests reserved at admission
 * reserves one more through `usage` first, and is refused with USAGE_LIMIT_SKIP when it cannot.
 */
export function withinReservation(backend: ObjectBackend, task: ProbeTask, usage: UsagePort, signal: AbortSignal = NEVER): ObjectBackend {
  const reserved = task.reservedApi;
  if (reserved === undefined || (task.usageId ?? 0) === 0) return backend;
  let started = 0;
  // A probe makes its calls one after another, so at most one reservation is asked at a time.
  const admit = async (): Promise<void> => {
    started += 1;
    if (started <= reserved) return;
    const limit = await usage.reserveApi(task, 1, signal);
    if (limit !== null) throw new UsageLimitSkipError(task.backend, { limit });
  };
  const held: { -readonly [K in keyof ObjectBackend]: ObjectBackend[K] } = {
    name: backend.name,
    head: async (key, opts) => {
      await admit();
      return backend.head(key, opts);
    },
    get: async (key, opts) => {
      await admit();
      return backend.get(key, opts);
    },
  };
  if (backend.boundsCalls !== undefined) held.boundsCalls = backend.boundsCalls;
  if (backend.list !== undefined) {
    const list = backend.list.bind(backend);
    held.list = async (opts: BackendListOptions) => {
      await admit();
      return list(opts);
    };
  }
  return held;
}
