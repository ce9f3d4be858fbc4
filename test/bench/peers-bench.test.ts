/**
 * `bench/peers.bench.ts --quick` end to end, as a child process: a real S3 stub process, real
 * rclone (installed by .ci/install-s3-clients.sh), the real `readpath batch --out` CLI and the
 * library rows. Asserts the JSON's shape, positive rates, and that every tool downloaded every
 * object with the right bytes. No timing is asserted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystemName } from '../../bench/peers/download-dirs.js';
import type { PeerBenchReport } from '../../bench/peers/run.js';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-peers-test-'));
after(() => rm(dir, { recursive: true, force: true }));

function runBench(args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runTsScript> {
  return runTsScript(path.join(ROOT, 'bench/peers.bench.ts'), args, env === undefined ? {} : { env });
}

test('the quick peer bench: rclone and readpath download every object; library rows against the ceiling', async () => {
  const json = path.join(dir, 'peers.json');
  const dest = path.join(dir, 'dest');
  await mkdir(dest);
  const r = await runBench(['--quick', '--json', json, '--dest', dest]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /objects\/s/);
  const report = JSON.parse(await readFile(json, 'utf8')) as PeerBenchReport;
  // The downloads went under --dest, and were all removed at the end.
  assert.equal(path.dirname(report.destination.path), dest);
  assert.equal(report.destination.fs, fileSystemName((await statfs(dest)).type));
  assert.ok(r.stdout.includes(`Downloads under ${dest} (${report.destination.fs})`), r.stdout);
  assert.deepEqual(await readdir(dest), []);
  assert.equal(report.bench, 'peers');
  assert.equal(report.quick, true);

  const expected = [['4k', 4096], ['1m', 1 << 20]] as const;
  for (const [set, size] of expected) {
    for (const tool of ['rclone', 'readpath'] as const) {
      const row = report.downloads.find((d) => d.set === set && d.tool === tool);
      assert.ok(row !== undefined, `a ${tool} row for ${set}`);
      assert.equal(row.objectSize, size);
      assert.ok(row.objects > 0);
      assert.ok((row.objectsPerSec ?? 0) > 0 && (row.mibPerSec ?? 0) > 0 && (row.seconds ?? 0) > 0, JSON.stringify(row));
      assert.ok((row.ratioToRclone ?? 0) > 0);
      assert.equal(row.verified, true, JSON.stringify(row.runs));
      assert.ok((row.cpuMsPerObject ?? 0) > 0, 'the CPU per object is measured');
      for (const run of row.runs) {
        assert.equal(run.exitCode, 0, run.stderr);
        assert.deepEqual(run.verification, { files: row.objects, bytes: row.objects * size, missing: 0, wrong: 0, unexpected: 0, ok: true }, `${tool} ${set}`);
      }
    }
  }
  const readpath4k = report.downloads.find((d) => d.set === '4k' && d.tool === 'readpath');
  assert.match(readpath4k?.runs[0]?.summary ?? '', new RegExp(`${readpath4k?.objects} reads, ${readpath4k?.objects} ok, 0 failed`));

  assert.deepEqual(report.library.map((l) => l.variant), ['ceiling', 'readMany pool', 'readMany inline']);
  for (const l of report.library) {
    assert.ok(l.readsPerSec > 0 && (l.ratioToCeiling ?? 0) > 0, JSON.stringify(l));
    assert.equal(l.ok, l.reads);
    assert.equal(l.verified, l.reads, `${l.variant}: every body verified`);
    assert.ok(Number.isFinite(l.loopP99Ms) && l.loopP99Ms >= 0);
  }
});

test('an rclone that fails: FAILED with its stderr tail, no rate and no ratio from its run, exit 1', async () => {
  // Installed but failing (a bad flag, a refused endpoint): it exits at once, which timed as a
  // download was the fastest row and every ratio's baseline.
  const bin = path.join(dir, 'failing-bin');
  await mkdir(bin);
  await writeFile(path.join(bin, 'rclone'), '#!/bin/sh\necho "ERROR : simulated rclone failure 42" >&2\nexit 3\n');
  await chmod(path.join(bin, 'rclone'), 0o755);
  const json = path.join(dir, 'failing.json');
  const r = await runBench(['--quick', '--no-library', '--sets', '4k', '--small', '20', '--json', json], { ...process.env, PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` });
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(await readFile(json, 'utf8')) as PeerBenchReport;
  const rclone = report.downloads.find((d) => d.tool === 'rclone');
  const readpath = report.downloads.find((d) => d.tool === 'readpath');
  assert.ok(rclone !== undefined && readpath !== undefined, JSON.stringify(report.downloads));
  assert.equal(rclone.verified, false);
  assert.deepEqual([rclone.objectsPerSec, rclone.mibPerSec, rclone.seconds, rclone.cpuMsPerObject, rclone.ratioToRclone], [undefined, undefined, undefined, undefined, undefined], JSON.stringify(rclone));
  assert.deepEqual([rclone.runs[0]?.ok, rclone.runs[0]?.objectsPerSec, rclone.runs[0]?.mibPerSec, rclone.runs[0]?.exitCode], [false, undefined, undefined, 3]);
  assert.match(rclone.runs[0]?.stderr ?? '', /simulated rclone failure 42/);
  // readpath did its job: its figures stand, but there is no baseline to divide by.
  assert.equal(readpath.verified, true, JSON.stringify(readpath.runs));
  assert.ok((readpath.objectsPerSec ?? 0) > 0);
  assert.equal(readpath.ratioToRclone, undefined);
  const line = r.stdout.split('\n').find((l) => /^20 x 4 KiB\s+rclone\s/.test(l));
  assert.match(line ?? '', /rclone\s+FAILED\s+FAILED\s+-\s+FAILED\s+-\s+FAILED/, r.stdout);
  assert.match(r.stdout, /rclone on 4k, round 1: FAILED, exit 3[^\n]*; stderr tail:\n\s+ERROR : simulated rclone failure 42/);
  assert.doesNotMatch(r.stderr, /rclone \d+ objects\/s/, 'no rate in the progress lines either');
});
