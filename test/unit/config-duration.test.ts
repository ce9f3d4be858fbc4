// Go's time.ParseDuration syntax, in milliseconds, and its inverse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { durationToMs, formatDuration, parseDuration } from '../../src/config/duration.js';
import { loadConfig } from '../../src/config/load.js';
import { parseByteSize } from '../../src/config/schema.js';

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1m30s', 90_000], ['1h2m3s4ms', 3_723_004],
    ['1.5h', 5_400_000], ['1.1s', 1100], ['.5s', 500], ['1.s', 1000], ['0', 0], ['-0', 0], ['+5s', 5000], ['-1.5s', -1500],
    ['250us', 0.25], ['250µs', 0.25], ['250μs', 0.25], ['1500000ns', 1.5], ['2h45m', 9_900_000], [' 10s ', 10_000],
  ];
  for (const [text, ms] of good) {
    it(`${JSON.stringify(text)} = ${ms} ms`, () => {
      assert.deepEqual(parseDuration(text), { ok: true, ms });
    });
  }

  const bad = ['', '5', '1.5', 's', '.s', '5 s', '5d', '5sec', '1h-5m', '--5s', 'abc', '5S', '0x10s', '1e3s', '+', '9999999999999999999h'];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const r = parseDuration(text);
      assert.equal(r.ok, false);
      if (!r.ok && text !== '') assert.ok(!r.message.includes(text.trim()) || text.trim().length <= 1, r.message);
    });
  }

  it('says a bare number is missing its unit', () => {
    const r = parseDuration('30');
    assert.ok(!r.ok && /missing unit/.test(r.message));
  });
});

describe('durationToMs', () => {
  it('reads finite numbers as milliseconds and rejects everything else', () => {
    assert.deepEqual(durationToMs(250), { ok: true, ms: 250 });
    assert.deepEqual(durationToMs('2m'), { ok: true, ms: 120_000 });
    for (const v of [Infinity, NaN, true, null, {}, [], 5n]) assert.equal(durationToMs(v).ok, false, typeof v === 'bigint' ? `${v}n` : JSON.stringify(v));
  });
});

describe('formatDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'], [500, '500ms'], [1000, '1s'], [1500, '1s500ms'], [60_000, '1m'], [90_000, '1m30s'], [300_000, '5m'],
    [3_600_000, '1h'], [3_723_004, '1h2m3s4ms'], [0.25, '250000ns'], [-1500, '-1s500ms'],
  ];
  for (const [ms, text] of cases) {
    it(`${ms} ms = ${text}`, () => assert.equal(formatDuration(ms), text));
  }

  it('round-trips through parseDuration for any integer millisecond count', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (ms) => {
        const r = parseDuration(formatDuration(ms));
        return r.ok && r.ms === ms;
      }),
    );
  });

  it('round-trips whole nanoseconds below a millisecond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999 }), (ns) => {
        const r = parseDuration(formatDuration(ns / 1e6));
        return r.ok && Math.round(r.ms * 1e6) === ns;
      }),
    );
  });
});

describe('byte sizes (runtime.max_buffered_bytes)', () => {
  it('reads integers and unit strings, binary and decimal', () => {
    const cases: [unknown, number][] = [
      [4096, 4096], ['4096', 4096], ['256MiB', 256 * 2 ** 20], ['1.5GiB', 1.5 * 2 ** 30], ['10 KB', 10_000],
      ['2gb', 2e9], ['7b', 7], ['1TiB', 2 ** 40],
    ];
    for (const [input, bytes] of cases) assert.deepEqual(parseByteSize(input), { ok: true, bytes }, String(input));
  });
  it('refuses what is not a size', () => {
    for (const input of ['', 'MiB', '-1', '1.5.2MB', '10 parsecs', -1, 1.5, true, null]) {
      assert.equal(parseByteSize(input).ok, false, String(input));
    }
  });
  it('resolves through the config, with the 256MiB default', async () => {
    const base = { backends: [{ endpoint: 'http://127.0.0.1:1', bucket: 'b', access_key_id: 'a', secret_access_key: 's' }] };
    assert.equal((await loadConfig(base)).runtime.maxBufferedBytes, 256 * 2 ** 20);
    assert.equal((await loadConfig({ ...base, runtime: { max_buffered_bytes: '64KiB' } })).runtime.maxBufferedBytes, 65536);
  });
});
