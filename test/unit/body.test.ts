import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { collectBody, contentRangeTotal, discardBody, rangeLength, readBody, readRange } from '../../src/backends/body.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { ReadPathError, hasCode } from '../../src/errors.js';

const is = (code: Parameters<typeof hasCode>[1]) => (e: unknown) => hasCode(e, code);

describe('collectBody / readBody', () => {
  it('reads chunks into one unpooled Uint8Array', async () => {
    const s = Readable.from([Buffer.from('ab'), 'cd', Buffer.from('ef')], { objectMode: false });
    const out = await collectBody(s);
    assert.equal(Buffer.from(out).toString(), 'abcdef');
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, 6, 'owns its buffer (transferable)');
  });

  it('checks the announced size: short is truncated, long is refused', async () => {
    await assert.rejects(collectBody(Readable.from([Buffer.from('abc')]), { expectedSize: 5 }), (e: unknown) => is('BACKEND_ERROR')(e) && /truncated/.test((e as Error).message));
    const long = Readable.from([Buffer.from('abcdef')]);
    await assert.rejects(collectBody(long, { expectedSize: 3 }), is('BACKEND_ERROR'));
    assert.ok(long.destroyed);
    const exact = await readBody({ size: 3, body: Readable.from([Buffer.from('abc')]) });
    assert.equal(exact.byteLength, 3);
    const unknown = await readBody({ size: -1, body: Readable.from([Buffer.from('abcd')]) });
    assert.equal(unknown.byteLength, 4, 'size -1 means unknown: no check');
  });

  it('enforces maxBytes', async () => {
    await assert.rejects(collectBody(Readable.from([Buffer.alloc(10)]), { maxBytes: 4 }), is('OBJECT_TOO_LARGE'));
    await assert.rejects(collectBody(Readable.from([Buffer.alloc(10)]), { maxBytes: 4, expectedSize: 10 }), is('OBJECT_TOO_LARGE'));
  });

  it('aborts: destroys the stream, rejects ABORTED, removes its listener', async () => {
    const s = new PassThrough();
    const ac = new AbortController();
    const p = collectBody(s, { signal: ac.signal });
    s.write('partial');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort();
    await assert.rejects(p, is('ABORTED'));
    assert.ok(s.destroyed);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('an already-aborted signal destroys the stream without reading', async () => {
    const s = new PassThrough();
    await assert.rejects(collectBody(s, { signal: AbortSignal.abort() }), is('ABORTED'));
    assert.ok(s.destroyed);
  });

  it('keeps a coded error the stream was destroyed with (e.g. TIMEOUT)', async () => {
    const s = new PassThrough();
    const p = collectBody(s);
    s.destroy(new ReadPathError('TIMEOUT', 'slow'));
    await assert.rejects(p, is('TIMEOUT'));
    const gone = new PassThrough();
    gone.on('error', () => {});
    gone.destroy(new ReadPathError('TIMEOUT', 'slow'));
    await assert.rejects(collectBody(gone), is('TIMEOUT'), 'already destroyed: its error is reported');
  });

  it('maps raw stream errors and premature closes to BACKEND_ERROR', async () => {
    const s = new PassThrough();
    const p = collectBody(s);
    s.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    await assert.rejects(p, is('BACKEND_ERROR'));
    const c = new PassThrough();
    const q = collectBody(c);
    c.destroy();
    await assert.rejects(q, is('BACKEND_ERROR'));
  });

  it('discardBody destroys without an unhandled error', async () => {
    const s = new PassThrough();
    discardBody({ body: s }, new ReadPathError('ABORTED', 'loser'));
    assert.ok(s.destroyed);
    const t = new PassThrough();
    discardBody(t);
    assert.ok(t.destroyed);
  });
});

describe('contentRangeTotal', () => {
  it('the object size a Content-Range gives; nothing for an unknown total or another form', () => {
    assert.equal(contentRangeTotal('bytes 0-4/20'), 20);
    assert.equal(contentRangeTotal('Bytes 10-19/9007199254740991'), 9007199254740991);
    for (const odd of [undefined, '', 'bytes 0-4/*', 'bytes */20', 'bytes 0-4/2e3', 'items 0-4/20', 'bytes 0-4/99999999999999999999']) {
      assert.equal(contentRangeTotal(odd), undefined, String(odd));
    }
  });

  it('the memory backend reports it for ranged answers only', async () => {
    const m = new MemoryBackend('m');
    m.put('k', new TextEncoder().encode('0123456789'));
    const ranged = await m.get('k', { range: 'bytes=2-4' });
    assert.deepEqual([ranged.size, ranged.totalSize], [3, 10]);
    await readBody(ranged);
    const whole = await m.get('k');
    assert.equal(whole.totalSize, undefined);
    await readBody(whole);
  });
});

describe('readRange', () => {
  const digits = new TextEncoder().encode('0123456789');
  const text = (b: Uint8Array): string => Buffer.from(b).toString();

  it('reads any one range as the read path reads it — a suffix, an open end, spaces, leading zeros — not only bytes=a-b', async () => {
    const m = new MemoryBackend('m');
    m.put('k', digits);
    // Each of these was refused as OBJECT_TOO_LARGE: a bound of 0 bytes for any form but bytes=a-b.
    assert.equal(text(await readRange(m, 'k', 'bytes=-4')), '6789');
    assert.equal(text(await readRange(m, 'k', 'bytes=7-')), '789');
    assert.equal(text(await readRange(m, 'k', 'bytes=2-9223372036854775806')), '23456789');
    assert.equal(text(await readRange(m, 'k', ' bytes=2-4 ')), '234');
    assert.equal(text(await readRange(m, 'k', 'bytes=002-04')), '234');
    assert.equal(text(await readRange(m, 'k', 'bytes=0-1')), '01');
  });

  it('still refuses an answer longer than the range can be: a backend ignoring Range', async () => {
    const m = new MemoryBackend('m');
    m.put('k', digits);
    const ignoring: Pick<MemoryBackend, 'name' | 'head' | 'get'> = { name: 'ignoring', head: (k, o) => m.head(k, o), get: (k) => m.get(k) };
    for (const range of ['bytes=0-3', 'bytes=-4', 'bytes=0-1,3-4', 'bytes=7-3']) {
      await assert.rejects(readRange(ignoring, 'k', range), is('OBJECT_TOO_LARGE'), range);
    }
  });
});

describe('rangeLength', () => {
  it('the most bytes a range can select', () => {
    assert.equal(rangeLength('bytes=5-9'), 5);
    assert.equal(rangeLength('bytes=-8'), 8);
    assert.equal(rangeLength('bytes=5-'), Infinity);
    assert.equal(rangeLength('bytes=5-99999999999999999999'), Infinity);
    for (const none of ['bytes=9-5', 'bytes=99999999999999999999-5', 'bytes=0-1,3-4', 'items=0-4', 'bytes=']) assert.equal(rangeLength(none), 0, none);
  });
});
