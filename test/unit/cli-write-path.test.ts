/**
 * The `batch --out` write path: stdout lines gathered into few writes, and the file sink under
 * contention (the same key from two threads at once, a FIFO in the way).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { FileSink } from '../../src/sinks/file-sink.js';
import { Output } from '../../src/cli/output.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('batch --out write path', () => {
  let tmp: string;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-write-path-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });

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

  it('FileSink: the same key written from two threads at once ends with one whole body', async () => {
    const dir = path.join(tmp, 'dup');
    const root = FileSink.open(dir).root;
    // Each thread writes the key 40 times with its own bytes: a reader must only ever find a
    // whole body of one of them, never a mix or a truncated one.
    const writer = (fill: number, size: number): Promise<void> => new Promise((resolve, reject) => {
      // The compiled sink (npm test builds first): an eval'd worker on Node 20 gets no TypeScript loader.
      const w = new Worker(`(async () => {
        const { FileSink } = await import(${JSON.stringify(new URL('../../dist/src/sinks/file-sink.js', import.meta.url).href)});
        const sink = new FileSink(${JSON.stringify(root)});
        const body = new Uint8Array(${size}).fill(${fill});
        for (let i = 0; i < 40; i++) sink.write('d/k', body);
      })().catch((err) => { console.error(err); process.exit(1); });`, { eval: true });
      w.once('error', reject);
      w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
    });
    await Promise.all([writer(1, 300_000), writer(2, 200_000)]);
    const got = await readFile(path.join(dir, 'd/k'));
    const fill = got[0];
    assert.ok(fill === 1 || fill === 2);
    assert.equal(got.byteLength, fill === 1 ? 300_000 : 200_000, 'whole');
    assert.ok(got.every((x) => x === fill), 'one body, not a mix');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(path.join(dir, 'd')), ['k'], 'no temporary file left');
  });

  it('FileSink: many keys in many directories all land, whole', async () => {
    const out = FileSink.open(path.join(tmp, 'many'));
    const bodies = Array.from({ length: 50 }, (_, i) => new Uint8Array(1000 + i).fill(i));
    const paths = bodies.map((b, i) => out.write(`m/${i % 5}/${i}`, b));
    assert.deepEqual(paths, bodies.map((_, i) => `m/${i % 5}/${i}`));
    for (const [i, b] of bodies.entries()) assert.deepEqual(new Uint8Array(await readFile(path.join(tmp, 'many', `m/${i % 5}/${i}`))), b);
  });

  it('FileSink: a FIFO where a file should go fails that key at once instead of hanging', async () => {
    const dir = path.join(tmp, 'fifo');
    const out = FileSink.open(dir);
    await promisify(execFile)('mkfifo', [path.join(dir, 'pipe')]);
    assert.throws(() => out.write('pipe', Uint8Array.of(1)), (err: NodeJS.ErrnoException) => err.code === 'ENXIO' || err.code === 'EEXIST');
    assert.equal(out.write('after', Uint8Array.of(1)), 'after');
  });
});
