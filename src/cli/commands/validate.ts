/**
 * `readpath validate [-c CONFIG] [--format yaml|json] [--connect]`: check a configuration and
 * print it resolved (every default spelled out), secrets masked. Touches no backend; the
 * database only with `--connect`, which looks at it once (database-check.ts) and fails naming
 * the setting at fault.
 */
import { loadConfig } from '../../config/load.js';
import { configSecrets, renderConfigForDisplay } from '../../config/mask.js';
import { InvalidConfigError } from '../../config/issues.js';
import { EXIT } from '../errors.js';
import { Output } from '../output.js';
import { DEFAULT_CONFIG_PATH } from '../config-path.js';
import type { CommandContext } from './context.js';
import { checkDatabase } from '../database-check.js';

/** Options of `validate`. */
export interface ValidateCommandOptions {
  config?: string | undefined;
  format: 'yaml' | 'json';
  /** `--connect`: also look at the metadata database. */
  connect?: boolean | undefined;
}

/**
 * Run `validate`; resolves to the exit code. Rejects with INVALID_CONFIG (exit 2) when the
 * configuration is rejected or, with `connect`, the database refuses its settings or is not
 * s3-orchestrator's; with DB_UNAVAILABLE (exit 1) when the database cannot be reached.
 */
export async function runValidate(ctx: CommandContext, opts: ValidateCommandOptions): Promise<number> {
  const file = opts.config ?? DEFAULT_CONFIG_PATH;
  let config;
  try {
    config = await loadConfig(file, { env: ctx.io.env });
  } catch (err) {
    if (opts.config === undefined && err instanceof InvalidConfigError && err.issues.some((i) => i.message.includes('file not found'))) {
      throw new InvalidConfigError(err.issues, { file: `${file} (the default; pass -c CONFIG to use another file)` });
    }
    throw err;
  }
  ctx.reporter.scrubber.add(configSecrets(config));
  // renderConfigForDisplay masks secrets; the scrubber is a second line of defence.
  await new Output(ctx.io.stdout).write(ctx.reporter.scrubber.scrub(renderConfigForDisplay(config, { format: opts.format })));
  let connected = '';
  if (opts.connect === true) {
    const check = await checkDatabase(config.database);
    if (!check.ok) throw check.error;
    if (check.empty && config.database.driver !== 'memory') {
      ctx.reporter.warn(`database: ${check.target} lists no object: every read will be OBJECT_NOT_FOUND until s3-orchestrator writes there`, { target: check.target });
    }
    ctx.reporter.info('database answered', { target: check.target, empty: check.empty }, `database: ${check.target} answered`);
    connected = ', database answered';
  }
  ctx.reporter.info('configuration is valid', { file, backends: config.backends.length, database: config.database.driver, ...(opts.connect === true ? { connected: true } : {}) },
    `${file}: configuration is valid (${config.backends.length} backend${config.backends.length === 1 ? '' : 's'}, ${config.database.driver} metadata store${connected})`);
  return EXIT.OK;
}
