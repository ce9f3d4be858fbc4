// getStream and the bounded get over memory backends: the contract's shapes and errors, fast.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getEventListeners, once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { assertMismatchBeforeEnd, readAll } from '../helpers/streams.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import { ReadPath } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { sha256Hex } from '../../src/probe/verify.js';

const is = (code: string) => (err: unknown) => hasCode(err, code as never);

/** Make `b` answer as a server that sends no ETag (GET and HEAD). */
function withoutEtags(b: MemoryBackend): void {
  const get = b.get.bind(b);
  const head = b.head.bind(b);
  b.get = async (key, opts) => {
    const r = await get(key, opts);
    delete r.etag;
    return r;
  };
  b.head = async (key, opts) => {
    const r = await head(key, opts);
    delete r.etag;
    return r;
  };
}

/** A body that fails with `err` before sending a byte (a copy that answered, then broke). */
function failingBody(err: Error): Readable {
  return new Readable({
    read() {
      setImmediate(() => this.destroy(err));
    },
  });
}


/** Make `b`'s GETs answer `first` and then nothing more: the body returned, held open. */
function stallAfter(b: MemoryBackend, first: Buffer): PassThrough {
  const get = b.get.bind(b);
  const stalled = new PassThrough();
  b.get = async (key, opts) => {
    const r = await get(key, opts);
    r.body.destroy();
    stalled.write(first);
    return { ...r, body: stalled };
  };
  return stalled;
}

