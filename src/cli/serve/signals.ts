/**
 * The signals `readpath serve` answers: SIGHUP held for the whole command (a reload once it
 * serves), and the command's stop (SIGTERM/SIGINT, as its abort signal) as a promise to race.
 */
import type { Reporter } from '../reporter.js';

/**
 * SIGHUP held for the whole of `serve`. Node's default for a SIGHUP nobody listens to is to end
 * the process at once, so one sent while the gateway starts or drains (a `systemctl reload`
 * racing a stop) killed it with its requests in flight, and a primary left its processes
 * without it. Held, a SIGHUP goes to the reload once there is one, is kept for it while
 * starting (the file may have changed after it was read), and is refused with a warning once
 * shutting down.
 */
export interface SighupHold {
  /** From now on SIGHUP runs `reload`; runs it at once if one came while starting. */
  serving(reload: () => void): void;
  /** From now on SIGHUP only says that it is ignored. */
  stopping(): void;
  release(): void;
}

/**
 * Hold SIGHUP until {@link SighupHold.release}. `relayed`: one of a primary's gateway processes,
 * which leaves SIGHUP to its primary (it is only kept from ending the process).
 */
export function holdSighup(r: Reporter, relayed: boolean): SighupHold {
  let phase: 'starting' | 'serving' | 'stopping' = 'starting';
  let reload: (() => void) | undefined;
  let pending = false;
  const onHup = (): void => {
    if (relayed) return;
    if (phase === 'serving') reload?.();
    else if (phase === 'starting') pending = true;
    else r.warn('SIGHUP: ignored, the gateway is shutting down');
  };
  process.on('SIGHUP', onHup);
  return {
    serving(f) {
      phase = 'serving';
      reload = f;
      if (pending) {
        pending = false;
        f();
      }
    },
    stopping() {
      phase = 'stopping';
      reload = undefined;
    },
    release() {
      process.off('SIGHUP', onHup);
    },
  };
}

/** Resolves once `signal` is aborted (at once if it already is). */
export function stopSignal(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
