/**
 * The messages between `readpath serve`'s primary and its gateway processes
 * (`server.processes` > 1), over node:cluster's IPC channel. Every message carries `rp`, its
 * kind, so nothing else on the channel is mistaken for one. Requests carry an `id` their answer
 * repeats.
 *
 * Worker → primary: `listening` (once, with its URL), `allow` (the shared rate limit's decision
 * for a client), `metrics` (the whole gateway's exposition), `families` (the answer to the
 * primary's `families`). Primary → worker: the answers, `families` (collect yours), `reload`
 * (SIGHUP: read the configuration again) and `stop` (drain and exit).
 */
import type { Family } from '../telemetry/metrics.js';

/** What a gateway process sends the primary. */
export type ToPrimary =
  | { rp: 'listening'; url: string }
  | { rp: 'allow'; id: number; client: string }
  | { rp: 'metrics'; id: number }
  | { rp: 'families'; id: number; families: Family[] };

/** What the primary sends a gateway process. */
export type ToWorker =
  | { rp: 'allow'; id: number; ok: boolean }
  | { rp: 'metrics'; id: number; text?: string; error?: string }
  | { rp: 'families'; id: number }
  | { rp: 'reload' }
  | { rp: 'stop' };

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
