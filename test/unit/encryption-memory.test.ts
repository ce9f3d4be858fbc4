/**
 * Encrypted copies through the whole read path, fast: memory backends holding s3-orchestrator
 * ciphertext, rows with their key data, readpath configured with master keys. Every way to read
 * — get (whole, ranges, transform), head, getStream (whole, ranges, mid-body failover, striped)
 * — yields the plaintext; a copy that will not decrypt is left for the next.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import type { GetResult, ObjectBackend } from '../../src/types.js';
import { encryptForRow, flipByte, type EncryptedRow } from '../helpers/senc-encoder.js';
import { EncryptedSeeding } from '../helpers/encrypted-seeding.js';
import { assertMismatchBeforeEnd, readAll } from '../helpers/streams.js';

const is = (code: string) => (err: unknown) => hasCode(err, code as never);
const MASTER = randomBytes(32);

/** A backend that cuts every body it serves after `cutAt` bytes (while armed). */
class CuttingBackend implements ObjectBackend {
  readonly name: string;
  cutAt = -1;
  /** Each call's `since` and the moment it was made, in order. */
  readonly calls: { since: number | undefined; at: number }[] = [];
  constructor(readonly inner: MemoryBackend) {
    this.name = inner.name;
  }
  head(key: string, opts?: { signal?: AbortSignal; since?: number }) {
    this.calls.push({ since: opts?.since, at: performance.now() });
    return this.inner.head(key, opts);
  }
  async get(key: string, opts?: { signal?: AbortSignal; range?: string; since?: number }): Promise<GetResult> {
    this.calls.push({ since: opts?.since, at: performance.now() });
    const res = await this.inner.get(key, opts);
    if (this.cutAt < 0) return res;
    const bytes = await readAll(res.body);
    const cut = this.cutAt;
    async function* gen(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, cut);
      throw new ReadPathError('BACKEND_ERROR', 'connection reset');
    }
    return { ...res, body: Readable.from(gen()) };
  }
}

function open(extra: Partial<ReadPathConfig> = {}, n = 3) {
  const mems = Array.from({ length: n }, (_, i) => new MemoryBackend(`b${i + 1}`));
  const backends = mems.map((m) => new CuttingBackend(m));
  const store = new MemoryMetadataStore();
  const config: ReadPathConfig = {
    backends: mems.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'memory' },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
    striping: { enabled: false },
    encryption: { enabled: true, master_key: MASTER.toString('base64') },
    ...extra,
  };
  const seeding = new EncryptedSeeding((key, body, on) => {
    for (const name of on) mems.find((b) => b.name === name)?.put(key, body);
  }, MASTER, { start: 1, onRow: (row) => store.add(row) });
  /** Encrypt `plain` for each named backend with its own data key (and chunk size), and record the rows. */
  const seed = (key: string, plain: Uint8Array, on: string[] = ['b1', 'b2'], chunkSizes: number[] = []): Promise<EncryptedRow[]> =>
    seeding.encrypted(key, plain, on, { chunkSizes });
  return {
    rp: () => ReadPath.open(config, { backends, store }),
    seed,
    mem: (name: string) => mems.find((b) => b.name === name) as MemoryBackend,
    store,
    config,
    backends,
    cutting: (name: string) => backends.find((b) => b.name === name) as CuttingBackend,
  };
}

