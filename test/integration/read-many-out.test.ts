/**
 * readMany with `out`: each verified body is written where it was read — in the probe's worker
 * with the pool, on the calling thread inline — under the directory, at the key's path, and only
 * after it passed verification. Over s3rver backends behind the fault proxy and a SQLite file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/verify.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { ObjectLocation } from '../../src/types.js';
import type { BatchOutcome } from '../../src/read-path.js';
import { keysMissingFrom } from '../../src/sinks/missing-keys.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { unwritableDir } from '../helpers/unwritable-dir.js';

let fleet: S3Fleet;
let dir: string;
let t = Date.parse('2026-03-01T00:00:00Z');

before(async () => {
  fleet = await startS3Fleet({ count: 2 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-out-'));
});
after(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

async function seed(rp: ReadPath, key: string, body: string, on: string[]): Promise<void> {
  await seedBytes(rp, key, new TextEncoder().encode(body), on);
}

async function seedBytes(rp: ReadPath, key: string, bytes: Uint8Array, on: string[]): Promise<void> {
  for (const name of on) await fleet.seed(key, bytes, [name]);
  await (rp.store as SqliteMetadataStore).addLocations(on.map((name) => ({
    objectKey: key, backendName: name, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes),
  })));
}

async function collect(it: AsyncIterable<BatchOutcome>): Promise<Map<string, BatchOutcome>> {
  const out = new Map<string, BatchOutcome>();
  for await (const o of it) out.set(o.key, o);
  return out;
}

for (const mode of ['pool', 'inline'] as const) {
  describe(`readMany with out (${mode})`, () => {
    const config = (): ReadPathConfig => ({
      backends: fleet.backends.map((b) => fleet.backendConfig(b.name)),
      database: { driver: 'sqlite', path: join(dir, `meta-${mode}.db`) },
      server: { backend_timeout: '2s' },
      runtime: mode === 'pool' ? { mode, threads: 2 } : { mode },
      logging: { level: 'silent' },
    });

    it('writes verified bodies at their keys, fails over past a corrupt copy, and never writes a bad one', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `out-${mode}`);
      try {
        await seed(rp, `${mode}/a.txt`, 'alpha', ['b1', 'b2']);
        await seed(rp, `${mode}/deep/b.bin`, 'bravo', ['b1']);
        await seed(rp, `${mode}/c`, 'charlie', ['b1', 'b2']);
        await seed(rp, `${mode}/bad`, 'damaged everywhere', ['b1']);
        fleet.backend('b1').proxy.inject({ kind: 'corrupt' }, { times: 1, match: { key: `${mode}/c` } });
        fleet.backend('b1').proxy.inject({ kind: 'corrupt' }, { times: 1, match: { key: `${mode}/bad` } });
        const got = await collect(rp.readMany([`${mode}/a.txt`, `${mode}/deep/b.bin`, `${mode}/c`, `${mode}/bad`, `${mode}/missing`], { out }));
        for (const [key, body] of [[`${mode}/a.txt`, 'alpha'], [`${mode}/deep/b.bin`, 'bravo'], [`${mode}/c`, 'charlie']] as const) {
          const o = got.get(key);
          assert.ok(o?.ok === true && 'path' in o, JSON.stringify(o));
          assert.equal(o.path, key);
          assert.equal(o.verified, true);
          assert.equal(readFileSync(join(out, key), 'utf8'), body);
          assert.ok(!('body' in o), 'the body went to the file, not to the caller');
        }
        const c = got.get(`${mode}/c`);
        assert.ok(c?.ok === true && c.backend === 'b2' && c.failover, 'the corrupt copy lost to the good one');
        assert.equal((got.get(`${mode}/bad`) as { error: { code: string } }).error.code, 'INTEGRITY_MISMATCH');
        assert.equal((got.get(`${mode}/missing`) as { error: { code: string } }).error.code, 'OBJECT_NOT_FOUND');
        assert.deepEqual(readdirSync(join(out, mode)).sort(), ['a.txt', 'c', 'deep'], 'nothing for the damaged or missing keys, no temporary file');
      } finally {
        await rp.close();
      }
    });

    it('a copy without a content_hash whose whole GET answers another size than its row is refused, and the next copy is read: get, readMany, out', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `sized-${mode}`);
      try {
        const key = `${mode}/sized`;
        const only = `${mode}/sized-only`;
        const body = 'the object the rows describe';
        // b1 holds another object under both keys (a stale write, say): no hash to check, only its size tells.
        await fleet.seed(key, 'an older, shorter one', ['b1']);
        await fleet.seed(key, body, ['b2']);
        await fleet.seed(only, 'an older, shorter one', ['b1']);
        const row = (k: string, backendName: string): ObjectLocation => ({ objectKey: k, backendName, sizeBytes: body.length, createdAt: new Date(t++), encrypted: false, contentHash: null });
        await (rp.store as SqliteMetadataStore).addLocations([row(key, 'b1'), row(key, 'b2'), row(only, 'b1')]);
        const refused = (o: BatchOutcome | undefined): void => {
          assert.ok(o?.ok === false, JSON.stringify(o));
          assert.equal(o.error.code, 'BACKEND_ERROR');
          assert.match(o.error.message, /b1: .*answered 21 stored bytes where the row says 28 \(the copy differs from its row\)/);
        };
        const g = await rp.get(key);
        assert.equal(g.backend, 'b2');
        assert.equal(g.failover, true);
        assert.equal(new TextDecoder().decode(g.body), body);
        await assert.rejects(rp.get(only), { code: 'BACKEND_ERROR' });
        const buffered = await collect(rp.readMany([key, only]));
        const b = buffered.get(key);
        assert.ok(b?.ok === true && 'body' in b && b.backend === 'b2', JSON.stringify(b));
        assert.equal(new TextDecoder().decode(b.body), body);
        refused(buffered.get(only));
        const written = await collect(rp.readMany([key, only], { out }));
        const w = written.get(key);
        assert.ok(w?.ok === true && 'path' in w && w.backend === 'b2', JSON.stringify(w));
        assert.equal(readFileSync(join(out, key), 'utf8'), body);
        refused(written.get(only));
        assert.deepEqual(readdirSync(join(out, mode)), ['sized'], 'no file for the refused copy');
      } finally {
        await rp.close();
      }
    });

    it('a body that cannot be written is WRITE_FAILED, and no other copy is read for it', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `trap-${mode}`);
      mkdirSync(join(out, mode), { recursive: true });
      symlinkSync(dir, join(out, mode, 'link'));
      try {
        await seed(rp, `${mode}/link/x`, 'x', ['b1', 'b2']);
        const before = fleet.backend('b2').proxy.requestCount;
        const got = await collect(rp.readMany([`${mode}/link/x`], { out }));
        const o = got.get(`${mode}/link/x`) as { ok: false; error: { code: string; message: string } };
        assert.equal(o.ok, false);
        assert.equal(o.error.code, 'WRITE_FAILED');
        assert.match(o.error.message, /read from b1 but not written under --out: .*symbolic link/);
        assert.equal(fleet.backend('b2').proxy.requestCount, before, 'the copy was good: no failover for a local write failure');
      } finally {
        await rp.close();
      }
    });

    it('bodies several times the connection\'s 256 KiB buffer are written whole through it, past copies cut or damaged deep inside', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `large-${mode}`);
      try {
        const size = 1024 * 1024 + 333;
        const bodyOf = (n: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * (n + 3) + n) & 0xff));
        const keys = [0, 1, 2, 3, 4, 5].map((n) => `${mode}/large/k${n}`);
        for (const [n, k] of keys.entries()) await seedBytes(rp, k, bodyOf(n), ['b1', 'b2']);
        // On b1: k1 cut after 600 KiB (the connection closed), k2 damaged past the first two
        // turns of the buffer, k3 stalled mid-body (the backend timeout), k4 reset before its
        // head; k0 and k5 are good on both.
        fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 600 * 1024 }, { times: 1, match: { key: keys[1] as string } });
        fleet.backend('b1').proxy.inject({ kind: 'corrupt', offset: 700_000 }, { times: 1, match: { key: keys[2] as string } });
        fleet.backend('b1').proxy.inject({ kind: 'stallBody', keepBytes: 300 * 1024 }, { times: 1, match: { key: keys[3] as string } });
        fleet.backend('b1').proxy.inject({ kind: 'reset' }, { times: 1, match: { key: keys[4] as string } });
        for (let round = 0; round < 2; round++) {
          const got = await collect(rp.readMany(keys, { out }));
          for (const [n, k] of keys.entries()) {
            const o = got.get(k);
            assert.ok(o?.ok === true && 'path' in o && o.verified, `${k}: ${JSON.stringify(o)}`);
            if (round === 0 && n >= 1 && n <= 4) assert.equal(o.backend, 'b2', `${k}: the damaged copy lost to the good one`);
            assert.equal(sha256Hex(readFileSync(join(out, k))), sha256Hex(bodyOf(n)), `${k}, round ${round}`);
          }
        }
        assert.deepEqual(readdirSync(join(out, mode, 'large')).sort(), keys.map((k) => k.slice(k.lastIndexOf('/') + 1)), 'no temporary file left');
      } finally {
        await rp.close();
      }
    });

    it('resumed with keysMissingFrom and keysUnder: only the keys whose file is missing are read', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `resume-${mode}`);
      try {
        const keys = [0, 1, 2, 3, 4].map((i) => `${mode}/resume/k${i}`);
        for (const k of keys) await seed(rp, k, `body of ${k}`, ['b1']);
        // A first run that got only two keys done.
        await collect(rp.readMany(keys.slice(0, 2), { out }));
        writeFileSync(join(out, keys[0] as string), 'left by the first run');
        const before = fleet.backend('b1').proxy.requests().length;
        const skipped: string[] = [];
        const got = await collect(rp.readMany(keysMissingFrom(out, rp.keysUnder(`${mode}/resume/`), (k) => skipped.push(k)), { out }));
        assert.deepEqual([...got.keys()].sort(), keys.slice(2));
        assert.ok([...got.values()].every((o) => o.ok));
        assert.deepEqual(skipped, keys.slice(0, 2));
        const gets = fleet.backend('b1').proxy.requests().slice(before).filter((q) => q.method === 'GET').map((q) => q.key).sort();
        assert.deepEqual(gets, keys.slice(2), 'no read for a key whose file was there');
        assert.equal(readFileSync(join(out, keys[0] as string), 'utf8'), 'left by the first run');
        for (const k of keys.slice(1)) assert.equal(readFileSync(join(out, k), 'utf8'), `body of ${k}`);
      } finally {
        await rp.close();
      }
    });

    it('each batch checks the directory tree afresh: a directory removed since is made again, one replaced by a symlink is not followed', async () => {
      const rp = await ReadPath.open(config());
      const out = join(dir, `between-${mode}`);
      const outside = join(dir, `between-outside-${mode}`);
      mkdirSync(outside);
      try {
        // Enough keys under sub/ that every worker writes there (and learns it is a real directory).
        const first = Array.from({ length: 8 }, (_, i) => `sub/a${i}`);
        for (const k of [...first, 'sub/b', 'sub/c']) await seed(rp, `${k}`, `body of ${k}`, ['b1']);
        assert.ok([...(await collect(rp.readMany(first, { out }))).values()].every((o) => o.ok));
        // Between batches, someone clears the directory...
        rmSync(join(out, 'sub'), { recursive: true });
        const b = (await collect(rp.readMany(['sub/b'], { out }))).get('sub/b');
        assert.ok(b?.ok === true, JSON.stringify(b));
        assert.equal(readFileSync(join(out, 'sub/b'), 'utf8'), 'body of sub/b');
        // ...or puts a symlink out of DIR where it was.
        rmSync(join(out, 'sub'), { recursive: true });
        symlinkSync(outside, join(out, 'sub'));
        const c = (await collect(rp.readMany(['sub/c'], { out }))).get('sub/c') as { ok: boolean; error?: { code: string; message: string } };
        assert.equal(c.ok, false);
        assert.equal(c.error?.code, 'WRITE_FAILED');
        assert.match(c.error?.message ?? '', /symbolic link/);
        assert.deepEqual(readdirSync(outside), [], 'nothing written outside DIR');
      } finally {
        await rp.close();
      }
    });
  });
}

it('readMany with out refuses a range, a transform or HEAD, and an unusable directory (a file, one it cannot write), with INVALID_CONFIG', async () => {
  const rp = await ReadPath.open({ backends: [fleet.backendConfig('b1')], database: { driver: 'memory' }, runtime: { mode: 'inline' }, logging: { level: 'silent' } });
  const readOnly = join(dir, 'read-only');
  const restore = unwritableDir(readOnly);
  try {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    for (const opts of [{ out: dir, range: 'bytes=0-1' }, { out: dir, op: 'head' as const }, { out: dir, transform: 'x.mjs' }, { out: file }, { out: readOnly }]) {
      await assert.rejects(collect(rp.readMany(['k'], opts)), { code: 'INVALID_CONFIG' });
    }
    // keysMissingFrom only looks: a directory it cannot write is no problem to it.
    const missing: string[] = [];
    for await (const k of keysMissingFrom(readOnly, ['k'])) missing.push(k);
    assert.deepEqual(missing, ['k']);
  } finally {
    restore();
    await rp.close();
  }
});
