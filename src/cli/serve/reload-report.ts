/**
 * How `readpath serve` reports a SIGHUP reload: applied, failed, or (for the primary of several
 * processes) applied by some of them. One report per SIGHUP for the whole gateway.
 */
import type { ResolvedConfig } from '../../config/types.js';
import { messageOf } from '../../errors.js';
import type { ReloadReport } from '../../gateway/cluster-reloads.js';
import type { Reporter } from '../reporter.js';

/** SIGHUP's warning for a configuration that could not be applied: the previous one stays. */
export function reloadFailed(r: Reporter, path: string, err: unknown): void {
  r.warn(`SIGHUP: configuration reload failed, still serving the previous one: ${messageOf(err)}`, { path });
}

/** SIGHUP's report of a configuration applied. */
export function reloaded(r: Reporter, next: ResolvedConfig, restartNeeded: readonly string[]): void {
  const creds = next.gateway.buckets.reduce((n, b) => n + b.credentials.length, 0);
  r.info('configuration reloaded', { buckets: next.gateway.buckets.length, credentials: creds }, `configuration reloaded: ${next.gateway.buckets.length} buckets, ${creds} credentials`);
  if (restartNeeded.length > 0) r.warn(`SIGHUP: changed but applied only after a restart: ${restartNeeded.join(', ')}`, { restartNeeded });
}

/**
 * The primary's one report of a reload for the whole gateway: as a one-process gateway's when
 * every process applied it; otherwise a warning naming those that serve the previous one.
 */
export function reportReload(r: Reporter, next: ResolvedConfig, report: ReloadReport): void {
  if (report.failed.length === 0) {
    reloaded(r, next, report.restartNeeded);
    return;
  }
  const total = report.applied + report.failed.length;
  const which = report.failed.map((f) => `process ${f.process} (pid ${f.pid ?? '?'}): ${f.error}`).join('; ');
  r.warn(`SIGHUP: configuration reloaded by ${report.applied} of ${total} gateway processes; still serving the previous one: ${which}`, { applied: report.applied, failed: report.failed });
  if (report.restartNeeded.length > 0) r.warn(`SIGHUP: changed but applied only after a restart: ${report.restartNeeded.join(', ')}`, { restartNeeded: report.restartNeeded });
}