describe('getStream (memory backends)', () => {
  it('streams a whole object, verified, with its head fields', async () => {
    const { rp, seed } = await openMemoryReadPath();
    seed('k', 'hello stream');
    const o = await rp.getStream('k');
    assert.equal(o.key, 'k');
    assert.equal(o.backend, 'b1');
    assert.equal(o.size, 12);
    assert.equal(o.failover, false);
    assert.equal(o.degraded, false);
    assert.deepEqual(o.range, { start: 0, end: 11, total: 12 });
    assert.equal(o.etag, `"${sha256Hex(Buffer.from('hello stream')).slice(0, 32)}-1"`);
    assert.equal(await text(o.body), 'hello stream');
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1']);
    await rp.close();
  });

  it('serves ranges (not verified) and refuses one past the end with RANGE_NOT_SATISFIABLE', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', '0123456789');
    const mid = await rp.getStream('k', { range: 'bytes=2-5' });
    assert.equal(await text(mid.body), '2345');
    assert.equal(await mid.verified, false);
    assert.deepEqual(mid.range, { start: 2, end: 5, total: 10 });
    assert.equal(mid.size, 4);
    assert.equal(await text((await rp.getStream('k', { range: 'bytes=-3' })).body), '789');
    assert.equal(await text((await rp.getStream('k', { range: 'bytes=7-' })).body), '789');
    assert.equal(await text((await rp.getStream('k', { range: 'bytes=8-100' })).body), '89');
    const calls = backend('b1').calls.get;
    await assert.rejects(rp.getStream('k', { range: 'bytes=10-' }), is('RANGE_NOT_SATISFIABLE'));
    await assert.rejects(rp.getStream('k', { range: 'bytes=5-2' }), is('INVALID_CONFIG'));
    await assert.rejects(rp.getStream('k', { range: 'lines=1-2' }), is('INVALID_CONFIG'));
    assert.equal(backend('b1').calls.get, calls, 'a bad range costs no request');
    await rp.close();
  });

  it('fails over at open when the first copy is missing', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'abc');
    backend('b1').delete('k');
    const o = await rp.getStream('k');
    assert.equal(o.backend, 'b2');
    assert.equal(o.failover, true);
    assert.equal(await text(o.body), 'abc');
    await assert.rejects(rp.getStream('nope'), is('OBJECT_NOT_FOUND'));
    await rp.close();
  });

  it('a damaged copy of a small object is left for the next before a byte is handed on; all damaged is INTEGRITY_MISMATCH before end', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'good bytes');
    backend('b1').put('k', new TextEncoder().encode('evil bytes'));
    const one = await rp.getStream('k');
    assert.equal(await text(one.body), 'good bytes');
    assert.equal(await one.verified, true);
    // None of b1's bytes was handed on: the outcome names b2, whose were.
    assert.deepEqual(one.backends, ['b2']);
    assert.equal(one.backend, 'b2');
    assert.equal(one.failover, true);
    backend('b2').put('k', new TextEncoder().encode('evil bytes'));
    const o = await rp.getStream('k');
    await assertMismatchBeforeEnd(o);
    await rp.close();
  });

  it('a first copy whose body fails before its first byte: the outcome names the copy that served the bytes', async () => {
    const { rp, seed, backend, store } = await openMemoryReadPath(3);
    // Past the verify window: handed on as it passes (the pump), and small enough to be quick.
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    seed('small', 'small body', ['b1', 'b2', 'b3']);
    // b1 answers with headers, then its body fails before sending a byte.
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    let cut = 0;
    b1.get = async (key, opts) => {
      const r = await get(key, opts);
      cut++;
      r.body.destroy();
      return { ...r, body: failingBody(new ReadPathError('BACKEND_ERROR', 'connection reset')) };
    };
    for (const key of ['big', 'small']) {
      const o = await rp.getStream(key);
      const body = await readAll(o.body);
      assert.equal(body.byteLength, key === 'big' ? bytes.byteLength : 10);
      assert.equal(await o.verified, true);
      assert.equal(o.backend, 'b2', `${key}: b1 served none of the bytes`);
      assert.equal(o.failover, true, `${key}: the bytes came from a copy after the first stored one`);
      assert.deepEqual(o.backends, ['b2'], `${key}: only copies that served bytes`);
      const row = (await store.getAllObjectLocations(key)).find((l) => l.backendName === 'b2');
      assert.deepEqual(o.lastModified, row?.createdAt, `${key}: Last-Modified is the serving copy's row's`);
    }
    assert.equal(cut, 2, "b1's bodies were cut");
    await rp.close();
  });

  it('a resumed stream lists only the copies that served bytes: one that failed before its first byte is not among them', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(3);
    const bytes = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    seed('big', bytes, ['b1', 'b2', 'b3']);
    const cutAfter = (name: string, keep: number): void => {
      const b = backend(name);
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        const r = await get(key, opts);
        const whole = await readAll(r.body);
        async function* cutShort(): AsyncGenerator<Buffer> {
          if (keep > 0) yield whole.subarray(0, keep);
          await new Promise((resolve) => setImmediate(resolve));
          throw new ReadPathError('BACKEND_ERROR', 'connection reset');
        }
        return { ...r, body: Readable.from(cutShort()) };
      };
    };
    // b1 sends 1000 bytes and is cut; b2 resumes and is cut before its first byte; b3 finishes.
    cutAfter('b1', 1000);
    cutAfter('b2', 0);
    const o = await rp.getStream('big');
    assert.ok((await readAll(o.body)).equals(bytes));
    assert.equal(await o.verified, true);
    assert.equal(backend('b2').calls.get, 1, 'b2 was asked to resume');
    assert.equal(o.backend, 'b1', 'the first bytes came from b1');
    assert.equal(o.failover, false);
    assert.deepEqual(o.backends, ['b1', 'b3']);
    await rp.close();
  });

  it('a consumer that leaves a body held for its check frees the copy and opens no other', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'x'.repeat(1000));
    // b1 sends half the body, then nothing: the read is waiting for the rest when the consumer leaves.
    const stalled = stallAfter(backend('b1'), Buffer.alloc(500, 'x'));
    const o = await rp.getStream('k');
    o.body.resume();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(stalled.readableLength, 0, 'the half sent was taken');
    o.body.destroy();
    await once(o.body, 'close');
    assert.equal(await o.verified, false);
    assert.ok(stalled.destroyed, "the copy's body is destroyed");
    assert.equal(backend('b2').calls.get, 0, 'no other copy was opened for a consumer that left');
    await rp.close();
  });

  it('a body destroyed before it is read releases its read: the caller\'s listener, the usage reservation, the request billed', async () => {
    const { rp, seed } = await openMemoryReadPath(2, {
      backends: ['b1', 'b2'].map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', api_request_limit: name === 'b1' ? 5 : 0 })),
    });
    seed('small', 'hello');
    seed('large', 'y'.repeat(3 * 1024 * 1024));
    const ac = new AbortController();
    for (const key of ['small', 'large', 'small']) {
      const o = await rp.getStream(key, { signal: ac.signal });
      o.body.destroy();
      await once(o.body, 'close');
      assert.equal(await o.verified, false);
    }
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the caller\'s signal');
    assert.deepEqual(rp.recorder.reservations.pending('b1'), { api: 0, egress: 0 }, 'nothing held');
    assert.equal(rp.recorder.usage.usage('b1').apiRequests, 3, 'each GET sent was billed');
    await rp.close();
  });

  it('an aborted signal ends the stream with ABORTED', async () => {
    const { rp, seed } = await openMemoryReadPath();
    seed('k', 'x'.repeat(100));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(rp.getStream('k', { signal: ac.signal }), is('ABORTED'));
    await assert.rejects(rp.getStream('bad\u0000key'), is('INVALID_KEY'));
    await rp.close();
    await assert.rejects(rp.getStream('k'), is('SERVICE_UNAVAILABLE'));
  });
});

