/**
 * The library's contract at its edges, each found by an audit against API.md: a readMany whose
 * input fails, callers that share a read, ranges no object has, a buffered get of an object too
 * large found by broadcast, egress limits before a request, a HEAD of a copy unlike its row, and
 * calls after close. Memory backends and store.
 */
import { describe, it, mock } from 'node:test';
import { Readable } from 'node:stream';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { seekableZstd } from '../helpers/seekable-zstd.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { ReadPath } from '../../src/read-path.js';
import type { ObjectBackend } from '../../src/types.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { BatchOutcome } from '../../src/read-path.js';

const is = (code: string) => (err: unknown) => hasCode(err, code as never);

/** Let the event loop turn until `done()` holds, at most `turns` times (no clock involved). */
async function turnsUntil(done: () => boolean, turns = 50): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) await new Promise((r) => setImmediate(r));
}

/** Backends b1, b2… for `openMemoryReadPath`, with the monthly limits given (by name). */
function limitedBackends(limits: Record<string, { egress_byte_limit?: number; api_request_limit?: number }>) {
  return Object.entries(limits).map(([name, l]) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', ...l }));
}

/** Every outcome a readMany yields, and how it ended. */
async function drain(it: AsyncIterable<BatchOutcome>): Promise<{ outcomes: BatchOutcome[]; error: unknown }> {
  const outcomes: BatchOutcome[] = [];
  try {
    for await (const o of it) outcomes.push(o);
  } catch (error) {
    return { outcomes, error };
  }
  return { outcomes, error: undefined };
}

describe('the library contract at its edges (memory backends)', () => {
  it('readMany whose input fails: the keys it gave are read to their outcomes first, then the input\'s failure (its own code when it has one)', async () => {
    const { rp, seed } = await openMemoryReadPath();
    for (const k of ['k0', 'k1', 'k2']) seed(k, `body of ${k}`);
    async function* failing(err: unknown): AsyncGenerator<string> {
      yield 'k0';
      yield 'k1';
      yield 'k2';
      throw err;
    }
    const plain = await drain(rp.readMany(failing(Object.assign(new Error('EIO: key file'), { code: 'EIO' }))));
    assert.deepEqual(plain.outcomes.map((o) => [o.key, o.ok]).sort(), [['k0', true], ['k1', true], ['k2', true]]);
    assert.ok(hasCode(plain.error, 'INVALID_KEY'), String(plain.error));
    assert.match((plain.error as Error).message, /reading keys failed: EIO: key file/);
    // A readpath error from another copy of the library (recognised by its shape, not its class).
    const shaped = Object.assign(new Error('listing failed'), { code: 'DB_UNAVAILABLE', httpStatus: 503 });
    const coded = await drain(rp.readMany(failing(shaped)));
    assert.equal(coded.outcomes.length, 3);
    assert.ok(hasCode(coded.error, 'DB_UNAVAILABLE'), String(coded.error));
    // A string is not a list of keys.
    await assert.rejects(drain(rp.readMany('k0k1')).then((r) => { throw r.error; }), (err: unknown) => is('INVALID_CONFIG')(err) && /not one string/.test((err as Error).message));
    await rp.close();
  });

  it('callers that share one read each get their own outcome and body: writing to one changes no other', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'hello');
    const gets = backend('b1').calls.get;
    const [a, b, c] = await Promise.all([rp.get('k'), rp.get('k'), rp.get('k')]);
    assert.equal(backend('b1').calls.get - gets, 1, 'one read, shared');
    assert.notEqual(a, b);
    assert.notEqual(a.body, b.body);
    a.body[0] = 0x4a;
    assert.equal(Buffer.from(b.body).toString(), 'hello');
    assert.equal(Buffer.from(c.body).toString(), 'hello');
    const [h1, h2] = await Promise.all([rp.head('k'), rp.head('k')]);
    assert.notEqual(h1, h2);
    assert.deepEqual(h1, h2);
    // Within a batch too: the same key twice.
    const twice = await drain(rp.readMany(['k', 'k']));
    const bodies = twice.outcomes.map((o) => (o.ok && 'body' in o ? o.body : undefined));
    assert.ok(bodies[0] !== undefined && bodies[1] !== undefined && bodies[0] !== bodies[1]);
    await rp.close();
  });

  it('a range no object has is INVALID_CONFIG for get as for getStream, and reaches no backend; readMany refuses it up front', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'hello world');
    const gets = backend('b1').calls.get + backend('b2').calls.get;
    // `Bytes=1-2` is a range (RFC 9110's unit is case-insensitive); `bytes =1-2` and two ranges are not.
    for (const range of ['foo', 'bytes=0-1,3-4', 'bytes =1-2', 'bytes=5-2', 'bytes=-']) {
      await assert.rejects(rp.get('k', { range }), is('INVALID_CONFIG'), range);
      await assert.rejects(rp.getStream('k', { range }), is('INVALID_CONFIG'), range);
    }
    assert.equal(backend('b1').calls.get + backend('b2').calls.get, gets, 'no request sent');
    const batch = await drain(rp.readMany(['k'], { range: 'bytes=9-1' }));
    assert.deepEqual(batch.outcomes, []);
    assert.ok(hasCode(batch.error, 'INVALID_CONFIG'));
    assert.equal(Buffer.from((await rp.get('k', { range: 'bytes=6-99999999999999999999' })).body).toString(), 'world');
    assert.equal(Buffer.from((await rp.get('k', { range: 'Bytes=1-2' })).body).toString(), 'el');
    await rp.close();
  });

  it('degraded: a get over runtime.max_buffered_bytes is OBJECT_TOO_LARGE (413), as with the database up, and the first holder\'s answer ends the broadcast', async () => {
    const { rp, seed, store, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline', max_buffered_bytes: 100 } });
    seed('big', 'x'.repeat(200), ['b1', 'b2', 'b3']);
    const tooLarge = (err: unknown) => is('OBJECT_TOO_LARGE')(err) && (err as { httpStatus?: number }).httpStatus === 413;
    await assert.rejects(rp.get('big'), tooLarge);
    store.setAvailable(false);
    const asked = () => ['b1', 'b2', 'b3'].map((b) => backend(b).calls.get + backend(b).calls.list);
    const before = asked();
    await assert.rejects(rp.get('big'), tooLarge);
    const after = asked();
    assert.ok(after[0]! > before[0]!, 'the first holder was asked');
    assert.deepEqual(after.slice(1), before.slice(1), 'the other holders were not: the same object would be as large there');
    // Behind a 500 from the first backend, the second's answer is still the verdict.
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    b1.get = async () => {
      b1.get = get;
      throw new ReadPathError('BACKEND_ERROR', 'b1: InternalError', { backendStatus: 500 });
    };
    await assert.rejects(rp.get('big'), tooLarge);
    assert.equal(backend('b3').calls.get + backend('b3').calls.list, before[2], 'b3 still not asked');
    store.setAvailable(true);
    await rp.close();
  });

  it('degraded parallel broadcast: the first too-large answer cancels the probes still in flight', async () => {
    const { rp, seed, store, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline', max_buffered_bytes: 100 }, circuit_breaker: { parallel_broadcast: true } });
    seed('big', 'x'.repeat(200), ['b1', 'b2', 'b3']);
    store.setAvailable(false);
    const started = new Set<string>();
    const aborted = new Set<string>();
    const release: (() => void)[] = [];
    for (const name of ['b2', 'b3']) {
      const b = backend(name);
      // Held until cancelled (or released by the test if the read never cancels it).
      b.get = (_key, opts) => new Promise((_resolve, reject) => {
        started.add(name);
        const fail = () => reject(new ReadPathError('ABORTED', `${name} cancelled`));
        release.push(fail);
        opts?.signal?.addEventListener('abort', () => { aborted.add(name); fail(); }, { once: true });
      });
    }
    // b1 answers (too large) once the others are in flight.
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    b1.get = async (key, opts) => {
      await turnsUntil(() => started.size >= 2, 200);
      return get(key, opts);
    };
    let settled = false;
    const read = rp.get('big');
    read.then(() => { settled = true; }, () => { settled = true; });
    await turnsUntil(() => settled, 200);
    if (!settled) for (const r of release) r();
    assert.ok(settled, 'the read ended without waiting for the holders in flight');
    await assert.rejects(read, is('OBJECT_TOO_LARGE'));
    assert.deepEqual([...started].sort(), ['b2', 'b3'], 'the broadcast was parallel');
    assert.deepEqual([...aborted].sort(), ['b2', 'b3']);
    store.setAvailable(true);
    await rp.close();
  });

  it('server.backend_timeout bounds a probe, and a stream\'s open, on a backend given in code that never answers; the next copy serves; a backend that bounds its own calls is left to do so', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { server: { backend_timeout: '5s' } });
    seed('k', 'hello');
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    let heard: unknown;
    let calls = 0;
    // Never answers, and ignores its signal beyond noting the abort.
    b1.get = (_key, opts) => {
      calls++;
      opts?.signal?.addEventListener('abort', () => { heard = opts.signal?.reason; }, { once: true });
      return new Promise(() => {});
    };
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const read = rp.get('k');
      await turnsUntil(() => calls > 0);
      assert.equal(calls, 1, 'b1 was asked');
      mock.timers.tick(5000);
      const o = await read;
      assert.equal(o.backend, 'b2');
      assert.equal(o.failover, true);
      assert.ok(hasCode(heard, 'TIMEOUT'), `b1's signal was aborted with TIMEOUT: ${String(heard)}`);
      assert.match((heard as Error).message, /b1: GET "?k"? had no complete answer within 5000 ms \(server\.backend_timeout\)/);
      // A stream's open is bounded the same way; the next copy serves it.
      const stream = rp.getStream('k');
      await turnsUntil(() => calls > 1);
      assert.equal(calls, 2, 'b1 was asked to open the stream');
      mock.timers.tick(5000);
      const opened = await stream;
      assert.equal(opened.backend, 'b2');
      const chunks: Buffer[] = [];
      for await (const c of opened.body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'hello');
      // The same backend, now saying it bounds its own calls: the runtime sets no timer for it.
      Object.defineProperty(b1, 'boundsCalls', { value: true });
      const ac = new AbortController();
      const own = rp.get('k', { signal: ac.signal });
      await turnsUntil(() => calls > 2);
      assert.equal(calls, 3);
      mock.timers.tick(60_000);
      let settled = false;
      own.then(() => { settled = true; }, () => { settled = true; });
      await turnsUntil(() => false, 20);
      assert.equal(settled, false, 'no runtime timeout for a backend that bounds its own calls');
      ac.abort();
      await assert.rejects(own, is('ABORTED'));
    } finally {
      mock.timers.reset();
      b1.get = get;
    }
    await rp.close();
  });

  it('a body cut midway is billed for the bytes that came, buffered or into a file, as a stream bills them', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2);
    const bytes = new Uint8Array(1000).fill(7);
    seed('k', bytes);
    const b1 = backend('b1');
    const get = b1.get.bind(b1);
    // b1 announces the whole object and sends 600 bytes of it.
    b1.get = async (key, opts) => {
      const res = await get(key, opts);
      async function* cut(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(600, 7);
        throw new ReadPathError('BACKEND_ERROR', 'connection reset');
      }
      return { ...res, body: Readable.from(cut()) };
    };
    const o = await rp.get('k');
    assert.deepEqual([o.backend, o.failover], ['b2', true]);
    assert.deepEqual([rp.recorder.usage.usage('b1').apiRequests, rp.recorder.usage.usage('b1').egressBytes], [1, 600]);
    const dir = mkdtempSync(join(tmpdir(), 'rp-cut-'));
    const outcomes: BatchOutcome[] = [];
    for await (const w of rp.readMany(['k'], { out: dir })) outcomes.push(w);
    assert.equal(outcomes[0]?.ok, true);
    assert.deepEqual([rp.recorder.usage.usage('b1').apiRequests, rp.recorder.usage.usage('b1').egressBytes], [2, 1200], 'into a file too');
    await rp.close();
  });

  it('a backend that cannot serve a copy\'s known size within its egress limit is skipped before a request', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, {
      backends: limitedBackends({ b1: { egress_byte_limit: 12 }, b2: {} }),
    });
    seed('k', 'hello');
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push((await rp.get('k')).backend);
    assert.deepEqual(served, ['b1', 'b1', 'b2', 'b2'], 'b1 serves 10 of its 12 bytes, then not 5 more');
    assert.equal(backend('b1').calls.get, 2, 'b1 was asked only for what it could serve');
    assert.equal(rp.recorder.usage.usage('b1').apiRequests, 2);
    await rp.close();
  });

  it('concurrent whole GETs see each other\'s row sizes against an egress limit: no request is sent that the limit cannot cover', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, {
      backends: limitedBackends({ b1: { egress_byte_limit: 2500 }, b2: {} }),
    });
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    for (const k of keys) seed(k, new Uint8Array(1000).fill(1));
    const served: Record<string, number> = {};
    for await (const o of rp.readMany(keys, { concurrency: 8 })) {
      assert.ok(o.ok, o.key);
      if (o.ok) served[o.backend] = (served[o.backend] ?? 0) + 1;
    }
    assert.deepEqual(served, { b1: 2, b2: 10 });
    assert.equal(backend('b1').calls.get, 2, 'b1 was asked only for what its limit covers');
    assert.deepEqual([rp.recorder.usage.usage('b1').apiRequests, rp.recorder.usage.usage('b1').egressBytes], [2, 2000]);
    await rp.close();
  });

  it('degraded probes, which list a backend before they GET, never make more requests than its api_request_limit, however many run at once', async () => {
    for (const concurrency of [1, 8]) {
      const { rp, seed, store, backend } = await openMemoryReadPath(1, {
        backends: limitedBackends({ b1: { api_request_limit: 5 } }),
      });
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      for (const k of keys) seed(k, 'body', ['b1']);
      store.setAvailable(false);
      const outcomes: BatchOutcome[] = [];
      for await (const o of rp.readMany(keys, { concurrency })) outcomes.push(o);
      const b1 = backend('b1').calls;
      assert.ok(b1.get + b1.list + b1.head <= 5, `concurrency ${concurrency}: ${JSON.stringify(b1)} against a limit of 5`);
      assert.equal(rp.recorder.usage.usage('b1').apiRequests, b1.get + b1.list + b1.head, 'every request counted');
      assert.ok(outcomes.some((o) => o.ok) && outcomes.some((o) => !o.ok && hasCode(o.error, 'USAGE_LIMIT_EXCEEDED')), 'some read, the rest declined');
      await rp.close();
    }
  });

  it('a degraded storage-key listing that runs to a second page reserves the request it takes: get and getStream send none past the api_request_limit', async () => {
    const { rp, store, backend } = await openMemoryReadPath(1, {
      backends: limitedBackends({ b1: { api_request_limit: 2 } }),
    });
    const b1 = backend('b1');
    b1.put('k', 'body');
    // Namesakes that sort before its copies (a space sorts before '!'): a first page of 100 holds none.
    for (let i = 0; i < 150; i++) b1.put(`k ${String(i).padStart(3, '0')}`, 'other');
    store.setAvailable(false);
    const sent = (): number => b1.calls.list + b1.calls.get + b1.calls.head;
    // Admitted with a listing and a GET reserved: two pages use both, and the GET would be a third.
    await assert.rejects(rp.get('k'), (e: ReadPathError) => e.code === 'USAGE_LIMIT_EXCEEDED');
    assert.deepEqual([b1.calls.list, b1.calls.get], [2, 0], 'the GET past the limit was not sent');
    rp.recorder.usage.setLimits('b1', { apiRequests: 2 + 2 });
    await assert.rejects(rp.getStream('k'), (e: ReadPathError) => e.code === 'USAGE_LIMIT_EXCEEDED');
    assert.deepEqual([b1.calls.list, b1.calls.get], [4, 0], 'a stream holds to its reservation too');
    rp.recorder.usage.setLimits('b1', { apiRequests: 4 + 3 });
    assert.equal(new TextDecoder().decode((await rp.get('k')).body), 'body');
    assert.deepEqual([b1.calls.list, b1.calls.get, sent()], [6, 1, 7]);
    assert.equal(rp.recorder.usage.usage('b1').apiRequests, 7, 'every request counted, none past the limit');
    await rp.close();
  });

  it('a degraded stream of a copy found compressed lists the next backend for its storage key within that backend\'s reservation', async () => {
    const mems = [new MemoryBackend('b1'), new MemoryBackend('b2')];
    const [m1, m2] = mems as [MemoryBackend, MemoryBackend];
    const zst = seekableZstd(new TextEncoder().encode('0123456789'.repeat(30)), { chunkSize: 100 }).body;
    m1.put('z', zst);
    m2.put('z', zst);
    // b1 answers the HEAD (ranged reads) but not the stream's whole GET: the stream goes on to b2.
    const b1: ObjectBackend = {
      name: 'b1',
      head: (k, o) => m1.head(k, o),
      get: (k, o) => (o?.range === undefined ? Promise.reject(new ReadPathError('BACKEND_ERROR', 'b1: unavailable', { backendStatus: 503 })) : m1.get(k, o)),
      list: (o) => m1.list(o),
    };
    const store = new MemoryMetadataStore();
    store.setAvailable(false);
    const rp = await ReadPath.open({
      backends: limitedBackends({ b1: {}, b2: { api_request_limit: 1 } }),
      database: { driver: 'memory' }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
    }, { backends: [b1, m2], store });
    try {
      // b2's copy is read as the layout b1's was found in, at its own storage key: a listing, then
      // the GET — a second request its one-request limit has no room for, so it is not sent.
      await assert.rejects(rp.getStream('z'), (e: ReadPathError) => e.code === 'ALL_BACKENDS_FAILED' && hasCode(e, 'USAGE_LIMIT_SKIP'));
      assert.equal(m2.calls.list + m2.calls.get + m2.calls.head, 1, JSON.stringify(m2.calls));
      assert.equal(rp.recorder.usage.usage('b2').apiRequests, 1);
      rp.recorder.usage.setLimits('b2', { apiRequests: 1 + 2 });
      const o = await rp.getStream('z');
      const chunks: Buffer[] = [];
      for await (const c of o.body) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), '0123456789'.repeat(30));
      assert.equal(o.backend, 'b2');
      assert.equal(rp.recorder.usage.usage('b2').apiRequests, 3);
    } finally {
      await rp.close();
    }
  });

  it('a HEAD of a copy whose stored size is not its row\'s is refused for that copy; the next copy answers, as a GET would', async () => {
    const { rp, seed, backend } = await openMemoryReadPath();
    seed('k', 'ten bytes!');
    backend('b1').put('k', 'short');
    const h = await rp.head('k');
    assert.equal(h.backend, 'b2');
    assert.equal(h.size, 10);
    assert.equal(h.failover, true);
    assert.equal((await rp.get('k')).backend, 'b2');
    await rp.close();
  });

  it('after close, listKeys and keysUnder are refused like every other call', async () => {
    const { rp, seed } = await openMemoryReadPath();
    seed('a/k', 'x');
    assert.deepEqual((await rp.listKeys({ prefix: 'a/', limit: 10 })).map((o) => o.key), ['a/k']);
    await rp.close();
    await assert.rejects(rp.listKeys({ prefix: 'a/', limit: 10 }), (err: unknown) => is('SERVICE_UNAVAILABLE')(err) && /closed/.test((err as Error).message));
    await assert.rejects((async () => {
      for await (const k of rp.keysUnder('a/')) assert.fail(`listed ${k}`);
    })(), is('SERVICE_UNAVAILABLE'));
    await assert.rejects(rp.get('a/k'), is('SERVICE_UNAVAILABLE'));
  });
});
