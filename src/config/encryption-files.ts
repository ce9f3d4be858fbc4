/**
 * The files an enabled `encryption:` section names, read while the config loads (upstream checks
 * them at startup too): `master_key_file` (exactly 32 raw bytes), `vault.ca_cert` (PEM
 * certificates) and `vault.token_file` (it must exist and hold a token; only its path is kept,
 * the Vault client re-reads it). Relative paths resolve against the config file's directory, as
 * `database.path` does.
 *
 * Like checks.ts this reads the prepared document defensively (wrong types are the schema's to
 * report), so file problems are reported together with every other one. Messages name the
 * problem, never the path (the field names it) nor anything read from the file.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fsReason, type RawIssue } from './issues.js';
import { isPlainObject } from './prepare.js';
import { encryptionEnabled, MASTER_KEY_BYTES } from './schema.js';

/** What was read from the files an `encryption:` section names (null: not configured). */
export interface EncryptionFiles {
  /** `master_key_file`'s 32 bytes. */
  masterKey: Uint8Array | null;
  /** `vault.ca_cert`'s certificates, as PEM. */
  caCert: string | null;
  /** `vault.token_file`, absolute. */
  tokenFile: string | null;
}

/** No files: what a config without an enabled `encryption:` section reads. */
export const NO_ENCRYPTION_FILES: EncryptionFiles = Object.freeze({ masterKey: null, caCert: null, tokenFile: null });

/** A CA bundle, certificate, key or token file bigger than this is not one. */
export const MAX_TEXT_FILE_BYTES = 1024 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const BASE64_KEY_TEXT = /^[A-Za-z0-9+/]{43}=\s*$/;

type FileRead = { ok: true; data: Buffer } | { ok: false; message: string };

/** A regular file's content, when it is at most `maxBytes` long (`tooBig` says why not otherwise). */
export function readRegularFile(path: string, maxBytes: number, tooBig: (size: number) => string): FileRead {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return { ok: false, message: 'is a directory, not a file' };
    if (!st.isFile()) return { ok: false, message: 'is not a regular file' };
    if (st.size > maxBytes) return { ok: false, message: tooBig(st.size) };
    const data = readFileSync(path);
    // Checked again: the file may have changed since the stat.
    return data.length > maxBytes ? { ok: false, message: tooBig(data.length) } : { ok: true, data };
  } catch (err) {
    return { ok: false, message: fsReason(err) };
  }
}

function keyFileSizeMessage(size: number): string {
  return `must hold exactly ${MASTER_KEY_BYTES} raw bytes; the file holds ${size}`;
}

function readMasterKeyFile(path: string): { ok: true; key: Uint8Array } | { ok: false; message: string } {
  // Read up to 64 bytes so a file holding the key as base64 text can be told apart.
  const r = readRegularFile(path, 64, keyFileSizeMessage);
  if (!r.ok) return r;
  const n = r.data.length;
  if (n === MASTER_KEY_BYTES) {
    const key = new Uint8Array(r.data);
    r.data.fill(0);
    return { ok: true, key };
  }
  const base64 = BASE64_KEY_TEXT.test(r.data.toString('latin1'));
  r.data.fill(0);
  return {
    ok: false,
    message: keyFileSizeMessage(n) + (base64 ? ' (it looks like base64 text: put that in encryption.master_key, or write the decoded bytes to the file)' : ''),
  };
}

/**
 * The PEM certificates in a file (a CA bundle, or a certificate and its chain), each checked to
 * parse, as PEM text without anything around them; also for gateway-files.ts.
 */
export function readPemCertificates(path: string): { ok: true; pem: string } | { ok: false; message: string } {
  const r = readRegularFile(path, MAX_TEXT_FILE_BYTES, () => 'is larger than 1MiB: not a PEM certificate file');
  if (!r.ok) return r;
  const blocks = r.data.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { ok: false, message: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' };
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return { ok: false, message: `certificate ${i + 1} of ${blocks.length} in the file does not parse` };
    }
  }
  return { ok: true, pem: `${blocks.join('\n')}\n` };
}

function checkTokenFile(path: string): string | undefined {
  const r = readRegularFile(path, MAX_TEXT_FILE_BYTES, () => 'is larger than 1MiB: not a token file');
  if (!r.ok) return r.message;
  const empty = r.data.toString('utf8').trim() === '';
  r.data.fill(0);
  return empty ? 'the token file is empty' : undefined;
}

/** A non-empty string value, or undefined. */
function pathValue(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Read (and check) the files an enabled `encryption:` section of a prepared document names. */
export function readEncryptionFiles(doc: unknown, baseDir: string): { issues: RawIssue[]; files: EncryptionFiles } {
  const issues: RawIssue[] = [];
  const files: EncryptionFiles = { ...NO_ENCRYPTION_FILES };
  const enc = isPlainObject(doc) ? doc['encryption'] : undefined;
  if (!isPlainObject(enc) || !encryptionEnabled(enc)) return { issues, files };
  const keyFile = pathValue(enc['master_key_file']);
  if (keyFile !== undefined) {
    const r = readMasterKeyFile(resolvePath(baseDir, keyFile));
    if (r.ok) files.masterKey = r.key;
    else issues.push({ path: ['encryption', 'master_key_file'], message: r.message });
  }
  const vault = enc['vault'];
  if (isPlainObject(vault)) {
    const ca = pathValue(vault['ca_cert']);
    if (ca !== undefined) {
      const r = readPemCertificates(resolvePath(baseDir, ca));
      if (r.ok) files.caCert = r.pem;
      else issues.push({ path: ['encryption', 'vault', 'ca_cert'], message: r.message });
    }
    const tokenFile = pathValue(vault['token_file']);
    if (tokenFile !== undefined) {
      const abs = resolvePath(baseDir, tokenFile);
      const problem = checkTokenFile(abs);
      if (problem === undefined) files.tokenFile = abs;
      else issues.push({ path: ['encryption', 'vault', 'token_file'], message: problem });
    }
  }
  return { issues, files };
}
