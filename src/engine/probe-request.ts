/**
 * The request the race hands a probe, with its cancellation.
 */
import type { ObjectBackend, ObjectLocation, ProbeRequest } from '../types.js';
import type { Candidate } from './plan.js';

/**
 * The request handed to a probe. Its signal is created on first access: building an
 * AbortSignal costs ~2 µs, and probes that never look at it (cache lookups, immediate
 * answers) should not pay for it. A cancel before first access yields an already-aborted one.
 */
export class LazyProbeRequest implements ProbeRequest {
  readonly backendName: string;
  readonly location: ObjectLocation | null;
  readonly backend: ObjectBackend;
  #ac: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  constructor(c: Candidate, backend: ObjectBackend) {
    this.backendName = c.backendName;
    this.location = c.location;
    this.backend = backend;
  }

  get signal(): AbortSignal {
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort(this.#reason);
    }
    return this.#ac.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#ac?.abort(reason);
  }
}
