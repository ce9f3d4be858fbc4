/**
 * What `readpath serve` asks of a configuration before serving it, at start and on SIGHUP: a
 * gateway serves buckets, so one without any is refused.
 */
import { UsageError } from '../errors.js';
import { loadConfig } from '../../config/load.js';
import { configSecrets } from '../../config/mask.js';
import type { ResolvedConfig } from '../../config/types.js';
import type { Reporter } from '../reporter.js';

/** A gateway serves buckets: without any, `serve` is a usage error. */
export function requireBuckets(g: ResolvedConfig['gateway']): void {
  if (g.buckets.length === 0) {
    throw new UsageError('serve: the configuration has no buckets: add buckets[] with credentials (see README, "The S3 gateway")');
  }
}

/**
 * The configuration file read again on SIGHUP: it must load and name buckets, and its secrets
 * are masked in whatever is printed from now on. Throws, changing nothing, otherwise.
 */
export async function reloadedConfig(path: string, r: Reporter): Promise<ResolvedConfig> {
  const next = await loadConfig(path);
  if (next.gateway.buckets.length === 0) throw new Error('the configuration has no buckets');
  r.scrubber.add(configSecrets(next));
  return next;
}
