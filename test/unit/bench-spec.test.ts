import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLatencySpec, parseDist, sampleModel, formatLatencySpec } from '../../bench/harness/latency-spec.js';
import { parseStrategies, strategyName } from '../../bench/harness/strategies.js';
import { parseBenchArgs, resolveBenchOptions } from '../../bench/harness/options.js';
import { Draws } from '../../bench/harness/rng.js';

function rejectsWith(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'INVALID_CONFIG', `code of: ${(e as Error).message}`);
    for (const f of fragments) assert.ok((e as Error).message.includes(f), `${JSON.stringify((e as Error).message)} should name ${JSON.stringify(f)}`);
    return true;
  });
}

test('SPEC: every DIST form parses, unnamed backends get const(10), * sets the rest', () => {
  const m = parseLatencySpec('b1=const(5),b2=lognormal(10,0.5),b3=tail(10,0.02,10),b4=fail(0.1),b5=down,b6=down(3ms)', 7);
  assert.deepEqual(m.map((x) => x.text), ['const(5)', 'lognormal(10,0.5)', 'tail(10,0.02,10)', 'const(10)+fail(0.1)', 'down', 'down(3)', 'const(10)']);
  assert.deepEqual(m.map((x) => x.name), ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7']);
  assert.equal(m[4]?.down, true);
  assert.equal(m[5]?.downMs, 3);
  const star = parseLatencySpec('b2=const(1),*=lognormal(20,0.1)+fail(0.05)', 3);
  assert.equal(formatLatencySpec(star), 'b1=lognormal(20,0.1)+fail(0.05),b2=const(1),b3=lognormal(20,0.1)+fail(0.05)');
  assert.equal(formatLatencySpec(parseLatencySpec(undefined, 2)), 'b1=const(10),b2=const(10)');
  assert.equal(formatLatencySpec(parseLatencySpec(' b1 = const( 2ms ) ', 1)), 'b1=const(2)');
});

test('SPEC: bad entries are INVALID_CONFIG errors naming the entry and what is wrong', () => {
  rejectsWith(() => parseLatencySpec('b1=lognormal(10)', 3), '--latency', 'b1=lognormal(10)', 'MEDIAN_MS,SIGMA');
  rejectsWith(() => parseLatencySpec('b1=const(10),b4=const(1)', 3), 'b4=const(1)', '--backends is 3');
  rejectsWith(() => parseLatencySpec('x1=const(1)', 3), 'x1=const(1)', 'b1..b3');
  rejectsWith(() => parseLatencySpec('b1=const(1),b1=const(2)', 3), 'b1 given twice');
  rejectsWith(() => parseLatencySpec('b1=gamma(1,2)', 3), 'b1=gamma(1,2)', 'unknown distribution');
  rejectsWith(() => parseLatencySpec('b1=const(fast)', 3), 'const(MS)', 'must be a number', 'fast');
  rejectsWith(() => parseLatencySpec('b1=const(-1)', 3), 'must be >= 0');
  rejectsWith(() => parseLatencySpec('b1=tail(10,1.5,10)', 3), 'P must be in [0, 1]');
  rejectsWith(() => parseLatencySpec('b1=tail(10,0.1,0.5)', 3), 'FACTOR must be >= 1');
  rejectsWith(() => parseLatencySpec('b1=fail(2)', 3), 'fail(P)', 'P must be in [0, 1]');
  rejectsWith(() => parseLatencySpec('b1=down+fail(0.1)', 3), 'down cannot be combined');
  rejectsWith(() => parseLatencySpec('b1=const(1)+lognormal(1,1)', 3), 'more than one latency term');
  rejectsWith(() => parseLatencySpec('b1', 3), '"b1"', 'NAME=DIST');
  rejectsWith(() => parseLatencySpec('b1=const(1),', 3), 'empty entry');
  rejectsWith(() => parseLatencySpec('b1=', 3), 'empty distribution');
});

test('sampling is a pure function of (seed, backend, key): the same world for every strategy', () => {
  const tail = parseDist('tail(10,0.5,10)');
  const draws = (seed: number, backend: number, key: string) => sampleModel(tail, new Draws(seed, backend, key));
  assert.deepEqual(draws(1, 0, 'obj-1'), draws(1, 0, 'obj-1'));
  const keys = Array.from({ length: 200 }, (_, i) => `obj-${i}`);
  const slow = keys.filter((k) => draws(1, 0, k).ms === 100).length;
  assert.ok(slow > 60 && slow < 140, `about half slow, got ${slow}`);
  const otherBackend = keys.filter((k) => draws(1, 0, k).ms !== draws(1, 1, k).ms).length;
  assert.ok(otherBackend > 50, 'backends draw independently');
  const otherSeed = keys.filter((k) => draws(1, 0, k).ms !== draws(2, 0, k).ms).length;
  assert.ok(otherSeed > 50, 'the seed changes the world');
  const fails = keys.filter((k) => sampleModel(parseDist('const(1)+fail(0.25)'), new Draws(7, 0, k)).fail).length;
  assert.ok(fails > 25 && fails < 80, `about a quarter fail, got ${fails}`);
  const ln = keys.map((k) => sampleModel(parseDist('lognormal(10,0.5)'), new Draws(3, 0, k)).ms).sort((a, b) => a - b);
  const median = ((ln[99] as number) + (ln[100] as number)) / 2;
  assert.ok(median > 8 && median < 12.5, `lognormal median near 10, got ${median}`);
});

test('LIST: every strategy parses to its canonical name; duplicates collapse; default list', () => {
  const s = parseStrategies('sequential, parallel,window:2,hedged:auto,hedged:15ms,hedged:p99,direct:b3,parallel', 3);
  assert.deepEqual(s.map(strategyName), ['sequential', 'parallel', 'window:2', 'hedged:auto', 'hedged:15', 'hedged:p99', 'direct:b3']);
  assert.deepEqual(parseStrategies(undefined, 3).map(strategyName), ['sequential', 'parallel', 'window:2', 'hedged:auto', 'hedged:15']);
});

test('LIST: bad entries are INVALID_CONFIG errors naming the entry', () => {
  rejectsWith(() => parseStrategies('sequential,window', 3), '--strategies', '"window"', 'window:K');
  rejectsWith(() => parseStrategies('window:0', 3), 'window:0', 'K >= 1');
  rejectsWith(() => parseStrategies('window:1.5', 3), 'window:1.5');
  rejectsWith(() => parseStrategies('hedged:soon', 3), 'hedged:soon', 'hedged:auto');
  rejectsWith(() => parseStrategies('hedged:p0', 3), 'hedged:p0', 'percentile');
  rejectsWith(() => parseStrategies('direct:b9', 3), 'direct:b9', 'b1..b3');
  rejectsWith(() => parseStrategies('fastest', 3), '"fastest"', 'expected sequential');
  rejectsWith(() => parseStrategies('parallel,,sequential', 3), 'empty entry');
});

test('parseBenchArgs: API.md §4 flags, both --flag value and --flag=value', () => {
  const { help, options } = parseBenchArgs([
    '--world', 'sim', '--backends=4', '--latency', 'b1=down', '--strategies', 'sequential,parallel',
    '--executor', 'inline,pool', '--reads', '50', '--json', 'out.json', '--chart=out.svg', '--concurrency', '2',
    '--seed', '9', '--percentile', '99', '--max-extra-load', '0.1', '--rounds', '2', '--warmup', '0', '--threads', '3',
  ]);
  assert.equal(help, false);
  assert.deepEqual(
    { ...options },
    {
      world: 'sim', backends: 4, latency: 'b1=down', strategies: 'sequential,parallel', executors: ['inline', 'pool'], reads: 50,
      json: 'out.json', chart: 'out.svg', concurrency: 2, seed: 9, hedgePercentile: 99, maxExtraLoad: 0.1, rounds: 2, warmup: 0,
      threads: 3,
    },
  );
  const r = resolveBenchOptions(options);
  assert.equal(r.latency, 'b1=down,b2=const(10),b3=const(10),b4=const(10)');
  assert.equal(parseBenchArgs(['--help']).help, true);
  const d = resolveBenchOptions({});
  assert.deepEqual([d.world, d.backends, d.reads, d.concurrency, d.rounds, d.executors, d.threads], ['sim', 3, 2000, 16, 1, ['inline'], undefined]);
  assert.equal(r.threads, 3);
  const s3 = resolveBenchOptions({ world: 's3' });
  assert.deepEqual([s3.reads, s3.concurrency, s3.rounds], [300, 1, 3]);
});

test('parseBenchArgs: bad flags are INVALID_CONFIG errors naming the flag', () => {
  rejectsWith(() => parseBenchArgs(['--world', 'moon']), '--world', 'sim or s3');
  rejectsWith(() => parseBenchArgs(['--frobnicate']), '--frobnicate', 'unknown flag');
  rejectsWith(() => parseBenchArgs(['--reads']), '--reads', 'needs a value');
  rejectsWith(() => parseBenchArgs(['--reads', '--json', 'x']), '--reads', 'needs a value');
  rejectsWith(() => parseBenchArgs(['--reads', '0']), '--reads', 'integer >= 1');
  rejectsWith(() => parseBenchArgs(['--backends', 'three']), '--backends');
  rejectsWith(() => parseBenchArgs(['--executor', 'gpu']), '--executor', '"gpu"');
  rejectsWith(() => parseBenchArgs(['--max-extra-load', '2']), '--max-extra-load', '[0, 1]');
  rejectsWith(() => parseBenchArgs(['--percentile', '0']), '--percentile');
  rejectsWith(() => parseBenchArgs(['--threads', '0']), '--threads', 'integer >= 1');
  rejectsWith(() => resolveBenchOptions({ threads: 65 }), '--threads', '[1, 64]');
  rejectsWith(() => parseBenchArgs(['--backends', '2', '--latency', 'b3=const(1)']), '--latency', 'b3=const(1)');
  rejectsWith(() => parseBenchArgs(['--strategies', 'window:x']), '--strategies', 'window:x');
  rejectsWith(() => parseBenchArgs(['extra']), 'extra', 'unexpected argument');
});
