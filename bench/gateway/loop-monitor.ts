/**
 * Preloaded into the `readpath serve` process of the gateway benchmark (`node --import
 * .../loop-monitor.js .../cli/main.js serve ...`), so the gateway itself stays untouched: it
 * samples the main thread's event-loop delay (`perf_hooks.monitorEventLoopDelay`, 1 ms
 * resolution) and answers measurement windows over the IPC channel the bench opened:
 *
 *   parent → `{ type: 'window-start' }`: reset the histogram, note CPU and loop utilization,
 *                                        reply `{ type: 'window-started' }`;
 *   parent → `{ type: 'window-end' }`:   reply a {@link LoopWindow} for the time since.
 *
 * Only the time a client is being served is measured (idle time would only lower the figures).
 * The channel is unref'd: it never keeps the gateway alive once `serve` has drained and closed.
 * Without an IPC channel (started some other way) this module does nothing.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

/** Child → parent: one measurement window. */
export interface LoopWindow {
  type: 'window';
  /** Main-thread event-loop delay over the window, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU of the whole gateway process (main thread and pool workers, user + system), ms. */
  cpuMs: number;
  /** Main-thread event-loop utilization over the window, 0–1. */
  elu: number;
  seconds: number;
}

/** Child → parent. */
export type LoopReply = LoopWindow | { type: 'window-started' };

/** Parent → child. */
export type LoopRequest = { type: 'window-start' } | { type: 'window-end' };

if (typeof process.send === 'function') {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let cpu0 = process.cpuUsage();
  let elu0 = performance.eventLoopUtilization();
  let t0 = performance.now();
  process.on('message', (m: unknown) => {
    const msg = m as Partial<LoopRequest> | null;
    if (msg?.type === 'window-start') {
      h.reset();
      cpu0 = process.cpuUsage();
      elu0 = performance.eventLoopUtilization();
      t0 = performance.now();
      if (process.connected) process.send?.({ type: 'window-started' } satisfies LoopReply);
    } else if (msg?.type === 'window-end') {
      const cpu = process.cpuUsage(cpu0);
      const reply: LoopWindow = {
        type: 'window',
        p50Ms: h.percentile(50) / 1e6,
        p99Ms: h.percentile(99) / 1e6,
        maxMs: h.max / 1e6,
        cpuMs: (cpu.user + cpu.system) / 1000,
        elu: performance.eventLoopUtilization(elu0).utilization,
        seconds: (performance.now() - t0) / 1000,
      };
      if (process.connected) process.send?.(reply);
    }
  });
  process.on('disconnect', () => h.disable());
  // After the listener (adding one refs the channel): the gateway exits when serve is done.
  process.channel?.unref();
}
