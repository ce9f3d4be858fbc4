/**
 * The zod schemas of a readpath config document (snake_case, s3-orchestrator's keys).
 *
 * Every section is a strict object: a key is either one readpath reads, one s3-orchestrator
 * defines and readpath ignores (listed in {@link UPSTREAM_ONLY_KEYS} / {@link UPSTREAM_ONLY_SECTIONS},
 * taken from upstream's internal/config structs), or an error. Messages never contain the value
 * that failed, so a misplaced secret cannot leak through an error.
 */
import { z } from 'zod';
import { durationToMs } from './duration.js';
import { parseListenAddr } from './listen-addr.js';
import { parseCidr } from './cidr.js';
import { MAX_PROCESSES } from './runtime-defaults.js';

/** The most `server.body_buffers`: 4 GiB of buffers per process is past any sensible setting. */
const MAX_BODY_BUFFERS = 4096;

/** s3-orchestrator's top-level sections readpath does not use: accepted, not validated, ignored. */
export const UPSTREAM_ONLY_SECTIONS = [
  'telemetry', 'rebalance', 'replication', 'compression', 'ui',
  'auth', 'cleanup_queue', 'write_path', 'lifecycle', 'reconcile', 'redis',
  'notifications', 'debug', 'routing_strategy',
] as const;

/** Keys s3-orchestrator defines inside the sections readpath uses, which readpath ignores. */
export const UPSTREAM_ONLY_KEYS = {
  backends: [
    'unsigned_payload', 'disable_checksum', 'strip_sdk_headers', 'quota_bytes', 'max_object_size',
    'request_limits', 'unmetered', 'http',
  ],
  database: ['min_conns', 'max_conn_lifetime'],
  circuit_breaker: [],
  backend_circuit_breaker: [],
  server: [
    'max_object_size', 'spill_dir', 'max_concurrent_writes', 'max_header_value_count',
    'read_timeout', 'write_timeout',
  ],
  /**
   * Inside each `buckets[]` entry: a writers' setting, and the bucket's browser CORS rules
   * (upstream answers preflights with them; readpath's gateway sends no CORS headers).
   */
  buckets: ['max_multipart_uploads', 'cors'],
  integrity: ['enabled', 'verify_on_replicate', 'scrubber_interval', 'scrubber_batch_size', 'scrubber_min_age'],
  /** Upstream's adaptive flushing (a shorter interval near a usage limit). */
  usage_flush: ['adaptive_enabled', 'adaptive_threshold', 'fast_interval'],
} as const satisfies Record<string, readonly string[]>;

const ignored = z.unknown().optional();

function ignoredKeys(keys: readonly string[]): Record<string, typeof ignored> {
  return Object.fromEntries(keys.map((k) => [k, ignored]));
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOL_WORDS: Readonly<Record<string, boolean>> = {
  true: true, yes: true, on: true, false: false, no: false, off: false,
};

/** Strings are accepted for numbers and flags because `${VAR}` always expands to a string. */
function coerceNumber(v: unknown): unknown {
  return typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v.trim()) : v;
}
function coerceBoolean(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const word = v.trim().toLowerCase();
  return Object.hasOwn(BOOL_WORDS, word) ? BOOL_WORDS[word] : v;
}

const flag = () => z.preprocess(coerceBoolean, z.boolean()).optional();

/** An integer at least `min`. */
const integer = (min: number, message?: string) =>
  z.preprocess(coerceNumber, z.number().int().min(min, message ?? (min === 0 ? 'must not be negative' : `must be at least ${min}`))).optional();

/**
 * An upstream count where 0 means "the default", as s3-orchestrator reads it (`cmp.Or`,
 * `defaulted`): a non-negative integer, 0 read as not set.
 */
const countOrDefault = () =>
  z.preprocess(coerceNumber, z.number().int().min(0, 'must not be negative (0 = the default)'))
    .transform((n): number | undefined => (n === 0 ? undefined : n))
    .optional();

/** A byte count or monthly limit: a non-negative integer, 0 = unlimited. */
const limit = () => integer(0);

const text = () => z.string().min(1, 'must not be empty');

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/**
 * Units as s3-orchestrator reads them in its own `cache:` section: KB, MB and GB are binary
 * there (its `256MB` default is 256 MiB), so the same file means the same sizes to both.
 */
const UPSTREAM_SIZE_UNITS: Readonly<Record<string, number>> = { ...SIZE_UNITS, kb: 2 ** 10, mb: 2 ** 20, gb: 2 ** 30, tb: 2 ** 40 };

