/**
 * `server.backend_timeout` for backends that do not bound their own calls (backend objects
 * given in code, {@link ObjectBackend.boundsCalls} unset): the runtime times the call itself,
 * so a backend that never answers costs a read its timeout, not the read.
 */
import { ReadPathError } from '../errors.js';
import type { ObjectBackend } from '../types.js';

/**
 * Run `call` under `ms` (0: unbounded) unless `backend` bounds its own calls. Past the time the
 * promise rejects with `TIMEOUT` and the signal handed to `call` is aborted with it; an answer
 * that comes later anyway goes to `onLate` (to release a body nobody will read).
 */
export function boundCall<T>(
  backend: ObjectBackend,
  ms: number,
  signal: AbortSignal | undefined,
  describe: () => string,
  call: (signal: AbortSignal | undefined) => Promise<T>,
  onLate?: (value: T) => void,
): Promise<T> {
  if (!(ms > 0) || backend.boundsCalls === true) return call(signal);
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(signal?.reason);
  if (signal?.aborted === true) ac.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const error = new ReadPathError('TIMEOUT', `${describe()} had no complete answer within ${ms} ms (server.backend_timeout)`);
      ac.abort(error);
      reject(error);
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    call(ac.signal).then(
      (v) => {
        done();
        if (timedOut) onLate?.(v);
        else resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}
