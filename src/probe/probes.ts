/**
 * Probe factories over a Recorder, for driving the failover core directly (tests, benchmarks,
 * embedding without ReadPath): an {@link InlineExecutor}'s probes, so HEAD, GET, verification,
 * billing and transforms are the one implementation in run.ts.
 */
import type { Recorder } from '../telemetry/recorder.js';
import { InlineExecutor } from '../executors/inline.js';
import type { ProbeGetOptions } from '../executors/executor.js';
import type { HeadResult, Probe } from '../types.js';
import type { FetchedObject } from './decode.js';

export { sha256Hex, verifyBody } from './verify.js';
export type { FetchedObject } from './decode.js';

/** Options of {@link getProbe}. */
export type GetProbeOptions = Omit<ProbeGetOptions, 'transform' | 'out'>;

/** A HEAD probe for `key` that runs on the calling thread. */
export function headProbe(acct: Recorder, key: string): Probe<HeadResult> {
  return new InlineExecutor({ recorder: acct }).head(key);
}

/** A GET probe for `key` that reads the whole body and verifies it before the copy may win. */
export function getProbe(acct: Recorder, key: string, opts: GetProbeOptions = {}): Probe<FetchedObject> {
  return new InlineExecutor({ recorder: acct }).get(key, opts);
}