describe('getStream and close()', () => {
  const closed = (err: unknown): boolean => hasCode(err, 'SERVICE_UNAVAILABLE') && /readpath is closed/.test((err as Error).message);

  it('streams open when the reader closes end with SERVICE_UNAVAILABLE, even on backends it does not close; their reads are released', async () => {
    // Memory backends given to open() are the caller's: close() leaves them open, so nothing
    // but the cut itself ends these streams.
    const { rp, seed, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: { min_size: '2MiB', part_size: '64KiB', parts_in_flight: 2 } });
    seed('held', 'h'.repeat(1000));
    // Past the verify window (handed on as it passes; a held body is read whole first), under min_size.
    seed('big', 'b'.repeat(1536 * 1024), ['b1', 'b2']);
    seed('striped', Buffer.alloc(2 * 1024 * 1024, 3), ['b1', 'b2', 'b3']);
    // b1 sends part of 'big', then waits: the stream is mid-body when the reader closes.
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    const stalled = new PassThrough();
    b1.get = async (key, opts) => {
      const r = await get(key, opts);
      if (key !== 'big') return r;
      r.body.destroy();
      stalled.write(Buffer.alloc(15_000, 'b'));
      return { ...r, body: stalled };
    };
    const ac = new AbortController();
    const held = await rp.getStream('held', { signal: ac.signal });
    const big = await rp.getStream('big', { signal: ac.signal });
    const striped = await rp.getStream('striped', { signal: ac.signal });
    // A second chunk, once the first was taken: a stream hands a chunk on once the next one came.
    const readable = new Promise((resolve) => big.body.once('readable', resolve));
    for (let i = 0; i < 5 && stalled.readableLength > 0; i++) await new Promise((r) => setImmediate(r));
    stalled.write(Buffer.alloc(15_000, 'b'));
    await readable;
    const gets = ['b1', 'b2', 'b3'].map((n) => backend(n).calls.get);
    const closing = rp.close();
    for (const [name, o] of Object.entries({ held, big, striped })) {
      await assert.rejects(readAll(o.body), closed, name);
      assert.equal(await o.verified, false);
    }
    await closing;
    assert.deepEqual(['b1', 'b2', 'b3'].map((n) => backend(n).calls.get), gets, 'no other copy was opened');
    assert.ok(stalled.destroyed, 'the copy being read was let go');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the caller\'s signal');
    assert.deepEqual(['b1', 'b2', 'b3'].map((n) => rp.recorder.reservations.pending(n)), ['b1', 'b2', 'b3'].map(() => ({ api: 0, egress: 0 })), 'nothing held');
  });

  it('a consumer destroying a plain body while its copy stalls mid-body frees the copy at once, not when its next chunk lands', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping: { enabled: false } });
    seed('big', 'b'.repeat(1536 * 1024), ['b1', 'b2']);
    const stalled = stallAfter(backend('b1'), Buffer.alloc(15_000, 'b'));
    let o: { verified: Promise<boolean> } | undefined;
    const alive = setInterval(() => {}, 1000);
    try {
      const o0 = await rp.getStream('big');
      o = o0;
      // A second chunk, once the first was taken (a chunk is handed on once the next one came):
      // the pump then waits on the stalled copy for more.
      const readable = new Promise((resolve) => o0.body.once('readable', resolve));
      for (let i = 0; i < 5 && stalled.readableLength > 0; i++) await new Promise((r) => setImmediate(r));
      stalled.write(Buffer.alloc(15_000, 'b'));
      await readable;
      o0.body.destroy();
      // A few turns of the loop, no more: the stalled copy never sends its next chunk.
      for (let i = 0; i < 20 && !(stalled.destroyed && o0.body.closed); i++) await new Promise((r) => setImmediate(r));
      assert.ok(stalled.destroyed, 'the stalled copy was let go');
      assert.ok(o0.body.closed, 'the body closed');
    } finally {
      clearInterval(alive);
    }
    assert.equal(await o?.verified, false);
    assert.equal(backend('b2').calls.get, 0, 'no other copy was opened');
    await rp.close();
  });

  it('a stream whose copy is still answering when the reader closes is refused with SERVICE_UNAVAILABLE', async () => {
    for (const striping of [{ enabled: false }, { min_size: '128KiB', part_size: '64KiB' }]) {
      const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
      seed('k', Buffer.alloc(256 * 1024, 1));
      const b1 = backend('b1');
      const get = b1.get.bind(b1);
      let answer: () => void = () => {};
      const asked = new Promise<void>((resolve) => {
        b1.get = (key, opts) => {
          resolve();
          return new Promise((r) => {
            answer = () => r(get(key, opts));
          });
        };
      });
      const opening = rp.getStream('k');
      await asked;
      const closing = rp.close();
      answer();
      await assert.rejects(opening, closed, JSON.stringify(striping));
      await closing;
      assert.equal(backend('b2').calls.get, 0, 'no other copy was tried');
    }
  });
});