describe('encrypted copies (memory backends)', () => {
  const plain = randomBytes(3 * 4096 + 777);

  it('head of a row without plaintext_size is refused for that copy (as a get is), with no request; the next copy answers', async () => {
    const w = open();
    await w.seed('k', plain);
    const rows = await w.store.getAllObjectLocations('k');
    w.store.remove('k');
    for (const r of rows) w.store.add(r.backendName === 'b1' ? { ...r, plaintextSize: null } : r);
    const rp = await w.rp();
    const heads = w.mem('b1').calls.head;
    const h = await rp.head('k');
    assert.equal(h.size, plain.length);
    assert.equal(h.backend, 'b2');
    assert.equal(w.mem('b1').calls.head, heads, 'b1 was not asked: its row cannot give the size');
    assert.equal(rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'key_data' }), 1);
    await rp.close();
    w.store.remove('k');
    for (const r of rows) w.store.add({ ...r, plaintextSize: null });
    const none = await w.rp();
    await assert.rejects(none.head('k'), is('DECRYPTION_FAILED'), 'as a get of it is');
    await assert.rejects(none.get('k'), is('DECRYPTION_FAILED'));
    await none.close();
    // Answered from the row (head.from_metadata, the row carrying its ETag): not from it either.
    w.store.remove('k');
    for (const r of rows) w.store.add({ ...r, plaintextSize: null, etag: '"0123456789abcdef0123456789abcdef"' });
    const fromRow = await ReadPath.open({ ...w.config, head: { from_metadata: true } }, { backends: w.backends, store: w.store });
    await assert.rejects(fromRow.head('k'), is('DECRYPTION_FAILED'), 'the row cannot give the size: the copies are asked, and refused');
    await fromRow.close();
  });

  it('get: whole objects decrypt and verify; ranges map to the covering chunks; head reports the plaintext size', async () => {
    const w = open();
    await w.seed('k', plain);
    const rp = await w.rp();
    const g = await rp.get('k');
    assert.ok(Buffer.from(g.body).equals(plain));
    assert.equal(g.verified, true);
    assert.equal(g.size, plain.length);
    const h = await rp.head('k');
    assert.equal(h.size, plain.length);
    const gets = w.mem('b1').calls.get;
    const r = await rp.get('k', { range: 'bytes=5000-9000' });
    assert.ok(Buffer.from(r.body).equals(plain.subarray(5000, 9001)));
    assert.equal(r.verified, false);
    assert.equal(w.mem('b1').calls.get - gets, 2, 'the header once, then the covering chunks');
    const again = await rp.get('k', { range: 'bytes=-10' });
    assert.ok(Buffer.from(again.body).equals(plain.subarray(plain.length - 10)));
    assert.equal(w.mem('b1').calls.get - gets, 3, "the copy's chunk size is remembered");
    assert.ok(Buffer.from((await rp.get('k', { range: 'bytes=4096-' })).body).equals(plain.subarray(4096)));
    await assert.rejects(rp.get('k', { range: `bytes=${plain.length}-` }), is('RANGE_NOT_SATISFIABLE'));
    assert.equal(rp.recorder.count('decrypt_operations_total', { backend: 'b1', kind: 'get' }) >= 4, true);
    await rp.close();
  });

  it("a probe's requests (the header, then the covering chunks) carry the moment the probe began: server.backend_timeout bounds them together", async () => {
    const w = open();
    await w.seed('k', plain);
    const rp = await w.rp();
    const b1 = w.cutting('b1');
    const before = performance.now();
    const r = await rp.get('k', { range: 'bytes=5000-9000' });
    assert.ok(Buffer.from(r.body).equals(plain.subarray(5000, 9001)));
    const calls = b1.calls.filter((c) => c.at >= before);
    assert.equal(calls.length, 2, 'the header, then the chunks');
    const since = calls[0]?.since;
    assert.equal(typeof since, 'number');
    assert.ok((since as number) >= before && (since as number) <= (calls[0]?.at as number), 'the probe began before its first request');
    assert.equal(calls[1]?.since, since, 'the second request counts from the same start');
    // The next probe has a start of its own.
    await rp.head('k');
    const last = b1.calls.at(-1);
    assert.ok(last?.since !== undefined && last.since > (since as number));
    await rp.close();
  });

  it('a tampered first copy fails its tag and the read is served by the second, with its own key', async () => {
    const w = open();
    const rows = await w.seed('k', plain);
    w.mem('b1').put('k', flipByte(rows[0]!.body, 32 + 4096 + 28 + 100));
    const rp = await w.rp();
    const g = await rp.get('k');
    assert.equal(g.backend, 'b2');
    assert.equal(g.failover, true);
    assert.ok(Buffer.from(g.body).equals(plain));
    assert.equal(rp.recorder.count('decrypt_failures_total', { backend: 'b1', kind: 'tag' }), 1);
    await rp.close();
  });

  it('a copy cut short of its row: a range it cannot hold is that copy\'s failure (502), not 416; a range it holds is refused too; the next copy serves both', async () => {
    const w = open();
    const rows = await w.seed('k', plain);
    const cut = (body: Uint8Array): Uint8Array => body.subarray(0, 32 + 2 * (4096 + 28));
    w.mem('b1').put('k', cut(rows[0]!.body));
    const rp = await w.rp();
    for (const [range, want] of [['bytes=8192-', plain.subarray(8192)], ['bytes=-5', plain.subarray(plain.length - 5)], ['bytes=0-10', plain.subarray(0, 11)]] as const) {
      const g = await rp.get('k', { range });
      assert.deepEqual([g.backend, g.failover], ['b2', true], range);
      assert.ok(Buffer.from(g.body).equals(want), range);
    }
    w.mem('b2').put('k', cut(rows[1]!.body));
    await assert.rejects(rp.get('k', { range: 'bytes=8192-' }), (e: unknown) => is('BACKEND_ERROR')(e) && (e as ReadPathError).httpStatus === 502 && /differs from its row/.test((e as Error).message));
    await rp.close();
  });

  it('a wrong master key is DECRYPTION_FAILED on every copy; without encryption configured the copy is refused, never served as ciphertext', async () => {
    const w = open({ encryption: { enabled: true, master_key: randomBytes(32).toString('base64') } });
    await w.seed('k', plain);
    const rp = await w.rp();
    await assert.rejects(rp.get('k'), is('DECRYPTION_FAILED'));
    await assert.rejects(rp.getStream('k'), is('DECRYPTION_FAILED'));
    assert.equal(w.mem('b1').calls.get + w.mem('b2').calls.get, 0, 'no data key, no request');
    await rp.close();
    const off = open({ encryption: { enabled: false } });
    await off.seed('k', plain);
    const rp2 = await off.rp();
    await assert.rejects(rp2.get('k'), is('SERVICE_UNAVAILABLE'));
    await assert.rejects(rp2.getStream('k'), is('SERVICE_UNAVAILABLE'));
    await rp2.close();
  });

  it('a transform receives the plaintext', async () => {
    const w = open();
    await w.seed('k', Buffer.from('secret words'));
    const rp = await w.rp();
    const o = await rp.get('k', { transform: new URL('../helpers/transforms/upper.mjs', import.meta.url) });
    assert.equal(Buffer.from(o.value as Uint8Array).toString(), 'SECRET WORDS');
    assert.equal(o.verified, true);
    await rp.close();
  });

  it('getStream: whole and ranged streams decrypt; a copy cut mid-body resumes on a copy with another key and chunk size', async () => {
    const w = open();
    const big = randomBytes(300_000);
    await w.seed('big', big, ['b1', 'b2'], [4096, 65536]);
    const rp = await w.rp();
    const s = await rp.getStream('big');
    assert.ok((await readAll(s.body)).equals(big));
    assert.equal(await s.verified, true);
    const r = await rp.getStream('big', { range: 'bytes=70000-200000' });
    assert.ok((await readAll(r.body)).equals(big.subarray(70000, 200001)));
    w.cutting('b1').cutAt = 100_000;
    const cut = await rp.getStream('big');
    assert.ok((await readAll(cut.body)).equals(big));
    assert.equal(await cut.verified, true);
    assert.deepEqual(cut.backends, ['b1', 'b2']);
    assert.equal(rp.recorder.count('stream_resumes_total', { backend: 'b1' }), 1);
    assert.ok(rp.recorder.count('decrypt_operations_total', { backend: 'b2', kind: 'stream' }) >= 1);
    await rp.close();
  });

  it('getStream: damaged ciphertext mid-object never reaches end', async () => {
    const w = open({}, 1);
    const big = randomBytes(100_000);
    const rows = await w.seed('big', big, ['b1']);
    w.mem('b1').put('big', flipByte(rows[0]!.body, 60_000));
    const rp = await w.rp();
    const s = await rp.getStream('big');
    await assert.rejects(readAll(s.body), is('DECRYPTION_FAILED'));
    assert.equal(await s.verified, false);
    await rp.close();
  });

  it('striped: parts from copies with different keys and chunk sizes, in order, verified', async () => {
    const w = open({ striping: { enabled: true, min_size: '128KiB', part_size: '64KiB', parts_in_flight: 4 } });
    const big = randomBytes(1024 * 1024 + 5);
    await w.seed('big', big, ['b1', 'b2', 'b3'], [4096, 65536, 16384]);
    const rp = await w.rp();
    const s = await rp.getStream('big');
    assert.ok((await readAll(s.body)).equals(big));
    assert.equal(await s.verified, true);
    assert.ok(s.backends.length >= 2, s.backends.join());
    const r = await rp.getStream('big', { range: 'bytes=100000-900000' });
    assert.ok((await readAll(r.body)).equals(big.subarray(100000, 900001)));
    await rp.close();
  });

  it('a wrong content_hash on the row is INTEGRITY_MISMATCH on the plaintext, for get and getStream', async () => {
    const w = open({}, 1);
    await w.seed('k', plain, ['b1']);
    const rp = await w.rp();
    const store = (rp as unknown as { store: MemoryMetadataStore }).store;
    const rows = await store.getAllObjectLocations('k');
    store.add({ ...rows[0]!, contentHash: '00'.repeat(32) });
    await assert.rejects(rp.get('k'), is('INTEGRITY_MISMATCH'));
    await assertMismatchBeforeEnd(await rp.getStream('k'));
    await rp.close();
  });
});

