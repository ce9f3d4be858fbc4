/**
 * Where monthly usage counters persist: s3-orchestrator's `backend_usage` table
 * `(backend_name, period 'YYYY-MM', api_requests, egress_bytes, ingress_bytes, updated_at)`.
 */
import { ReadPathError } from '../errors.js';
import type { UsageDelta, UsageStat } from '../policies/usage-tracker.js';

/** A store that keeps per-backend monthly usage. */
export interface UsageStore {
  /** Stored totals of every backend for one `YYYY-MM` period. */
  loadUsage(period: string): Promise<Map<string, UsageStat>>;
  /**
   * Add deltas to the stored totals (upsert adding, as upstream does), all or nothing: a flush
   * that rejects has written none of them, so its caller can hand them back and retry.
   * `opts.final`: the last flush before close, which may wait for the database as long as its
   * settings allow; a periodic one may give up sooner, as it will be tried again.
   */
  flushUsage(deltas: readonly UsageDelta[], opts?: { final?: boolean }): Promise<void>;
}

const PERIOD_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Reject a period that is not `YYYY-MM`. */
export function checkPeriod(period: unknown): asserts period is string {
  if (typeof period !== 'string' || !PERIOD_RE.test(period)) {
    throw new ReadPathError('METADATA_ERROR', `usage period must be YYYY-MM, got ${JSON.stringify(period)}`);
  }
}

/** Reject deltas that would write garbage into `backend_usage`, naming the field at fault. */
export function checkDeltas(deltas: readonly UsageDelta[]): void {
  deltas.forEach((d, i) => {
    if (typeof d.backendName !== 'string' || d.backendName === '') {
      throw new ReadPathError('METADATA_ERROR', `usage delta ${i}: backendName must be a non-empty string`);
    }
    checkPeriod(d.period);
    for (const f of ['apiRequests', 'egressBytes', 'ingressBytes'] as const) {
      const v = d[f];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new ReadPathError('METADATA_ERROR', `usage delta ${i} (${d.backendName} ${d.period}): ${f} must be a non-negative integer, got ${String(v)}`);
      }
    }
  });
}

/** Read one stored counter (pg hands BIGINT back as a string). */
export function usageCount(value: unknown, backend: string, column: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ReadPathError('METADATA_ERROR', `backend_usage row for backend ${JSON.stringify(backend)}: column ${column}: not a non-negative integer: ${String(value)}`);
  }
  return n;
}

/** Map `backend_usage` rows (one per backend) to usage stats, checking every counter. */
export function usageRowsToMap(rows: readonly Record<string, unknown>[]): Map<string, UsageStat> {
  const out = new Map<string, UsageStat>();
  for (const r of rows) {
    const name = String(r['backend_name']);
    out.set(name, {
      apiRequests: usageCount(r['api_requests'], name, 'api_requests'),
      egressBytes: usageCount(r['egress_bytes'], name, 'egress_bytes'),
      ingressBytes: usageCount(r['ingress_bytes'], name, 'ingress_bytes'),
    });
  }
  return out;
}