/**
 * A byte size: an integer, or a string with a unit (`256MiB`, `1.5GB`, `4096`); whole bytes.
 * KB/MB/GB/TB are decimal unless `units` says otherwise.
 */
export function parseByteSize(v: unknown, units: Readonly<Record<string, number>> = SIZE_UNITS): { ok: true; bytes: number } | { ok: false; message: string } {
  const bad = { ok: false as const, message: 'must be a byte size: an integer, or a number with B/KB/MB/GB/TB/KiB/MiB/GiB/TiB (e.g. 256MiB)' };
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? { ok: true, bytes: v } : bad;
  if (typeof v !== 'string') return bad;
  const m = SIZE.exec(v.trim());
  if (m === null) return bad;
  const bytes = Math.round(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
  return Number.isSafeInteger(bytes) ? { ok: true, bytes } : bad;
}

/** A byte size of at least `min` bytes (KB/MB/GB in `units`). */
const byteSize = (min: number, units: Readonly<Record<string, number>> = SIZE_UNITS) =>
  z
    .unknown()
    .transform((v, ctx): number => {
      const r = parseByteSize(v, units);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.message });
        return z.NEVER;
      }
      if (r.bytes < min) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes` });
        return z.NEVER;
      }
      return r.bytes;
    })
    .optional();

type DurationRule = 'positive' | 'nonnegative';

/** Validate one duration value, reporting a problem on `ctx`; `undefined` when it was bad. */
function checkDuration(v: unknown, rule: DurationRule, ctx: z.RefinementCtx, hint = ''): number | undefined {
  const r = durationToMs(v);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.message + hint });
    return undefined;
  }
  if (rule === 'positive' && r.ms <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration greater than 0' });
    return undefined;
  }
  if (r.ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must not be negative' });
    return undefined;
  }
  return r.ms;
}

/** A duration, resolved to milliseconds. */
const durationMs = (rule: DurationRule) =>
  z
    .unknown()
    .transform((v, ctx): number => checkDuration(v, rule, ctx) ?? z.NEVER)
    .optional();

/**
 * An upstream duration where 0 means "the default", as s3-orchestrator reads it (`== 0` checks,
 * `cmp.Or`): non-negative, 0 read as not set.
 */
const durationOrDefault = () =>
  z
    .unknown()
    .transform((v, ctx): number | undefined => {
      const r = durationToMs(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
      else if (r.ms < 0) ctx.addIssue({ code: 'custom', message: 'must not be negative (0 = the default)' });
      else return r.ms === 0 ? undefined : r.ms;
      return z.NEVER;
    })
    .optional();

/** A positive duration in milliseconds, or the literal `auto`. */
const durationOrAuto = () =>
  z
    .unknown()
    .transform((v, ctx): number | 'auto' => {
      if (typeof v === 'string' && v.trim().toLowerCase() === 'auto') return 'auto';
      return checkDuration(v, 'positive', ctx, ', or auto') ?? z.NEVER;
    })
    .optional();

/** True for an absolute http(s) URL with a host. */
export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** True for a `postgres://` / `postgresql://` URL. */
export function isPostgresUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

export const backendSchema = z.strictObject({
  name: text().optional(),
  endpoint: z.string().refine(isHttpUrl, 'expected an http(s) URL'),
  region: text().optional(),
  bucket: text(),
  access_key_id: z.string().optional(),
  secret_access_key: z.string().optional(),
  credential_source: z.enum(['static', 'default_chain']).optional(),
  force_path_style: flag(),
  api_request_limit: limit(),
  egress_byte_limit: limit(),
  ingress_byte_limit: limit(),
  max_sockets: integer(1),
  client: z.enum(['lean', 'sdk']).optional(),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.backends),
});

export const PG_SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export const databaseSchema = z.strictObject({
  driver: z.enum(['sqlite', 'postgres', 'memory']).optional(),
  path: text().optional(),
  url: z.string().refine(isPostgresUrl, 'expected a postgres:// or postgresql:// URL').optional(),
  host: text().optional(),
  port: z.preprocess(coerceNumber, z.number().int().min(1, 'must be a port between 1 and 65535').max(65535, 'must be a port between 1 and 65535')).optional(),
  database: text().optional(),
  user: text().optional(),
  password: z.string().optional(),
  ssl_mode: z.enum(PG_SSL_MODES).optional(),
  /** 0 = the default, as upstream. */
  max_conns: countOrDefault(),
  statement_timeout: durationMs('positive'),
  /** readpath's own (SQLite): how long one statement waits for another process's lock. */
  busy_timeout: durationMs('nonnegative'),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.database),
});

