/**
 * Keep-alive agents that recognise a request lost to a stale connection, for the SDK transport.
 *
 * A server may close an idle keep-alive connection just as a request goes out on it (s3rver,
 * nginx and S3 itself all time idle connections out). Node's agent cannot see that coming, and
 * the request fails with `ECONNRESET` before any answer. HTTP clients send such a request once
 * more on a new connection (RFC 9112 §9.3.1; readpath's own HTTP client does, see raw-http.ts).
 * The SDK transport runs with `maxAttempts: 1`, because failover is readpath's job, so without
 * this the copy failed and the read moved on or failed over a race that no server fault caused.
 *
 * The agents mark such an error; {@link retryStale} sends the call once more when it sees the
 * mark. Only a reused connection that failed before the response began is marked: a failure on
 * a new connection, or after any of the answer, is the server's and is not sent again.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** Errors of requests that failed on a reused connection before their response began. */
const staleErrors = new WeakSet<object>();

/** Whether `err` was a request lost to a stale keep-alive connection (safe to send again). */
export function isStaleSocketError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && staleErrors.has(err);
}

// Called from the agent when a request is given a kept connection, which is before the SDK's
// handler listens for the request's errors: this listener runs first and marks the error. Any
// byte of an answer (even half a head, which emits no 'response') means the server took the
// request: such a failure is not a stale connection's.
function watch(socket: Duplex, req: http.ClientRequest): void {
  let answered = false;
  const onData = (): void => {
    answered = true;
    socket.removeListener('data', onData);
  };
  socket.on('data', onData);
  req.once('close', () => socket.removeListener('data', onData));
  req.once('error', (err) => {
    socket.removeListener('data', onData);
    if (!answered) staleErrors.add(err);
  });
}

/** An `http.Agent` whose requests on kept connections mark their stale-connection failures. */
export class StaleAwareHttpAgent extends http.Agent {
  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    watch(socket, request);
    super.reuseSocket(socket, request);
  }
}

/** An `https.Agent` whose requests on kept connections mark their stale-connection failures. */
export class StaleAwareHttpsAgent extends https.Agent {
  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    watch(socket, request);
    super.reuseSocket(socket, request);
  }
}

/**
 * Run `send`; if it fails on a stale connection and `signal` has not aborted, run it once
 * more (the agent then gives it a new connection or another kept one). For idempotent requests
 * without a body only: GET, HEAD, LIST.
 */
export async function retryStale<T>(signal: AbortSignal, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!isStaleSocketError(err) || signal.aborted) throw err;
    return send();
  }
}
