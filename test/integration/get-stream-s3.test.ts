/**
 * getStream over real HTTP: s3rver backends behind fault proxies, rows in a real SQLite file,
 * the default (pool) runtime — whose streams read their sockets on the main thread, through
 * backends of its own. A copy that breaks mid-body is continued by Range on the next; damaged
 * bytes never reach 'end'; a stalled copy is left after the idle timeout; an abort or a
 * consumer that stops early frees every socket; a paused consumer stops the reading.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ReadPath, type StreamOutcome } from '../../src/read-path.js';
import { LeanS3Backend } from '../../src/backends/lean-s3-backend.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { DigestThread } from '../../src/streams/digest-thread.js';
import { hasCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { eventually } from '../helpers/handles.js';
import { assertMismatchBeforeEnd, readAll } from '../helpers/streams.js';
import { encryptForRow } from '../helpers/senc-encoder.js';
import { compressedRow, logLines, seekableZstd } from '../helpers/seekable-zstd.js';
import { deferred, type Deferred } from '../helpers/gate.js';

let fleet: S3Fleet;
let dir: string;
let t = Date.parse('2026-01-01T00:00:00Z');
const SIZE = 3 * 1024 * 1024 + 17;
const bytes = randomBytes(SIZE);
const MASTER = randomBytes(32);
/** Stored compressed (s3-orchestrator's seekable zstd): random bytes keep it about as big as `bytes`. */
const LOGICAL_Z = Buffer.concat([logLines(200_000), randomBytes(SIZE)]);
const STORED_Z = seekableZstd(LOGICAL_Z, { chunkSize: 256 * 1024 }).body;

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: fleet.backends.map((b) => ({ ...fleet.backendConfig(b.name) })),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    server: { backend_timeout: '5s' },
    runtime: { threads: 1, stream_idle_timeout: '1500ms' },
    striping: { enabled: false },
    logging: { level: 'silent' },
    ...extra,
  };
}

before(async () => {
  fleet = await startS3Fleet({ count: 3 });
  dir = mkdtempSync(join(tmpdir(), 'readpath-stream-'));
  const seeder = await ReadPath.open(config({ runtime: { mode: 'inline' } }));
  const db = seeder.store as SqliteMetadataStore;
  await fleet.seed('big.bin', bytes, ['b1', 'b2', 'b3']);
  await fleet.seed('nohash.bin', bytes, ['b1', 'b2']);
  await db.addLocations(['b1', 'b2', 'b3'].map((name) => ({
    objectKey: 'big.bin', backendName: name, sizeBytes: SIZE, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes),
  })));
  await db.addLocations(['b1', 'b2'].map((name) => ({
    objectKey: 'nohash.bin', backendName: name, sizeBytes: SIZE, createdAt: new Date(t++), encrypted: false, contentHash: null,
  })));
  // Encrypted (each copy its own data key) and compressed copies, for close() mid-stream.
  for (const name of ['b1', 'b2']) {
    const enc = encryptForRow(bytes, { masterKey: MASTER, chunkSize: 65536 });
    await fleet.seed('enc.bin', enc.body, [name]);
    await db.addLocations([{
      objectKey: 'enc.bin', backendName: name, sizeBytes: enc.sizeBytes, createdAt: new Date(t++), encrypted: true,
      encryptionKey: enc.encryptionKey, keyId: enc.keyId, plaintextSize: enc.plaintextSize, contentHash: enc.contentHash,
    }]);
    await fleet.seed('z.log', STORED_Z, [name]);
    await db.addLocations([compressedRow('z.log', name, LOGICAL_Z, STORED_Z, new Date(t++))]);
  }
  await seeder.close();
});

