/**
 * The logger: pino JSON on stderr, level from the configuration or READPATH_LOG_LEVEL, with
 * credentials masked wherever they sit in a logged object (by field name, and PEM private keys
 * by content). pino's `redact` takes fixed paths
 * only, and a configuration can be logged at any depth (`{ a: { config } }`), so every log
 * object goes through a bounded deep mask instead.
 *
 * pino itself is loaded when the first line is written ({@link lazyPino}): a run at the default
 * `warn` level that has nothing to warn about — most `readpath get`/`batch` runs — never loads
 * it (30–50 ms of a CLI start on the 2-core dev machine, Node 20.20.2, pino 10).
 */
import { createRequire } from 'node:module';
import type { Bindings, DestinationStream, LogFn, Logger, LoggerOptions, pino as PinoFn } from 'pino';
import { REDACTED, maskUrl } from '../config/mask.js';

/** What masked values are replaced with (the same text `readpath validate` prints). */
export const MASK = REDACTED;

const SECRET_KEYS = new Set([
  'secret_access_key', 'secretaccesskey', 'password', 'session_token', 'sessiontoken',
  // encryption: (as written, and as resolved) — master keys and the Vault token.
  'token', 'master_key', 'masterkey', 'previous_keys', 'previouskeys', 'localkeys',
  // Request headers (a SigV4 signature, an STS session token) and TLS and libpq key passphrases.
  'authorization', 'x-amz-security-token', 'passphrase', 'sslpassword',
]);

function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

/**
 * A PEM private key (the gateway's `tls.key`), recognised by what it holds rather than by its
 * field's name: `key` also names S3 object keys, which logs must keep.
 */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** What any string {@link maskString} changes contains (one test for the common case: none). */
const MAYBE_SECRET = /-----BEGIN|:\/\/|pass|pwd|signature|security-token/i;

/**
 * A string as {@link maskSecrets} logs it: a PEM private key masked whole, URL passwords and
 * presigned URLs' signatures and session tokens removed.
 */
export function maskString(value: string): string {
  if (!MAYBE_SECRET.test(value)) return value;
  return PEM_PRIVATE_KEY.test(value) ? MASK : maskUrl(value);
}

/**
 * A copy of `value` with every secret-named field masked, every string holding a PEM private
 * key masked, and URL passwords removed.
 */
export function maskSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return maskString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1, seen));
  if (value instanceof Error) return maskError(value, depth, seen);
  // Raw bytes are never worth a log line, and may be key material: only their length is shown.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `(${value.byteLength} bytes)`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== '' && v !== null && v !== undefined ? MASK : maskSecrets(v, depth + 1, seen);
  }
  return out;
}

/**
 * An error as pino's serializer should see it, with its message, stack, fields and cause chain
 * masked: a driver's message or a cause can quote a connection URL. Built on the error's own
 * prototype, so the serializer still names its type (`ReadPathError`, …).
 */
function maskError(err: Error, depth: number, seen: WeakSet<object>): Error {
  const out = Object.create(Object.getPrototypeOf(err) as object) as Error & Record<string, unknown>;
  for (const [k, v] of Object.entries(err)) {
    out[k] = isSecretKey(k) && v !== '' && v !== null && v !== undefined ? MASK : maskSecrets(v, depth + 1, seen);
  }
  // Own but not enumerable on most errors: copied by hand.
  out.message = maskString(err.message);
  if (err.stack !== undefined) out.stack = maskString(err.stack);
  if (err.cause !== undefined) out.cause = maskSecrets(err.cause, depth + 1, seen);
  return out;
}

/** pino's standard levels and their values. */
const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVELS = new Set(Object.keys(LEVEL_VALUES));

let pinoFn: typeof PinoFn | undefined;

/** pino's factory, required on first call (pino is CommonJS, so this can stay synchronous). */
export function loadPino(): typeof PinoFn {
  pinoFn ??= (createRequire(import.meta.url)('pino') as { pino: typeof PinoFn }).pino;
  return pinoFn;
}

/** Whether the real pino logger behind a {@link lazyPino} has been built (for tests). */
export const PINO_MATERIALIZED: unique symbol = Symbol('readpath.pinoMaterialized');

