/**
 * `readpath batch --out DIR` interrupted twice mid-body: the second signal exits at once (130)
 * without waiting for the pool's workers, which are stopped mid-write and never remove their
 * temporary files — the main thread removes them on its way out. A child process (the CLI as
 * users run it, under tsx) over a big-object server whose bodies stall mid-way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { generatedSha256, startBigObjectServer, type BigObjectServer } from '../../bench/large/big-object-server.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { tempWriterOf } from '../../src/sinks/temp-name.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const SIZE = 8 << 20;
const KEYS = ['clips/a.bin', 'clips/b.bin', 'c.bin'];

let server: BigObjectServer;
let tmp: string;

before(async () => {
  server = await startBigObjectServer({ buckets: ['data'] });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-batch-int-'));
  const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
  for (const key of KEYS) {
    server.addObject('data', key, { size: SIZE, seed: key });
    await store.addLocations([{ objectKey: key, backendName: 'b1', sizeBytes: SIZE, createdAt: new Date(Date.UTC(2026, 0, 1)), encrypted: false, contentHash: await generatedSha256(SIZE, key) }]);
  }
  await store.close();
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

/** The temporary files under `dir` (recursively) that hold bytes, by path relative to `dir`. */
async function tempsWithBytes(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const rel of await readdir(dir, { recursive: true })) {
    const name = path.basename(rel);
    if (tempWriterOf(name, [name.replace(/^\.(.*)\.readpath-.*$/s, '$1')]) === undefined) continue;
    if (((await stat(path.join(dir, rel)).catch(() => undefined))?.size ?? 0) > 0) found.push(rel);
  }
  return found;
}

test('batch --out interrupted twice at once mid-body exits 130 and leaves no temporary file', async () => {
  const cfg = path.join(tmp, 'readpath.json');
  await writeFile(cfg, JSON.stringify({
    backends: [{ name: 'b1', endpoint: server.url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
    database: { driver: 'sqlite', path: path.join(tmp, 'meta.db') },
    // Far beyond the test: the interrupt, not the idle timeout, ends the stalled reads.
    runtime: { stream_idle_timeout: '10m' },
  }));
  const keys = path.join(tmp, 'keys.txt');
  await writeFile(keys, `${KEYS.join('\n')}\n`);
  const outDir = path.join(tmp, 'out');
  await mkdir(outDir);
  server.setFaults({ stallAtByte: 3 << 20 });
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'batch', '-c', cfg, '--keys', keys, '--out', outDir, '--threads', '2'],
    { cwd: ROOT, env: { ...process.env, READPATH_LOG_LEVEL: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    // Every key's body stalled with bytes in its temporary file, in the pool's workers.
    while ((await tempsWithBytes(outDir)).length < KEYS.length) {
      assert.ok(child.exitCode === null, `the child ended before the stall: ${stderr}`);
      await sleep(5);
    }
    child.kill('SIGINT');
    child.kill('SIGINT');
    const [code, signal] = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 130, stderr);
    // The process and its worker threads are gone: what is in DIR now stays.
    const left = (await readdir(outDir, { recursive: true })).filter((rel) => path.basename(rel).includes('.readpath-'));
    assert.deepEqual(left, [], 'no temporary file');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    server.releaseStalls();
    server.setFaults({});
  }
});
