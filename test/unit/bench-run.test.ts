/**
 * The harness end to end on tiny sim worlds (1–2 ms latencies, a few dozen reads): the JSON
 * shape of API.md §4, request counting, failures, the chart, and the CLI entry's exit codes.
 * No timing is asserted: only shapes, counts and what each strategy must do.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchMain, runBroadcastBench, formatBenchTable } from '../../bench/harness/index.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-bench-test-'));
after(() => rm(dir, { recursive: true, force: true }));

const API_FIELDS = ['world', 'strategy', 'executor', 'reads', 'p50Ms', 'p95Ms', 'p99Ms', 'p999Ms', 'readsPerSec', 'requestsPerRead'];

test('a tiny sim run writes the API.md §4 JSON shape, a chart, and counts requests per strategy', async () => {
  const json = path.join(dir, 'out.json');
  const chart = path.join(dir, 'out.svg');
  const progress: string[] = [];
  const report = await runBroadcastBench({
    world: 'sim',
    latency: '*=const(1)',
    strategies: 'direct:b1,sequential,parallel,window:2,hedged:auto,hedged:1',
    reads: 24,
    warmup: 4,
    concurrency: 4,
    rounds: 2,
    json,
    chart,
    onProgress: (l) => progress.push(l),
  });
  const doc = JSON.parse(await readFile(json, 'utf8')) as { results: Array<Record<string, unknown>> };
  assert.ok(Array.isArray(doc.results));
  assert.deepEqual(doc.results.map((r) => r['strategy']), ['direct:b1', 'sequential', 'parallel', 'window:2', 'hedged:auto', 'hedged:1']);
  for (const r of doc.results) {
    for (const f of API_FIELDS) assert.ok(f in r, `field ${f} in ${JSON.stringify(r)}`);
    assert.equal(r['world'], 'sim');
    assert.equal(r['executor'], 'inline');
    assert.equal(r['reads'], 24);
    for (const f of ['p50Ms', 'p95Ms', 'p99Ms', 'p999Ms', 'readsPerSec', 'requestsPerRead']) {
      assert.equal(typeof r[f], 'number', f);
      assert.ok((r[f] as number) > 0, `${f} > 0`);
    }
    assert.ok((r['p50Ms'] as number) <= (r['p95Ms'] as number) && (r['p95Ms'] as number) <= (r['p99Ms'] as number) && (r['p99Ms'] as number) <= (r['p999Ms'] as number));
    assert.equal(r['errors'], 0);
  }
  assert.ok(!('samples' in doc), 'raw samples stay out of the JSON');
  const byName = new Map(report.results.map((r) => [r.strategy, r]));
  assert.equal(byName.get('sequential')?.requestsPerRead, 1);
  assert.equal(byName.get('parallel')?.requestsPerRead, 3, 'parallel sends to every backend');
  assert.equal(byName.get('window:2')?.requestsPerRead, 2);
  assert.deepEqual(byName.get('parallel')?.backendRequests, { b1: 24, b2: 24, b3: 24 });
  assert.equal(byName.get('direct:b1')?.usage.apiRequests, 0, 'a direct read bypasses readpath accounting');
  assert.equal(byName.get('sequential')?.usage.apiRequests, 24);
  assert.equal(report.samples.length, report.results.length);
  assert.equal(report.samples[0]?.length, 24);
  const svg = await readFile(chart, 'utf8');
  assert.match(svg, /^<svg /);
  assert.match(svg, /<\/svg>\n$/);
  for (const name of ['direct:b1', 'sequential', 'parallel', 'window:2', 'hedged:auto']) assert.ok(svg.includes(`>${name}<`), `legend names ${name}`);
  assert.equal(progress.length, 2 * 6, 'one progress line per cell and round');
  const table = formatBenchTable(report);
  assert.match(table, /strategy\s+executor\s+reads\s+p50 ms/);
  assert.equal(table.trim().split('\n').length, 5 + 6, 'scenario, parameters, blank, header, rule, one row per cell');
});

test('pool cells run on --threads workers, and the report says how many', async () => {
  const report = await runBroadcastBench({ latency: '*=const(1)', strategies: 'parallel', executors: ['inline', 'pool'], threads: 2, reads: 8, warmup: 0, concurrency: 2 });
  assert.equal(report.poolThreads, 2);
  assert.deepEqual(report.results.map((r) => [r.executor, r.reads, r.errors]), [['inline', 8, 0], ['pool', 8, 0]]);
  assert.match(formatBenchTable(report), /pool 2 thread\(s\)/);
  const inline = await runBroadcastBench({ latency: '*=const(1)', strategies: 'parallel', reads: 2, warmup: 0 });
  assert.equal(inline.poolThreads, null, 'no pool cell, no thread count');
});

test('a down first backend: sequential fails over (2 requests per read) and no read fails; all down fails every read', async () => {
  const report = await runBroadcastBench({ latency: 'b1=down,b2=const(1)', backends: 2, strategies: 'sequential,direct:b1', reads: 10, warmup: 0, concurrency: 2 });
  const seq = report.results.find((r) => r.strategy === 'sequential');
  assert.equal(seq?.requestsPerRead, 2);
  assert.equal(seq?.errors, 0);
  const direct = report.results.find((r) => r.strategy === 'direct:b1');
  assert.equal(direct?.errors, 10, 'the baseline of a down backend is its failure time');
  assert.match(direct?.firstError ?? '', /ECONNREFUSED/);

  const allDown = await runBroadcastBench({ latency: '*=down', backends: 2, strategies: 'parallel', reads: 5, warmup: 0 });
  assert.equal(allDown.results[0]?.errors, 5);
  assert.match(allDown.results[0]?.firstError ?? '', /ECONNREFUSED|backend/i);
});

test('hedged:MS hedges slow primaries within the budget and reports the hedges', async () => {
  // b1 always takes 30 ms, b2 1 ms: every read is worth hedging, but a 10% budget (burst 10)
  // lets only some through.
  const report = await runBroadcastBench({
    latency: 'b1=const(30),b2=const(1)', backends: 2, strategies: 'hedged:2', reads: 60, warmup: 0, concurrency: 6, maxExtraLoad: 0.1,
  });
  const h = report.results[0];
  assert.ok(h !== undefined);
  assert.ok(h.hedges.sent > 0, 'some hedges were sent');
  assert.ok(h.hedges.sent <= 10 + 0.1 * 60 + 1e-9, `within the budget: ${h.hedges.sent}`);
  assert.equal(h.hedges.won, h.hedges.sent, 'the fast backend wins every hedge');
  assert.ok(h.hedges.budgetExhausted > 0);
  assert.deepEqual(h.backendRequests, { b1: 60, b2: h.hedges.sent }, 'one primary per read, one request per hedge');
  assert.ok(Math.abs(h.requestsPerRead - (60 + h.hedges.sent) / 60) < 1e-4);
});

test('benchMain: --help and bad flags, with the CLI exit codes', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
  assert.equal(await benchMain(['--help'], io), 0);
  assert.match(out.join(''), /usage: readpath bench/);
  assert.equal(await benchMain(['--latency', 'b1=lognormal(1)'], io), 2);
  assert.match(err.join(''), /--latency: "b1=lognormal\(1\)"/);
  out.length = 0;
  assert.equal(await benchMain(['--reads', '3', '--warmup', '0', '--latency', '*=const(0)', '--strategies', 'parallel'], io), 0);
  assert.match(out.join(''), /parallel\s+inline\s+3/);
});
