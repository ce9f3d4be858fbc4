/**
 * `readpath validate [-c CONFIG] [--format yaml|json]`: check a configuration and print it
 * resolved (every default spelled out), secrets masked. Touches no backend and no database.
 */
import { loadConfig } from '../../config/load.js';
import { configSecrets, renderConfigForDisplay } from '../../config/mask.js';
import { InvalidConfigError } from '../../config/issues.js';
import { EXIT } from '../errors.js';
import { Output } from '../output.js';
import { DEFAULT_CONFIG_PATH } from '../config-path.js';
import type { CommandContext } from './context.js';

/** Options of `validate`. */
export interface ValidateCommandOptions {
  config?: string | undefined;
  format: 'yaml' | 'json';
}

/** Run `validate`; resolves to the exit code (2 when the configuration is rejected). */
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
  ctx.reporter.info('configuration is valid', { file, backends: config.backends.length, database: config.database.driver },
    `${file}: configuration is valid (${config.backends.length} backend${config.backends.length === 1 ? '' : 's'}, ${config.database.driver} metadata store)`);
  return EXIT.OK;
}