after(async () => {
  await fleet.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('getStream over s3rver (pool runtime)', () => {
  let rp: ReadPath;
  before(async () => {
    rp = await ReadPath.open(config());
  });
  after(async () => {
    await rp.close();
    for (const b of fleet.backends) b.proxy.clear();
  });

  it('streams a whole object, verified, from the first copy', async () => {
    assert.equal(rp.config.runtime.mode, 'pool');
    const o = await rp.getStream('big.bin');
    assert.equal(o.size, SIZE);
    const got = await readAll(o.body);
    assert.ok(got.equals(bytes));
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1']);
  });

  it('a copy cut at 40% is continued from the next copy by Range: the second copy serves the rest only', async () => {
    const cut = Math.floor(SIZE * 0.4);
    fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: cut }, { times: 1, match: { method: 'GET', key: 'big.bin' } });
    const before2 = rp.recorder.count('stream_bytes_total', { backend: 'b2' });
    const o = await rp.getStream('big.bin');
    const got = await readAll(o.body);
    assert.ok(got.equals(bytes), 'the consumer sees one whole, correct body');
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1', 'b2']);
    const fromB2 = rp.recorder.count('stream_bytes_total', { backend: 'b2' }) - before2;
    assert.ok(fromB2 <= 0.65 * SIZE, `b2 served ${fromB2} of ${SIZE} bytes`);
    assert.ok(fromB2 >= SIZE - cut - 256 * 1024, 'b2 served what b1 did not');
    const resumed = fleet.backend('b2').proxy.requestHeaders().filter((h) => h.range !== undefined).at(-1);
    assert.match(String(resumed?.range), /^bytes=\d+-/, 'the resume is a Range request');
    assert.equal(Number(/^bytes=(\d+)-/.exec(String(resumed?.range))?.[1]) >= cut - 256 * 1024, true);
    assert.equal(rp.recorder.count('stream_resumes_total', { backend: 'b1' }), 1);
  });

  it('a stalled copy is left after the idle timeout and the read continues elsewhere', async () => {
    fleet.backend('b1').proxy.inject({ kind: 'stallBody', keepBytes: 1024 * 1024 }, { times: 1, match: { method: 'GET', key: 'big.bin' } });
    const o = await rp.getStream('big.bin');
    const got = await readAll(o.body);
    assert.ok(got.equals(bytes));
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1', 'b2']);
  });

  it('with no content hash, a resume must match the first copy\'s ETag (If-Match)', async () => {
    fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 1000 }, { times: 1, match: { method: 'GET', key: 'nohash.bin' } });
    const o = await rp.getStream('nohash.bin');
    const got = await readAll(o.body);
    assert.ok(got.equals(bytes));
    assert.equal(await o.verified, false, 'nothing to verify against');
    assert.deepEqual(o.backends, ['b1', 'b2']);
    // A second copy whose ETag differs refuses (412): the stream fails rather than splicing.
    fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 1000 }, { times: 1, match: { method: 'GET', key: 'nohash.bin' } });
    fleet.backend('b2').proxy.inject({ kind: 'status', status: 412, code: 'PreconditionFailed' }, { times: 1, match: { method: 'GET', key: 'nohash.bin' } });
    const bad = await rp.getStream('nohash.bin');
    await assert.rejects(readAll(bad.body), (err: unknown) => hasCode(err, 'ALL_BACKENDS_FAILED') && /byte 1000/.test((err as Error).message));
  });

  it('a flipped byte errors the body with INTEGRITY_MISMATCH before end', async () => {
    fleet.backend('b1').proxy.inject({ kind: 'corrupt', offset: 2_000_000 }, { times: 1, match: { method: 'GET', key: 'big.bin' } });
    const o = await rp.getStream('big.bin');
    await assertMismatchBeforeEnd(o);
  });

  it('a paused consumer stops the reading: bytes read stay bounded while it waits', async () => {
    const before1 = rp.recorder.count('stream_bytes_total', { backend: 'b1' });
    const o = await rp.getStream('big.bin');
    const first = await new Promise<Buffer>((resolve) => o.body.once('readable', () => resolve(o.body.read() as Buffer)));
    // Wait until nothing more arrives (the socket and stream buffers are full), without sleeping on a clock.
    let last = -1;
    let still = 0;
    await eventually(() => {
      const n = rp.recorder.count('stream_bytes_total', { backend: 'b1' });
      still = n === last ? still + 1 : 0;
      last = n;
      return still >= 200;
    }, 5000);
    // The metric counts at segment end; while open, the body's own counter says what was pulled.
    assert.equal(rp.recorder.count('stream_bytes_total', { backend: 'b1' }), before1, 'the segment is still open');
    assert.ok(o.body.readableLength <= 2 * 64 * 1024, `buffered ${o.body.readableLength} bytes`);
    assert.ok(first.byteLength > 0);
    o.body.destroy();
    await new Promise((resolve) => o.body.once('close', resolve));
    assert.equal(await o.verified, false);
  });

  it('an abort mid-stream ends the body with ABORTED and frees the socket', async () => {
    const ac = new AbortController();
    const o = await rp.getStream('big.bin', { signal: ac.signal });
    const seen = createHash('sha256');
    let n = 0;
    const done = (async () => {
      for await (const c of o.body) {
        seen.update(c as Buffer);
        n += (c as Buffer).byteLength;
        if (n > 1024 * 1024) ac.abort();
      }
    })();
    await assert.rejects(done, (err: unknown) => hasCode(err, 'ABORTED'));
    assert.equal(await o.verified, false);
  });
});

