/**
 * A gateway process's side of the channel to `readpath serve`'s primary (see
 * ./cluster-protocol.ts): it asks for the configuration to serve, reports listening, asks the
 * primary's shared token buckets whether a client may go on, asks for the whole gateway's
 * metrics, answers the primary's collection of its own metric families, applies the
 * configurations `reload` hands it and says how that went, and hears `stop`.
 */
import type { ResolvedConfig } from '../config/types.js';
import type { Family } from '../telemetry/metrics.js';
import { messageOf } from '../errors.js';
import { AwaitedReplies, decodeConfig, isReadpathMessage, type ReloadAnswer, type ToPrimary, type ToWorker } from './cluster-protocol.js';

/** The channel, as a cluster worker's `process` offers it (injectable for tests). */
export interface Channel {
  send?: ((message: ToPrimary) => boolean) | undefined;
  on(event: 'message', listener: (m: unknown) => void): unknown;
  off(event: 'message', listener: (m: unknown) => void): unknown;
}

/** How long an answer may take before the question is given up. */
const METRICS_TIMEOUT_MS = 10_000;
/** The rate limit fails open: a primary too busy to answer within this does not stop reads. */
const ALLOW_TIMEOUT_MS = 1_000;
/** The primary answers at once; this only bounds a process whose primary is wedged. */
const CONFIG_TIMEOUT_MS = 30_000;

/** The configuration a starting process was handed, decoded. */
export interface StartingConfig {
  /** What the gateway started with. */
  initial: ResolvedConfig;
  /** What was last reloaded since (SIGHUP), to apply as every other process did; undefined: none. */
  latest: ResolvedConfig | undefined;
}

/** The worker's link to the primary. */
export class PrimaryLink {
  readonly #channel: Channel;
  readonly #families: () => Family[];
  readonly #replies = new AwaitedReplies<ToWorker>();
  #onReload: ((config: ResolvedConfig) => ReloadAnswer) | undefined;
  readonly #stopped: Promise<void>;
  #stop!: () => void;
  readonly #listener = (m: unknown): void => this.#receive(m);

  /** `families`: this process's metric families, collected when the primary asks. */
  constructor(families: () => Family[], channel: Channel = process) {
    this.#channel = channel;
    this.#families = families;
    this.#stopped = new Promise<void>((resolve) => {
      this.#stop = resolve;
    });
    channel.on('message', this.#listener);
  }

  /** Resolves when the primary says stop. */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * Apply with `f` each configuration the primary hands on after a SIGHUP; what `f` returns (or
   * throws) is the answer the primary reports. Until `f` is set, a reload is answered as refused.
   */
  onReload(f: (config: ResolvedConfig) => ReloadAnswer): void {
    this.#onReload = f;
  }

  /** The configuration to serve, from the primary (it is never read from the file here). */
  async config(): Promise<StartingConfig> {
    const answer = await this.#replies.ask((id) => this.#send({ rp: 'config', id }), CONFIG_TIMEOUT_MS);
    if (answer === undefined || answer.rp !== 'config') throw new Error('the primary did not hand this gateway process its configuration');
    const { initial, latest } = answer.config;
    return { initial: decodeConfig(initial), latest: latest === undefined ? undefined : decodeConfig(latest.config) };
  }

  /** Tell the primary this process listens at `url`. */
  listening(url: string): void {
    this.#send({ rp: 'listening', url });
  }

  /** The shared rate limit's decision for `client` (true when the primary does not answer in time). */
  async allow(client: string): Promise<boolean> {
    const answer = await this.#replies.ask((id) => this.#send({ rp: 'allow', id, client }), ALLOW_TIMEOUT_MS);
    return answer === undefined || answer.rp !== 'allow' || answer.ok;
  }

  /** The whole gateway's metrics, combined by the primary. */
  async metrics(): Promise<string> {
    const answer = await this.#replies.ask((id) => this.#send({ rp: 'metrics', id }), METRICS_TIMEOUT_MS);
    if (answer === undefined) throw new Error('the primary did not answer the metrics request in time');
    if (answer.rp !== 'metrics' || answer.text === undefined) throw new Error(`the primary could not collect the metrics: ${answer.rp === 'metrics' ? answer.error ?? 'no answer' : 'wrong answer'}`);
    return answer.text;
  }

  /** Stop listening to the channel; questions pending are given up. */
  close(): void {
    this.#channel.off('message', this.#listener);
    this.#replies.forget();
  }

  #send(message: ToPrimary): boolean {
    const send = this.#channel.send;
    if (send === undefined) return false;
    try {
      send.call(this.#channel, message);
      return true;
    } catch {
      // The channel closed: the primary is gone and node:cluster ends this process.
      return false;
    }
  }

  #apply(encoded: string): ReloadAnswer {
    const apply = this.#onReload;
    if (apply === undefined) return { error: 'the process is not serving yet', restartNeeded: [] };
    try {
      return apply(decodeConfig(encoded));
    } catch (err) {
      return { error: messageOf(err), restartNeeded: [] };
    }
  }

  #receive(m: unknown): void {
    if (!isReadpathMessage<ToWorker>(m)) return;
    switch (m.rp) {
      case 'families':
        this.#send({ rp: 'families', id: m.id, families: this.#families() });
        return;
      case 'reload':
        this.#send({ rp: 'reloaded', id: m.id, ...this.#apply(m.config) });
        return;
      case 'stop':
        this.#stop();
        return;
      default:
        this.#replies.answer(m.id, m);
    }
  }
}
