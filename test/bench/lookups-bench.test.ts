/**
 * `bench/lookups.bench.ts` end to end on a few hundred keys, as a child process: the stub, the
 * same rows in SQLite and in a throw-away PostgreSQL cluster, and a `--compare` variant (here
 * the current store module again). Every read of every variant must have been verified (the
 * bench checks it and fails otherwise; this reads its JSON too). No timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-lookups-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

interface Row { variant: string; objects: number; objectsPerSec: number[]; cpuUsPerObject: number[]; machineBusy: number[] }

test('the lookups bench reads through SQLite, PostgreSQL and a compared store module', async () => {
  const json = path.join(dir, 'lookups.json');
  const store = path.join(ROOT, 'src/stores/postgres-store.ts');
  const r = await runTsScript(path.join(ROOT, 'bench/lookups.bench.ts'), ['--count', '300', '--rounds', '1', '--compare', `again=${store}`, '--json', json]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /## The metadata database under a batch/);
  const report = JSON.parse(await readFile(json, 'utf8')) as { count: number; rows: Row[] };
  assert.equal(report.count, 300);
  assert.deepEqual(report.rows.map((x) => [x.variant, x.objects, x.objectsPerSec.length]), [['sqlite', 300, 1], ['postgres', 300, 1], ['again', 300, 1]]);
  for (const x of report.rows) {
    for (const v of [...x.objectsPerSec, ...x.cpuUsPerObject, ...x.machineBusy]) assert.ok(Number.isFinite(v) && v > 0, JSON.stringify(x));
  }
  // A bad flag is an error, not a silent run without the variant.
  const bad = await runTsScript(path.join(ROOT, 'bench/lookups.bench.ts'), ['--count', '10', '--rounds', '1', '--compare', 'no-module-given']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--compare NAME=MODULE/);
});
