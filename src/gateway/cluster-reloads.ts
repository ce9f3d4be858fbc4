/**
 * The primary's reload coordination (cluster-primary.ts): which configuration each gateway
 * process serves, handing it on SIGHUP (and to one that started before it and listens only
 * now), and the one report of how every process took it.
 */
import type { ResolvedConfig } from '../config/types.js';
import { AwaitedReplies, encodeConfig, type EncodedConfig, type ReloadAnswer } from './cluster-protocol.js';
import { send, type GatewayWorker } from './cluster-worker.js';

/** A process that was asked to reload and exited first: its replacement starts with that configuration. */
const EXITED = 'exited';

/** How a reload went, process by process. */
export interface ReloadReport {
  /** Processes that were serving and applied it. */
  applied: number;
  /** Processes that were serving and did not apply it: they serve the previous configuration. */
  failed: { process: number; pid: number | undefined; error: string }[];
  /** Settings that changed but apply only after a restart, as configuration keys (every process's, once). */
  restartNeeded: string[];
}

/** A place of the gateway, as far as reloads go. */
export interface ReloadPlace {
  readonly index: number;
  readonly worker: GatewayWorker | undefined;
  /** The reload generation its process was handed (0: the configuration the gateway started with). */
  generation: number;
  /** The reload question it has yet to answer. */
  reloadAsked: number | undefined;
}

type Answer = ReloadAnswer | typeof EXITED | undefined;

/** The configuration the gateway started with, the one last reloaded, and the reloads awaited. */
export class ReloadRelay {
  /** What the gateway started with: a replacement's sections that only a restart applies come from it. */
  readonly #initial: EncodedConfig;
  /** The configuration last reloaded, and its generation (counted from 1). */
  #latest: { generation: number; config: EncodedConfig } | undefined;
  readonly #reloads = new AwaitedReplies<ReloadAnswer | typeof EXITED>();

  constructor(initial: ResolvedConfig, private readonly timeoutMs: number, private readonly warn: (message: string, fields: Record<string, unknown>) => void) {
    this.#initial = encodeConfig(initial);
  }

  /**
   * What a process asking for its configuration is handed: what it is handed now is what it
   * serves, so a reload from here on reaches it when it listens.
   */
  configFor(place: ReloadPlace): { initial: EncodedConfig; latest: { generation: number; config: EncodedConfig } | undefined } {
    place.generation = this.#latest?.generation ?? 0;
    return { initial: this.#initial, latest: this.#latest };
  }

  /** Whether `place`'s process was handed a configuration older than the last reloaded. */
  behind(place: ReloadPlace): boolean {
    return this.#latest !== undefined && place.generation < this.#latest.generation;
  }

  /**
   * Hand `config` to every process in `serving`; resolves with how that went once each has
   * answered. Processes started from now on are handed it.
   */
  async reload(config: ResolvedConfig, serving: readonly ReloadPlace[]): Promise<ReloadReport> {
    const generation = (this.#latest?.generation ?? 0) + 1;
    this.#latest = { generation, config: encodeConfig(config) };
    const answers = await Promise.all(serving.map(async (p) => ({ place: p, pid: p.worker?.process.pid, answer: await this.#handLatest(p) })));
    const report: ReloadReport = { applied: 0, failed: [], restartNeeded: [] };
    for (const { place, pid, answer } of answers) {
      if (answer === EXITED) continue;
      if (answer === undefined || answer.error !== undefined) {
        report.failed.push({ process: place.index, pid, error: answer?.error ?? this.#noAnswer() });
        continue;
      }
      report.applied++;
      for (const k of answer.restartNeeded) if (!report.restartNeeded.includes(k)) report.restartNeeded.push(k);
    }
    return report;
  }

  /**
   * A process that was handed its configuration before the last SIGHUP came and has just started
   * listening: it gets the reload now. Its answer has no report to join; a refusal is warned of.
   */
  catchUp(place: ReloadPlace, worker: GatewayWorker): void {
    void this.#handLatest(place).then((answer) => {
      if (answer === EXITED || place.worker !== worker) return;
      const error = answer === undefined ? this.#noAnswer() : answer.error;
      if (error === undefined) return;
      this.warn(`SIGHUP: gateway process ${place.index} (pid ${worker.process.pid ?? '?'}), started before the configuration was reloaded, could not apply it and serves the previous one: ${error}`, { process: place.index, pid: worker.process.pid });
    });
  }

  /** `place`'s process answered reload question `id`. */
  answered(place: ReloadPlace, id: number, answer: ReloadAnswer): void {
    if (place.reloadAsked === id) place.reloadAsked = undefined;
    this.#reloads.answer(id, answer);
  }

  /** `place`'s process exited: a reload it was asked is answered for it. */
  exited(place: ReloadPlace): void {
    if (place.reloadAsked === undefined) return;
    this.#reloads.answer(place.reloadAsked, EXITED);
    place.reloadAsked = undefined;
  }

  /**
   * Hand `place`'s process the configuration last reloaded; resolves with its answer (undefined:
   * none in time, {@link EXITED}: it exited first).
   */
  #handLatest(place: ReloadPlace): Promise<Answer> {
    const latest = this.#latest;
    if (latest === undefined) return Promise.resolve({ restartNeeded: [] });
    place.generation = latest.generation;
    return this.#reloads.ask((id) => {
      place.reloadAsked = id;
      return send(place.worker, { rp: 'reload', id, generation: latest.generation, config: latest.config });
    }, this.timeoutMs);
  }

  #noAnswer(): string {
    return `no answer within ${this.timeoutMs} ms`;
  }
}
