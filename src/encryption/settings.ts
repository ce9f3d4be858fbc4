/**
 * Encryption as readpath is configured for it (`encryption:` in the config, upstream's keys):
 * plain data, so the same settings reach every pool worker through its workerData.
 */

/** A local master key (AES-256) and the key id s3-orchestrator labels the data keys it wraps with. */
export interface LocalMasterKey {
  /** `config-0` (master_key), `file-0` (master_key_file), `config-<i+1>` (previous_keys[i]). */
  id: string;
  /** Exactly 32 bytes. */
  key: Uint8Array;
}

/** Vault transit, as `encryption.vault` configures it. */
export interface VaultSettings {
  /** Base URL, e.g. `https://vault.internal:8200` (no trailing slash). */
  address: string;
  /** The token itself, or null when it is read from `tokenFile`. */
  token: string | null;
  /** A file holding the token, re-read every `renewIntervalMs` (and after Vault refuses it). */
  tokenFile: string | null;
  keyName: string;
  /** Transit mount path; default `transit`. */
  mountPath: string;
  /** PEM CA certificate(s) to trust for Vault's TLS, read from `ca_cert` at load; null: system CAs. */
  caCert: string | null;
  /** How often the token is renewed (static token) or re-read (token file); default 5 min. */
  renewIntervalMs: number;
  /** Longest a Vault request may take; default 10 s. */
  timeoutMs: number;
}

/** The resolved `encryption:` section; readpath's config holds null when encryption is off. */
export interface EncryptionSettings {
  /** Local master keys in trial order: the current key first, then previous_keys in order. */
  localKeys: LocalMasterKey[];
  /** Vault transit, when that is the key provider (then `localKeys` holds only previous_keys, if any). */
  vault: VaultSettings | null;
  /** Unwrapped data keys kept in memory at most (per thread). Default 10000. */
  keyCacheMaxEntries: number;
  /** How long an unwrapped data key is kept, ms. Default 300000 (5 min). */
  keyCacheTtlMs: number;
}
