/**
 * Showing a configuration without its secrets (`readpath validate`, logs): backend secret keys,
 * the database password, any password inside a URL (a postgres `url`, an endpoint with
 * userinfo, Vault's address), the encryption master keys, the Vault token and the gateway's
 * bucket secret keys are replaced, as s3-orchestrator's MarshalRedacted does; the gateway's TLS
 * PEM texts are only noted (the private key is never printed). An unset secret stays empty, so
 * the output still shows which secrets are configured.
 */
import type { EncryptionSettings, VaultSettings } from '../encryption/settings.js';
import { yaml } from './yaml-lazy.js';
import { formatDuration } from './duration.js';
import type { ResolvedConfig, ResolvedGatewayConfig } from './types.js';

/** What a masked secret reads as. */
export const REDACTED = '(redacted)';

function redact(secret: string): string;
function redact(secret: string | null): string | null;
function redact(secret: string | null): string | null {
  return secret === null || secret === '' ? secret : REDACTED;
}

// Anywhere in the text, not only at its start: a driver's error message quotes the URL it used.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@/?#\s]*)@/gi;
// A presigned URL's signature and session token are credentials too (SigV4's, and SigV2's
// `Signature`); its X-Amz-Credential names only the access key id, which is no secret.
// libpq's `sslpassword` (a client key's passphrase) too: node-postgres ignores it, but a URL shared
// with upstream's Go driver may carry one.
const QUERY_PASSWORD = /([?&](?:password|pass|pwd|sslpassword|x-amz-signature|x-amz-security-token|signature)=)[^&#\s]*/gi;

/**
 * A URL with any password (userinfo or `password=` query parameter) replaced, and a presigned
 * URL's signature and session token.
 */
export function maskUrl(url: string): string {
  return url.replace(URL_PASSWORD, (_m, head: string) => `${head}:${REDACTED}@`).replace(QUERY_PASSWORD, `$1${REDACTED}`);
}

/**
 * `encryption:` as a masked config (and the config document) shows it: upstream's keys
 * (camelCased here, snake_case once printed) rather than the key bytes of
 * {@link EncryptionSettings}. Key ids follow from the keys: `master_key` is `config-0`,
 * `master_key_file` `file-0`, `previous_keys[i]` `config-<i+1>`. Unset entries are null.
 */
export interface EncryptionView {
  enabled: true;
  /** `(redacted)`, or the base64 key in an unmasked document. */
  masterKey: string | null;
  /** The key file's path is not kept: {@link KEY_FROM_FILE}. */
  masterKeyFile: string | null;
  /** `(redacted)` each, or the base64 keys in an unmasked document; null when there are none. */
  previousKeys: string[] | null;
  /** The settings' own shape: `token` is `(redacted)` when set (the token itself in an unmasked
   * document), `caCert` a short note on the certificates read (the PEM is not repeated). */
  vault: VaultSettings | null;
  keyCache: { maxEntries: number; ttlMs: number };
}

/**
 * A resolved config with its secrets masked, as {@link maskConfig} returns it. `gateway` keeps
 * its shape, but `tls.cert`, `tls.key` and `tls.clientCa` hold short notes instead of PEM
 * ({@link TLS_KEY_NOTE} for the key) and every bucket `secretAccessKey` is `(redacted)`.
 */
export type MaskedConfig = Omit<ResolvedConfig, 'encryption'> & { encryption: EncryptionView | null };

/** What the gateway's TLS private key shows as: it is never printed, masked or not. */
export const TLS_KEY_NOTE = '(PEM private key read at load)';

/** What `master_key_file` shows: the key's bytes were read from the file at load, its path is not kept. */
export const KEY_FROM_FILE = '(32-byte key read from the file at load)';

/** Whether a text is PEM (as read from a file) rather than a note on it. */
function isPem(text: string): boolean {
  return text.startsWith('-----BEGIN ');
}

/** A short note on PEM certificates: their count and size, not the PEM. */
function caCertNote(pem: string): string {
  const n = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  return `(PEM, ${n} certificate${n === 1 ? '' : 's'}, ${Buffer.byteLength(pem)} bytes, read at load)`;
}

function base64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

/** The view of `encryption:`, with key material and the Vault token masked or (for a loadable document) spelled out. */
function encryptionView(e: EncryptionSettings, masked: boolean): EncryptionView {
  const secret = (key: Uint8Array): string => (masked ? REDACTED : base64(key));
  let masterKey: string | null = null;
  let masterKeyFile: string | null = null;
  const previousKeys: string[] = [];
  for (const k of e.localKeys) {
    if (k.id === 'config-0') masterKey = secret(k.key);
    else if (k.id === 'file-0') masterKeyFile = KEY_FROM_FILE;
    else previousKeys.push(secret(k.key));
  }
  const v = e.vault;
  return {
    enabled: true,
    masterKey,
    masterKeyFile,
    previousKeys: previousKeys.length > 0 ? previousKeys : null,
    vault: v === null ? null : {
      address: masked ? maskUrl(v.address) : v.address,
      token: masked ? redact(v.token) : v.token,
      tokenFile: v.tokenFile,
      keyName: v.keyName,
      mountPath: v.mountPath,
      caCert: v.caCert === null ? null : caCertNote(v.caCert),
      renewIntervalMs: v.renewIntervalMs,
      timeoutMs: v.timeoutMs,
    },
    keyCache: { maxEntries: e.keyCacheMaxEntries, ttlMs: e.keyCacheTtlMs },
  };
}

/**
 * A deep copy of `config` with every secret replaced by `(redacted)`; `encryption` becomes an
 * {@link EncryptionView} (no key bytes at all).
 */
export function maskConfig(config: ResolvedConfig): MaskedConfig {
  // Spreading keeps `encryption` where it sits in the resolved config.
  const copy: MaskedConfig = {
    ...structuredClone({ ...config, encryption: null }),
    encryption: config.encryption === null ? null : encryptionView(config.encryption, true),
  };
  for (const b of copy.backends) {
    b.secretAccessKey = redact(b.secretAccessKey);
    b.endpoint = maskUrl(b.endpoint);
  }
  if (copy.database.driver === 'postgres') {
    copy.database.password = redact(copy.database.password);
    if (copy.database.url !== null) copy.database.url = maskUrl(copy.database.url);
  }
  for (const b of copy.gateway.buckets) for (const c of b.credentials) c.secretAccessKey = redact(c.secretAccessKey);
  copy.gateway.tls = tlsNotes(copy.gateway.tls);
  return copy;
}

/** The gateway's TLS with notes in place of PEM (notes already there are kept). */
function tlsNotes(tls: ResolvedGatewayConfig['tls']): ResolvedGatewayConfig['tls'] {
  if (tls === null) return null;
  return {
    cert: isPem(tls.cert) ? caCertNote(tls.cert) : tls.cert,
    key: TLS_KEY_NOTE,
    minVersion: tls.minVersion,
    clientCa: tls.clientCa === null || !isPem(tls.clientCa) ? tls.clientCa : caCertNote(tls.clientCa),
  };
}

const PEM_LINE = /^[A-Za-z0-9+/=]{16,}$/;

/** A PEM private key as text could show it: whole, and each base64 line of its body (a partial print). */
function pemForms(pem: string): string[] {
  const lines = pem.split(/\r?\n/).map((l) => l.trim()).filter((l) => PEM_LINE.test(l));
  return [pem.trim(), ...lines];
}

/** Every secret value in a config, longest first: for scrubbing free text such as error output. */
export function configSecrets(config: ResolvedConfig): string[] {
  const out = new Set<string>();
  const enc = config.encryption;
  if (enc !== null) {
    for (const k of enc.localKeys) {
      // Unpadded, so a padded or unpadded spelling is caught alike; hex too.
      out.add(base64(k.key).replace(/=+$/, ''));
      out.add(Buffer.from(k.key.buffer, k.key.byteOffset, k.key.byteLength).toString('hex'));
    }
    if (enc.vault !== null) {
      if (enc.vault.token) out.add(enc.vault.token);
      const m = URL_PASSWORD.exec(enc.vault.address);
      if (m?.[2]) out.add(m[2]);
    }
  }
  for (const b of config.backends) {
    if (b.secretAccessKey !== '') out.add(b.secretAccessKey);
    const m = URL_PASSWORD.exec(b.endpoint);
    if (m?.[2]) out.add(m[2]);
  }
  for (const b of config.gateway.buckets) for (const c of b.credentials) if (c.secretAccessKey !== '') out.add(c.secretAccessKey);
  const tls = config.gateway.tls;
  if (tls !== null && isPem(tls.key)) for (const s of pemForms(tls.key)) out.add(s);
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
 * durations as Go-style strings; the gateway's settings as upstream's `server.*` and `buckets:`).
 * Loading it again gives the same resolved config, except for what was read from files
 * (`master_key_file`, `vault.ca_cert`, `server.tls`'s files), which the document only notes.
 * Secrets are included (but never the TLS private key): pass the result of {@link maskConfig}
 * when it is meant for display.
 */
export function toConfigDocument(config: ResolvedConfig | MaskedConfig): Record<string, unknown> {
  const { source: _source, gateway, ...rest } = config;
  const e = rest.encryption;
  const tls = tlsNotes(gateway.tls);
  return toDocument({
    ...rest,
    // The gateway's settings go back where upstream keeps them: server.* and buckets:.
    server: {
      ...rest.server,
      listenAddr: gateway.listenAddr,
      // The files' paths are not kept, only notes on what was read: a document with TLS does not load back as is.
      tls: tls === null ? null : { certFile: tls.cert, keyFile: tls.key, minVersion: tls.minVersion.replace(/^TLSv/, ''), clientCaFile: tls.clientCa },
      maxConcurrentReads: gateway.maxConcurrentReads,
      maxConcurrentRequests: gateway.maxConcurrentRequests,
      admissionWaitMs: gateway.admissionWaitMs,
      loadShedThreshold: gateway.loadShedThreshold,
      readHeaderTimeoutMs: gateway.readHeaderTimeoutMs,
      idleTimeoutMs: gateway.idleTimeoutMs,
      shutdownDelayMs: gateway.shutdownDelayMs,
      shutdownTimeoutMs: gateway.shutdownTimeoutMs,
      maxHeaderBytes: gateway.maxHeaderBytes,
      processes: gateway.processes,
      bodyBuffers: gateway.bodyBuffers,
      region: gateway.region,
      metricsPath: gateway.metricsPath,
      healthPath: gateway.healthPath,
      virtualHostDomains: gateway.virtualHostDomains,
    },
    encryption: e === null || !('localKeys' in e) ? e : encryptionView(e, false),
    buckets: gateway.buckets,
    rateLimit: gateway.rateLimit,
  }) as Record<string, unknown>;
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
