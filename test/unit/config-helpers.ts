// Shared fixtures for the config tests (not a test file itself: no `.test.ts` suffix).
import assert from 'node:assert/strict';
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
    if (next === undefined || next === null || typeof next !== 'object') cur[p] = {};
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
