/**
 * Unwrapping data keys with HashiCorp Vault's transit engine, as s3-orchestrator wraps them:
 * `POST {address}/v1/{mount}/decrypt/{key}` with `X-Vault-Token` and `{"ciphertext": "vault:vN:..."}`,
 * the data key coming back base64 in `data.plaintext`. The token is kept alive the way upstream
 * does: a static token renewed with `renew-self`, a token file re-read (Nomad workload identity
 * rewrites it) — every `renewInterval`, and once more at once when Vault refuses the token.
 * Neither the token nor a key ever reaches a log line or an error message.
 */
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { abortedError, messageOf } from '../errors.js';
import { decryptionFailed } from './format.js';
import type { VaultSettings } from './settings.js';

type Undici = typeof import('undici');

/** A Vault transit client for one key. */
export class VaultTransit {
  readonly #s: VaultSettings;
  readonly keyId: string;
  #token: string | null;
  #undici: Promise<Undici> | undefined;
  #dispatcher: Dispatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(settings: VaultSettings) {
    this.#s = settings;
    this.keyId = `vault:${settings.mountPath}/${settings.keyName}`;
    this.#token = settings.token;
    if (settings.renewIntervalMs > 0) {
      this.#timer = setInterval(() => void this.#refresh().catch(() => {}), settings.renewIntervalMs);
      // Renewal must never keep a process alive on its own.
      this.#timer.unref();
    }
  }

  /** The data key a Vault ciphertext wraps. Throws DECRYPTION_FAILED (kind `key_service` or `unwrap`). */
  async unwrap(ciphertext: string, where: string, signal?: AbortSignal): Promise<Buffer> {
    let res = await this.#post(`/v1/${this.#s.mountPath}/decrypt/${this.#s.keyName}`, { ciphertext }, where, signal);
    if ((res.status === 403 || res.status === 401) && this.#s.tokenFile !== null) {
      // The file may hold a newer token than the one read last.
      await this.#readTokenFile(where);
      res = await this.#post(`/v1/${this.#s.mountPath}/decrypt/${this.#s.keyName}`, { ciphertext }, where, signal);
    }
    if (res.status !== 200) {
      const detail = vaultErrors(res.body);
      // 4xx other than a refused token: Vault answered that this ciphertext is not its to open.
      const kind = res.status === 400 ? 'unwrap' : 'key_service';
      throw decryptionFailed(kind, `${where}: Vault transit ${this.keyId} answered ${res.status}${detail === '' ? '' : `: ${detail}`}`);
    }
    const plaintext = (res.body as { data?: { plaintext?: unknown } } | null)?.data?.plaintext;
    if (typeof plaintext !== 'string' || plaintext === '') {
      throw decryptionFailed('key_service', `${where}: Vault transit ${this.keyId} answered without data.plaintext`);
    }
    const dek = Buffer.from(plaintext, 'base64');
    if (dek.length !== 32) throw decryptionFailed('unwrap', `${where}: Vault transit ${this.keyId} returned a ${dek.length}-byte data key, not 32`);
    return dek;
  }

  /** Stop renewing and close the connections. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const d = this.#dispatcher;
    this.#dispatcher = undefined;
    await d?.close().catch(() => {});
  }

  async #refresh(): Promise<void> {
    if (this.#closed) return;
    if (this.#s.tokenFile !== null) {
      await this.#readTokenFile('vault');
      return;
    }
    await this.#post('/v1/auth/token/renew-self', {}, 'vault', undefined);
  }

  async #readTokenFile(where: string): Promise<void> {
    const file = this.#s.tokenFile;
    if (file === null) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw decryptionFailed('key_service', `${where}: cannot read encryption.vault.token_file: ${messageOf(err)}`, err);
    }
    const token = text.trim();
    if (token === '') throw decryptionFailed('key_service', `${where}: encryption.vault.token_file is empty`);
    this.#token = token;
  }

  async #post(path: string, body: unknown, where: string, signal: AbortSignal | undefined): Promise<{ status: number; body: unknown }> {
    if (this.#token === null) await this.#readTokenFile(where);
    const undici = await (this.#undici ??= import('undici'));
    this.#dispatcher ??= this.#s.caCert !== null
      ? new undici.Agent({ connect: { ca: this.#s.caCert } })
      : new undici.Agent();
    const timeout = AbortSignal.timeout(this.#s.timeoutMs);
    const sig = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      const res = await undici.request(`${this.#s.address}${path}`, {
        method: 'POST',
        headers: { 'x-vault-token': this.#token ?? '', 'content-type': 'application/json' },
        body: JSON.stringify(body),
        dispatcher: this.#dispatcher,
        signal: sig,
      });
      const text = await res.body.text();
      let parsed: unknown = null;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        parsed = null;
      }
      return { status: res.statusCode, body: parsed };
    } catch (err) {
      if (signal?.aborted === true) throw abortedError(signal);
      const why = timeout.aborted ? `no answer within ${this.#s.timeoutMs} ms` : messageOf(err);
      throw decryptionFailed('key_service', `${where}: Vault transit ${this.keyId} unreachable: ${why}`, err);
    }
  }
}

/** Vault's `errors` array as one line (never a token: Vault does not echo it). */
function vaultErrors(body: unknown): string {
  const errors = (body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? errors.filter((e) => typeof e === 'string').join('; ').slice(0, 300) : '';
}