describe('bounded get (runtime.max_buffered_bytes)', () => {
  it('refuses an object over the limit with OBJECT_TOO_LARGE, without a request, and getStream reads it', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline', max_buffered_bytes: '1KiB' } });
    seed('big', 'y'.repeat(2048));
    seed('small', 'z'.repeat(1024));
    const before = backend('b1').calls.get + backend('b2').calls.get;
    await assert.rejects(rp.get('big'), (err: unknown) => is('OBJECT_TOO_LARGE')(err) && /getStream/.test((err as Error).message) && (err as { httpStatus?: number }).httpStatus === 413);
    assert.equal(backend('b1').calls.get + backend('b2').calls.get, before, 'the row says the size: no request');
    assert.equal((await rp.get('small')).body.byteLength, 1024);
    assert.equal((await rp.get('big', { range: 'bytes=0-9' })).body.byteLength, 10);
    assert.equal((await text((await rp.getStream('big')).body)).length, 2048);
    // A batch keeps going: one outcome per key.
    const outcomes = [];
    for await (const o of rp.readMany(['big', 'small'])) outcomes.push(o);
    assert.deepEqual(outcomes.map((o) => (o.ok ? 'ok' : o.error.code)).sort(), ['OBJECT_TOO_LARGE', 'ok']);
    await rp.close();
  });
});

