import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileSink, outPathProblem } from '../../src/sinks/file-sink.js';

describe('--out DIR containment', () => {
  let base: string;
  before(async () => { base = await mkdtemp(path.join(os.tmpdir(), 'readpath-out-')); });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  it('keys that cannot map one-to-one inside DIR are refused', () => {
    for (const key of ['../../etc/passwd', '/abs', 'a/../../b', '..', '.', './x', 'a/./b', 'a//b', 'dir/', '', 'nul\u0000', 'x'.repeat(1089)]) {
      assert.ok(outPathProblem(key) !== undefined, JSON.stringify(key));
    }
    for (const key of ['a', 'a/b/c.txt', '...', '..a', 'a..', ' space /x', 'ünï', 'back\\slash', `${'d/'.repeat(32)}${'x'.repeat(1024)}`]) {
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