describe('getStream sockets and bounded get (inline)', () => {
  it('close() after early-destroyed and aborted streams leaves no TCP handle', async () => {
    const rp = await ReadPath.open(config({ runtime: { mode: 'inline', max_buffered_bytes: '1MiB' } }));
    await assert.rejects(rp.get('big.bin'), (err: unknown) => hasCode(err, 'OBJECT_TOO_LARGE'));
    const a = await rp.getStream('big.bin');
    a.body.once('data', () => a.body.destroy());
    await new Promise((resolve) => a.body.once('close', resolve));
    const ac = new AbortController();
    const b = await rp.getStream('big.bin', { signal: ac.signal });
    b.body.once('data', () => ac.abort());
    await assert.rejects(readAll(b.body), (err: unknown) => hasCode(err, 'ABORTED'));
    const c = await rp.getStream('big.bin', { range: 'bytes=100-199' });
    assert.ok((await readAll(c.body)).equals(bytes.subarray(100, 200)));
    await rp.close();
    // The proxies count the connections readpath holds to them: none once it closed.
    assert.ok(await eventually(() => fleet.backends.every((b) => b.proxy.openConnections === 0)),
      `open: ${fleet.backends.map((b) => `${b.name}=${b.proxy.openConnections}`).join(' ')}`);
  });
});

