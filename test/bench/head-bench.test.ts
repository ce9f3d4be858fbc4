/**
 * `bench/head.bench.ts` end to end on a few hundred keys, as a child process: the stub, the
 * SQLite database with upstream's `etag` column, both variants. Every HEAD of the metadata
 * variant must have been answered from its row and none of the other's (the bench checks it and
 * fails otherwise; this reads its JSON too). No timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-head-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

interface Row { variant: string; heads: number; headsPerSec: number[]; cpuUsPerHead: number[]; fromMetadata: number[] }

test('the head bench runs both variants; the metadata one answers every HEAD from its row', async () => {
  const json = path.join(dir, 'head.json');
  const r = await runTsScript(path.join(ROOT, 'bench/head.bench.ts'), ['--count', '300', '--rounds', '1', '--json', json]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /## HEAD from the metadata row/);
  const report = JSON.parse(await readFile(json, 'utf8')) as { count: number; rows: Row[] };
  assert.equal(report.count, 300);
  assert.deepEqual(report.rows.map((x) => [x.variant, x.fromMetadata]), [['backend HEAD', [0]], ['from metadata', [300]]]);
  for (const x of report.rows) {
    for (const v of [...x.headsPerSec, ...x.cpuUsPerHead]) assert.ok(Number.isFinite(v) && v > 0, JSON.stringify(x));
  }
});
