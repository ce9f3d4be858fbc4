import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileSink, outPathProblem } from '../../src/sinks/file-sink.js';
import { threadId } from 'node:worker_threads';
import { NAME_MAX_BYTES, nextTempName, tempNameFor, tempWriterOf } from '../../src/sinks/temp-name.js';

describe('--out DIR containment', () => {
  let base: string;
  before(async () => { base = await mkdtemp(path.join(os.tmpdir(), 'readpath-out-')); });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  it('keys that cannot map one-to-one inside DIR are refused', () => {
    // A segment over 255 bytes can be no file's name: refused before any read.
    const overlongNames = ['x'.repeat(256), `a/${'x'.repeat(256)}/b`, 'é'.repeat(128)];
    for (const key of ['../../etc/passwd', '/abs', 'a/../../b', '..', '.', './x', 'a/./b', 'a//b', 'dir/', '', 'nul\u0000', 'x'.repeat(1089), ...overlongNames]) {
      assert.ok(outPathProblem(key) !== undefined, JSON.stringify(key));
    }
    for (const key of ['a', 'a/b/c.txt', '...', '..a', 'a..', ' space /x', 'ünï', 'back\\slash', `${'d/'.repeat(400)}${'x'.repeat(255)}`, 'é'.repeat(127)]) {
      assert.equal(outPathProblem(key), undefined, JSON.stringify(key));
    }
    assert.ok(outPathProblem('back\\slash', '\\') !== undefined, 'Windows path syntax');
    assert.ok(outPathProblem('c:evil', '\\') !== undefined);
  });

  it('writes nested keys, overwrites, and refuses to follow symlinks anywhere on the way', async () => {
    const dir = path.join(base, 'dir');
    const outside = path.join(base, 'outside');
    await mkdir(outside);
    const out = FileSink.open(dir);
    assert.equal(out.write('a/b/c.txt', Uint8Array.of(1, 2, 3)), 'a/b/c.txt');
    out.write('a/b/c.txt', Uint8Array.of(9));
    assert.deepEqual([...await readFile(path.join(dir, 'a/b/c.txt'))], [9]);

    await symlink(outside, path.join(dir, 'linkdir'));
    await symlink(path.join(outside, 'target'), path.join(dir, 'linkfile'));
    assert.throws(() => out.write('linkdir/x', Uint8Array.of(1)), { code: 'ELOOP' });
    assert.throws(() => out.write('linkfile', Uint8Array.of(1)), { code: 'ELOOP' });
    assert.throws(() => out.write('../escape', Uint8Array.of(1)), { code: 'INVALID_KEY' });
    assert.deepEqual(await readdir(outside), []);

    // A key that is another key's directory fails that key only.
    await writeFile(path.join(dir, 'file'), 'x');
    assert.throws(() => out.write('file/child', Uint8Array.of(1)), { code: 'ENOTDIR' });
    assert.equal((await lstat(path.join(dir, 'a'))).isDirectory(), true);
    // Nothing half-written or temporary is left behind, whatever failed.
    assert.deepEqual((await readdir(path.join(dir, 'a/b'))).sort(), ['c.txt']);
    assert.ok((await readdir(dir)).every((n) => !n.endsWith('.tmp')));
  });

  it('a name of up to 255 bytes is written, whatever room that leaves for its temporary name', async () => {
    const dir = path.join(base, 'long');
    const out = FileSink.open(dir);
    // 255 bytes: ASCII, two-byte and four-byte characters (the temporary name must not split them).
    const names = ['L'.repeat(255), `${'é'.repeat(127)}x`, `${'🎉'.repeat(63)}abc`];
    for (const name of names) {
      assert.equal(Buffer.byteLength(name), 255);
      assert.equal(out.write(`x/${name}`, Uint8Array.of(5)), `x/${name}`);
      assert.deepEqual([...await readFile(path.join(dir, 'x', name))], [5]);
    }
    assert.deepEqual((await readdir(path.join(dir, 'x'))).sort(), [...names].sort(), 'no temporary file left');
    // Beyond that no file system has room for the name: INVALID_KEY, nothing created.
    assert.throws(() => out.write(`y/${'L'.repeat(256)}`, Uint8Array.of(5)), { code: 'INVALID_KEY' });
    assert.deepEqual((await readdir(dir)).sort(), ['x']);
  });

  it('temporary names (batch --out, get -o) keep the target\'s name when it fits and always fit in 255 bytes', () => {
    assert.equal(tempNameFor('cat.jpg', { pid: 12, thread: 0, seq: 1 }), '.cat.jpg.readpath-12-0-1.tmp');
    for (const name of ['x'.repeat(200), 'x'.repeat(255), '🎉'.repeat(63), `a${'🎉'.repeat(63)}`]) {
      const temp = tempNameFor(name, { pid: 4194304, thread: 255, seq: Number.MAX_SAFE_INTEGER });
      assert.ok(Buffer.byteLength(temp) <= NAME_MAX_BYTES, temp);
      assert.ok(temp.startsWith('.') && temp.endsWith('.tmp') && !temp.includes('\ufffd'), temp);
      assert.ok(!/[\ud800-\udfff]/.test(temp.replace(/🎉/g, '')), 'no half of a surrogate pair');
    }
  });

  it('temporary names are recognized by the module that makes them: exactly its names, with their writer', () => {
    const made = nextTempName('cat.jpg');
    const w = tempWriterOf(made, ['dog.jpg', 'cat.jpg']);
    assert.ok(w !== undefined, made);
    assert.equal(w.pid, process.pid);
    assert.equal(w.thread, threadId);
    assert.ok(Number(tempWriterOf(nextTempName('cat.jpg'), ['cat.jpg'])?.seq) > w.seq, 'a new name per file');
    const long = '🎉'.repeat(63);
    const shortened = tempNameFor(long, { pid: 7, thread: 3, seq: 9 });
    assert.deepEqual(tempWriterOf(shortened, [long]), { pid: 7, thread: 3, seq: 9 });
    assert.equal(tempWriterOf(shortened, ['🎉'.repeat(40)]), undefined, 'another name of the same first characters');
    for (const lookalike of ['.cat.jpg.readpath-7-3-9.tmp.keep', '.cat.jpg.readpath-07-3-9.tmp', '.cat.jpg.readpath-7-3-x.tmp', 'cat.jpg.readpath-7-3-9.tmp', '.cat.jpg.readpath-7-3.tmp']) {
      assert.equal(tempWriterOf(lookalike, ['cat.jpg']), undefined, lookalike);
    }
    assert.equal(tempWriterOf('.cat.jpg.readpath-7-3-9.tmp', ['dog.jpg']), undefined, 'another target\'s');
  });

  it('a file replaced keeps its permission bits; a new one is not group- or other-writable', async () => {
    const dir = path.join(base, 'modes');
    const out = FileSink.open(dir);
    out.write('new', Uint8Array.of(1));
    await writeFile(path.join(dir, 'private'), 'old');
    await chmod(path.join(dir, 'private'), 0o600);
    out.write('private', Uint8Array.of(2));
    assert.deepEqual([...await readFile(path.join(dir, 'private'))], [2]);
    assert.equal((await stat(path.join(dir, 'private'))).mode & 0o777, 0o600, 'still private');
    assert.equal((await stat(path.join(dir, 'new'))).mode & 0o022, 0, 'new files are not group/other-writable');
  });

  it('DIR given through a symlink is resolved once and used', async () => {
    const real = path.join(base, 'real');
    await mkdir(real);
    await symlink(real, path.join(base, 'alias'));
    const out = FileSink.open(path.join(base, 'alias'));
    out.write('k', Uint8Array.of(7));
    assert.deepEqual([...await readFile(path.join(real, 'k'))], [7]);
  });

  it('hasFile (--skip-existing): a regular file reached through real directories only; never throws', async () => {
    const dir = path.join(base, 'has');
    const outside = path.join(base, 'has-outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'x'), 'outside');
    const out = FileSink.open(dir);
    out.write('a/b/c.txt', Uint8Array.of(1));
    assert.equal(out.hasFile('a/b/c.txt'), true);
    assert.equal(out.hasFile('a/b'), false, 'a directory is not a file');
    assert.equal(out.hasFile('a/b/missing'), false);
    assert.equal(out.hasFile('missing/dir/x'), false);
    assert.equal(out.hasFile('../has-outside/x'), false, 'a key that cannot map into DIR');
    await symlink(outside, path.join(dir, 'linkdir'));
    await symlink(path.join(outside, 'x'), path.join(dir, 'linkfile'));
    assert.equal(out.hasFile('linkdir/x'), false, 'not through a symlinked directory');
    assert.equal(out.hasFile('linkfile'), false, 'not a symlink to a file');
    await writeFile(path.join(dir, 'plain'), 'x');
    assert.equal(out.hasFile('plain/child'), false, 'a file where a directory would be');
    // When the file system will not say (here ENAMETOOLONG: a 300-byte name), the answer is no:
    // the key is read and its write reports why.
    assert.equal(out.hasFile(`${'n'.repeat(300)}/x`), false);
    assert.equal(out.hasFile('n'.repeat(300)), false);
  });
});
