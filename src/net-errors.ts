/**
 * Socket error codes, sorted by what they say about a request: whether it ever reached the
 * peer, or whether the peer is unreachable. One list each, shared by usage billing (a request
 * never sent costs nothing), the store breaker and the PostgreSQL store (an unreachable
 * database is an outage, not a bad answer).
 */

/** No connection was made, so no request reached the peer. */
export const NEVER_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
]);

/** A connection broke or timed out. */
export const CONNECTION_BROKEN: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE']);

/** True when `err`, or an error on its `cause` chain, carries one of `codes` as its `code`. */
export function hasErrno(err: unknown, codes: ReadonlySet<string>): boolean {
  let cur: unknown = err;
  for (let depth = 0; depth < 16 && cur !== null && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && codes.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** True when `err`'s own `code` says the peer cannot be reached now (never connected or broken). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (NEVER_CONNECTED.has(code) || CONNECTION_BROKEN.has(code));
}
