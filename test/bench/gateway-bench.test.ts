/**
 * `bench/gateway.bench.ts --quick` end to end, as a child process: a real S3 stub process, a
 * real `readpath serve` process (with the loop monitor preloaded), real rclone (installed by
 * .ci/install-s3-clients.sh) directly and through the gateway (and a second gateway with the object
 * cache, `--cache-variant`, and the bare Node proxy, `--floor-variant`). Asserts the JSON's shape, positive
 * rates, a measured event-loop window, and that both variants downloaded every object with the
 * right bytes. No timing is asserted. Plus the judging arithmetic on made-up rounds.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_WARMUP_OBJECTS, judgeSet, parseCpuSplit, warmupCopies, type GatewayBenchReport, type VariantRun } from '../../bench/gateway/run.js';
import { runTsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-gateway-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

function runBench(args: string[]): ReturnType<typeof runTsScript> {
  return runTsScript(path.join(ROOT, 'bench/gateway.bench.ts'), args);
}

test('the quick gateway bench: rclone direct and through readpath serve download every object; the gateway loop is measured', async () => {
  const json = path.join(dir, 'gateway.json');
  // Every process on CPU 0: the CPU split's pinning runs on any machine.
  const dest = path.join(dir, 'dest');
  await mkdir(dest);
  const r = await runBench(['--quick', '--json', json, '--cpus', 'client=0,gateway=0', '--cache-variant', '--floor-variant', '--dest', dest]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(await readdir(dest), [], 'every download under --dest removed at the end');
  assert.match(r.stdout, /rclone via gateway/);
  assert.match(r.stdout, /CPUs split: rclone, stub and bench on 0, gateway on 0/);
  const report = JSON.parse(await readFile(json, 'utf8')) as GatewayBenchReport;
  assert.deepEqual(report.cpus, { client: '0', gateway: '0' });
  assert.equal(path.dirname(report.destination.path), dest);
  assert.match(r.stdout, /Downloads under .* \(.+\), each kept until the end of the run/);
  assert.equal(report.bench, 'gateway');
  assert.equal(report.quick, true);
  assert.deepEqual(report.warmupCopies, { '4k': 1, '1m': 1 }, 'the quick run warms each path with one copy of each set');
  assert.match(r.stdout, /Untimed warm-up, whole copies of each set through each path first: 4k 1, 1m 1/);
  assert.equal(report.loopP99TargetMs, 10);
  assert.deepEqual(report.sets.map((s) => [s.set, s.objectSize, s.target.metric]), [['4k', 4096, 'objectsPerSec'], ['1m', 1 << 20, 'mibPerSec']]);
  for (const s of report.sets) {
    for (const v of [s.direct, s.gateway]) {
      assert.ok((v.objectsPerSec ?? 0) > 0 && (v.mibPerSec ?? 0) > 0 && (v.seconds ?? 0) > 0, JSON.stringify(v));
      assert.equal(v.verified, true, JSON.stringify(v.runs));
      assert.ok((v.cpuMsPerObject ?? 0) > 0, 'rclone CPU is measured');
      for (const run of v.runs) {
        assert.equal(run.exitCode, 0, run.stderr);
        assert.deepEqual(run.verification, { files: s.objects, bytes: s.objects * s.objectSize, missing: 0, wrong: 0, unexpected: 0, ok: true }, `${v.variant} ${s.set}`);
      }
    }
    assert.equal(s.roundRatios.length, report.repeat);
    assert.ok(s.ratio > 0 && Number.isFinite(s.ratio));
    assert.ok(Number.isFinite(s.loop.p99Ms) && s.loop.p99Ms >= 0 && s.loop.maxMs >= s.loop.p99Ms, JSON.stringify(s.loop));
    assert.ok(s.gatewayCpuMsPerObject > 0, 'the gateway process CPU is measured');
    const w = s.gateway.runs[0]?.gateway;
    assert.ok(w !== undefined && w.seconds > 0 && w.elu >= 0 && w.elu <= 1, JSON.stringify(w));
    assert.equal(typeof s.pass, 'boolean');
  }
  // --cache-variant: a gateway with cache: enabled; --floor-variant: the bare Node proxy in its
  // place (bench/gateway/floor-proxy.ts). Reported beside (not judged), every file right.
  const compared = report.compared.map((c) => [c.set, c.gateway.variant, c.gateway.verified]).sort((a, b) => String(a).localeCompare(String(b)));
  assert.deepEqual(compared, [['1m', 'gateway@floor', true], ['1m', 'gateway+cache', true], ['4k', 'gateway@floor', true], ['4k', 'gateway+cache', true]]);
  for (const c of report.compared) assert.ok(c.gatewayCpuMsPerObject > 0, `${c.gateway.variant}: its process CPU is measured`);
  assert.match(r.stdout, /rclone via gateway\+cache/);
  assert.match(r.stdout, /rclone via gateway@floor/);
  assert.match(r.stdout, /gateway@floor: .*floor-proxy\.ts/);
});

test('warm-up: whole copies of a set serving at least the objects asked for, or none', () => {
  assert.equal(warmupCopies(300, DEFAULT_WARMUP_OBJECTS), 10);
  assert.equal(warmupCopies(10_000, DEFAULT_WARMUP_OBJECTS), 1);
  assert.equal(warmupCopies(7, 15), 3);
  assert.equal(warmupCopies(300, 0), 0);
  assert.equal(warmupCopies(0, 3000), 0);
});

test('--cpus: client and gateway CPU lists, or a clear error', () => {
  assert.deepEqual(parseCpuSplit('client=0,gateway=1'), { client: '0', gateway: '1' });
  assert.deepEqual(parseCpuSplit('client=0-1,gateway=2,3'), { client: '0-1', gateway: '2,3' });
  for (const bad of ['0,1', 'gateway=1,client=0', 'client=,gateway=1', 'client=a,gateway=1']) {
    assert.throws(() => parseCpuSplit(bad), /--cpus: expected client=LIST,gateway=LIST/, bad);
  }
});

test('judgeSet: per-round ratios, their median, the loop figures and pass/fail', () => {
  const verification = { files: 1, bytes: 1, missing: 0, wrong: 0, unexpected: 0, ok: true };
  const run = (round: number, objectsPerSec: number, p99Ms?: number): VariantRun => ({
    round, ok: true, seconds: 100 / objectsPerSec, objectsPerSec, mibPerSec: objectsPerSec / 256, exitCode: 0, verification,
    ...(p99Ms === undefined ? {} : { gateway: { type: 'window', p50Ms: 1, p99Ms, maxMs: p99Ms * 2, cpuMs: 50, elu: 0.5, seconds: 1, cpuMsPerObject: 0.5 } }),
  });
  const set = { name: '4k', count: 100, size: 4096, target: { metric: 'objectsPerSec', min: 0.6 } } as const;
  const direct = [run(0, 1000), run(1, 2000), run(2, 1000)];
  const ok = judgeSet(set, direct, [run(0, 700, 4), run(1, 1000, 12), run(2, 800, 6)]);
  assert.deepEqual(ok.roundRatios, [0.7, 0.5, 0.8]);
  assert.equal(ok.ratio, 0.7);
  assert.deepEqual(ok.loop, { p99Ms: 6, worstP99Ms: 12, maxMs: 24 });
  assert.equal(ok.pass, true);
  assert.equal(judgeSet(set, direct, [run(0, 500, 4), run(1, 1000, 4), run(2, 500, 4)]).pass, false, 'ratio 0.5 < 0.6');
  assert.equal(judgeSet(set, direct, [run(0, 900, 11), run(1, 1900, 12), run(2, 900, 4)]).pass, false, 'loop p99 median 11 > 10');
  // As download() gives a failed run: no rates.
  const { objectsPerSec: _o, mibPerSec: _m, ...failed } = { ...run(1, 1900, 4), ok: false, exitCode: 1 };
  const bad = judgeSet(set, direct, [run(0, 900, 4), failed, run(2, 900, 4)]);
  assert.equal(bad.gateway.verified, false);
  assert.equal(bad.pass, false, 'a failed download fails the set');
  // A failed round gives the row no rate, and itself no ratio.
  assert.deepEqual([bad.gateway.objectsPerSec, bad.gateway.mibPerSec, bad.gateway.seconds], [undefined, undefined, undefined]);
  assert.deepEqual(bad.roundRatios, [0.9, 0.9]);
});
