/**
 * The request the race hands a probe, with its cancellation.
 */
import type { ObjectBackend, ObjectLocation, ProbeRequest } from '../types.js';
import type { Candidate } from './plan.js';

/** An object told when a probe is cancelled (an object listener: no closure per probe). */
export interface CancelListener {
  handleEvent(): void;
}

/**
 * How a carrier that needs only to hear of a cancel (the pool) listens without building the
 * request's AbortSignal: `req[onCancel]?.(listener)` registers it, or answers false when the
 * probe is already cancelled. Requests of other origins have no such member.
 */
export const onCancel = Symbol('readpath.onCancel');

/** A request that supports {@link onCancel}. */
export interface CancellableRequest extends ProbeRequest {
  [onCancel](listener: CancelListener): boolean;
  /** Why the probe was cancelled, once it was. */
  readonly cancelReason: unknown;
  readonly cancelled: boolean;
}

/**
 * The request handed to a probe. Its signal is created on first access: building an
 * AbortSignal costs ~4 µs, and probes that never look at it (cache lookups, immediate
 * answers, the pool's carrier, which listens through {@link onCancel}) should not pay for it. A
 * cancel before first access yields an already-aborted one.
 */
export class LazyProbeRequest implements CancellableRequest {
  readonly backendName: string;
  readonly location: ObjectLocation | null;
  readonly backend: ObjectBackend;
  #ac: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  #listener: CancelListener | undefined;

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

  [onCancel](listener: CancelListener): boolean {
    if (this.#aborted) return false;
    this.#listener = listener;
    return true;
  }

  get cancelReason(): unknown {
    return this.#reason;
  }

  get cancelled(): boolean {
    return this.#aborted;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#ac?.abort(reason);
    const l = this.#listener;
    this.#listener = undefined;
    l?.handleEvent();
  }
}
