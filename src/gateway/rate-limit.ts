/**
 * Per-client rate limiting for `readpath serve` (`rate_limit:`, s3-orchestrator's section and
 * semantics): a token bucket per client IP — `requests_per_sec` tokens a second, up to `burst` —
 * checked before the signature, so a client over its rate costs the gateway almost nothing.
 * Behind a load balancer, the client is the rightmost address in X-Forwarded-For that is not one
 * of `trusted_proxies`, and only when the connection itself comes from a trusted proxy (a client
 * cannot choose its own address). Entries idle for `cleanup_max_age` are dropped every
 * `cleanup_interval`, and the table never holds more than {@link MAX_CLIENTS} of them: the
 * least recently seen go first, so a flood of addresses cannot grow memory without bound.
 *
 * A token bucket is a few lines of arithmetic; the libraries that offer one bring timers or
 * stores of their own, which a per-request check on the hot path does not need.
 */
import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../config/cidr.js';
import type { RateLimitSettings } from '../config/types.js';

export type { RateLimitSettings };

/** The most client addresses tracked at once. */
export const MAX_CLIENTS = 100_000;

interface Bucket { tokens: number; at: number }

/** `::ffff:10.1.2.3` (an IPv4 client on a dual-stack socket) as `10.1.2.3`; other addresses as they are. */
function plainAddress(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m?.[1] ?? a;
}

/** The per-client token buckets. `now` is injectable for tests (milliseconds, monotonic). */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxAge: number;
  readonly #trusted: BlockList | undefined;
  readonly #now: () => number;
  // Insertion order is recency order: a client seen again is moved to the end.
  readonly #clients = new Map<string, Bucket>();
  #timer: NodeJS.Timeout | undefined;

  constructor(s: RateLimitSettings, opts: { now?: () => number } = {}) {
    this.#rate = s.requestsPerSec / 1000;
    this.#burst = s.burst;
    this.#maxAge = s.cleanupMaxAgeMs;
    this.#now = opts.now ?? (() => performance.now());
    if (s.trustedProxies.length > 0) {
      const list = new BlockList();
      for (const c of s.trustedProxies) {
        const p = parseCidr(c.trim());
        if (p !== undefined) list.addSubnet(p.address, p.prefix, p.family);
      }
      this.#trusted = list;
    }
    if (s.cleanupIntervalMs > 0) {
      this.#timer = setInterval(() => this.sweep(), s.cleanupIntervalMs);
      this.#timer.unref();
    }
  }

  /** Clients tracked now. */
  get size(): number {
    return this.#clients.size;
  }

  #isTrusted(a: string): boolean {
    const v = isIP(a);
    return v !== 0 && this.#trusted !== undefined && this.#trusted.check(a, v === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client a request is counted against: the peer's address, or — when the peer is a
   * trusted proxy — the rightmost X-Forwarded-For entry that is not itself trusted.
   */
  clientOf(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const p = plainAddress(peer ?? '');
    if (forwardedFor === undefined || this.#trusted === undefined || !this.#isTrusted(p)) return p;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => plainAddress(h.trim())).filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0; i--) {
      const h = hops[i] as string;
      if (!this.#isTrusted(h)) return h;
    }
    return hops[0] ?? p;
  }

  /** Take a token for `client`: true when the request may go on. */
  allow(client: string): boolean {
    const now = this.#now();
    let b = this.#clients.get(client);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      if (this.#clients.size >= MAX_CLIENTS) {
        const oldest = this.#clients.keys().next();
        if (oldest.done !== true) this.#clients.delete(oldest.value);
      }
    } else {
      this.#clients.delete(client);
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#rate);
      b.at = now;
    }
    this.#clients.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drop clients not seen for `cleanup_max_age` (the oldest come first: stop at the first recent one). */
  sweep(): void {
    const cutoff = this.#now() - this.#maxAge;
    for (const [k, b] of this.#clients) {
      if (b.at > cutoff) break;
      this.#clients.delete(k);
    }
  }

  /** Stop the sweeping timer. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