/** Upstream's: 0 (and, as upstream normalises it, any negative) = every backend at once. */
const broadcastParallelism = () =>
  z.preprocess(coerceNumber, z.number().int()).transform((n) => Math.max(0, n)).optional();

/** As upstream: a 0 threshold or timeout is the default. */
export const circuitBreakerSchema = z.strictObject({
  failure_threshold: countOrDefault(),
  open_timeout: durationOrDefault(),
  cache_ttl: durationOrDefault(),
  parallel_broadcast: flag(),
  degraded_broadcast_parallelism: broadcastParallelism(),
  degraded_reads_enabled: flag(),
  cache_max_entries: integer(1),
  drain_timeout: durationMs('positive'),
});

export const backendCircuitBreakerSchema = z.strictObject({
  enabled: flag(),
  failure_threshold: countOrDefault(),
  open_timeout: durationOrDefault(),
});

export const UPSTREAM_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** `server.listen_addr`, checked and split (listen-addr.ts); `text` is the address as written. */
const listenAddr = () =>
  z
    .string()
    .transform((text, ctx) => {
      const r = parseListenAddr(text);
      if (r.ok) return { text, host: r.host, port: r.port };
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    })
    .optional();

/** Upstream's `server.tls.min_version` spellings; YAML reads an unquoted `1.2` as a number. */
export const TLS_MIN_VERSIONS = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' } as const;

const tlsMinVersion = () =>
  z
    .preprocess(
      (v) => (typeof v === 'number' ? String(v) : v),
      z.string().transform((v, ctx): 'TLSv1.2' | 'TLSv1.3' | undefined => {
        if (v === '') return undefined; // "not set", as upstream reads it: the default
        if (v === '1.2' || v === '1.3') return TLS_MIN_VERSIONS[v];
        ctx.addIssue({ code: 'custom', message: 'expected "1.2" or "1.3"' });
        return z.NEVER;
      }),
    )
    .optional();

/**
 * `server.tls` (upstream's keys). Empty strings are "not set", as upstream reads them, so
 * `tls: { cert_file: "", key_file: "" }` is plain HTTP. "Both files or neither" and
 * `client_ca_file` needing them are checks.ts's rules; reading the files is gateway-files.ts's.
 */
export const tlsSchema = z.strictObject({
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  min_version: tlsMinVersion(),
  client_ca_file: z.string().optional(),
});

/** The largest `server.max_header_bytes` readpath takes: a header section bigger than this is not a real S3 request. */
export const MAX_HEADER_BYTES_LIMIT = 16 * 2 ** 20;
export const MIN_HEADER_BYTES = 1024;

const maxHeaderBytes = () =>
  z
    .unknown()
    .transform((v, ctx): number | undefined => {
      const r = parseByteSize(v);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
      else if (r.bytes === 0) return undefined; // upstream's "not set": the default
      else if (r.bytes < MIN_HEADER_BYTES) ctx.addIssue({ code: 'custom', message: `must be at least ${MIN_HEADER_BYTES} bytes` });
      else if (r.bytes > MAX_HEADER_BYTES_LIMIT) ctx.addIssue({ code: 'custom', message: 'must be at most 16MiB' });
      else return r.bytes;
      return z.NEVER;
    })
    .optional();

/** A SigV4 region name: it sits in the credential scope (`…/REGION/s3/aws4_request`). */
const REGION = /^[A-Za-z0-9._-]{1,64}$/;
const region = () => z.string().regex(REGION, "expected a region name (letters, digits, '.', '_', '-'), e.g. us-east-1").optional();

/** A path segment the gateway can match without decoding: unreserved characters only. */
const PATH_SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** Whether `p` is an absolute URL path of one or more plain segments (`/metrics`, `/internal/health`). */
export function isServicePath(p: string): boolean {
  if (!p.startsWith('/') || p.length > 256) return false;
  return p.slice(1).split('/').every((seg) => PATH_SEGMENT.test(seg) && seg !== '.' && seg !== '..');
}

/** A path the gateway serves outside the S3 namespace (`server.metrics_path`, `server.health_path`). */
const servicePath = () =>
  z.string().refine(isServicePath, "expected an absolute path such as /metrics: '/' then segments of letters, digits, '.', '_', '~', '-'").optional();

