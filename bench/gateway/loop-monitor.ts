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
 * In a gateway of several processes (`server.processes`) the primary relays each window to its
 * workers and replies with theirs combined: the worst loop, the CPU of every process.
 * The channel is unref'd: it never keeps the gateway alive once `serve` has drained and closed.
 * Without an IPC channel (started some other way) this module does nothing.
 */
import cluster, { type Worker } from 'node:cluster';
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
  const start = (): void => {
    h.reset();
    cpu0 = process.cpuUsage();
    elu0 = performance.eventLoopUtilization();
    t0 = performance.now();
  };
  const end = (): LoopWindow => {
    const cpu = process.cpuUsage(cpu0);
    return {
      type: 'window',
      p50Ms: h.percentile(50) / 1e6,
      p99Ms: h.percentile(99) / 1e6,
      maxMs: h.max / 1e6,
      cpuMs: (cpu.user + cpu.system) / 1000,
      elu: performance.eventLoopUtilization(elu0).utilization,
      seconds: (performance.now() - t0) / 1000,
    };
  };
  process.on('message', (m: unknown) => {
    const msg = m as Partial<LoopRequest> | null;
    if (msg?.type === 'window-start') {
      start();
      void relay('window-start').then(() => {
        if (process.connected) process.send?.({ type: 'window-started' } satisfies LoopReply);
      });
    } else if (msg?.type === 'window-end') {
      const own = end();
      void relay('window-end').then((theirs) => {
        if (process.connected) process.send?.(combine(own, theirs));
      });
    }
  });
  process.on('disconnect', () => h.disable());
  // After the listener (adding one refs the channel): the gateway exits when serve is done. Not
  // in a cluster worker: that channel is node:cluster's, which serve itself leaves when done.
  if (!cluster.isWorker) process.channel?.unref();
}

/**
 * `readpath serve` with `server.processes` > 1: this is its primary, and the requests are served
 * by its cluster workers (which preload this module too, their channel being the cluster's). The
 * window is theirs as much as the primary's: relay it to every worker and collect the replies.
 */
async function relay(type: LoopRequest['type']): Promise<LoopWindow[]> {
  if (!cluster.isPrimary) return [];
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
  return (await Promise.all(workers.map((w) => new Promise<LoopReply | undefined>((resolve) => {
    const timer = setTimeout(() => {
      w.off('message', onMessage);
      resolve(undefined);
    }, 5_000);
    const onMessage = (m: unknown): void => {
      const r = m as Partial<LoopReply> | null;
      if (r?.type !== (type === 'window-start' ? 'window-started' : 'window')) return;
      clearTimeout(timer);
      w.off('message', onMessage);
      resolve(r as LoopReply);
    };
    w.on('message', onMessage);
    w.send({ type } satisfies LoopRequest);
  })))).filter((r): r is LoopWindow => r?.type === 'window');
}

/** The primary's window with its workers': the worst loop of any process, the CPU of all. */
function combine(own: LoopWindow, theirs: readonly LoopWindow[]): LoopWindow {
  if (theirs.length === 0) return own;
  return {
    type: 'window',
    p50Ms: Math.max(...theirs.map((w) => w.p50Ms)),
    p99Ms: Math.max(...theirs.map((w) => w.p99Ms)),
    maxMs: Math.max(...theirs.map((w) => w.maxMs)),
    cpuMs: own.cpuMs + theirs.reduce((a, w) => a + w.cpuMs, 0),
    elu: Math.max(...theirs.map((w) => w.elu)),
    seconds: own.seconds,
  };
}
