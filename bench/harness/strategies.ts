/**
 * The `--strategies` LIST of `readpath bench` (API.md §4) and how each strategy maps onto
 * FailoverOptions:
 *
 *   sequential    one backend at a time (parallel_broadcast: false)
 *   parallel      every backend at once (parallel_broadcast: true, no cap)
 *   window:K      at most K at once (degraded_broadcast_parallelism: K)
 *   hedged:auto   hedged; delay = the hedge percentile of recent successes (hedging.delay: auto)
 *   hedged:MS     hedged with a fixed delay
 *   hedged:pNN    hedged:auto at percentile NN instead of --percentile (extension)
 *
 * Extension: `direct:NAME` reads backend NAME alone, without readpath (the baseline a
 * broadcast is measured against: in the s3 world a plain @aws-sdk/client-s3 GET).
 */
import { ReadPathError } from '../../src/errors.js';
import type { Recorder } from '../../src/telemetry/recorder.js';
import type { FailoverOptions } from '../../src/engine/failover.js';
import { createHedging } from '../../src/policies/hedging.js';
import { parseNumberArg, splitTopLevel } from './latency-spec.js';

/** One strategy to measure. */
export type Strategy =
  | { kind: 'sequential' }
  | { kind: 'parallel' }
  | { kind: 'window'; k: number }
  | { kind: 'hedged'; delayMs: number | 'auto'; percentile?: number }
  | { kind: 'direct'; backend: string };

/** The strategies `readpath bench` runs when `--strategies` is not given. */
export const DEFAULT_STRATEGIES = 'sequential,parallel,window:2,hedged:auto,hedged:15';

function bad(part: string, why: string): ReadPathError {
  return new ReadPathError('INVALID_CONFIG', `--strategies: ${JSON.stringify(part)}: ${why}`);
}

/** The canonical name of a strategy, as it appears in results. */
export function strategyName(s: Strategy): string {
  switch (s.kind) {
    case 'sequential':
    case 'parallel':
      return s.kind;
    case 'window':
      return `window:${s.k}`;
    case 'hedged':
      return s.percentile !== undefined ? `hedged:p${s.percentile}` : `hedged:${s.delayMs}`;
    case 'direct':
      return `direct:${s.backend}`;
  }
}

/** Parse one LIST item. */
export function parseStrategy(text: string, backends: number): Strategy {
  const t = text.trim().toLowerCase();
  if (t === 'sequential') return { kind: 'sequential' };
  if (t === 'parallel') return { kind: 'parallel' };
  const colon = t.indexOf(':');
  const head = colon < 0 ? t : t.slice(0, colon);
  const arg = colon < 0 ? undefined : t.slice(colon + 1).trim();
  switch (head) {
    case 'window': {
      const k = arg === undefined ? undefined : parseNumberArg(arg, false);
      if (k === undefined || !Number.isInteger(k) || k < 1) throw bad(text, 'window takes window:K with an integer K >= 1');
      return { kind: 'window', k };
    }
    case 'hedged': {
      if (arg === 'auto') return { kind: 'hedged', delayMs: 'auto' };
      if (arg?.startsWith('p')) {
        const p = parseNumberArg(arg.slice(1), false);
        if (p === undefined || !(p > 0 && p <= 100)) throw bad(text, 'hedged:pNN takes a percentile in (0, 100], e.g. hedged:p99');
        return { kind: 'hedged', delayMs: 'auto', percentile: p };
      }
      const ms = arg === undefined ? undefined : parseNumberArg(arg, true);
      if (ms === undefined) throw bad(text, 'hedged takes hedged:auto, hedged:MS (a delay in ms >= 0) or hedged:pNN');
      return { kind: 'hedged', delayMs: ms };
    }
    case 'direct': {
      if (arg === undefined || !/^b[1-9]\d*$/.test(arg) || Number(arg.slice(1)) > backends) {
        throw bad(text, `direct takes direct:NAME with NAME in b1..b${backends}`);
      }
      return { kind: 'direct', backend: arg };
    }
    default:
      throw bad(text, 'expected sequential, parallel, window:K, hedged:auto, hedged:MS, hedged:pNN or direct:NAME');
  }
}

/** Parse a LIST; duplicates are dropped (first one kept). */
export function parseStrategies(list: string | undefined, backends: number): Strategy[] {
  const text = list === undefined || list.trim() === '' ? DEFAULT_STRATEGIES : list;
  const out: Strategy[] = [];
  const seen = new Set<string>();
  for (const item of splitTopLevel(text)) {
    if (item === '') throw bad(text, 'empty entry (two commas in a row, or a trailing comma)');
    const s = parseStrategy(item, backends);
    const name = strategyName(s);
    if (!seen.has(name)) {
      seen.add(name);
      out.push(s);
    }
  }
  return out;
}

/** Hedging tuning shared by every hedged strategy of a run. */
export interface HedgeTuning {
  percentile: number;
  maxExtraLoad: number;
}

/** The FailoverOptions fields that make a broadcast follow `s` (not for `direct`). */
export function failoverOptionsFor(s: Strategy, recorder: Recorder, tuning: HedgeTuning): Pick<FailoverOptions, 'parallelBroadcast' | 'degradedBroadcastParallelism' | 'hedgePolicy'> {
  switch (s.kind) {
    case 'sequential':
    case 'direct':
      return { parallelBroadcast: false };
    case 'parallel':
      return { parallelBroadcast: true, degradedBroadcastParallelism: 0 };
    case 'window':
      return { parallelBroadcast: true, degradedBroadcastParallelism: s.k };
    case 'hedged':
      return {
        parallelBroadcast: false,
        degradedBroadcastParallelism: 0,
        hedgePolicy: createHedging({ enabled: true, delayMs: s.delayMs, percentile: s.percentile ?? tuning.percentile, maxExtraLoad: tuning.maxExtraLoad, recorder }),
      };
  }
}
