/**
 * The rate limit of a gateway of several processes, kept by the primary: each process asks it per
 * request, so a client's allowance does not multiply with the processes its connections land on.
 */
import type { GatewaySettings } from './server.js';
import { RateLimiter } from './rate-limit.js';

/** The gateway's one set of token buckets, replaced when a reload changes the limits. */
export class SharedRateLimit {
  #limiter: RateLimiter | undefined;
  #settings: string;

  constructor(s: GatewaySettings) {
    this.#limiter = newLimiter(s);
    this.#settings = JSON.stringify(s.rateLimit);
  }

  /** Whether `client` may make one more request now (always, with the rate limit off). */
  allow(client: string): boolean {
    return this.#limiter?.allow(client) ?? true;
  }

  /** A reload's settings: limits that changed start every client afresh, as a one-process gateway's reload does. */
  update(s: GatewaySettings): void {
    const next = JSON.stringify(s.rateLimit);
    if (next === this.#settings) return;
    this.#limiter?.close();
    this.#limiter = newLimiter(s);
    this.#settings = next;
  }

  close(): void {
    this.#limiter?.close();
  }
}

function newLimiter(s: GatewaySettings): RateLimiter | undefined {
  return s.rateLimit.enabled ? new RateLimiter(s.rateLimit) : undefined;
}
