/**
 * Which probes into a file read their body into a reused buffer of the thread's
 * (src/probe/file-read-buffers.ts): plain copies of a known size up to 1 MiB, whole.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { fileReadBuffer } from '../../src/probe/file-read-buffers.js';
import type { ProbeLocation, ProbeTask } from '../../src/probe/task.js';

const loc = (over: Partial<ProbeLocation> = {}): ProbeLocation => ({ contentHash: null, sizeBytes: 4096, encrypted: false, plaintextSize: null, ...over });
const task = (location: ProbeLocation | null, range?: string): ProbeTask => ({ op: 'get', backend: 'b1', key: 'k', location, out: '/tmp/x', ...(range === undefined ? {} : { range }) });

describe('fileReadBuffer', () => {
  it('a 64 KiB buffer up to 64 KiB, a 1 MiB one up to 1 MiB, none past it', () => {
    assert.equal(fileReadBuffer(task(loc({ sizeBytes: 0 })))?.buf.length, 64 * 1024);
    assert.equal(fileReadBuffer(task(loc({ sizeBytes: 64 * 1024 })))?.buf.length, 64 * 1024);
    assert.equal(fileReadBuffer(task(loc({ sizeBytes: 64 * 1024 + 1 })))?.buf.length, 1024 * 1024);
    assert.equal(fileReadBuffer(task(loc({ sizeBytes: 1024 * 1024 })))?.buf.length, 1024 * 1024);
    assert.equal(fileReadBuffer(task(loc({ sizeBytes: 1024 * 1024 + 1 }))), undefined);
  });

  it('none for a copy whose stored bytes are not the object\'s, for a range, or without a row', () => {
    assert.equal(fileReadBuffer(task(loc({ encrypted: true }))), undefined);
    assert.equal(fileReadBuffer(task(loc({ compression: 'zstd' }))), undefined);
    assert.equal(fileReadBuffer(task(loc(), 'bytes=0-9')), undefined);
    assert.equal(fileReadBuffer(task(null)), undefined);
  });

  it('the same buffer again once the body it was given to has closed', async () => {
    const a = fileReadBuffer(task(loc())) as NonNullable<ReturnType<typeof fileReadBuffer>>;
    const body = new PassThrough();
    a.pool.releaseAfter(a.buf, body);
    const b = fileReadBuffer(task(loc())) as NonNullable<ReturnType<typeof fileReadBuffer>>;
    assert.notEqual(b.buf, a.buf, 'in use: another one');
    b.pool.releaseUnused(b.buf);
    body.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    const c = fileReadBuffer(task(loc())) as NonNullable<ReturnType<typeof fileReadBuffer>>;
    const d = fileReadBuffer(task(loc())) as NonNullable<ReturnType<typeof fileReadBuffer>>;
    assert.deepEqual(new Set([c.buf, d.buf]), new Set([a.buf, b.buf]), 'both back for reuse');
  });
});
