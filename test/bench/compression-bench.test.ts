/**
 * `bench/compression.bench.ts` end to end on a small object, as a child process: its S3 server
 * process serves one object verbatim, in s3-orchestrator's compressed layout and that layout
 * encrypted, and every cell reads all three through readpath with verification on (a range
 * compared byte for byte), and the compressed one with the database down (decoded from its own
 * bytes) — a read that failed to decode or verify would fail the bench.
 * Asserts the JSON's shape and positive figures; no timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-compression-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

interface Cell { read: string; runtime: string; ms: Record<string, number>; cpuMs: Record<string, number> }
interface Report { size: number; stored: number; cells: Cell[]; micro: { task: string; medianMs: number; samples: number }[] }

test('the compression bench reads a verbatim, a compressed and a compressed+encrypted 3 MiB object, and the compressed one with the database down, in every cell', async () => {
  const json = path.join(dir, 'compression.json');
  const r = await runTsScript(path.join(ROOT, 'bench/compression.bench.ts'), [
    '--mib', '3', '--rounds', '1', '--warmup', '0', '--range-mib', '0.5', '--micro-ms', '10', '--json', json,
  ]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /## Compressed copies/);
  const report = JSON.parse(await readFile(json, 'utf8')) as Report;
  assert.equal(report.size, 3 << 20);
  assert.ok(report.stored > 0 && report.stored < report.size / 2, `stored ${report.stored} of ${report.size}`);
  assert.deepEqual(report.cells.map((c) => c.runtime.split(' ')[0]), ['inline', 'pool', 'main', 'inline']);
  for (const c of report.cells) {
    for (const v of ['verbatim', 'compressed', 'compressed+encrypted', 'compressed, database down']) {
      for (const x of [c.ms[v], c.cpuMs[v]]) assert.ok(Number.isFinite(x) && (x ?? 0) > 0, `${c.read} ${c.runtime} ${v}: ${JSON.stringify(c)}`);
    }
  }
  assert.equal(report.micro.length, 3);
  for (const m of report.micro) assert.ok(m.samples > 0 && m.medianMs > 0, JSON.stringify(m));
});
