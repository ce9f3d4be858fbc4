/**
 * Showing a configuration without its secrets (`readpath validate`, logs): backend secret keys,
 * the database password, and any password inside a URL (a postgres `url`, an endpoint with
 * userinfo) are replaced, as s3-orchestrator's MarshalRedacted does. An unset secret stays empty,
 * so the output still shows which secrets are configured.
 */
import { yaml } from './yaml-lazy.js';
import { formatDuration } from './duration.js';
import type { ResolvedConfig } from './types.js';

/** What a masked secret reads as. */
export const REDACTED = '(redacted)';

function redact(secret: string): string;
function redact(secret: string | null): string | null;
function redact(secret: string | null): string | null {
  return secret === null || secret === '' ? secret : REDACTED;
}

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):([^@/?#]*)@/i;
const QUERY_PASSWORD = /([?&](?:password|pass|pwd)=)[^&#]*/gi;

/** A URL with any password (userinfo or `password=` query parameter) replaced. */
export function maskUrl(url: string): string {
  return url.replace(URL_PASSWORD, (_m, head: string) => `${head}:${REDACTED}@`).replace(QUERY_PASSWORD, `$1${REDACTED}`);
}

/** A deep copy of `config` with every secret replaced by `(redacted)`. */
export function maskConfig(config: ResolvedConfig): ResolvedConfig {
  const copy = structuredClone(config);
  for (const b of copy.backends) {
    b.secretAccessKey = redact(b.secretAccessKey);
    b.endpoint = maskUrl(b.endpoint);
  }
  if (copy.database.driver === 'postgres') {
    copy.database.password = redact(copy.database.password);
    if (copy.database.url !== null) copy.database.url = maskUrl(copy.database.url);
  }
  return copy;
}

/** Every secret value in a config, longest first: for scrubbing free text such as error output. */
export function configSecrets(config: ResolvedConfig): string[] {
  const out = new Set<string>();
  for (const b of config.backends) {
    if (b.secretAccessKey !== '') out.add(b.secretAccessKey);
    const m = URL_PASSWORD.exec(b.endpoint);
    if (m?.[2]) out.add(m[2]);
  }
  const db = config.database;
  if (db.driver === 'postgres') {
    if (db.password) out.add(db.password);
    if (db.url !== null) {
      const m = URL_PASSWORD.exec(db.url);
      if (m?.[2]) out.add(m[2]);
      for (const q of db.url.matchAll(/[?&](?:password|pass|pwd)=([^&#]*)/gi)) if (q[1]) out.add(q[1]);
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Rename camelCase keys to snake_case and `…Ms` durations to Go-style strings, recursively. */
function toDocument(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toDocument);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null) continue;
    if (key.endsWith('Ms') && (typeof v === 'number' || v === 'auto')) {
      out[snake(key.slice(0, -2))] = typeof v === 'number' ? formatDuration(v) : v;
    } else {
      out[snake(key)] = toDocument(v);
    }
  }
  return out;
}

/**
 * The snake_case config document a resolved config corresponds to (all defaults spelled out,
 * durations as Go-style strings). Loading it again gives the same resolved config. Secrets are
 * included: pass the result of {@link maskConfig} when it is meant for display.
 */
export function toConfigDocument(config: ResolvedConfig): Record<string, unknown> {
  const { source: _source, ...rest } = config;
  return toDocument(rest) as Record<string, unknown>;
}

/**
 * The resolved config as text for people (`readpath validate`), secrets masked: YAML with
 * s3-orchestrator's snake_case keys (default) or JSON.
 */
export function renderConfigForDisplay(config: ResolvedConfig, opts: { format?: 'yaml' | 'json' } = {}): string {
  const doc = toConfigDocument(maskConfig(config));
  const header = config.source.file === null ? '' : `# resolved from ${config.source.file}\n`;
  if (opts.format === 'json') return `${JSON.stringify(doc, null, 2)}\n`;
  return header + yaml().stringify(doc, { lineWidth: 0 });
}
