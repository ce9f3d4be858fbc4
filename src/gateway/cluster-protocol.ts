/**
 * The messages between `readpath serve`'s primary and its gateway processes
 * (`server.processes` > 1), over node:cluster's IPC channel. Every message carries `rp`, its
 * kind, so nothing else on the channel is mistaken for one. Requests carry an `id` their answer
 * repeats.
 *
 * Worker → primary: `config` (once, as it starts: the configuration to serve), `listening` (once,
 * with its URL), `allow` (the shared rate limit's decision for a client), `metrics` (the whole
 * gateway's exposition), `families` (the answer to the primary's `families`), `reloaded` (the
 * answer to `reload`). Primary → worker: the answers, `families` (collect yours), `reload`
 * (SIGHUP: apply this configuration) and `stop` (drain and exit).
 *
 * The configuration travels here, never through a file the process reads itself: every process
 * serves what the primary last loaded, whenever it started, and secrets stay off argv and env.
 */
import { deserialize, serialize } from 'node:v8';
import type { ResolvedConfig } from '../config/types.js';
import type { Family } from '../telemetry/metrics.js';

/** A {@link ResolvedConfig} as it crosses the channel (see {@link encodeConfig}). */
export type EncodedConfig = string;

/**
 * What a starting process serves: the configuration the gateway started with — the sections only
 * a restart applies stay as the other processes have them — and the one last reloaded (SIGHUP)
 * since, which it applies as they did.
 */
export interface HandedConfig {
  initial: EncodedConfig;
  latest?: { generation: number; config: EncodedConfig } | undefined;
}

/** What a process says of a configuration it was told to apply. */
export interface ReloadAnswer {
  /** Why it could not (it serves the previous one); absent when applied. */
  error?: string | undefined;
  /** Settings that changed but apply only after a restart, as configuration keys. */
  restartNeeded: string[];
}

/** What a gateway process sends the primary. */
export type ToPrimary =
  | { rp: 'config'; id: number }
  | { rp: 'listening'; url: string }
  | { rp: 'allow'; id: number; client: string }
  | { rp: 'metrics'; id: number }
  | { rp: 'families'; id: number; families: Family[] }
  | ({ rp: 'reloaded'; id: number } & ReloadAnswer);

/** What the primary sends a gateway process. */
export type ToWorker =
  | { rp: 'config'; id: number; config: HandedConfig }
  | { rp: 'allow'; id: number; ok: boolean }
  | { rp: 'metrics'; id: number; text?: string; error?: string }
  | { rp: 'families'; id: number }
  | { rp: 'reload'; id: number; generation: number; config: EncodedConfig }
  | { rp: 'stop' };

/**
 * A configuration for the channel. node:cluster's JSON would turn the encryption keys'
 * Uint8Arrays into objects (and an Infinity into null); V8's own serialization keeps plain data
 * exactly, and as a string it rides the JSON channel the per-request messages use.
 */
export function encodeConfig(config: ResolvedConfig): EncodedConfig {
  return serialize(config).toString('base64');
}

/** The configuration {@link encodeConfig} encoded. */
export function decodeConfig(encoded: EncodedConfig): ResolvedConfig {
  return deserialize(Buffer.from(encoded, 'base64')) as ResolvedConfig;
}

/** The environment variable that tells a gateway process its place: `INDEX/COUNT`. */
export const PROCESS_ENV = 'READPATH_GATEWAY_PROCESS';

/** `INDEX/COUNT` from {@link PROCESS_ENV}, or undefined when absent or malformed. */
export function processPlace(value: string | undefined): { index: number; count: number } | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(value ?? '');
  if (m === null) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return index < count ? { index, count } : undefined;
}

/** Whether `m` is one of ours (and not node:cluster's or anyone else's). */
export function isReadpathMessage<T extends { rp: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { rp?: unknown }).rp === 'string';
}

/**
 * Questions sent over the channel and awaiting their answers, by id (either side asks: a
 * process asks the primary for a rate-limit decision or the metrics, the primary asks each
 * process for its metric families). A question resolves with its answer, or undefined when it
 * could not be sent or no answer came in time.
 */
export class AwaitedReplies<A> {
  #nextId = 0;
  readonly #waiting = new Map<number, { resolve: (a: A | undefined) => void; timer: NodeJS.Timeout }>();

  /** Ask: `send` sends the question with the id it is given (false: it could not be sent). */
  ask(send: (id: number) => boolean, timeoutMs: number): Promise<A | undefined> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.#waiting.set(id, { resolve, timer });
      if (!send(id)) this.answer(id, undefined);
    });
  }

  /** The answer to question `id`; ignored once it is no longer awaited (timed out, forgotten). */
  answer(id: number, a: A | undefined): void {
    const w = this.#waiting.get(id);
    if (w === undefined) return;
    this.#waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(a);
  }

  /** Stop waiting for any answer (the channel is being left). */
  forget(): void {
    for (const w of this.#waiting.values()) clearTimeout(w.timer);
    this.#waiting.clear();
  }
}
