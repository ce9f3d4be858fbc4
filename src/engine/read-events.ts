/**
 * What the failover reports about reads, as events on one sink, and the sink that turns them
 * into the core's metrics (API.md §2: names exported with the `readpath_` prefix). The failover
 * says what happened; this module alone decides which counter or histogram that moves.
 */
import { METRIC, type Recorder } from '../telemetry/recorder.js';

/** How a degraded read's broadcast ended (the `outcome` label). */
export type BroadcastOutcome = 'cache_hit' | 'success' | 'not_found' | 'error';

/** The events of reads. Times are `performance.now()` values in ms. */
export interface ReadEvents {
  /** A read won on `backend`, `startMs` being when it began. */
  won(operation: string, backend: string, startMs: number): void;
  /** The metadata store was down: the read goes down the degraded path. */
  degraded(operation: string): void;
  /** A degraded read ended, `startMs` being when it went degraded. */
  broadcastEnded(operation: string, outcome: BroadcastOutcome, startMs: number): void;
  /** Every copy (or every broadcast probe) was declined for usage limits. */
  usageExceeded(operation: string): void;
  /** A broadcast failed with a mix of 404s and other errors. */
  mixedOutcomes(operation: string): void;
  /** A race's losers did not settle within the drain bound. */
  drainTimedOut(operation: string): void;
}

const seconds = (startMs: number): number => (performance.now() - startMs) / 1000;

/** Read events recorded as metrics on a Recorder. */
export class RecorderEvents implements ReadEvents {
  readonly #acct: () => Recorder;

  /** `acct` is asked at each event: a Core may swap its recorder. */
  constructor(acct: () => Recorder) {
    this.#acct = acct;
  }

  won(operation: string, backend: string, startMs: number): void {
    this.#acct().observe(METRIC.operationDuration, { operation, backend }, seconds(startMs));
  }

  degraded(operation: string): void {
    this.#acct().inc(METRIC.degradedReads, { operation });
  }

  broadcastEnded(operation: string, outcome: BroadcastOutcome, startMs: number): void {
    const acct = this.#acct();
    if (outcome === 'cache_hit') acct.inc(METRIC.degradedCacheHits, { operation });
    acct.observe(METRIC.broadcastDuration, { operation, outcome }, seconds(startMs));
  }

  usageExceeded(operation: string): void {
    this.#acct().inc(METRIC.usageLimitRejections, { operation, direction: 'read' });
  }

  mixedOutcomes(operation: string): void {
    this.#acct().inc(METRIC.mixedOutcomes, { operation });
  }

  drainTimedOut(operation: string): void {
    this.#acct().inc(METRIC.drainTimeouts, { operation });
  }
}
