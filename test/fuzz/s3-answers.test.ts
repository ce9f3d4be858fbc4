/**
 * Backend answers that are not what S3 says: error documents that are not valid XML, error
 * codes and messages of any text, at any status, for GET and HEAD — from a real S3 client
 * against s3rver behind the fault proxy. A key whose only copy answers so gets a coded error
 * (never a raw SDK exception, never a crash); a key with a second copy is served by it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { isErrorCode } from '../../src/errors.js';
import type { Fault } from '../helpers/fault-proxy.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { fcParams } from '../helpers/property-params.js';

let fleet: S3Fleet;
let dir: string;
let rp: ReadPath;
const BODY = new TextEncoder().encode('the object body');

before(async () => {
  fleet = await startS3Fleet({ count: 2 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-s3-answers-'));
  rp = await ReadPath.open({
    backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    server: { backend_timeout: '2s' },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
  });
  const store = rp.store as SqliteMetadataStore;
  for (const [key, on] of [['only-b1', ['b1']], ['both', ['b1', 'b2']]] as const) {
    await fleet.seed(key, BODY, on);
    await store.addLocations(on.map((b, i) => ({
      objectKey: key, backendName: b, sizeBytes: BODY.length, createdAt: new Date(1_700_000_000_000 + i), encrypted: false, contentHash: sha256Hex(BODY),
    })));
  }
});

after(async () => {
  await rp?.close();
  await fleet?.close();
  rmSync(dir, { recursive: true, force: true });
});

const faultArb: fc.Arbitrary<Extract<Fault, { kind: 'invalidXml' | 'status' }> & { status: number }> = fc.oneof(
  fc.record({ kind: fc.constant<'invalidXml'>('invalidXml'), status: fc.constantFrom(400, 403, 404, 409, 416, 500, 501, 502, 503) }),
  fc.record({
    kind: fc.constant<'status'>('status'),
    status: fc.constantFrom(400, 401, 403, 404, 405, 409, 412, 500, 503, 504),
    code: fc.oneof(fc.constantFrom('NoSuchKey', 'SlowDown', 'AccessDenied', 'InternalError', ''), fc.string({ maxLength: 20 })),
    message: fc.string({ unit: 'binary', maxLength: 40 }),
  }),
);

test('malformed and unexpected error answers: coded errors for a lone copy, failover when there is another', async () => {
  const seen = new Map<string, number>();
  await fc.assert(fc.asyncProperty(faultArb, fc.constantFrom<'GET' | 'HEAD'>('GET', 'HEAD'), async (fault, method) => {
    const proxy = fleet.backend('b1').proxy;
    proxy.clear();
    proxy.inject(fault, { match: { method } });
    try {
      const read = method === 'GET' ? (k: string) => rp.get(k) : (k: string) => rp.head(k);
      const err = await read('only-b1').then(() => undefined, (e: unknown) => e as { code?: unknown; httpStatus?: unknown; message?: unknown; name?: unknown });
      assert.ok(err !== undefined, `${method} ${JSON.stringify(fault)} was served as if fine`);
      assert.ok(isErrorCode(err.code), `not a coded error: ${String(err.name)} ${String(err.code)} ${String(err.message)}`);
      assert.equal(typeof err.httpStatus, 'number');
      assert.equal(typeof err.message, 'string');
      const bs = (err as { backendStatus?: unknown }).backendStatus;
      // A GET error document (HEAD answers have no body) whose Code says the key is missing is a 404.
      const missing = method === 'GET' && fault.kind === 'status' && (fault.code === 'NoSuchKey' || fault.code === 'NotFound');
      assert.equal(bs, missing ? 404 : fault.status, `the backend's status is kept: ${String(err.message)}`);
      seen.set(String(err.code), (seen.get(String(err.code)) ?? 0) + 1);
      const ok = await read('both');
      assert.equal(ok.backend, 'b2', 'the second copy serves');
    } finally {
      proxy.clear();
    }
  }), fcParams(40));
  // The reader is unharmed: a clean read from b1 after all that.
  assert.equal((await rp.get('only-b1')).verified, true);
  console.log(`codes seen: ${JSON.stringify(Object.fromEntries(seen))}`);
});

test('a 200 answer whose body is an XML error document is never served as the object', async () => {
  const proxy = fleet.backend('b1').proxy;
  proxy.inject({ kind: 'invalidXml', status: 200 }, { match: { method: 'GET' } });
  try {
    await assert.rejects(rp.get('only-b1'), (e: { code?: string }) => {
      assert.ok(e.code === 'INTEGRITY_MISMATCH' || e.code === 'BACKEND_ERROR', String(e.code));
      return true;
    });
    assert.equal((await rp.get('both')).backend, 'b2');
  } finally {
    proxy.clear();
  }
});
