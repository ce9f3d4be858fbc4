/**
 * Chooses where probes run for a ReadPath — on the main thread, or in the worker pool — and
 * hands either executor the backends' circuit breakers, applied at dispatch.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/types.js';
import type { Parts } from '../assemble.js';
import type { ProbeExecutor } from './executor.js';
import { InlineExecutor } from './inline.js';
import { PoolExecutor } from './pool/executor.js';

/** What decides the executor beyond the configuration. */
export interface ExecutorChoice {
  /** A module building the workers' backends (pool only). */
  backendModule?: string | URL;
  backendData?: unknown;
  logger?: Logger;
}

/** Build the executor the parts were assembled for (see probesRunInline). */
export function createExecutor(config: ResolvedConfig, parts: Parts, opts: ExecutorChoice = {}): ProbeExecutor {
  const common = { recorder: parts.recorder, probeOwner: parts.probes, breakers: parts.breakers, encryption: config.encryption, storageKeys: config.broadcast.storageKeys };
  if (parts.inline) {
    if (config.runtime.mode === 'pool') opts.logger?.debug('runtime.mode pool with backend objects given in code: probes run inline');
    return new InlineExecutor({ ...common, keys: parts.keys(), probeTimeoutMs: config.server.backendTimeoutMs });
  }
  return PoolExecutor.fromConfig(config, {
    ...common,
    ...(opts.backendModule === undefined ? {} : { backendModule: opts.backendModule, backendData: opts.backendData }),
  });
}
