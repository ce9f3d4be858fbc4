/**
 * The logger: pino JSON on stderr, level from the configuration or READPATH_LOG_LEVEL, with
 * credentials masked wherever they sit in a logged object. pino's `redact` takes fixed paths
 * only, and a configuration can be logged at any depth (`{ a: { config } }`), so every log
 * object goes through a bounded deep mask instead.
 */
import { pino, type Logger } from 'pino';
import { REDACTED, maskUrl } from '../config/mask.js';

/** What masked values are replaced with (the same text `readpath validate` prints). */
export const MASK = REDACTED;

const SECRET_KEYS = new Set(['secret_access_key', 'secretaccesskey', 'password', 'session_token', 'sessiontoken']);

function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

/** A copy of `value` with every secret-named field masked and URL passwords removed. */
export function maskSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return maskUrl(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1, seen));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== '' && v !== null && v !== undefined ? MASK : maskSecrets(v, depth + 1, seen);
  }
  return out;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Build the readpath logger. READPATH_LOG_LEVEL overrides the configured level. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  const env = process.env['READPATH_LOG_LEVEL'];
  const chosen = env !== undefined && LEVELS.has(env) ? env : level;
  return pino(
    {
      name: 'readpath',
      level: chosen,
      formatters: { log: (obj) => maskSecrets(obj) as Record<string, unknown> },
    },
    destination as pino.DestinationStream,
  );
}
