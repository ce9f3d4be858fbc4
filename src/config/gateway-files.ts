/**
 * The files `server.tls` names, read while the config loads (a gateway that cannot start TLS
 * should say so at `readpath validate`, not at the first connection): `cert_file` (PEM
 * certificates: the server's, then its chain), `key_file` (an unencrypted PEM private key that
 * matches the first certificate, as Go's tls.LoadX509KeyPair requires) and `client_ca_file` (PEM
 * CA certificates for client certificates, mTLS). Relative paths resolve against the config
 * file's directory, as `database.path` does. Empty strings are "not set", as upstream reads them.
 *
 * Like checks.ts this reads the prepared document defensively (wrong types are the schema's to
 * report), so file problems are reported together with every other one. Messages name the
 * problem, never the path (the field names it) nor anything read from a file.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { createSecureContext } from 'node:tls';
import { MAX_TEXT_FILE_BYTES, readPemCertificates, readRegularFile } from './encryption-files.js';
import type { RawIssue } from './issues.js';
import { isPlainObject } from './prepare.js';

/** What was read from the files `server.tls` names, as PEM text (null: not configured or not read). */
export interface GatewayFiles {
  /** `cert_file`'s certificates. */
  cert: string | null;
  /** `key_file`'s private key. A secret: see mask.ts. */
  key: string | null;
  /** `client_ca_file`'s certificates. */
  clientCa: string | null;
}

/** No files: what a config without `server.tls` files reads. */
export const NO_GATEWAY_FILES: GatewayFiles = Object.freeze({ cert: null, key: null, clientCa: null });

const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

type KeyRead = { ok: true; pem: string; key: KeyObject } | { ok: false; message: string };

function readPrivateKey(path: string): KeyRead {
  const r = readRegularFile(path, MAX_TEXT_FILE_BYTES, () => 'is larger than 1MiB: not a PEM private key file');
  if (!r.ok) return r;
  const text = r.data.toString('utf8');
  r.data.fill(0);
  const m = PEM_PRIVATE_KEY.exec(text);
  if (m === null) return { ok: false, message: 'holds no PEM private key (-----BEGIN PRIVATE KEY-----)' };
  const pem = `${m[0]}\n`;
  if (m[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    return { ok: false, message: 'holds a passphrase-protected private key: the gateway needs it unencrypted (as s3-orchestrator does)' };
  }
  try {
    return { ok: true, pem, key: createPrivateKey(pem) };
  } catch {
    return { ok: false, message: 'the private key does not parse' };
  }
}

/** OpenSSL's reason for refusing a certificate and key (a short fixed text, e.g. `ee key too small`). */
function tlsReason(err: unknown): string {
  const reason = (err as { reason?: unknown } | null)?.reason;
  if (typeof reason === 'string' && /^[\w .-]{1,80}$/.test(reason)) return reason;
  const msg = err instanceof Error ? err.message : '';
  const tail = msg.slice(msg.lastIndexOf(':') + 1).trim();
  return /^[\w .-]{1,80}$/.test(tail) ? tail : 'rejected';
}

/** A non-empty string value, or undefined. */
function pathValue(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Read (and check) the files `server.tls` of a prepared document names. */
export function readGatewayFiles(doc: unknown, baseDir: string): { issues: RawIssue[]; files: GatewayFiles } {
  const issues: RawIssue[] = [];
  const files: GatewayFiles = { ...NO_GATEWAY_FILES };
  const server = isPlainObject(doc) ? doc['server'] : undefined;
  const tls = isPlainObject(server) ? server['tls'] : undefined;
  if (!isPlainObject(tls)) return { issues, files };
  const at = (field: string): PropertyKey[] => ['server', 'tls', field];

  const certFile = pathValue(tls['cert_file']);
  if (certFile !== undefined) {
    const r = readPemCertificates(resolvePath(baseDir, certFile));
    if (r.ok) files.cert = r.pem;
    else issues.push({ path: at('cert_file'), message: r.message });
  }
  const keyFile = pathValue(tls['key_file']);
  let key: KeyObject | undefined;
  if (keyFile !== undefined) {
    const r = readPrivateKey(resolvePath(baseDir, keyFile));
    if (r.ok) {
      files.key = r.pem;
      key = r.key;
    } else issues.push({ path: at('key_file'), message: r.message });
  }
  if (files.cert !== null && files.key !== null && key !== undefined) {
    const leaf = new X509Certificate(files.cert); // the first certificate: the server's own
    if (!leaf.checkPrivateKey(key)) {
      issues.push({ path: at('key_file'), message: 'does not match the (first) certificate in server.tls.cert_file' });
      files.key = null;
    } else {
      try {
        createSecureContext({ cert: files.cert, key: files.key });
      } catch (err) {
        issues.push({ path: at('key_file'), message: `the certificate and key are not usable for TLS (${tlsReason(err)})` });
        files.key = null;
      }
    }
  }
  const caFile = pathValue(tls['client_ca_file']);
  if (caFile !== undefined) {
    const r = readPemCertificates(resolvePath(baseDir, caFile));
    if (r.ok) files.clientCa = r.pem;
    else issues.push({ path: at('client_ca_file'), message: r.message });
  }
  return { issues, files };
}
