/**
 * `readpath get -o FILE` interrupted mid-body (SIGINT, SIGTERM, or two at once): it stops, exits
 * 130, and leaves neither FILE nor its temporary file, which is named as the sweeps of leftovers
 * recognize. A child process (the CLI as users run it, under tsx) over
 * a big-object server that stalls the body until the test has seen the temporary file grow.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedSha256, startBigObjectServer, type BigObjectServer } from '../../bench/large/big-object-server.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempWriterOf, type TempWriter } from '../../src/sinks/temp-name.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const OBJECT = { key: 'media/clip.bin', size: 8 << 20, seed: 'clip' };
const STALL_AT = 3 << 20;

let server: BigObjectServer;
let tmp: string;

before(async () => {
  server = await startBigObjectServer({ buckets: ['data'] });
  server.addObject('data', OBJECT.key, { size: OBJECT.size, seed: OBJECT.seed });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-get-int-'));
  const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
  await store.addLocations([{ objectKey: OBJECT.key, backendName: 'b1', sizeBytes: OBJECT.size, createdAt: new Date(Date.UTC(2026, 0, 1)), encrypted: false, contentHash: await generatedSha256(OBJECT.size, OBJECT.seed) }]);
  await store.close();
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

/**
 * Run `get -o outDir/clip.bin` in a child, wait until its body stalled mid-way with bytes in its
 * temporary file, then hand the child and that file's name to `interrupt`; resolves with the
 * child's exit and stderr.
 */
async function interruptedMidBody(dir: string, interrupt: (child: ChildProcess, temp: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; outDir: string }> {
  const cfg = path.join(tmp, 'readpath.json');
  await writeFile(cfg, JSON.stringify({
    backends: [{ name: 'b1', endpoint: server.url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
    database: { driver: 'sqlite', path: path.join(tmp, 'meta.db') },
    // Far beyond the test: the interrupt, not the idle timeout, ends the stalled read.
    runtime: { stream_idle_timeout: '10m' },
  }));
  const outDir = path.join(tmp, dir);
  await mkdir(outDir);
  server.setFaults({ stallAtByte: STALL_AT });
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'get', OBJECT.key, '-c', cfg, '-o', path.join(outDir, 'clip.bin')],
    { cwd: ROOT, env: { ...process.env, READPATH_LOG_LEVEL: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    // Mid-body: the body stalled, and bytes before the stall are in the temporary file.
    const written = async (): Promise<string | undefined> => {
      if (server.stats().stalled === 0) return undefined;
      for (const name of await readdir(outDir)) {
        if (name.includes('.readpath-') && (await stat(path.join(outDir, name))).size > 0) return name;
      }
      return undefined;
    };
    let temp: string | undefined;
    // Bounded by the child's own life: a child that ended first fails the wait, not the runner's timeout.
    while ((temp = await written()) === undefined) {
      assert.ok(child.exitCode === null, `the child ended before the stall: ${stderr}`);
      await sleep(5);
    }
    interrupt(child, temp);
    const [code, signal] = await exited;
    return { code, signal, stderr, outDir };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    server.releaseStalls();
    server.setFaults({});
  }
}

test('get -o interrupted once mid-body exits 130 and leaves no file, temporary or not', async () => {
  const r = await interruptedMidBody('out', (child) => child.kill('SIGINT'));
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(await readdir(r.outDir), [], 'neither the file nor its temporary file');
});

test('get -o writes through a temporary name the sweeps recognize (this process and thread); SIGTERM removes it too', async () => {
  let writer: TempWriter | undefined;
  let pid: number | undefined;
  const r = await interruptedMidBody('out-term', (child, temp) => {
    writer = tempWriterOf(temp, ['clip.bin']);
    pid = child.pid;
    child.kill('SIGTERM');
  });
  assert.ok(writer !== undefined, 'the name is one temp-name.ts makes for clip.bin');
  assert.equal(writer.pid, pid);
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(await readdir(r.outDir), [], 'neither the file nor its temporary file');
});
test('get -o interrupted twice at once (the second exits without waiting) still leaves no temporary file', async () => {
  const r = await interruptedMidBody('out-twice', (child) => {
    child.kill('SIGINT');
    child.kill('SIGTERM');
  });
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(await readdir(r.outDir), [], 'neither the file nor its temporary file');
});
