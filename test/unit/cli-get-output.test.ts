/**
 * `readpath get -o FILE` in-process (runCli) over a local big-object server and a SQLite store:
 * what stands at FILE already. A FIFO (or a device such as /dev/null) is written in place, not
 * replaced by a regular file; a regular file replaced keeps its permission bits; a symbolic link is
 * written through (as curl -o and wget -O do), never replaced, and its target never holds a damaged body.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { generatedBytes, generatedSha256, startBigObjectServer, type BigObjectServer } from '../../bench/large/big-object-server.js';
import { runCli } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/errors.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { captured } from '../helpers/captured-io.js';

const OBJECT = { key: 'docs/report.bin', size: 300_000, seed: 'report' };

let server: BigObjectServer;
let tmp: string;
let config: string;

before(async () => {
  server = await startBigObjectServer({ buckets: ['data'] });
  server.addObject('data', OBJECT.key, { size: OBJECT.size, seed: OBJECT.seed });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-get-output-'));
  const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
  await store.addLocations([{ objectKey: OBJECT.key, backendName: 'b1', sizeBytes: OBJECT.size, createdAt: new Date(Date.UTC(2026, 0, 1)), encrypted: false, contentHash: await generatedSha256(OBJECT.size, OBJECT.seed) }]);
  await store.close();
  config = path.join(tmp, 'readpath.json');
  await writeFile(config, JSON.stringify({
    backends: [{ name: 'b1', endpoint: server.url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
    database: { driver: 'sqlite', path: path.join(tmp, 'meta.db') },
  }));
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const BODY = generatedBytes(OBJECT.size, OBJECT.seed, 0, OBJECT.size);

async function get(file: string): Promise<{ code: number; err: string }> {
  const { stdout, stderr, err } = captured();
  const code = await runCli(['get', OBJECT.key, '-c', config, '-o', file], { stdin: new PassThrough(), stdout, stderr, env: {} });
  return { code, err: err() };
}

it('a FIFO at FILE gets the body through it and stays a FIFO (no rename over it, no temporary file)', async () => {
  const dir = await mkdtemp(path.join(tmp, 'fifo-'));
  const fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  // The reader in a child: a FIFO replaced under it would leave an in-process open() blocked for good.
  const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  reader.stdout.on('data', (c: Buffer) => { chunks.push(c); });
  const exited = once(reader, 'exit');
  try {
    const r = await get(fifo);
    assert.equal(r.code, EXIT.OK, r.err);
    assert.equal((await lstat(fifo)).isFIFO(), true, 'still a FIFO');
    await exited;
    assert.ok(Buffer.concat(chunks).equals(BODY), 'the whole body came through the FIFO');
  } finally {
    if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL');
  }
  assert.deepEqual(await readdir(dir), ['pipe']);
});

it('a regular file at FILE is replaced whole and keeps its permission bits', async () => {
  const dir = await mkdtemp(path.join(tmp, 'mode-'));
  const file = path.join(dir, 'secret.bin');
  await writeFile(file, 'previous contents');
  await chmod(file, 0o600);
  const r = await get(file);
  assert.equal(r.code, EXIT.OK, r.err);
  assert.ok((await readFile(file)).equals(BODY));
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'still private');
  assert.deepEqual(await readdir(dir), ['secret.bin']);
});

it('a symbolic link at FILE stays a link: the file it points to gets the body, its temporary file beside that file', async () => {
  const dir = await mkdtemp(path.join(tmp, 'link-'));
  await mkdir(path.join(dir, 'store'));
  const real = path.join(dir, 'store', 'report.bin');
  await writeFile(real, 'previous contents');
  await chmod(real, 0o600);
  const link = path.join(dir, 'current');
  await symlink('store/report.bin', link);
  const r = await get(link);
  assert.equal(r.code, EXIT.OK, r.err);
  assert.equal((await lstat(link)).isSymbolicLink(), true, 'still a link');
  assert.equal(await readlink(link), 'store/report.bin');
  assert.ok((await readFile(real)).equals(BODY), 'the target has the body');
  assert.equal((await stat(real)).mode & 0o777, 0o600, 'the target keeps its permission bits');
  assert.deepEqual((await readdir(dir)).sort(), ['current', 'store']);
  assert.deepEqual(await readdir(path.join(dir, 'store')), ['report.bin']);
});

it('a dangling symbolic link at FILE stays a link, and the file it names is created', async () => {
  const dir = await mkdtemp(path.join(tmp, 'dangling-'));
  const link = path.join(dir, 'latest');
  await symlink('made.bin', link);
  const r = await get(link);
  assert.equal(r.code, EXIT.OK, r.err);
  assert.equal((await lstat(link)).isSymbolicLink(), true, 'still a link');
  assert.ok((await readFile(path.join(dir, 'made.bin'))).equals(BODY));
  assert.deepEqual((await readdir(dir)).sort(), ['latest', 'made.bin']);
});

it('a damaged body through a symbolic link leaves the link and its target as they were', async () => {
  const dir = await mkdtemp(path.join(tmp, 'link-bad-'));
  const real = path.join(dir, 'real.bin');
  await writeFile(real, 'previous contents');
  const link = path.join(dir, 'link');
  await symlink('real.bin', link);
  server.setFaults({ flipByteAt: 1000 });
  try {
    const r = await get(link);
    assert.equal(r.code, EXIT.FAILED, r.err);
  } finally {
    server.setFaults({});
  }
  assert.equal((await lstat(link)).isSymbolicLink(), true, 'still a link');
  assert.equal(await readFile(real, 'utf8'), 'previous contents');
  assert.deepEqual((await readdir(dir)).sort(), ['link', 'real.bin']);
});
