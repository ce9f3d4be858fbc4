// Shared fixtures for the config tests (not a test file itself: no `.test.ts` suffix).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load.js';
import { InvalidConfigError } from '../../src/config/issues.js';
import { ReadPathError, hasCode } from '../../src/errors.js';

/** A valid config with one backend; every test mutates its own copy. */
export function baseConfig(): Record<string, unknown> & { backends: Record<string, unknown>[] } {
  return {
    backends: [
      {
        name: 'b1',
        endpoint: 'http://127.0.0.1:9000',
        bucket: 'data',
        access_key_id: 'AKIAEXAMPLE',
        secret_access_key: 'wJalrXUtnFEMI-K7MDENG',
      },
    ],
  };
}

/** Set a value at a dotted/indexed path like `backends.0.endpoint`, creating sections. */
export function setAt(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    // A boxed primitive (new String(' ')) is an object whose index properties are read-only:
    // it cannot hold a section either, so it is replaced like a primitive.
    if (next === undefined || next === null || typeof next !== 'object' || next instanceof String || next instanceof Number || next instanceof Boolean) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

/** Load and expect rejection; returns the error after checking its code and class. */
export async function expectInvalid(input: unknown, opts: LoadConfigOptions = { env: {} }): Promise<InvalidConfigError> {
  let caught: unknown;
  try {
    await loadConfig(input as never, opts);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, 'expected loadConfig to reject');
  assert.ok(caught instanceof ReadPathError, `expected a ReadPathError, got ${caught instanceof Error ? caught.message : JSON.stringify(caught)}`);
  assert.ok(caught instanceof InvalidConfigError);
  assert.equal(caught.code, 'INVALID_CONFIG');
  assert.equal(caught.httpStatus, 400);
  assert.ok(hasCode(caught, 'INVALID_CONFIG'));
  assert.ok(caught.issues.length > 0);
  return caught;
}

/**
 * Writes a self-signed server certificate and its key (`server.pem`, `server.key`, EC P-256) and a
 * client CA (`ca.pem`) into `dir`, made with the openssl CLI (as test/helpers/mock-vault.ts does);
 * returns their PEM texts.
 */
export function writeTestTlsFiles(dir: string): { cert: string; key: string; ca: string } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', ...ec, '-keyout', 'server.key', '-out', 'server.pem', '-subj', '/CN=readpath-gateway-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=readpath-client-ca', '-addext', 'basicConstraints=critical,CA:TRUE');
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return { cert: read('server.pem'), key: read('server.key'), ca: read('ca.pem') };
}
