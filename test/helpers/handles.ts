/**
 * Handle-leak checks without wall-clock sleeps: closing a socket releases its handle a few
 * event-loop turns later, so we spin on setImmediate (bounded) until none are left.
 */

const TCP = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP', 'TCPConnectWrap', 'ConnectWrap']);

/** The TCP-related entries of `process.getActiveResourcesInfo()`. */
export function tcpHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => TCP.has(r));
}

/**
 * Turn the event loop (at most `maxTurns` times) until at most `allowed` TCP
 * handles remain; returns the ones left (empty or within `allowed` on success).
 */
export async function settleTcpHandles(allowed = 0, maxTurns = 1000): Promise<string[]> {
  for (let i = 0; i < maxTurns; i++) {
    const left = tcpHandles();
    if (left.length <= allowed) return left;
    // Immediates first (cheap); later turns give the kernel a millisecond to deliver FINs.
    await new Promise<void>((resolve) => (i < 100 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  return tcpHandles();
}

/**
 * Turn the event loop (bounded, as {@link settleTcpHandles}) until `cond()` holds; returns
 * whether it did. For state that settles on socket 'close' events (agent socket counts).
 */
export async function eventually(cond: () => boolean, maxTurns = 1000): Promise<boolean> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return true;
    await new Promise<void>((resolve) => (i < 100 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  return cond();
}