describe('getStream into a caller buffer (lean transport over s3rver)', () => {
  let rp: ReadPath;
  const SMALL = 700 * 1024 + 3;
  const small = randomBytes(SMALL);

  before(async () => {
    rp = await ReadPath.open(config({ runtime: { mode: 'inline', stream_idle_timeout: '1500ms' } }));
    await fleet.seed('small.bin', small, ['b1', 'b2', 'b3']);
    await (rp.store as SqliteMetadataStore).addLocations(['b1', 'b2', 'b3'].map((name) => ({
      objectKey: 'small.bin', backendName: name, sizeBytes: SMALL, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(small),
    })));
  });
  after(async () => {
    await rp.close();
    for (const b of fleet.backends) b.proxy.clear();
  });

  /** The body's chunks, each checked to be the next bytes of `into`. */
  async function viewsOf(body: NodeJS.ReadableStream, into: Buffer): Promise<Buffer> {
    let at = 0;
    for await (const c of body) {
      const b = c as Buffer;
      assert.equal(b.buffer, into.buffer, 'a view of the buffer given');
      assert.equal(b.byteOffset, into.byteOffset + at, 'at its place in the span');
      at += b.byteLength;
    }
    return into.subarray(0, at);
  }

  it('a copy cut at 40% continues from the next copy into the same buffer, at the same offset', async () => {
    const cut = Math.floor(SIZE * 0.4);
    fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: cut }, { times: 1, match: { method: 'GET', key: 'big.bin' } });
    const into = Buffer.alloc(SIZE + 10);
    const o = await rp.getStream('big.bin', { into });
    assert.ok((await viewsOf(o.body, into)).equals(bytes));
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1', 'b2']);
  });

  it('a damaged copy of a small object is read again whole from the next, into the same buffer', async () => {
    fleet.backend('b1').proxy.inject({ kind: 'corrupt', offset: 500_000 }, { times: 1, match: { method: 'GET', key: 'small.bin' } });
    const into = Buffer.alloc(1024 * 1024);
    const o = await rp.getStream('small.bin', { into });
    assert.ok((await viewsOf(o.body, into)).equals(small));
    assert.equal(await o.verified, true);
    // None of b1's damaged bytes was handed on: the outcome names b2, whose bytes were.
    assert.deepEqual(o.backends, ['b2']);
    assert.equal(o.backend, 'b2');
    assert.equal(o.failover, true);
  });

  it('with a digest thread: the body in shared memory is checked there, a damaged copy is still left for the next', async () => {
    const thread = DigestThread.start();
    try {
      const into = Buffer.from(new SharedArrayBuffer(1024 * 1024));
      const ok = await rp.getStream('small.bin', { into, digest: thread.digest });
      assert.ok((await viewsOf(ok.body, into)).equals(small));
      assert.equal(await ok.verified, true);
      assert.equal(thread.answered, 1, 'the SHA-256 was computed by the thread');

      fleet.backend('b1').proxy.inject({ kind: 'corrupt', offset: 500_000 }, { times: 1, match: { method: 'GET', key: 'small.bin' } });
      const o = await rp.getStream('small.bin', { into, digest: thread.digest });
      assert.ok((await viewsOf(o.body, into)).equals(small));
      assert.equal(await o.verified, true);
      assert.deepEqual(o.backends, ['b2'], 'the thread\'s digest of the damaged copy failed its check');
      assert.equal(o.backend, 'b2');
      assert.equal(thread.answered, 3);
    } finally {
      await thread.close();
    }
  });

  it('a consumer that leaves while the held body\'s digest is computed elsewhere: the copy is not judged, no other copy is read', async () => {
    let release: (hex: string) => void = () => {};
    let asked = 0;
    // The first digest waits for the test; any later one (a copy wrongly read again) is wrong at once.
    const digest = (): Promise<string> => {
      if (asked++ > 0) return Promise.resolve('f'.repeat(64));
      return new Promise<string>((resolve) => {
        release = resolve;
      });
    };
    const resumes = rp.recorder.count('stream_resumes_total', { backend: 'b1' });
    const bytesFromB2 = rp.recorder.count('stream_bytes_total', { backend: 'b2' });
    const into = Buffer.alloc(1024 * 1024);
    const o = await rp.getStream('small.bin', { into, digest });
    o.body.resume();
    assert.ok(await eventually(() => asked === 1, 10_000), 'the digest was asked for');
    o.body.destroy();
    // The buffer may hold anything now: a wrong digest must not count against b1.
    release('0'.repeat(64));
    assert.equal(await o.verified, false);
    // Time for a wrongly judged copy to be replaced (a local request takes a few milliseconds).
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(o.backends, ['b1']);
    assert.equal(asked, 1);
    assert.equal(rp.recorder.count('stream_resumes_total', { backend: 'b1' }), resumes);
    assert.equal(rp.recorder.count('stream_bytes_total', { backend: 'b2' }), bytesFromB2);
  });

  it('with a digest thread, a body not in shared memory is hashed on the reading thread, damage caught the same', async () => {
    const thread = DigestThread.start();
    try {
      fleet.backend('b1').proxy.inject({ kind: 'corrupt', offset: 10 }, { times: 1, match: { method: 'GET', key: 'small.bin' } });
      const into = Buffer.alloc(1024 * 1024);
      const o = await rp.getStream('small.bin', { into, digest: thread.digest });
      assert.ok((await viewsOf(o.body, into)).equals(small));
      assert.equal(await o.verified, true);
      assert.deepEqual(o.backends, ['b2'], 'the damaged copy served none of the bytes');
      assert.equal(o.backend, 'b2');
      assert.equal(thread.answered, 0);
    } finally {
      await thread.close();
    }
  });

  it('a range lands at the buffer\'s start; a span larger than the buffer does not use it', async () => {
    const into = Buffer.alloc(4096, 0xab);
    const r = await rp.getStream('small.bin', { into, range: 'bytes=1000-2999' });
    assert.ok((await viewsOf(r.body, into)).equals(small.subarray(1000, 3000)));
    const before = Buffer.from(into);
    const o = await rp.getStream('small.bin', { into });
    const got = await readAll(o.body);
    assert.ok(got.equals(small));
    assert.ok(into.equals(before), 'the buffer was not written');
  });
});

