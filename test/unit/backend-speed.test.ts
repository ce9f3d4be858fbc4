import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendSpeed } from '../../src/policies/backend-speed.js';

const name = (s: string): string => s;

test('successes form a moving mean per operation and backend', () => {
  const s = new BackendSpeed({ alpha: 0.5 });
  s.succeeded('GetObject', 'b1', 10);
  assert.equal(s.estimate('GetObject', 'b1'), 10, 'the first sample is the estimate');
  s.succeeded('GetObject', 'b1', 20);
  assert.equal(s.estimate('GetObject', 'b1'), 15);
  assert.equal(s.estimate('HeadObject', 'b1'), undefined, 'operations are kept apart');
  assert.equal(s.estimate('GetObject', 'b2'), undefined);
  for (const bad of [-1, NaN, Infinity]) s.succeeded('GetObject', 'b1', bad);
  assert.equal(s.estimate('GetObject', 'b1'), 15, 'nonsense samples are ignored');
});

test('a lost race raises the loser to at least the winner (with margin) or its own elapsed time, never lowers it', () => {
  const s = new BackendSpeed({ loserMargin: 1.1 });
  s.lost('GetObject', 'b1', 3, 10);
  assert.equal(s.estimate('GetObject', 'b1'), 11, 'winner 10 ms x 1.1 beats 3 ms elapsed');
  s.lost('GetObject', 'b1', 25, 10);
  assert.equal(s.estimate('GetObject', 'b1'), 25, 'elapsed beyond the winner counts');
  s.lost('GetObject', 'b1', 1, 1);
  assert.equal(s.estimate('GetObject', 'b1'), 25, 'a lower bound never lowers an estimate');
  s.succeeded('GetObject', 'b1', 4);
  assert.equal(s.estimate('GetObject', 'b1'), 4, 'a real sample replaces a bound instead of averaging with it');
  s.succeeded('GetObject', 'b1', 8);
  assert.ok((s.estimate('GetObject', 'b1') as number) < 8, 'and is averaged from then on');
});

test('order: fastest first, unknown backends last, ties and unknowns in the given order', () => {
  const s = new BackendSpeed();
  const names = ['b1', 'b2', 'b3', 'b4'];
  assert.equal(s.order('GetObject', names, name), names, 'no data: the given order, same array');
  s.succeeded('GetObject', 'b3', 5);
  s.succeeded('GetObject', 'b2', 9);
  s.succeeded('GetObject', 'b4', 5);
  assert.deepEqual(s.order('GetObject', names, name), ['b3', 'b4', 'b2', 'b1']);
  assert.deepEqual(s.order('HeadObject', names, name), names, 'another operation has its own data');
  const sorted = ['b3', 'b4', 'b2', 'b1'];
  assert.equal(s.order('GetObject', sorted, name), sorted, 'an already sorted list is returned as is');
});

test('a backend that stops winning falls behind the one that beats it', () => {
  const s = new BackendSpeed();
  for (let i = 0; i < 5; i++) s.succeeded('GetObject', 'b2', 10);
  assert.deepEqual(s.order('GetObject', ['b1', 'b2'], name), ['b2', 'b1']);
  // b2 slows down: b1 wins in 20 ms while b2 is cancelled.
  s.succeeded('GetObject', 'b1', 20);
  s.lost('GetObject', 'b2', 20, 20);
  assert.deepEqual(s.order('GetObject', ['b1', 'b2'], name), ['b1', 'b2']);
});

test('options are checked', () => {
  assert.throws(() => new BackendSpeed({ alpha: 0 }), RangeError);
  assert.throws(() => new BackendSpeed({ alpha: 1.5 }), RangeError);
  assert.throws(() => new BackendSpeed({ loserMargin: 0.9 }), RangeError);
  assert.throws(() => new BackendSpeed({ loserMargin: Infinity }), RangeError);
});
