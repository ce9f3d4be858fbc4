/**
 * The peer bench's floor rows (bench/peers/floor-client.ts): the bare client really downloads and
 * verifies a data set from a real stub process, refuses a body that does not match its row, and
 * `--floor-variant` adds its two rows to the bench's report. No timing is asserted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startSetStub, type StubFleet } from '../../bench/peers/stub-fleet.js';
import { writeReadpathSetup, type ReadpathSetup } from '../../bench/peers/readpath-setup.js';
import { receivedCount, runFloor, verifyDownload } from '../../bench/peers/tools.js';
import type { PeerBenchReport } from '../../bench/peers/run.js';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-floor-test-'));
let fleet: StubFleet;
let setup: ReadpathSetup;

before(async () => {
  fleet = await startSetStub({ name: 'floor', count: 40, size: 3000 }, 2);
  await mkdir(path.join(dir, 'setup'));
  setup = await writeReadpathSetup(fleet, path.join(dir, 'setup'));
});
after(async () => {
  await fleet.close();
  await rm(dir, { recursive: true, force: true });
});

test('floor:contract downloads every object, each verified against its row and written whole', async () => {
  const dest = path.join(dir, 'contract');
  await mkdir(dest);
  const r = await runFloor('contract', fleet, setup, dest, path.join(dir, 'setup'));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((r.cpuMs ?? 0) > 0, 'its CPU is measured');
  assert.deepEqual(await verifyDownload(dest, fleet.objects), { files: 40, bytes: 40 * 3000, missing: 0, wrong: 0, unexpected: 0, ok: true });
  assert.equal(await readFile(path.join(dir, 'setup', 'floor-contract.txt'), 'utf8'), `40 objects, ${40 * 3000} bytes\n`);
});

test('floor:receive reads every body and says how many it read', async () => {
  const dest = path.join(dir, 'receive');
  await mkdir(dest);
  const r = await runFloor('receive', fleet, setup, dest, path.join(dir, 'setup'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await receivedCount(path.join(dir, 'setup'), fleet.objects), { files: 40, bytes: 40 * 3000, missing: 0, wrong: 0, unexpected: 0, ok: true });
  assert.deepEqual(await readdir(dest), [], 'it writes no file');
  // A count short of the set is not a pass.
  assert.equal((await receivedCount(path.join(dir, 'setup'), [...fleet.objects, { key: 'extra', size: 1, sha256: '' }])).ok, false);
});

test('floor:contract refuses a body that does not match its row: exit 1 naming the key, its file not written', async () => {
  const scratch = path.join(dir, 'tampered');
  await mkdir(scratch);
  const tampered = await writeReadpathSetup(fleet, scratch);
  const victim = fleet.objects[7]?.key as string;
  const db = new Database(tampered.db);
  db.prepare('UPDATE object_locations SET content_hash = ? WHERE object_key = ?').run('0'.repeat(64), victim);
  db.close();
  const dest = path.join(dir, 'tampered-out');
  await mkdir(dest);
  const r = await runFloor('contract', fleet, tampered, dest, scratch);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: body does not match its row`));
  const v = await verifyDownload(dest, fleet.objects);
  assert.equal(v.ok, false);
  assert.equal(v.unexpected, 0, 'no temporary file left');
  await assert.rejects(readFile(path.join(dest, victim)), { code: 'ENOENT' });
});

test('--floor-variant adds the floor:contract and floor:receive rows, verified, with ratios to rclone', async () => {
  const json = path.join(dir, 'floor.json');
  const r = await runTsScript(path.join(ROOT, 'bench/peers.bench.ts'), ['--quick', '--no-library', '--sets', '4k', '--small', '30', '--floor-variant', '--json', json]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(await readFile(json, 'utf8')) as PeerBenchReport;
  assert.deepEqual(report.downloads.map((d) => d.tool), ['rclone', 'readpath', 'floor:contract', 'floor:receive']);
  for (const row of report.downloads) {
    assert.equal(row.verified, true, JSON.stringify(row.runs));
    assert.ok((row.ratioToRclone ?? 0) > 0, JSON.stringify(row));
  }
  assert.match(r.stdout, /floor:receive .* ok 30 bodies/);
  assert.match(r.stdout, /floor:contract = a bare Node client/);
});