describe('striped getStream (memory backends)', () => {
  const striping = { min_size: '128KiB', part_size: '64KiB', parts_in_flight: 4 };
  const object = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
    return b;
  };

  it('reads parts from every copy, in order, verified', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const bytes = object(1024 * 1024 + 123);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    const o = await rp.getStream('big');
    assert.ok((await readAll(o.body)).equals(bytes));
    assert.equal(await o.verified, true);
    const gets = ['b1', 'b2', 'b3'].map((n) => backend(n).calls.get);
    assert.equal(gets.reduce((a, b) => a + b, 0), 17, '17 parts of 64 KiB, one GET each');
    assert.ok(gets.every((g) => g > 0), `every copy served parts: ${gets.join(',')}`);
    assert.ok(o.backends.length >= 2);
    assert.equal(rp.recorder.count('striped_parts_total'), 17);
    await rp.close();
  });

  it('a first copy whose part 0 is cut: the outcome names the copy the first byte came from, and backends every copy that served a part', async () => {
    const { rp, seed, backend, store } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const bytes = object(1024 * 1024 + 123);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    // b1 answers part 0 first, then its body is cut: part 0 is fetched again from another copy.
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    let cut = 0;
    b1.get = async (key, opts) => {
      const r = await get(key, opts);
      if (opts?.range !== 'bytes=0-65535') return r;
      cut++;
      const whole = await readAll(r.body);
      async function* cutShort(): AsyncGenerator<Buffer> {
        yield whole.subarray(0, 1000);
        throw new ReadPathError('BACKEND_ERROR', 'connection reset');
      }
      return { ...r, body: Readable.from(cutShort()) };
    };
    const o = await rp.getStream('big');
    assert.equal(cut, 1, "b1's part 0 was cut");
    assert.notEqual(o.backend, 'b1', 'b1 served none of part 0');
    assert.equal(o.failover, true, 'the first byte came from a copy after the first stored one');
    assert.deepEqual(o.backends, [o.backend]);
    const row = (await store.getAllObjectLocations('big')).find((l) => l.backendName === o.backend);
    assert.deepEqual(o.lastModified, row?.createdAt, "Last-Modified is the serving copy's row's");
    assert.ok((await readAll(o.body)).equals(bytes));
    assert.equal(await o.verified, true);
    assert.equal(o.backends[0], o.backend);
    const served = ['b1', 'b2', 'b3'].filter((n) => rp.recorder.count('striped_parts_total', { backend: n }) > 0);
    assert.deepEqual([...o.backends].sort(), served, 'backends: exactly the copies that served parts');
    await rp.close();
  });

  /**
   * Make every GET of `key` that `hit` picks fail as `fail` says: its body fails before its first
   * byte with the error `fail` gives (a copy that answered, then broke), or — `fail` returning
   * undefined — the request is answered 404 (a copy that is not there).
   */
  const faulty = (b: MemoryBackend, hit: (range: string | undefined) => boolean, fail: () => ReadPathError | undefined): void => {
    const get = b.get.bind(b);
    b.get = async (key, opts) => {
      if (!hit(opts?.range)) return get(key, opts);
      const err = fail();
      if (err === undefined) throw new ReadPathError('BACKEND_ERROR', `${b.name}: ${key}: NoSuchKey`, { backendStatus: 404 });
      const r = await get(key, opts);
      r.body.destroy();
      return { ...r, body: failingBody(err) };
    };
  };
  /** The error a read of `key` ends with: getStream's rejection, or its body's. */
  const failureOf = async (rp: ReadPath, key: string): Promise<ReadPathError> => {
    try {
      const o = await rp.getStream(key);
      await readAll(o.body);
    } catch (err) {
      return err as ReadPathError;
    }
    throw new assert.AssertionError({ message: `${key} was read` });
  };

  it('part 0 failing on every copy ends the read as a plain read of the same failures does: the copies\' own errors', async () => {
    const bytes = object(1024 * 1024 + 123);
    const part0 = (range: string | undefined): boolean => range === undefined || range === 'bytes=0-65535';
    for (const stripe of [true, false]) {
      const { rp, seed, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: stripe ? striping : { enabled: false } });
      seed('big', bytes, ['b1', 'b2', 'b3']);
      // Every copy answers part 0 (a plain read: byte 0 on), then stalls before its first byte.
      for (const name of ['b1', 'b2', 'b3']) faulty(backend(name), part0, () => new ReadPathError('TIMEOUT', `${name}: big: no bytes for 30000 ms`));
      const err = await failureOf(rp, 'big');
      assert.equal(err.code, 'TIMEOUT', `striped ${stripe}: the last copy's own error, as a located read reports it: ${err.message}`);
      assert.equal(err.httpStatus, 504);
      assert.match(err.message, /^b\d: big: no bytes/);
      await rp.close();
    }
  });

  it('degraded: part 0 cut on the first copy and missing on the others is the broadcast\'s verdict, as a plain degraded read gives it', async () => {
    const bytes = object(1024 * 1024 + 123);
    const part0 = (range: string | undefined): boolean => range === undefined || range === 'bytes=0-65535';
    const errors: ReadPathError[] = [];
    for (const stripe of [true, false]) {
      const { rp, seed, backend, store } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: stripe ? striping : { enabled: false } });
      seed('big', bytes, ['b1', 'b2', 'b3']);
      store.setAvailable(false);
      faulty(backend('b1'), part0, () => new ReadPathError('BACKEND_ERROR', 'b1: big: connection reset'));
      faulty(backend('b2'), part0, () => undefined);
      faulty(backend('b3'), part0, () => undefined);
      const err = await failureOf(rp, 'big');
      errors.push(err);
      assert.equal(err.code, 'ALL_BACKENDS_FAILED', `striped ${stripe}: ${err.message}`);
      assert.match(err.message, /^all backends failed for big; last error: /, `striped ${stripe}`);
      await rp.close();
    }
    const [striped, plain] = errors;
    assert.equal(striped?.httpStatus, plain?.httpStatus);

    // Every copy gone since the HEAD found it: not found, striped or not.
    for (const stripe of [true, false]) {
      const { rp, seed, backend, store } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: stripe ? striping : { enabled: false } });
      seed('big', bytes, ['b1', 'b2', 'b3']);
      store.setAvailable(false);
      for (const name of ['b1', 'b2', 'b3']) faulty(backend(name), part0, () => undefined);
      const err = await failureOf(rp, 'big');
      assert.equal(err.code, 'OBJECT_NOT_FOUND', `striped ${stripe}: every backend answered 404: ${err.message}`);
      await rp.close();
    }
  });

  it('a missing copy is dropped and its parts are fetched elsewhere', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const bytes = object(1600 * 1024);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    backend('b2').delete('big');
    const o = await rp.getStream('big');
    assert.ok((await readAll(o.body)).equals(bytes));
    assert.equal(await o.verified, true);
    assert.ok(!o.backends.includes('b2'));
    await rp.close();
  });

  it('damaged bytes on one copy fail the whole body with INTEGRITY_MISMATCH before end', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
    const bytes = object(1536 * 1024);
    seed('big', bytes, ['b1', 'b2']);
    const bad = Buffer.from(bytes);
    for (let at = 0; at < bad.length; at += 64 * 1024) bad[at + 7] = (bad[at + 7] ?? 0) ^ 0xff;
    backend('b2').put('big', bad);
    const o = await rp.getStream('big');
    await assertMismatchBeforeEnd(o);
    await rp.close();
  });

  it('ranges are striped too, and objects under min_size are not', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
    const bytes = object(2 * 1024 * 1024);
    seed('big', bytes, ['b1', 'b2']);
    const o = await rp.getStream('big', { range: 'bytes=1000-1400000' });
    assert.ok((await readAll(o.body)).equals(bytes.subarray(1000, 1400001)));
    const parts = Math.ceil(1_399_001 / (64 * 1024));
    assert.equal(backend('b1').calls.get + backend('b2').calls.get, parts);
    const small = await rp.getStream('big', { range: 'bytes=0-99999' });
    assert.equal((await text(small.body)).length > 0, true);
    assert.equal(backend('b1').calls.get + backend('b2').calls.get, parts + 1, 'one plain GET under min_size');
    await rp.close();
  });

  it('without a content hash or an ETag to prove the copies alike, the parts come from the first copy alone', async () => {
    const { rp, store, backends } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
    const bytes = object(2 * 1024 * 1024);
    const other = Buffer.from(bytes).fill(0x55, 300_000, 600_000);
    const [b1, b2] = backends as [MemoryBackend, MemoryBackend];
    b1.put('k', bytes);
    b2.put('k', other);
    store.add({ objectKey: 'k', backendName: 'b1', sizeBytes: bytes.length, createdAt: new Date(1), encrypted: false, contentHash: null });
    store.add({ objectKey: 'k', backendName: 'b2', sizeBytes: bytes.length, createdAt: new Date(2), encrypted: false, contentHash: null });
    // Servers that send no ETag.
    for (const b of [b1, b2]) withoutEtags(b);
    const gets = b2.calls.get;
    const o = await rp.getStream('k');
    assert.ok((await readAll(o.body)).equals(bytes), 'b1\'s bytes only');
    assert.deepEqual(o.backends, ['b1']);
    assert.equal(b2.calls.get, gets, 'b2 was never asked for a part');
    await rp.close();
  });

  it('a ranged read refuses a copy whose stored size is not its row\'s (Content-Range says so): its bytes are another object\'s', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' } });
    const bytes = object(4096);
    seed('k', bytes, ['b1', 'b2']);
    backend('b1').put('k', Buffer.concat([object(4096).fill(1), Buffer.alloc(10)]));
    const o = await rp.getStream('k', { range: 'bytes=100-199' });
    assert.ok((await readAll(o.body)).equals(bytes.subarray(100, 200)));
    assert.deepEqual(o.backends, ['b2']);
    assert.equal(o.failover, true);
    await rp.close();
  });
});

