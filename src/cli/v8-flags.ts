/**
 * V8 flags the CLI sets for itself before any work, by command.
 *
 * The lean transport parses HTTP with undici's WebAssembly llhttp. V8 recompiles a hot wasm
 * function with TurboFan on a background thread, and a process does not exit until that compile
 * is done: a one-object `get` or `head` waited ~200 ms at exit for an optimized parser it would
 * never use. Those commands keep the baseline (Liftoff) code. Any changed V8 flag costs ~50 ms at
 * start (Node's built-in code cache no longer matches), which a long `batch` does not win back
 * (measured: no difference on 20,000 or 400 objects), and a gateway runs for hours: they keep
 * the defaults.
 */

import { commandOf } from './early-start.js';

/** Tier up only past ~2 GB of parsed input: never, for one object. */
const NO_EARLY_TIER_UP = '--wasm-tiering-budget=2000000000';

/**
 * V8 majors known to have `--wasm-tiering-budget` (Node 20: 11, Node 22: 12, Node 24: 13). V8
 * prints "unrecognized flag" on stderr for a flag it does not know, so a later V8 gets none
 * until checked.
 */
const KNOWN_V8_MAJORS = new Set([11, 12, 13]);

/**
 * The flags for a CLI invocation with arguments `args` (process.argv without node and script),
 * on V8 version `v8Version` (default: this process's).
 */
export function v8FlagsFor(args: readonly string[], v8Version: string = process.versions.v8): string[] {
  if (!KNOWN_V8_MAJORS.has(Number.parseInt(v8Version, 10))) return [];
  const command = commandOf(args);
  return command === 'get' || command === 'head' ? [NO_EARLY_TIER_UP] : [];
}
