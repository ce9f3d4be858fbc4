/**
 * The demo end to end on a small object count: four phases with the outcomes each one must
 * show, every body as seeded, and nothing left behind (servers, child processes, temp files).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { runDemo, type DemoReport } from '../../src/cli/demo/run-demo.js';
import { settleTcpHandles } from '../helpers/handles.js';

describe('readpath demo', () => {
  let root: string;
  let report: DemoReport;
  const lines: string[] = [];

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'readpath-demo-test-'));
    report = await runDemo({ objects: 60, concurrency: 8, tmpRoot: root, out: (l) => lines.push(l), logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs the four phases with the outcomes each must show', () => {
    assert.deepEqual(report.phases.map((p) => p.id), ['1', '2', '3a', '3b']);
    for (const p of report.phases) {
      assert.equal(p.totals.reads, 60, p.id);
      assert.equal(p.totals.ok, 60, `${p.id}: ${JSON.stringify(p.totals.failedByCode)}`);
      assert.equal(p.mismatches, 0, p.id);
    }
    const [healthy, backendDown, dbDown, cached] = report.phases as [DemoReport['phases'][0], DemoReport['phases'][0], DemoReport['phases'][0], DemoReport['phases'][0]];
    assert.deepEqual([healthy.totals.failovers, healthy.totals.degraded, healthy.totals.verified, healthy.cacheHits], [0, 0, 60, 0]);
    assert.equal(report.firstCopyOnStopped, 20);
    assert.deepEqual([backendDown.totals.failovers, backendDown.totals.degraded, backendDown.totals.verified], [20, 0, 60]);
    assert.deepEqual([dbDown.totals.degraded, dbDown.cacheHits, dbDown.totals.verified], [60, 0, 0]);
    // Sequential broadcast in order b1, b2, b3 over replicas rotating by one, each backend a
    // listing (to find the key's latest write) then a GET where it is: 2, 3 or 2 requests.
    assert.equal(dbDown.backendRequests, 140);
    assert.deepEqual([cached.totals.degraded, cached.cacheHits, cached.backendRequests], [60, 60, 120]);
    assert.ok(report.storeLookupsDuringOutage >= 3 && report.storeLookupsDuringOutage <= 8 + 3, String(report.storeLookupsDuringOutage));
  });

  it('prints a summary table and says it cleaned up', () => {
    const text = lines.join('\n');
    assert.match(text, /^phase\s+reads\s+ok\s+failed\s+failovers\s+degraded\s+cache hits\s+verified\s+req\/read\s+p50\s+p99\s+reads\/s$/m);
    assert.match(text, /^3b database down, again\s+60\s+60\s+0\s+0\s+60\s+60\s+0\s+2\.00\s/m);
    assert.match(text, /Every body served \(240\) matched what was seeded\./);
    assert.match(text, /^Cleaned up: servers stopped/m);
  });

  it('leaves nothing behind: temp files, servers, child processes', async () => {
    assert.deepEqual(await readdir(root), []);
    assert.deepEqual(await settleTcpHandles(0), []);
    assert.ok(!process.getActiveResourcesInfo().includes('ProcessWrap'), String(process.getActiveResourcesInfo()));
  });
});
