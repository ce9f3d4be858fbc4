/**
 * Builds the failover's hedge policy from the `hedging:` configuration section.
 */
import type { Recorder } from '../telemetry/recorder.js';
import type { ResolvedConfig } from '../config/types.js';
import type { FailoverOptions } from '../engine/failover.js';
import { createHedging } from './hedging.js';

/** The hedge policy factory for a configuration, or undefined when hedging is off. */
export function createHedgePolicy(config: ResolvedConfig, recorder: Recorder): FailoverOptions['hedgePolicy'] {
  if (!config.hedging.enabled) return undefined;
  return createHedging({ ...config.hedging, recorder });
}
