/**
 * A gateway process as the primary (cluster-primary.ts) sees it, and the one way the primary
 * sends it a message.
 */
import type { ToWorker } from './cluster-protocol.js';

/** A gateway process as the primary sees it: node:cluster's Worker, or a test's stand-in. */
export interface GatewayWorker {
  readonly process: { readonly pid?: number | undefined; kill(signal?: NodeJS.Signals): boolean };
  isConnected(): boolean;
  send(message: ToWorker): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: string | null) => void): unknown;
}

/** Send `m` to `worker`; false when it is gone (or going) and could not be sent. */
export function send(worker: GatewayWorker | undefined, m: ToWorker): boolean {
  try {
    return worker !== undefined && worker.isConnected() && worker.send(m);
  } catch {
    // Gone between the check and the send: its exit is handled where it is reported.
    return false;
  }
}
