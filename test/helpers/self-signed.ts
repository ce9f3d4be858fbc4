/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI in a temp
 * dir (the caller removes `dir`). The certificate is its own CA, so clients trust it by passing
 * it as `ca` (or through NODE_EXTRA_CA_CERTS = `certFile`); the SANs make hostname checks pass.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface SelfSigned {
  dir: string;
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
}

export async function selfSigned(name: string): Promise<SelfSigned> {
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  try {
    // EC keys generate in milliseconds (RSA can take a second).
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-addext', 'basicConstraints=critical,CA:TRUE',
    ]);
    return { dir, key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), keyFile, certFile };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
