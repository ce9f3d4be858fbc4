/**
 * The race's clocks: injectable timers (tests pass fake ones), and a way to run a callback once
 * the microtask queue has drained.
 */

/** Timer functions, injectable for tests with fake clocks. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Real timers. The drain timer is background work and must not keep a process alive; a hedge
 * timer is part of a read someone is waiting for, so it stays referenced (an unref'd hedge
 * timer let a process whose only pending work was a hedged read exit under it).
 */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Real timers that do not keep the process alive. */
export const backgroundTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/*
 * Callbacks to run once the microtask queue has drained: a tick queued from a microtask runs
 * after the queue is empty, before any timer or I/O callback. Shared by every run, and a run
 * that finishes first removes its entry, so a caller that keeps the microtask queue busy (a
 * tight loop of reads answered from memory) does not pile up one pending tick per read.
 */
const afterDrain = new Set<() => void>();
let afterDrainQueued = false;

function runAfterDrain(): void {
  afterDrainQueued = false;
  const fns = [...afterDrain];
  afterDrain.clear();
  // Each callback runs on its own: the others queued in this tick belong to other runs (a hedge
  // launch, a pool flush), and one that throws must not drop them. What it threw is rethrown
  // once they have run, each on a tick of its own, so it still reaches 'uncaughtException' as
  // it did when it was thrown straight out of this tick.
  for (const fn of fns) {
    try {
      fn();
    } catch (err) {
      process.nextTick(rethrow, err);
    }
  }
}

function rethrow(err: unknown): never {
  throw err;
}

const queueAfterDrainTick = (): void => {
  process.nextTick(runAfterDrain);
};

/**
 * Run `fn` once the microtask queue has drained (before any timer or I/O callback). A `fn` that
 * throws does not keep the other callbacks of its tick from running; its error is rethrown
 * afterwards, on a tick of its own (an uncaught exception, as a throwing callback is a bug).
 */
export function deferUntilDrained(fn: () => void): void {
  afterDrain.add(fn);
  if (!afterDrainQueued) {
    afterDrainQueued = true;
    queueMicrotask(queueAfterDrainTick);
  }
}

/** Forget a callback given to {@link deferUntilDrained} that has not run yet. */
export function cancelDeferred(fn: () => void): void {
  afterDrain.delete(fn);
}
