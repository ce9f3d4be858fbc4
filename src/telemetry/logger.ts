/**
 * The logger: pino JSON on stderr, level from the configuration or READPATH_LOG_LEVEL, with
 * credentials redacted wherever they appear in a logged object.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Paths pino redacts: every place a secret can sit in objects readpath logs. */
export const REDACT_PATHS = [
  'secret_access_key', 'secretAccessKey', 'password', 'access_key_id', 'accessKeyId',
  '*.secret_access_key', '*.secretAccessKey', '*.password', '*.accessKeyId', '*.access_key_id',
  'backends[*].secret_access_key', 'backends[*].secretAccessKey', 'database.password', 'database.url',
  'config.backends[*].secretAccessKey', 'config.database.password', 'config.database.url',
];

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Build the readpath logger. READPATH_LOG_LEVEL overrides the configured level. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  const env = process.env['READPATH_LOG_LEVEL'];
  const chosen = env !== undefined && LEVELS.has(env) ? env : level;
  return pino(
    { name: 'readpath', level: chosen as LevelWithSilent, redact: { paths: REDACT_PATHS, censor: '(redacted)' } },
    destination as pino.DestinationStream,
  );
}
