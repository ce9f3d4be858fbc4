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
