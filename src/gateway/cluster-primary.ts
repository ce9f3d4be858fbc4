/**
 * `readpath serve` with `server.processes` > 1: the primary process. It forks that many gateway
 * processes with node:cluster — each a whole `readpath serve` (its own reader, probe pool, caches
 * and breakers) on the one port, node:cluster handing each new connection to the next process —
 * so the gateway uses as many cores as it is given, as s3-orchestrator's Go server does.
 *
 * The primary serves no request itself. It keeps what must be one for the whole gateway: the
 * rate limit's token buckets (each process asks it per request, so a client's allowance does not
 * multiply with the processes its connections land on), the combined `/metrics` (any process's
 * scrape answers for all), the configuration (every process is handed the one the primary last
 * loaded, as it starts and on SIGHUP; none reads the file) and SIGTERM (every process drains). A
 * process that exits unexpectedly is replaced; while none is left serving, one that keeps failing
 * to come up ends the gateway rather than looping.
 *
 * Its parts: the rate limit (cluster-rate-limit.ts), the reloads (cluster-reloads.ts), what to do
 * about a process that exited (cluster-replacement.ts); the link to it, in each process, is
 * cluster-link.ts, over cluster-protocol.ts.
 */
import cluster from 'node:cluster';
import type { ResolvedConfig } from '../config/types.js';
import { AwaitedReplies, isReadpathMessage, PROCESS_ENV, type ToPrimary, type ToWorker } from './cluster-protocol.js';
import { renderAggregated } from '../telemetry/metrics-aggregate.js';
import type { Family } from '../telemetry/metrics.js';
import { send, type GatewayWorker } from './cluster-worker.js';
import { SharedRateLimit } from './cluster-rate-limit.js';
import { ReloadRelay, type ReloadPlace, type ReloadReport } from './cluster-reloads.js';
import { quickExitsAfter, replacementFor } from './cluster-replacement.js';

export type { GatewayWorker } from './cluster-worker.js';
export type { ReloadReport } from './cluster-reloads.js';

/** Options of {@link GatewayPrimary}. */
export interface GatewayPrimaryOptions {
  /** How many gateway processes. */
  count: number;
  /** The configuration as loaded: every process is handed it; its rate limit is applied here. */
  config: ResolvedConfig;
  /** A process exited and was replaced (or could not be). */
  warn: (message: string, fields: Record<string, unknown>) => void;
  /** Replacements in a row that die before they have served `healthyMs` before the gateway gives up. Default 5. */
  maxQuickRestarts?: number;
  /** A process up this long before it exits counts as healthy. Default 10 s. */
  healthyMs?: number;
  /** How long a process may take to answer a reload. Default 10 s. */
  reloadTimeoutMs?: number;
  /** Starts a process with these environment variables. Default: node:cluster's fork (tests pass their own). */
  fork?: (env: Record<string, string>) => GatewayWorker;
}

interface Slot extends ReloadPlace {
  worker: GatewayWorker | undefined;
  startedAt: number;
  listening: boolean;
  /** Quick deaths in a row at this place. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** The primary sent it SIGTERM (it was still starting when the gateway stopped): dying of it is no failure. */
  terminated: boolean;
}

/** An error starting the gateway: a process exited before it listened (its own stderr says why). */
export class GatewayStartError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const COLLECT_TIMEOUT_MS = 5_000;
/** The exit code of a `readpath` interrupted by SIGINT/SIGTERM (EXIT.INTERRUPTED). */
const INTERRUPTED = 130;

/** The primary of a gateway of several processes. */
export class GatewayPrimary {
  readonly #o: Required<GatewayPrimaryOptions>;
  readonly #slots: Slot[];
  readonly #rateLimit: SharedRateLimit;
  readonly #reloads: ReloadRelay;
  #restarts = 0;
  #stopping = false;
  #url: string | undefined;
  #started: { resolve: (url: string) => void; reject: (err: Error) => void } | undefined;
  #stopped: (() => void) | undefined;
  #exitCode = 0;
  #gaveUp!: (why: string) => void;
  readonly #gaveUpPromise: Promise<string>;
  readonly #families = new AwaitedReplies<Family[]>();

