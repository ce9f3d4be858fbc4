/**
 * The `batch --out` write path: the window that bounds writes in flight, stdout lines gathered
 * into few writes, and OutDir under concurrency (the same key twice, a FIFO in the way).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { OutDir } from '../../src/cli/out-path.js';
import { Output } from '../../src/cli/output.js';
import { WriteWindow } from '../../src/cli/write-window.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('batch --out write path', () => {
  let tmp: string;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-write-path-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });

  it('WriteWindow: room until maxCount writes are pending, then waits for one to finish', async () => {
    const w = new WriteWindow(3, 1 << 30);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    assert.equal(w.add(gates[0]!.promise, 10), undefined);
    assert.equal(w.add(gates[1]!.promise, 10), undefined);
    const full = w.add(gates[2]!.promise, 10);
    assert.ok(full !== undefined, 'the third write fills the window');
    let roomed = false;
    void full.then(() => { roomed = true; });
    await turn();
    assert.equal(roomed, false);
    gates[1]!.resolve();
    await turn();
    assert.equal(roomed, true);
    assert.equal(w.pending, 2);
    let drained = false;
    void w.drain().then(() => { drained = true; });
    gates[0]!.resolve();
    await turn();
    assert.equal(drained, false, 'one write still pending');
    gates[2]!.resolve();
    await turn();
    assert.equal(drained, true);
    assert.equal(w.pending, 0);
    await w.drain();
  });

  it('WriteWindow: a write that rejects still frees its room', async () => {
    const w = new WriteWindow(1, 1 << 30);
    const full = w.add(Promise.reject(new Error('disk on fire')), 1);
    assert.ok(full !== undefined);
    await full;
    assert.equal(w.pending, 0);
  });

  it('WriteWindow: bytes bound it too', async () => {
    const w = new WriteWindow(100, 1000);
    const a = deferred();
    assert.equal(w.add(a.promise, 600), undefined);
    const full = w.add(Promise.resolve(), 600);
    assert.ok(full !== undefined, '1200 bytes pending is over 1000');
    await full;
    assert.equal(w.pending, 1);
    a.resolve();
    await w.drain();
  });

  it('Output.queue gathers the lines of one turn into one write; flush writes at once', async () => {
    const writes: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { writes.push(chunk.toString()); cb(); } });
    const out = new Output(sink);
    for (let i = 0; i < 100; i++) await out.queue(`line ${i}\n`);
    assert.equal(writes.length, 0, 'nothing written within the turn');
    await turn();
    await turn();
    assert.equal(writes.length, 1);
    assert.equal(writes[0], Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
    await out.queue('a\n');
    await out.write('b\n');
    assert.deepEqual(writes.slice(1), ['a\n', 'b\n'], 'a direct write first writes what is queued, in order');
    await out.queue('c\n');
    await out.flush();
    assert.equal(writes.at(-1), 'c\n');
  });

  it('Output.queue waits while the stream is over its high-water mark', async () => {
    const callbacks: (() => void)[] = [];
    const sink = new Writable({ highWaterMark: 16, write(_chunk, _enc, cb) { callbacks.push(() => cb()); } });
    const out = new Output(sink);
    await out.flush();
    const waiting = out.queue('x'.repeat(70 * 1024));
    let done = false;
    void waiting.then(() => { done = true; });
    await turn();
    assert.equal(done, false, 'over the high-water mark: the caller waits');
    const later = out.queue('y\n');
    while (callbacks.length > 0) callbacks.shift()!();
    await waiting;
    await later;
    await out.flush();
    while (callbacks.length > 0) callbacks.shift()!();
  });

  it('OutDir: the same key written concurrently ends with one whole body', async () => {
    const out = await OutDir.open(path.join(tmp, 'dup'));
    const a = new Uint8Array(300_000).fill(1);
    const b = new Uint8Array(200_000).fill(2);
    const results = await Promise.all([out.write('d/k', a), out.write('d/k', b), out.write('d/k', a), out.write('d/k', b)]);
    assert.deepEqual(results, ['d/k', 'd/k', 'd/k', 'd/k']);
    const got = await readFile(path.join(tmp, 'dup/d/k'));
    assert.equal(got.byteLength, b.byteLength, 'the last write wins, whole');
    assert.ok(got.every((x) => x === 2));
  });

  it('OutDir: many writes at once with one file written at a time all land, whole', async () => {
    const out = await OutDir.open(path.join(tmp, 'many'), { writeConcurrency: 1 });
    const bodies = Array.from({ length: 50 }, (_, i) => new Uint8Array(1000 + i).fill(i));
    const paths = await Promise.all(bodies.map((b, i) => out.write(`m/${i % 5}/${i}`, b)));
    assert.deepEqual(paths, bodies.map((_, i) => `m/${i % 5}/${i}`));
    for (const [i, b] of bodies.entries()) assert.deepEqual(new Uint8Array(await readFile(path.join(tmp, 'many', `m/${i % 5}/${i}`))), b);
  });

  it('OutDir: a FIFO where a file should go fails that key at once instead of hanging', async () => {
    const dir = path.join(tmp, 'fifo');
    const out = await OutDir.open(dir);
    await promisify(execFile)('mkfifo', [path.join(dir, 'pipe')]);
    await assert.rejects(out.write('pipe', Uint8Array.of(1)), (err: NodeJS.ErrnoException) => err.code === 'ENXIO' || err.code === 'EEXIST');
    assert.equal(await out.write('after', Uint8Array.of(1)), 'after');
  });
});