/**
 * `pino(options, destination)`, built when it first has something to write. Until then the
 * logger answers `level` (get and set, validated as pino does), `levelVal`, `isLevelEnabled`,
 * `flush` and the log methods of disabled levels (no-ops) by itself; a log call at an enabled
 * level, or anything else (`child`, `bindings`, events …), builds the pino logger — with the
 * level as it stands — and forwards to it from then on. Options must use pino's standard
 * levels (no `customLevels`). A `formatters.bindings` formats children's bindings too.
 */
export function lazyPino(options: LoggerOptions & { level: string }, destination: DestinationStream): Logger {
  if (!LEVELS.has(options.level)) throw Error(`unknown level ${options.level}`);
  let level = options.level;
  let real: Logger | undefined;
  const bound = new Map<PropertyKey, unknown>();
  const materialize = (): Logger => {
    if (real === undefined) {
      real = loadPino()({ ...options, level }, destination);
      const format = options.formatters?.bindings;
      if (format !== undefined) {
        // pino applies a bindings formatter to the root's bindings only (children reset it):
        // every child's bindings are formatted on the way in instead. Children inherit this
        // `child` from the root (each is an Object.create of its parent).
        type ChildFn = (this: unknown, bindings: Bindings, opts?: unknown) => unknown;
        const child = Reflect.get(real, 'child') as ChildFn;
        const formatted: ChildFn = function (bindings, opts) {
          return child.call(this, format(bindings), opts);
        };
        real.child = formatted as unknown as Logger['child'];
      }
    }
    return real;
  };
  const forward = (logger: Logger, prop: PropertyKey): unknown => {
    const v: unknown = Reflect.get(logger, prop, logger);
    if (typeof v !== 'function') return v;
    // pino swaps a level's method when the level changes: cache per method identity.
    const cached = bound.get(prop) as { fn: unknown; bound: unknown } | undefined;
    if (cached?.fn === v) return cached.bound;
    const b = (v as (...args: unknown[]) => unknown).bind(logger);
    bound.set(prop, { fn: v, bound: b });
    return b;
  };
  const enabled = (name: string): boolean => {
    const v = LEVEL_VALUES[name];
    return v !== undefined && name !== 'silent' && v >= (LEVEL_VALUES[level] ?? Infinity);
  };
  const noop = (): void => {};
  return new Proxy({}, {
    get(_target, prop) {
      if (prop === PINO_MATERIALIZED) return real !== undefined;
      if (real !== undefined) return forward(real, prop);
      if (prop === 'then') return undefined; // not a thenable: awaiting it must not build it
      if (prop === 'level') return level;
      if (prop === 'levelVal') return LEVEL_VALUES[level];
      if (prop === 'isLevelEnabled') return enabled;
      if (prop === 'flush') return (cb?: (err?: Error) => void) => cb?.(); // nothing written yet
      if (prop === 'silent') return noop;
      if (typeof prop === 'string' && LEVELS.has(prop) && !enabled(prop)) return noop;
      return forward(materialize(), prop);
    },
    set(_target, prop, value: unknown) {
      if (real === undefined && prop === 'level' && typeof value === 'string') {
        if (!LEVELS.has(value)) throw Error(`unknown level ${value}`);
        level = value;
        return true;
      }
      return Reflect.set(materialize(), prop, value);
    },
    has(_target, prop) {
      return Reflect.has(real ?? materialize(), prop);
    },
  }) as Logger;
}

/**
 * A log call's arguments with what formatters.log never sees masked: the message and its format
 * arguments (`%j`/`%o` print objects into the message), and an error logged alone, whose message
 * pino takes as the line's. A first argument that is a plain object is left to formatters.log.
 */
function maskedArgs(args: readonly unknown[]): unknown[] {
  return args.map((a, i) => (typeof a === 'string' ? maskString(a) : i > 0 || a instanceof Error ? maskSecrets(a) : a));
}

/** Build the readpath logger (see {@link lazyPino}). READPATH_LOG_LEVEL overrides the configured level. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  const env = process.env['READPATH_LOG_LEVEL'];
  const chosen = env !== undefined && LEVELS.has(env) ? env : level;
  return lazyPino(
    {
      name: 'readpath',
      level: chosen,
      // A child's bindings are written as they were bound, past formatters.log.
      formatters: { log: (obj) => maskSecrets(obj) as Record<string, unknown>, bindings: (b) => maskSecrets(b) as Record<string, unknown> },
      hooks: { logMethod(args, method) { method.apply(this, maskedArgs(args) as Parameters<LogFn>); } },
    },
    destination,
  );
}
