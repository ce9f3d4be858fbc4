/**
 * `bench/encryption.bench.ts` end to end on a small object, as a child process: its S3 server
 * process serves a plain object and its SENC encryption (bench/encryption/encode.ts, the same
 * encoder the known-answer tests check), and every cell reads both through readpath with
 * verification on — a read that failed to decrypt or verify would fail the bench. Asserts the
 * JSON's shape and positive figures; no timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-encryption-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

interface Cell { read: string; runtime: string; plainMs: number; encryptedMs: number; ratio: number; plainCpuMs: number; encryptedCpuMs: number }
interface Report { size: number; chunk: number; rounds: number; cells: Cell[]; micro: { task: string; medianMs: number; samples: number }[] }

test('the encryption bench reads a plain and an encrypted 1 MiB object in every cell', async () => {
  const json = path.join(dir, 'encryption.json');
  const r = await runTsScript(path.join(ROOT, 'bench/encryption.bench.ts'), [
    '--mib', '1', '--chunk', '4096', '--rounds', '1', '--warmup', '0', '--micro-ms', '10', '--micro-passes', '1', '--pools', 'default', '--json', json,
  ]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /## Encryption \(issue 15\)/);
  const report = JSON.parse(await readFile(json, 'utf8')) as Report;
  assert.equal(report.size, 1 << 20);
  assert.equal(report.chunk, 4096);
  const kinds = report.cells.map((c) => `${c.read} ${c.runtime}`);
  assert.ok(report.cells.length >= 3, kinds.join(', '));
  assert.ok(report.cells.some((c) => c.runtime.startsWith('pool')), `a pool cell: ${kinds.join(', ')}`);
  assert.ok(report.cells.some((c) => c.runtime === 'inline'), `an inline cell: ${kinds.join(', ')}`);
  for (const c of report.cells) {
    for (const v of [c.plainMs, c.encryptedMs, c.ratio, c.plainCpuMs, c.encryptedCpuMs]) assert.ok(Number.isFinite(v) && v > 0, JSON.stringify(c));
  }
  assert.ok(report.micro.length > 0);
  for (const m of report.micro) assert.ok(m.samples > 0 && m.medianMs > 0, JSON.stringify(m));
});
