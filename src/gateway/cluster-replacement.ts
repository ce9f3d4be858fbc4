/**
 * What the primary (cluster-primary.ts) does when a gateway process exits unexpectedly: start
 * another at its place, backing off while that place's processes keep dying young, and give the
 * gateway up only when none is left serving.
 */

/** The longest wait before a place whose processes keep dying young is started again. */
const MAX_RESTART_DELAY_MS = 5_000;

/** An unexpected exit, as the primary saw it. */
export interface UnexpectedExit {
  index: number;
  pid: number | undefined;
  /** `exit code N` or `signal S`. */
  how: string;
  /** Quick deaths in a row at this place, this one counted. */
  quickExits: number;
  /** Another place's process is listening. */
  othersServing: boolean;
  maxQuickRestarts: number;
}

/** Start another after `delayMs` (warning `message`), or end the gateway (warning `why`). */
export type Replacement = { giveUp: false; delayMs: number; message: string } | { giveUp: true; why: string };

/** A place's quick deaths in a row after one more exit: a process that served `healthyMs` resets the count. */
export function quickExitsAfter(previous: number, wasListening: boolean, upMs: number, healthyMs: number): number {
  return !wasListening || upMs < healthyMs ? previous + 1 : 0;
}

/** What to do about `e` (see the module comment). */
export function replacementFor(e: UnexpectedExit): Replacement {
  // Back off while it keeps dying young: 0.1 s, 0.2 s, ... up to 5 s.
  const delayMs = e.quickExits === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (e.quickExits - 1));
  if (e.quickExits <= e.maxQuickRestarts) {
    return { giveUp: false, delayMs, message: `gateway process ${e.index} (pid ${e.pid ?? '?'}) exited (${e.how}); starting another${delayMs > 0 ? ` in ${delayMs} ms` : ''}` };
  }
  // While another process serves, the gateway is up: giving up would end it too, for one
  // place that cannot start (a configuration file broken on disk since the gateway read it,
  // say). That place keeps trying at the longest delay instead.
  if (!e.othersServing) return { giveUp: true, why: `gateway process ${e.index} exited ${e.quickExits} times in a row soon after starting (last: ${e.how}); giving up` };
  return { giveUp: false, delayMs, message: `gateway process ${e.index} exited ${e.quickExits} times in a row soon after starting (last: ${e.how}); the other processes serve, starting another in ${delayMs} ms` };
}
