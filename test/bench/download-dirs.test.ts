/**
 * The benches' download directories (bench/peers/download-dirs.ts): fresh directories under the
 * chosen destination, all kept until close() removes them together, and the file system named.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DownloadDirs, fileSystemName } from '../../bench/peers/download-dirs.js';

const base = await mkdtemp(path.join(os.tmpdir(), 'readpath-download-dirs-test-'));
after(() => rm(base, { recursive: true, force: true }));

test('downloads stay until close(), which removes them all; the destination names its file system', async () => {
  const dirs = await DownloadDirs.open(base, 'bench-');
  assert.equal(path.dirname(dirs.destination.path), base);
  assert.match(path.basename(dirs.destination.path), /^bench-/);
  assert.equal(dirs.destination.fs, fileSystemName((await statfs(base)).type));

  const a = await dirs.dir('4k/rclone-0');
  const b = await dirs.dir('4k/readpath-0');
  assert.deepEqual(await readdir(a), [], 'a new directory is empty');
  await writeFile(path.join(a, 'x.bin'), 'x');
  await writeFile(path.join(b, 'y.bin'), 'y');
  await dirs.dir('1m/rclone-0');
  // The first set's downloads are still there when the next set's are made.
  assert.deepEqual(await readdir(a), ['x.bin']);
  assert.deepEqual((await readdir(path.join(dirs.destination.path, '4k'))).sort(), ['rclone-0', 'readpath-0']);

  await dirs.close();
  assert.deepEqual(await readdir(base), [], 'close() removed every download and the run directory');
});

test('during() removes the downloads when its run settles, and passes on what it threw', async () => {
  let made = '';
  await assert.rejects(DownloadDirs.during(base, 'bench-', async (dirs) => {
    made = await dirs.dir('x');
    throw new Error('the bench failed');
  }), /the bench failed/);
  assert.ok(made.startsWith(base));
  assert.deepEqual(await readdir(base), []);
  assert.equal(await DownloadDirs.during(base, 'bench-', async (dirs) => path.dirname(dirs.destination.path)), base);
  assert.deepEqual(await readdir(base), []);
});

test('file systems by statfs type: the usual ones by name, others as hex', () => {
  assert.equal(fileSystemName(0xef53), 'ext2/3/4');
  assert.equal(fileSystemName(0x01021994), 'tmpfs');
  assert.equal(fileSystemName(0x12345), '0x12345');
});

test('a destination that does not exist is an error, not a silent fallback', async () => {
  await assert.rejects(DownloadDirs.open(path.join(base, 'missing'), 'bench-'), { code: 'ENOENT' });
});
