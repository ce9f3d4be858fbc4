// One reading of an HTTP Range for the read path and the transports (src/ranges/byte-range.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalRange, checkRangeSyntax, endsBeforeStart, parseRange, resolveRange, selectRange } from '../../src/ranges/byte-range.js';
import { hasCode } from '../../src/errors.js';

const select = (range: string, total: number): { start: number; end: number } | undefined => {
  const r = parseRange(range);
  assert.ok(r !== undefined, range);
  return selectRange(r, total);
};

test('parseRange: one bytes= range, else undefined', () => {
  assert.deepEqual(parseRange(' bytes=5-9 '), { first: 5, last: 9 });
  assert.deepEqual(parseRange('bytes=5-'), { first: 5, last: undefined });
  assert.deepEqual(parseRange('bytes=-5'), { suffix: 5 });
  // Past what a number holds exactly: from N on (the AWS SDK for Java v1's open end), or past every object.
  assert.deepEqual(parseRange('bytes=5-9223372036854775806'), { first: 5, last: undefined });
  assert.deepEqual(parseRange('bytes=9223372036854775806-'), { first: Infinity, last: undefined });
  for (const bad of ['bytes=-', 'bytes=1-2,4-5', 'items=1-2', 'bytes=a-b', '']) assert.equal(parseRange(bad), undefined, bad);
});

test('selectRange: clipped ends, unsatisfiable starts, and the empty object', () => {
  assert.deepEqual(select('bytes=5-100', 10), { start: 5, end: 9 });
  assert.deepEqual(select('bytes=-30', 10), { start: 0, end: 9 });
  assert.equal(select('bytes=10-', 10), undefined);
  assert.equal(select('bytes=-0', 10), undefined);
  assert.equal(select('bytes=9223372036854775806-', 10), undefined);
  // An empty object: a suffix selects nothing (S3 answers the empty object); any other range is past its end.
  assert.deepEqual(select('bytes=-5', 0), { start: 0, end: -1 });
  for (const r of ['bytes=0-', 'bytes=0-0', 'bytes=-0']) assert.equal(select(r, 0), undefined, r);
});

test('resolveRange: INVALID_CONFIG for what is no range, RANGE_NOT_SATISFIABLE for what this object cannot give', () => {
  assert.deepEqual(resolveRange(undefined, 10, 'k'), { start: 0, end: 9, total: 10 });
  assert.deepEqual(resolveRange('bytes=-5', 0, 'k'), { start: 0, end: -1, total: 0 });
  assert.throws(() => resolveRange('bytes=0-', 0, 'k'), (e: unknown) => hasCode(e, 'RANGE_NOT_SATISFIABLE'));
  assert.throws(() => resolveRange('bytes=7-3', 10, 'k'), (e: unknown) => hasCode(e, 'INVALID_CONFIG') && /ends before it starts/.test((e as Error).message));
  assert.throws(() => resolveRange('items=1-2', 10, 'k'), (e: unknown) => hasCode(e, 'INVALID_CONFIG'));
  assert.throws(() => checkRangeSyntax('bytes=7-3'), (e: unknown) => hasCode(e, 'INVALID_CONFIG'));
  checkRangeSyntax('bytes=100-');
});

test('a range ends before it starts by its digits, however many: numbers past 2^53 have lost the difference', () => {
  const r = (range: string) => {
    const p = parseRange(range);
    assert.ok(p !== undefined, range);
    return p;
  };
  for (const backwards of ['bytes=9007199254740993-9007199254740992', 'bytes=99999999999999999999-5', 'bytes=99999999999999999999-99999999999999999998', 'bytes=0010-09']) {
    assert.equal(endsBeforeStart(r(backwards)), true, backwards);
    assert.throws(() => resolveRange(backwards, 10, 'k'), (e: unknown) => hasCode(e, 'INVALID_CONFIG') && /ends before it starts/.test((e as Error).message), backwards);
  }
  for (const forwards of ['bytes=9007199254740992-9007199254740993', 'bytes=99999999999999999998-99999999999999999999', 'bytes=5-99999999999999999999', 'bytes=09-0010', 'bytes=7-7']) {
    assert.equal(endsBeforeStart(r(forwards)), false, forwards);
  }
  // A suffix past every number is every object whole.
  assert.deepEqual(r('bytes=-99999999999999999999'), { suffix: Infinity });
  assert.deepEqual(resolveRange('bytes=-99999999999999999999', 10, 'k'), { start: 0, end: 9, total: 10 });
});

test('RFC 9110 forms of one range: the unit in any case (§14.1), empty list elements and whitespace around elements (§5.6.1.2)', () => {
  for (const written of ['Bytes=0-4', 'BYTES=0-4', 'bytes=0-4,', 'bytes=,0-4', 'bytes=, ,0-4,,', 'bytes= 0-4', 'bytes=0-4 , ', 'bytes=\t0-4\t', 'ByTeS= ,0-4 ,']) {
    assert.deepEqual(parseRange(written), { first: 0, last: 4 }, written);
    assert.equal(canonicalRange(written), 'bytes=0-4', written);
    assert.deepEqual(resolveRange(written, 10, 'k'), { start: 0, end: 4, total: 10 }, written);
    checkRangeSyntax(written);
  }
  assert.deepEqual(parseRange('Bytes=-3,'), { suffix: 3 });
  assert.equal(canonicalRange('Bytes=-3,'), 'bytes=-3');
  assert.deepEqual(parseRange('bytes= 5- ,'), { first: 5, last: undefined });
  assert.equal(canonicalRange('bytes= 5- ,'), 'bytes=5-');
  // The digits go to a backend as written: long ones keep what they mean there ("from N on"), and
  // a backwards range stays backwards.
  assert.equal(canonicalRange('Bytes=05-9223372036854775806,'), 'bytes=05-9223372036854775806');
  assert.equal(endsBeforeStart(parseRange('Bytes=7-3,') ?? { suffix: 0 }), true);
  assert.equal(canonicalRange('bytes=7-3'), 'bytes=7-3');
  // Still no range: two real ranges (S3 serves the whole object), no range at all, whitespace
  // inside a range or between the unit and `=`, another unit, a unit only a case-folding beyond
  // ASCII would make `bytes`.
  for (const bad of ['bytes=0-4,6-9', 'Bytes=0-4, 0-4', 'bytes=0-4,-', 'bytes=', 'bytes=,', 'bytes= , ', 'bytes=0 -4', 'bytes=0- 4x', 'bytes =0-4', 'items=0-4', 'byteſ=0-4', '=0-4']) {
    assert.equal(parseRange(bad), undefined, bad);
    assert.equal(canonicalRange(bad), undefined, bad);
    assert.throws(() => resolveRange(bad, 10, 'k'), (e: unknown) => hasCode(e, 'INVALID_CONFIG'), bad);
  }
});
