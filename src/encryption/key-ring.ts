/**
 * The keys one thread decrypts with: the configured master keys (local) or Vault transit, the
 * data keys they unwrapped (cached, bounded by entries and age, never logged), and each copy's
 * chunk size once a range read had to fetch its header. Every pool worker and the main thread
 * (for streams) hold their own, built from the same {@link EncryptionSettings}.
 */
import { createDecipheriv } from 'node:crypto';
import { SingleFlight } from '../engine/single-flight.js';
import { BoundedCache } from './bounded-cache.js';
import { NONCE_SIZE, TAG_SIZE, decryptionFailed, type RowKeyData } from './format.js';
import type { EncryptionSettings, LocalMasterKey } from './settings.js';
import { VaultTransit } from './vault-transit.js';

/** A locally wrapped data key: nonce (12) | AES-256-GCM(DEK) (32) | tag (16). */
const LOCAL_WRAPPED_SIZE = NONCE_SIZE + 32 + TAG_SIZE;
const CHUNK_SIZE_ENTRIES = 10_000;

/** Unwrap `wrapped` with one master key; null when its tag says it is the wrong key. */
function unwrapLocal(wrapped: Buffer, master: Uint8Array): Buffer | null {
  const d = createDecipheriv('aes-256-gcm', master, wrapped.subarray(0, NONCE_SIZE), { authTagLength: TAG_SIZE });
  d.setAuthTag(wrapped.subarray(LOCAL_WRAPPED_SIZE - TAG_SIZE));
  const dek = d.update(wrapped.subarray(NONCE_SIZE, LOCAL_WRAPPED_SIZE - TAG_SIZE));
  try {
    d.final();
  } catch {
    return null;
  }
  return dek;
}

/** The keys of one thread. */
export class KeyRing {
  readonly #local: readonly LocalMasterKey[];
  readonly #vault: VaultTransit | null;
  readonly #deks: BoundedCache<string, Buffer>;
  /** Unwraps in flight: shared by every caller of the same key, cancelled only when all have gone. */
  readonly #unwraps = new SingleFlight();
  readonly #chunkSizes = new BoundedCache<string, number>(CHUNK_SIZE_ENTRIES, 0);

  constructor(settings: EncryptionSettings, now?: () => number) {
    this.#local = settings.localKeys;
    this.#vault = settings.vault === null ? null : new VaultTransit(settings.vault);
    this.#deks = new BoundedCache(settings.keyCacheMaxEntries, settings.keyCacheTtlMs, now);
  }

  /**
   * The data key of a copy, from its row's key data. Throws DECRYPTION_FAILED: `key_data` (the
   * column cannot hold a wrapped key), `unknown_key` (a key id no configured provider knows and
   * no local key opens), `unwrap` (no configured key opens it), `key_service` (Vault failed).
   */
  async dataKey(k: RowKeyData, where: string, signal?: AbortSignal): Promise<Buffer> {
    const id = `${k.keyId ?? ''}\u0000${k.wrapped.toString('base64')}`;
    const hit = this.#deks.get(id);
    if (hit !== undefined) return hit;
    // One caller giving up (a hedge's loser, a client that hung up) must not fail the others
    // waiting for the same key: the shared unwrap is cancelled only when every one has gone.
    return this.#unwraps.run(id, signal, async (shared) => {
      const dek = await this.#unwrap(k, where, shared);
      this.#deks.set(id, dek);
      return dek;
    });
  }

  /** The chunk size of a copy whose header was read before (see {@link copyId}). */
  chunkSize(copy: string): number | undefined {
    return this.#chunkSizes.get(copy);
  }

  rememberChunkSize(copy: string, cs: number): void {
    this.#chunkSizes.set(copy, cs);
  }

  /** Drop cached keys and stop Vault's token renewal. */
  async close(): Promise<void> {
    this.#deks.clear();
    this.#chunkSizes.clear();
    await this.#vault?.close();
  }

  async #unwrap(k: RowKeyData, where: string, signal: AbortSignal | undefined): Promise<Buffer> {
    const keyId = k.keyId ?? '';
    // With Vault, as upstream: a key id of previous_keys is theirs (objects wrapped locally before
    // the move to Vault); Vault's own and unknown ids go to Vault, when the wrap is Vault's.
    if (this.#vault !== null && !this.#local.some((m) => m.id === keyId)) {
      const text = k.wrapped.toString('utf8');
      if (text.startsWith('vault:')) return this.#vault.unwrap(text, where, signal);
      if (this.#local.length === 0 || keyId.startsWith('vault:')) {
        throw decryptionFailed('unknown_key', `${where}: data key wrapped under key id ${JSON.stringify(keyId)} is no Vault ciphertext, and the configured provider is Vault transit ${this.#vault.keyId}${this.#local.length === 0 ? ' (no previous_keys)' : ''}`);
      }
    }
    if (k.wrapped.length !== LOCAL_WRAPPED_SIZE) {
      throw decryptionFailed('key_data', `${where}: wrapped data key of ${k.wrapped.length} bytes (key id ${JSON.stringify(keyId)}); a master-key wrap is ${LOCAL_WRAPPED_SIZE}`);
    }
    // The key the id names first; then every other: upstream's rotation leaves old objects
    // labelled with the id the new key now has, and a wrong key fails its tag safely.
    const ordered = [...this.#local.filter((m) => m.id === keyId), ...this.#local.filter((m) => m.id !== keyId)];
    for (const m of ordered) {
      const dek = unwrapLocal(k.wrapped, m.key);
      if (dek !== null) return dek;
    }
    const known = this.#local.some((m) => m.id === keyId);
    const ids = this.#local.map((m) => m.id).join(', ');
    throw known
      ? decryptionFailed('unwrap', `${where}: no configured master key (${ids}) unwraps the data key labelled ${JSON.stringify(keyId)}: wrong master key?`)
      : decryptionFailed('unknown_key', `${where}: data key labelled with unknown key id ${JSON.stringify(keyId)}, and no configured master key (${ids}) unwraps it`);
  }
}

/** Names one stored copy in the chunk-size cache: the base nonce is fresh for every write. */
export function copyId(backend: string, key: string, baseNonce: Uint8Array): string {
  return `${backend}\u0000${Buffer.from(baseNonce).toString('hex')}\u0000${key}`;
}