describe('degraded mode: encrypted and plain objects side by side', () => {
  it('plain objects are served; a copy that begins like ciphertext is refused with 503', async () => {
    const backends = ['b1', 'b2'].map((n) => new MemoryBackend(n));
    const row = encryptForRow(Buffer.from('secret'), { masterKey: MASTER });
    for (const b of backends) {
      b.put('enc', row.body);
      b.put('plain', 'hello');
    }
    const down = { getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'store down')) };
    const rp = await ReadPath.open({
      backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
      encryption: { enabled: true, master_key: MASTER.toString('base64') },
    }, { backends, store: down });
    const p = await rp.get('plain');
    assert.equal(Buffer.from(p.body).toString(), 'hello');
    assert.equal(p.degraded, true);
    await assert.rejects(rp.get('enc'), (e: unknown) => hasCode(e, 'SERVICE_UNAVAILABLE') && (e as ReadPathError).httpStatus === 503);
    await assert.rejects(rp.get('enc', { range: 'bytes=40-50' }), is('SERVICE_UNAVAILABLE'));
    // Ranges from byte 0 too short to show the header ('SE', 'SEN', 'SENC') are refused as well.
    for (const range of ['bytes=0-0', 'bytes=0-1', 'bytes=0-2', 'bytes=0-3', 'bytes=0-4']) {
      await assert.rejects(rp.get('enc', { range }), is('SERVICE_UNAVAILABLE'), range);
    }
    assert.equal(Buffer.from((await rp.get('plain', { range: 'bytes=0-1' })).body).toString(), 'he');
    assert.equal(await readAll((await rp.getStream('plain')).body).then((b) => b.toString()), 'hello');
    // HEAD reads the first bytes too: the ciphertext's size is never reported as the object's.
    await assert.rejects(rp.head('enc'), is('SERVICE_UNAVAILABLE'));
    await assert.rejects(rp.getStream('enc'), is('SERVICE_UNAVAILABLE'));
    await assert.rejects(rp.getStream('enc', { range: 'bytes=100-199' }), is('SERVICE_UNAVAILABLE'));
    assert.equal((await rp.head('plain')).size, 5);
    await rp.close();
  });
});