describe('close() while streams are read', () => {
  const encryption = { enabled: true, master_key: MASTER.toString('base64') };
  const striping = { enabled: true, min_size: '1MiB', part_size: '256KiB', parts_in_flight: 2 };
  const cases = [
    { name: 'plain (pool runtime: the stream\'s own backends)', key: 'big.bin', want: bytes, extra: {} },
    { name: 'plain (inline)', key: 'big.bin', want: bytes, extra: { runtime: { mode: 'inline' as const } } },
    { name: 'striped', key: 'big.bin', want: bytes, extra: { runtime: { mode: 'inline' as const }, striping } },
    { name: 'encrypted', key: 'enc.bin', want: bytes, extra: { runtime: { mode: 'inline' as const }, encryption } },
    { name: 'compressed', key: 'z.log', want: LOGICAL_Z, extra: { runtime: { mode: 'inline' as const }, encryption } },
  ];
  after(() => {
    for (const b of fleet.backends) b.proxy.clear();
  });

  for (const c of cases) {
    it(`${c.name}: a stream cut by close() ends with SERVICE_UNAVAILABLE (readpath is closed), and no other copy is asked`, async () => {
      const rp = await ReadPath.open(config(c.extra));
      const o = await rp.getStream(c.key);
      // Some of the body taken, then the consumer waits while the reader closes.
      const first = await new Promise<Buffer>((resolve) => o.body.once('readable', () => resolve(o.body.read() as Buffer)));
      assert.ok(first.byteLength > 0 && first.byteLength < c.want.length, 'mid-body');
      const asked = fleet.backends.map((b) => b.proxy.requestCount);
      const closing = rp.close();
      await assert.rejects(readAll(o.body), (err: unknown) => hasCode(err, 'SERVICE_UNAVAILABLE') && !hasCode(err, 'ALL_BACKENDS_FAILED') && /readpath is closed/.test((err as Error).message));
      assert.equal(await o.verified, false);
      await closing;
      assert.deepEqual(fleet.backends.map((b) => b.proxy.requestCount), asked, 'no copy was asked to continue');
      assert.ok(await eventually(() => fleet.backends.every((b) => b.proxy.openConnections === 0)),
        `open: ${fleet.backends.map((b) => `${b.name}=${b.proxy.openConnections}`).join(' ')}`);
    });
  }

  /** Hold b1's next GET of big.bin at its proxy, start `read`, and wait until that GET is held. */
  const heldAtB1 = async <T>(read: () => Promise<T>): Promise<{ pending: Promise<T>; gate: Deferred<void> }> => {
    const gate = deferred();
    fleet.backend('b1').proxy.inject({ kind: 'gate', until: gate.promise }, { times: 1, match: { method: 'GET', key: 'big.bin' } });
    const pending = read();
    assert.ok(await eventually(() => fleet.backend('b1').proxy.requests().some((r) => r.key === 'big.bin' && r.fault === 'gate')), 'the GET reached b1');
    return { pending, gate };
  };

  it('a stream still opening when close() is called is refused with SERVICE_UNAVAILABLE', async () => {
    const rp = await ReadPath.open(config({ runtime: { mode: 'inline' } }));
    const { pending: opening, gate } = await heldAtB1(() => rp.getStream('big.bin'));
    const closing = rp.close();
    await assert.rejects(opening, (err: unknown) => hasCode(err, 'SERVICE_UNAVAILABLE') && /readpath is closed/.test((err as Error).message));
    gate.resolve();
    await closing;
  });

  it('a get() in flight when close() is called is drained: it gets its whole body', async () => {
    const rp = await ReadPath.open(config({ runtime: { mode: 'inline' } }));
    const { pending: reading, gate } = await heldAtB1(() => rp.get('big.bin'));
    const closing = rp.close();
    gate.resolve();
    const g = await reading;
    assert.ok(Buffer.from(g.body).equals(bytes));
    assert.equal(g.verified, true);
    assert.equal(g.backend, 'b1');
    await closing;
    await assert.rejects(rp.get('big.bin'), (err: unknown) => hasCode(err, 'SERVICE_UNAVAILABLE'));
  });
});