/** A DNS name (no port, not an IP address): letters, digits and '-' in dot-separated labels. */
const DNS_NAME = /^(?=.{1,253}\.?$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^\d+(\.\d+){3}\.?$/;

/** The domains under which `{bucket}.{domain}` names a bucket (virtual-hosted style). */
const virtualHostDomains = () =>
  z.array(z.string().refine((d) => DNS_NAME.test(d) && !IPV4.test(d), 'expected a DNS name such as s3.example.com (no scheme, port or IP address)'))
    .max(64, 'at most 64 domains')
    .optional();

/** As upstream, a 0 timeout (`backend_timeout`, `read_header_timeout`, `idle_timeout`) or `max_header_bytes` is the default. */
export const serverSchema = z.strictObject({
  backend_timeout: durationOrDefault(),
  log_level: z.enum(UPSTREAM_LOG_LEVELS).optional(),
  listen_addr: listenAddr(),
  tls: tlsSchema.optional(),
  max_concurrent_reads: integer(0),
  max_concurrent_requests: integer(0),
  admission_wait: durationMs('nonnegative'),
  load_shed_threshold: z.preprocess(coerceNumber, z.number().min(0, 'must be in [0, 1): 0 = off').lt(1, 'must be in [0, 1): 0 = off')).optional(),
  read_header_timeout: durationOrDefault(),
  idle_timeout: durationOrDefault(),
  shutdown_delay: durationMs('nonnegative'),
  /** readpath's own. */
  shutdown_timeout: durationMs('positive'),
  max_header_bytes: maxHeaderBytes(),
  /** readpath's own: gateway processes sharing the port; 0 = one per core. */
  processes: z.preprocess(coerceNumber, z.number().int().min(0, 'must be 0 (one per core) or a count of processes').max(MAX_PROCESSES, `at most ${MAX_PROCESSES}`)).optional(),
  /** readpath's own: body buffers kept for reuse per size class; 0 = none. */
  body_buffers: z.preprocess(coerceNumber, z.number().int().min(0, 'must be 0 (none kept) or a count of buffers').max(MAX_BODY_BUFFERS, `at most ${MAX_BODY_BUFFERS}`)).optional(),
  /** readpath's own. */
  region: region(),
  /** readpath's own. */
  metrics_path: servicePath(),
  /** readpath's own. */
  health_path: servicePath(),
  /** readpath's own. */
  virtual_host_domains: virtualHostDomains(),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.server),
});

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address. */
const cidr = () => z.string().refine((s) => parseCidr(s.trim()) !== undefined, 'expected a CIDR such as 10.0.0.0/8 or fd00::/8 (or one address)');

/** A duration of any sign, in milliseconds: where the sign is checked only in some cases. */
const signedDurationMs = () =>
  z
    .unknown()
    .transform((v, ctx): number => {
      const r = durationToMs(v);
      if (r.ok) return r.ms;
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    })
    .optional();

/**
 * `rate_limit:` (s3-orchestrator's): per-client token buckets in front of the gateway. As
 * upstream: the trusted proxies' CIDRs are checked even while it is disabled, so a typo does not
 * wait for the reload that enables it; the rest only while enabled, where 0 is the default
 * (resolve.ts applies it, and every default of a disabled section).
 */
export const rateLimitSchema = z
  .strictObject({
    enabled: flag(),
    requests_per_sec: z.preprocess(coerceNumber, z.number()).optional(),
    burst: z.preprocess(coerceNumber, z.number().int()).optional(),
    trusted_proxies: z.array(cidr()).optional(),
    cleanup_interval: signedDurationMs(),
    cleanup_max_age: signedDurationMs(),
  })
  .superRefine((r, ctx) => {
    if (r.enabled !== true) return;
    const negative = (key: string, v: number | undefined, message: string): void => {
      if (v !== undefined && v < 0) ctx.addIssue({ code: 'custom', path: [key], message });
    };
    negative('requests_per_sec', r.requests_per_sec, 'must be greater than 0 (0 = the default)');
    negative('burst', r.burst, 'must be at least 1 (0 = the default)');
    negative('cleanup_interval', r.cleanup_interval, 'must not be negative (0 = the default)');
    negative('cleanup_max_age', r.cleanup_max_age, 'must not be negative (0 = the default)');
  });

export const integritySchema = z.strictObject({
  verify_on_read: flag(),
  verify_etag: flag(),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.integrity),
});

