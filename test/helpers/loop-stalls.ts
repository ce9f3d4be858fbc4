/**
 * The longest the event loop went without turning, measured by a 10 ms interval timer. Unlike
 * perf_hooks' monitorEventLoopDelay, a stall that starts before the timer first runs counts too
 * (the histogram only records when its timer fires, so a block right after enable() is lost).
 */
export function watchLoopStalls(): { stop: () => number } {
  let last = performance.now();
  let longest = 0;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  };
  const timer = setInterval(tick, 10);
  return {
    /** Stop watching; the longest gap between two turns, in ms (the one still open included). */
    stop: () => {
      clearInterval(timer);
      tick();
      return longest;
    },
  };
}
