/**
 * The database looked at once by `readpath serve` (src/cli/database-check.ts), in the background
 * of a gateway that already listens: by the one-process gateway, or by the primary of several
 * (once for the whole gateway, never by each process).
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/types.js';
import { messageOf } from '../../errors.js';
import type { Reporter } from '../reporter.js';
import { checkDatabase } from '../database-check.js';

/**
 * Look at `db` once; never rejects. readpath connects on first use, so that a database down at
 * start does not stop it, and a session the server refuses (a wrong password, a missing database
 * or role, TLS it cannot give) would otherwise show only as degraded reads. That gets one warning
 * naming the setting to check; a server that is merely down is the degraded mode the gateway is
 * built for, logged at info only. SQLite needs no look: the file was opened at start, which
 * fails when it cannot be.
 */
export function lookAtDatabase(r: Reporter, logger: Logger, db: ResolvedConfig['database']): Promise<void> {
  if (db.driver !== 'postgres') return Promise.resolve();
  return checkDatabase(db).then(
    (check) => {
      if (check.ok) logger.info({ target: check.target }, `database check: ${check.target} answered`);
      else if (check.fault === 'settings') r.warn(`${messageOf(check.error)}: reads go degraded (every backend asked) until it is fixed`, { target: check.target });
      else logger.info({ target: check.target }, `database check: ${messageOf(check.error)}`);
    },
    (err: unknown) => logger.info(`database check failed: ${messageOf(err)}`),
  );
}
