import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchStats, LatencyHistogram, summaryLine } from '../../src/cli/summary.js';
import { Progress, createProgress, formatBytes, formatEta } from '../../src/cli/progress.js';
import { BYTE_PROGRESS_MIN_SIZE, createByteProgress } from '../../src/cli/byte-progress.js';

describe('batch summary', () => {
  it('percentiles are within 1% and bounded by the true min and max', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 .. 100 ms
    const p50 = h.percentile(50) as number;
    const p99 = h.percentile(99) as number;
    assert.ok(Math.abs(p50 - 50) / 50 <= 0.01, String(p50));
    assert.ok(Math.abs(p99 - 99) / 99 <= 0.01, String(p99));
    assert.equal(h.percentile(100), 100);
    assert.equal(new LatencyHistogram().percentile(50), undefined);
    const one = new LatencyHistogram();
    one.record(3.3);
    assert.equal(one.percentile(50), 3.3);
  });

  it('counts outcomes and builds the one-line summary', () => {
    let t = 0;
    const s = new BatchStats(() => t);
    s.add({ ok: true, verified: true }, 2);
    s.add({ ok: true, failover: true }, 4);
    s.add({ ok: true, degraded: true }, 6);
    s.add({ ok: false, error: { code: 'OBJECT_NOT_FOUND' } }, 1);
    s.add({ ok: false, error: { code: 'INVALID_KEY' } });
    s.add({ ok: false, error: { code: 'OBJECT_NOT_FOUND' } }, 1);
    t = 2000;
    s.finish();
    t = 9999;
    const totals = s.totals();
    assert.equal(totals.durationMs, 2000);
    assert.equal(totals.readsPerSec, 3);
    assert.deepEqual(totals.failedByCode, { OBJECT_NOT_FOUND: 2, INVALID_KEY: 1 });
    assert.equal(summaryLine(totals, { cacheHits: 1 }),
      '6 reads, 3 ok, 3 failed (OBJECT_NOT_FOUND 2, INVALID_KEY 1), 1 failover, 1 degraded, 1 cache hit, p50 2.00 ms, p99 6.00 ms, 3 reads/s in 2.0 s');
  });
});

describe('progress bar', () => {
  it('draws nothing unless stderr is a TTY', () => {
    assert.equal(createProgress({ write: () => true, isTTY: false }), undefined);
    assert.equal(createProgress({ write: () => true }), undefined);
  });

  it('shows count and rate, then a bar with ETA once the total is known; erases itself', () => {
    let t = 0;
    const written: string[] = [];
    const p = new Progress({ write: (s: string) => written.push(s), isTTY: true, columns: 100 }, { now: () => t, autoRender: false, label: 'get' });
    for (let i = 0; i < 50; i++) p.tick(i % 10 !== 0);
    t = 1000;
    assert.equal(p.render(), 'get 50 keys  5 failed  50.0/s');
    p.setTotal(200);
    t = 2000;
    for (let i = 0; i < 50; i++) p.tick(true);
    const line = p.render();
    assert.match(line, /^get \[#+-+\] {2}50% 100\/200 {2}5 failed {2}50\.0\/s {2}ETA 0:02$/);
    p.draw();
    p.stop();
    assert.equal(written.at(-1), '\r\x1b[2K');
    assert.equal(formatEta(3723), '1:02:03');
  });
});

describe('byte progress (get -o)', () => {
  it('counts bytes with sizes, rate and ETA', () => {
    let t = 0;
    const p = new Progress({ write: () => true, isTTY: true, columns: 120 }, { now: () => t, autoRender: false, label: 'big.iso', unit: 'bytes' });
    p.setTotal(1024 * 1024 * 1024);
    t = 2000;
    p.advance(256 * 1024 * 1024);
    assert.match(p.render(), /^big\.iso \[#+-+\] {2}25% 256 MiB\/1\.00 GiB {2}128 MiB\/s {2}ETA 0:06$/);
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(999), '999 B');
  });

  it('draws only on a TTY and only for objects worth watching', () => {
    const tty = { write: () => true, isTTY: true };
    assert.equal(createByteProgress(tty, BYTE_PROGRESS_MIN_SIZE - 1, 'k'), undefined);
    assert.equal(createByteProgress({ write: () => true, isTTY: false }, 1 << 30, 'k'), undefined);
    const written: string[] = [];
    const bar = createByteProgress({ write: (s: string) => written.push(s), isTTY: true }, 1 << 30, 'k', { autoRender: false });
    assert.ok(bar !== undefined);
    bar.add(10);
    bar.stop();
    assert.deepEqual(written, [], 'nothing drawn without a redraw, nothing to erase');
  });
});