export const runtimeSchema = z.strictObject({
  mode: z.enum(['pool', 'inline']).optional(),
  threads: integer(1),
  tasks_per_thread: integer(1),
  max_in_flight: integer(1),
  max_buffered_bytes: byteSize(1),
  stream_idle_timeout: durationMs('positive'),
});

export const stripingSchema = z.strictObject({
  enabled: flag(),
  min_size: byteSize(1),
  part_size: byteSize(64 * 1024),
  parts_in_flight: integer(1),
});

export const hedgingSchema = z.strictObject({
  enabled: flag(),
  delay: durationOrAuto(),
  percentile: z.preprocess(coerceNumber, z.number().gt(0, 'must be in (0, 100]').max(100, 'must be in (0, 100]')).optional(),
  max_extra_load: z.preprocess(coerceNumber, z.number().min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]')).optional(),
  located_reads: flag(),
});

export const broadcastSchema = z.strictObject({
  launch_order: z.enum(['fastest', 'config']).optional(),
  stagger: flag(),
  storage_keys: flag(),
});

/** `cache:` (s3-orchestrator's object data cache). */
export const cacheSchema = z.strictObject({
  enabled: flag(),
  // Upstream's section, read with upstream's units.
  max_size: byteSize(1, UPSTREAM_SIZE_UNITS),
  max_object_size: byteSize(1, UPSTREAM_SIZE_UNITS),
  /** 0 = the default, as upstream. */
  ttl: durationOrDefault(),
});

/** readpath's own `head:` section. */
export const headSchema = z.strictObject({
  from_metadata: flag(),
});

export const usageSchema = z.strictObject({
  flush_interval: durationMs('positive'),
});

/** `usage_flush:` (upstream's): its `interval` is used when readpath's own `usage.flush_interval` is not set. */
export const usageFlushSchema = z.strictObject({
  /** 0 = the default, as upstream. */
  interval: durationOrDefault(),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.usage_flush),
});

export const loggingSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).optional(),
});

/** upstream's `encryption.chunk_size` bounds (plaintext bytes per chunk; a power of two). */
export const CHUNK_SIZE_MIN = 4096;
export const CHUNK_SIZE_MAX = 1_048_576;
/** AES-256: every master key is exactly this many bytes. */
export const MASTER_KEY_BYTES = 32;

/**
 * Whether an `encryption:` section turns encryption on. As upstream, a section that does not
 * (`enabled` absent or false) is not validated at all: prepare.ts reduces it to its `enabled`.
 */