describe('getStream while the metadata store is down (degraded)', () => {
  const down = {
    getAllObjectLocations: () => Promise.reject(new ReadPathError('DB_UNAVAILABLE', 'store down')),
  };

  /** A striping reader over `backends` whose store is down. */
  const openDegraded = (backends: MemoryBackend[]): Promise<ReadPath> => ReadPath.open({
    backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'memory' },
    runtime: { mode: 'inline' },
    striping: { min_size: '128KiB', part_size: '64KiB', parts_in_flight: 4 },
    logging: { level: 'silent' },
  }, { backends, store: down });

  it('finds a holder by broadcast, stripes over the backends that answer HEAD alike, and verifies nothing it cannot', async () => {
    const backends = ['b1', 'b2', 'b3'].map((n) => new MemoryBackend(n));
    const bytes = Buffer.alloc(1536 * 1024, 7);
    for (const b of backends.slice(0, 2)) b.put('big', bytes);
    backends[2]?.put('big', Buffer.alloc(1536 * 1024, 9)); // same size, other bytes: another ETag
    const rp = await openDegraded(backends);
    const o = await rp.getStream('big');
    assert.equal(o.degraded, true);
    assert.ok((await readAll(o.body)).equals(bytes));
    assert.equal(await o.verified, false, 'no content hash in degraded mode (the MD5 ETag is checked)');
    assert.equal(backends[2]?.calls.get, 0, 'a backend whose ETag differs serves no part');
    assert.ok((backends[0]?.calls.get ?? 0) > 0 && (backends[1]?.calls.get ?? 0) > 0, 'both matching copies serve parts');
    await rp.close();
  });

  it('servers that send no ETag: nothing proves the holders alike, so the first one found serves every part', async () => {
    const backends = ['b1', 'b2'].map((n) => new MemoryBackend(n));
    const bytes = Buffer.alloc(1536 * 1024, 7);
    backends[0]?.put('big', bytes);
    backends[1]?.put('big', Buffer.alloc(1536 * 1024, 9));
    for (const b of backends) withoutEtags(b);
    const rp = await openDegraded(backends);
    const o = await rp.getStream('big');
    assert.equal(o.degraded, true);
    assert.ok((await readAll(o.body)).equals(bytes), "b1's bytes, none of b2's");
    assert.deepEqual(o.backends, ['b1']);
    assert.equal(o.striped, false);
    await rp.close();
  });
});