describe('aborts at every turn of a stream\'s opening (lean transport over s3rver)', () => {
  const REASON = new Error('the caller gave up');
  const PART = 256 * 1024;
  const striping = { enabled: true, min_size: '1MiB', part_size: '256KiB', parts_in_flight: 2 };
  /** When the armed abort fires: `depth` microtasks after a GET's answer, or after its body ended. */
  interface Armed { ac: AbortController; depth: number; range: string | undefined; after: 'answer' | 'end' }

  /**
   * A reader (inline) over the fleet through backends of the test's own, which abort the armed
   * controller, once, at the moment it names on the first GET whose Range is `range`
   * (undefined: a whole-object GET), and keep every body they hand out.
   */
  async function abortingReader(extra: Partial<ReadPathConfig>): Promise<{ rp: ReadPath; bodies: Readable[]; arm: (a: Armed) => void; close: () => Promise<void> }> {
    const backends = fleet.backends.map((b) => new LeanS3Backend(fleet.backendOptions(b.name)));
    const bodies: Readable[] = [];
    let armed: Armed | undefined;
    for (const b of backends) {
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        const r = await get(key, opts);
        bodies.push(r.body);
        const a = armed;
        if (a !== undefined && opts?.range === a.range) {
          armed = undefined;
          const fire = (): void => {
            let later = Promise.resolve();
            for (let i = 0; i < a.depth; i++) later = later.then(() => {});
            void later.then(() => a.ac.abort(REASON));
          };
          if (a.after === 'end') r.body.once('end', fire);
          else fire();
        }
        return r;
      };
    }
    const rp = await ReadPath.open(config({ runtime: { mode: 'inline' }, ...extra }), { backends });
    const close = async (): Promise<void> => {
      await rp.close();
      await Promise.all(backends.map((b) => b.close()));
    };
    return { rp, bodies, arm: (a) => { armed = a; }, close };
  }

  const isAbort = (err: unknown): boolean => hasCode(err, 'ABORTED') && (err as Error).cause === REASON;
  const released = (bodies: Readable[]): boolean => bodies.every((b) => b.destroyed || b.readableEnded);
  /** `p`'s value if it settles within a bounded number of event-loop turns, else undefined. */
  async function settledSoon<T>(p: Promise<T>): Promise<{ value: T } | undefined> {
    let out: { value: T } | undefined;
    void p.then((value) => {
      out = { value };
    });
    await eventually(() => out !== undefined, 200);
    return out;
  }

  it('striped: an abort at any turn around part 0\'s completion rejects the read or fails its body with it; verified settles unread, every body released', async () => {
    const { rp, bodies, arm, close } = await abortingReader({ striping });
    try {
      for (let depth = 0; depth < 30; depth++) {
        const ac = new AbortController();
        arm({ ac, depth, range: `bytes=0-${PART - 1}`, after: 'end' });
        let o: StreamOutcome;
        try {
          o = await rp.getStream('big.bin', { signal: ac.signal });
        } catch (err) {
          assert.ok(isAbort(err), `depth ${depth}: ${String(err)}`);
          assert.ok(await eventually(() => released(bodies)), `depth ${depth}: every body released`);
          continue;
        }
        const failed = new Promise<unknown>((resolve) => o.body.once('error', resolve));
        // Nobody reads the body: an aborted read must still say it was not verified.
        assert.deepEqual(await settledSoon(o.verified), { value: false }, `depth ${depth}: verified settled without a read`);
        assert.ok(isAbort(await failed), `depth ${depth}: the body failed with the abort`);
        assert.ok(await eventually(() => released(bodies)), `depth ${depth}: every body released`);
      }
    } finally {
      await close();
    }
  });

  const late = [
    { name: 'plain, the abort after the copy\'s answer', extra: {}, range: undefined, after: 'answer' as const },
    { name: 'striped, the abort after part 0\'s answer', extra: { striping }, range: `bytes=0-${PART - 1}`, after: 'answer' as const },
    { name: 'striped, the abort after part 0\'s end', extra: { striping }, range: `bytes=0-${PART - 1}`, after: 'end' as const },
  ];
  for (const c of late) {
    it(`${c.name}: a body read only a turn after getStream resolved fails with the abort, never an uncaught 'error'`, async () => {
      const { rp, bodies, arm, close } = await abortingReader(c.extra);
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown): void => {
        uncaught.push(err);
      };
      process.prependListener('uncaughtException', onUncaught);
      try {
        for (let depth = 0; depth < 30; depth++) {
          const ac = new AbortController();
          arm({ ac, depth, range: c.range, after: c.after });
          let o: StreamOutcome;
          try {
            o = await rp.getStream('big.bin', { signal: ac.signal });
          } catch (err) {
            assert.ok(isAbort(err), `depth ${depth}: ${String(err)}`);
            continue;
          }
          // The consumer gets to the body later (it awaited something else first).
          await new Promise((r) => setImmediate(r));
          await assert.rejects(readAll(o.body), (err: unknown) => isAbort(err), `depth ${depth}`);
          assert.equal(await o.verified, false);
          assert.ok(await eventually(() => released(bodies)), `depth ${depth}: every body released`);
          assert.deepEqual(uncaught, [], `depth ${depth}: no uncaught error`);
        }
      } finally {
        process.off('uncaughtException', onUncaught);
        await close();
      }
    });
  }
});