export function encryptionEnabled(section: unknown): boolean {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return false;
  return coerceBoolean((section as Record<string, unknown>)['enabled']) === true;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A master key as upstream reads one: standard base64 with padding (line breaks ignored, as Go's
 * decoder does) of exactly 32 bytes. The message never echoes the text.
 */
export function decodeMasterKey(text: string): { ok: true; key: Uint8Array } | { ok: false; message: string } {
  const s = text.replace(/[\r\n]/g, '');
  if (!BASE64.test(s)) return { ok: false, message: `expected standard base64 (A-Z a-z 0-9 + /, = padding) of a ${MASTER_KEY_BYTES}-byte key` };
  const bytes = Buffer.from(s, 'base64');
  const n = bytes.length;
  const key = new Uint8Array(bytes);
  bytes.fill(0);
  if (n !== MASTER_KEY_BYTES) {
    key.fill(0);
    return { ok: false, message: `must be a ${MASTER_KEY_BYTES}-byte (256-bit) key; it decodes to ${n} bytes` };
  }
  return { ok: true, key };
}

/** A base64 master key's bytes, or an issue on `ctx`. */
function masterKeyBytes(v: string, ctx: z.RefinementCtx): Uint8Array {
  const r = decodeMasterKey(v);
  if (r.ok) return r.key;
  ctx.addIssue({ code: 'custom', message: r.message });
  return z.NEVER;
}

/** upstream's chunk size: 0 = the default, else a power of two in 4096..1048576. */
const chunkSize = () =>
  z
    .preprocess(
      coerceNumber,
      z.number().int().superRefine((n, ctx) => {
        if (n === 0) return;
        if (n < CHUNK_SIZE_MIN || n > CHUNK_SIZE_MAX) {
          ctx.addIssue({ code: 'custom', message: `must be between ${CHUNK_SIZE_MIN} (4KiB) and ${CHUNK_SIZE_MAX} (1MiB)` });
        } else if ((n & (n - 1)) !== 0) {
          ctx.addIssue({ code: 'custom', message: 'must be a power of two' });
        }
      }),
    )
    .optional();

/** Vault's address: an http(s) base URL; `""` is "not set" (checks.ts then reports it as required). */
function vaultAddressProblem(v: string): string | undefined {
  if (v === '') return undefined;
  if (!isHttpUrl(v)) return 'expected an http(s) URL';
  const u = new URL(v);
  return u.search !== '' || u.hash !== '' ? 'expected a base URL, without a query or fragment' : undefined;
}

/**
 * `encryption.vault`. Which of its fields are required, and token/token_file being exclusive,
 * are checks.ts's rules; reading token_file and ca_cert is encryption-files.ts's.
 */
export const vaultSchema = z.strictObject({
  address: z.string().superRefine((v, ctx) => {
    const problem = vaultAddressProblem(v);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }).optional(),
  token: z.string().optional(),
  token_file: z.string().optional(),
  key_name: z.string().optional(),
  mount_path: z.string().optional(),
  ca_cert: z.string().optional(),
  /** 0 = the default, as upstream. */
  renew_interval: durationOrDefault(),
  /** readpath's own. */
  timeout: durationMs('positive'),
});

/** readpath's own `encryption.key_cache`: unwrapped data keys kept in memory. */
export const keyCacheSchema = z.strictObject({
  max_entries: integer(1),
  ttl: durationMs('positive'),
});

/**
 * `encryption:` with every key upstream defines for it (so the section is strict) plus readpath's
 * `vault.timeout` and `key_cache`. Only an enabled section reaches it whole (see
 * {@link encryptionEnabled}); "exactly one key source" and the like are checks.ts's rules.
 */
export const encryptionSchema = z.strictObject({
  enabled: flag(),
  /** Writers' setting: validated as upstream does, not used for reading (each object's header says). */
  chunk_size: chunkSize(),
  /** `""` is "not set", as upstream reads it. */
  master_key: z.string().transform((v, ctx) => (v === '' ? undefined : masterKeyBytes(v, ctx))).optional(),
  master_key_file: z.string().optional(),
  previous_keys: z.array(z.string().transform(masterKeyBytes)).optional(),
  vault: vaultSchema.optional(),
  key_cache: keyCacheSchema.optional(),
});

/**
 * One of a bucket's client credentials (upstream's keys): SigV4 (`access_key_id` and
 * `secret_access_key`) or upstream's legacy `token`. readpath's gateway speaks SigV4 only: a
 * token-only credential is accepted (so a file shared with s3-orchestrator loads) but never
 * authenticates, and its `token` is neither `${VAR}`-expanded nor kept (prepare.ts, resolve.ts).
 * Which fields a credential needs, and access keys being unique, are checks.ts's rules.
 */
export const credentialSchema = z.strictObject({
  access_key_id: z.string().optional(),
  secret_access_key: z.string().optional(),
  token: z.string().optional(),
});

/** A virtual bucket: upstream's rules only (a name, without '/', unique; at least one credential). */
export const bucketSchema = z.strictObject({
  name: z.string().min(1, 'must not be empty').refine((n) => !n.includes('/'), "must not contain '/'"),
  credentials: z
    .array(credentialSchema, { error: (iss) => (iss.input === undefined ? 'at least one credential is required' : undefined) })
    .min(1, 'at least one credential is required'),
  ...ignoredKeys(UPSTREAM_ONLY_KEYS.buckets),
});

export const configSchema = z.strictObject({
  backends: z
    .array(backendSchema, { error: (iss) => (iss.input === undefined ? 'at least one backend is required' : undefined) })
    .min(1, 'at least one backend is required'),
  database: databaseSchema.optional(),
  circuit_breaker: circuitBreakerSchema.optional(),
  backend_circuit_breaker: backendCircuitBreakerSchema.optional(),
  server: serverSchema.optional(),
  integrity: integritySchema.optional(),
  runtime: runtimeSchema.optional(),
  striping: stripingSchema.optional(),
  hedging: hedgingSchema.optional(),
  broadcast: broadcastSchema.optional(),
  usage: usageSchema.optional(),
  usage_flush: usageFlushSchema.optional(),
  cache: cacheSchema.optional(),
  head: headSchema.optional(),
  logging: loggingSchema.optional(),
  encryption: encryptionSchema.optional(),
  buckets: z.array(bucketSchema).optional(),
  rate_limit: rateLimitSchema.optional(),
  ...ignoredKeys(UPSTREAM_ONLY_SECTIONS),
});

/** The validated (not yet defaulted) document. */
export type ParsedConfig = z.output<typeof configSchema>;