  constructor(opts: GatewayPrimaryOptions) {
    this.#o = { maxQuickRestarts: 5, healthyMs: 10_000, reloadTimeoutMs: 10_000, fork: (env) => cluster.fork(env), ...opts };
    this.#slots = Array.from({ length: opts.count }, (_, index): Slot => ({
      index, worker: undefined, startedAt: 0, listening: false, quickExits: 0, restartTimer: undefined, generation: 0, terminated: false, reloadAsked: undefined,
    }));
    this.#reloads = new ReloadRelay(opts.config, this.#o.reloadTimeoutMs, this.#o.warn);
    this.#rateLimit = new SharedRateLimit(opts.config.gateway);
    this.#gaveUpPromise = new Promise((resolve) => {
      this.#gaveUp = resolve;
    });
  }

  /** Fork every process; resolves with the gateway's URL once all of them listen. */
  start(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.#started = { resolve, reject };
      for (const slot of this.#slots) this.#fork(slot);
    });
  }

  /** Resolves (with why) when a process kept dying on restart and the gateway should end. */
  get gaveUp(): Promise<string> {
    return this.#gaveUpPromise;
  }

  /** The pids of the processes running now. */
  pids(): number[] {
    return this.#slots.flatMap((s) => (s.worker?.process.pid === undefined ? [] : [s.worker.process.pid]));
  }

  /** Processes replaced so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * SIGHUP, once the primary has loaded `config`: apply its rate limit here and hand it to every
   * process, each applying it as a one-process gateway does; resolves with how that went once
   * every serving process has answered. A process still starting is handed it when it listens,
   * and every one started from now on starts with it.
   */
  async reload(config: ResolvedConfig): Promise<ReloadReport> {
    this.#rateLimit.update(config.gateway);
    return await this.#reloads.reload(config, this.#slots.filter((s) => s.listening && s.worker !== undefined));
  }

  /**
   * Have every process drain and exit; resolves with the exit code (0 when all exited 0). After
   * `timeoutMs` the ones still running are killed.
   */
  stop(timeoutMs: number): Promise<number> {
    this.#stopping = true;
    this.#rateLimit.close();
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      // A process still starting has no link to hear `stop` yet: it is told by signal.
      if (slot.worker !== undefined && !slot.listening) {
        slot.terminated = true;
        slot.worker.process.kill('SIGTERM');
      }
    }
    this.#broadcast({ rp: 'stop' });
    if (this.#slots.every((s) => s.worker === undefined)) return Promise.resolve(this.#exitCode);
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.#slots) s.worker?.process.kill('SIGKILL');
      }, timeoutMs);
      this.#stopped = () => {
        clearTimeout(timer);
        resolve(this.#exitCode);
      };
    });
  }

  /** The whole gateway's metrics: every process's families combined, with the primary's own. */
  async metrics(): Promise<string> {
    const live = this.#slots.filter((s) => s.listening && s.worker !== undefined);
    const perProcess = await Promise.all(live.map((s) => this.#families.ask((id) => send(s.worker, { rp: 'families', id }), COLLECT_TIMEOUT_MS)));
    const own: Family[] = [
      { name: 'readpath_gateway_processes', help: 'Gateway processes running (server.processes).', type: 'gauge', aggregator: 'first', values: [{ labels: {}, value: live.length }] },
      { name: 'readpath_gateway_process_restarts_total', help: 'Gateway processes that exited unexpectedly and were replaced.', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: this.#restarts }] },
    ];
    return renderAggregated(perProcess.filter((f): f is Family[] => f !== undefined), own);
  }

  #broadcast(m: ToWorker): void {
    for (const s of this.#slots) if (s.worker !== undefined && s.listening) send(s.worker, m);
  }

  #fork(slot: Slot): void {
    slot.listening = false;
    slot.terminated = false;
    slot.startedAt = performance.now();
    const worker = this.#o.fork({ [PROCESS_ENV]: `${slot.index}/${this.#slots.length}` });
    slot.worker = worker;
    worker.on('message', (m: unknown) => this.#receive(slot, worker, m));
    worker.once('exit', (code, signal) => this.#exited(slot, worker, code, signal));
  }

  #receive(slot: Slot, worker: GatewayWorker, m: unknown): void {
    if (!isReadpathMessage<ToPrimary>(m) || slot.worker !== worker) return;
    switch (m.rp) {
      case 'config':
        send(worker, { rp: 'config', id: m.id, config: this.#reloads.configFor(slot) });
        return;
      case 'listening':
        slot.listening = true;
        this.#url ??= m.url;
        if (this.#stopping) send(worker, { rp: 'stop' });
        else {
          if (this.#reloads.behind(slot)) this.#reloads.catchUp(slot, worker);
          if (this.#started !== undefined && this.#slots.every((s) => s.listening)) {
            this.#started.resolve(this.#url);
            this.#started = undefined;
          }
        }
        return;
      case 'reloaded':
        this.#reloads.answered(slot, m.id, { error: m.error, restartNeeded: m.restartNeeded });
        return;
      case 'allow':
        send(worker, { rp: 'allow', id: m.id, ok: this.#rateLimit.allow(m.client) });
        return;
      case 'metrics':
        this.metrics().then(
          (text) => send(worker, { rp: 'metrics', id: m.id, text }),
          (err: unknown) => send(worker, { rp: 'metrics', id: m.id, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      case 'families':
        this.#families.answer(m.id, m.families);
        return;
    }
  }

  #exited(slot: Slot, worker: GatewayWorker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    this.#reloads.exited(slot);
    const wasListening = slot.listening;
    slot.listening = false;
    const how = signal === null ? `exit code ${code ?? '?'}` : `signal ${signal}`;
    if (this.#stopping) {
      // 130 is "interrupted": what a process still starting answers the SIGTERM it was sent. One
      // not yet far enough to have a handler for it dies of it, which is no failure either.
      const told = slot.terminated && signal === 'SIGTERM';
      if (code !== 0 && code !== INTERRUPTED && !told) this.#exitCode = Math.max(this.#exitCode, code ?? 1);
      if (this.#slots.every((s) => s.worker === undefined)) this.#stopped?.();
      return;
    }
    if (this.#started !== undefined) {
      // Before the gateway was up: the configuration or the address is wrong for every process alike.
      const started = this.#started;
      this.#started = undefined;
      this.#exitCode = code === null || code === 0 ? 1 : code;
      void this.stop(10_000).then(() => started.reject(new GatewayStartError(`gateway process ${slot.index} (pid ${worker.process.pid ?? '?'}) exited before it listened (${how})`, this.#exitCode)));
      return;
    }
    slot.quickExits = quickExitsAfter(slot.quickExits, wasListening, performance.now() - slot.startedAt, this.#o.healthyMs);
    const fields = { process: slot.index, pid: worker.process.pid, code, signal };
    const next = replacementFor({
      index: slot.index, pid: worker.process.pid, how, quickExits: slot.quickExits, othersServing: this.#slots.some((s) => s !== slot && s.listening), maxQuickRestarts: this.#o.maxQuickRestarts,
    });
    if (next.giveUp) {
      this.#o.warn(next.why, fields);
      this.#exitCode = 1;
      this.#gaveUp(next.why);
      return;
    }
    this.#restarts++;
    this.#o.warn(next.message, fields);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.#stopping) this.#fork(slot);
    }, next.delayMs);
  }
}
