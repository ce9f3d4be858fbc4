import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { CoalescedWriter } from '../../src/cli/coalesced-writer.js';
import { runTsScript } from '../helpers/run-ts-child.js';

/** A target that keeps each write apart. */
function target(): { writes: string[]; write(s: string): boolean } {
  const writes: string[] = [];
  return { writes, write: (s: string) => writes.push(s) > 0 };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CoalescedWriter', () => {
  it('writes the lines of one turn as one write, in order, at the end of the turn', async () => {
    const t = target();
    const w = new CoalescedWriter(t);
    try {
      for (let i = 0; i < 50; i++) w.write(`request ${i}\n`);
      assert.deepEqual(t.writes, [], 'nothing before the turn ends');
      await turn();
      assert.equal(t.writes.length, 1);
      assert.equal(t.writes[0], Array.from({ length: 50 }, (_, i) => `request ${i}\n`).join(''));
      w.write('next turn\n');
      await turn();
      assert.deepEqual(t.writes.slice(1), ['next turn\n']);
    } finally {
      w.close();
    }
  });

  it('writes at once, with what is pending, when maxBytes is reached', () => {
    const t = target();
    const w = new CoalescedWriter(t, { maxBytes: 10 });
    try {
      w.write('abcd');
      w.write('efgh');
      assert.deepEqual(t.writes, []);
      w.write('ijkl');
      assert.deepEqual(t.writes, ['abcdefghijkl']);
    } finally {
      w.close();
    }
  });

  it('close() writes what is pending, then writes straight through and leaves process exit alone', async () => {
    const before = process.listenerCount('exit');
    const t = target();
    const w = new CoalescedWriter(t);
    assert.equal(process.listenerCount('exit'), before + 1);
    w.write('a\n');
    w.close();
    assert.deepEqual(t.writes, ['a\n']);
    assert.equal(process.listenerCount('exit'), before);
    w.write('b\n');
    assert.deepEqual(t.writes, ['a\n', 'b\n']);
    await turn();
    assert.deepEqual(t.writes, ['a\n', 'b\n'], 'nothing left scheduled');
  });

  it('with holdMs, holds the lines of several turns until that long after the first, then writes them as one', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const t = target();
    const w = new CoalescedWriter(t, { holdMs: 50 });
    try {
      w.write('a\n');
      await turn();
      w.write('b\n');
      mock.timers.tick(49);
      assert.deepEqual(t.writes, [], 'nothing before holdMs');
      mock.timers.tick(1);
      assert.deepEqual(t.writes, ['a\nb\n']);
      w.write('c\n');
      mock.timers.tick(50);
      assert.deepEqual(t.writes, ['a\nb\n', 'c\n'], 'the next lines wait from their own first');
      w.write('d\n');
      w.flush();
      mock.timers.tick(50);
      assert.deepEqual(t.writes, ['a\nb\n', 'c\n', 'd\n'], 'a flush cancels the pending timer');
    } finally {
      w.close();
      mock.timers.reset();
    }
  });

  for (const [how, code, hold] of [['exit', 3, '0'], ['throw', 1, '0'], ['dry', 0, '0'], ['dry', 0, '2000000000']] as const) {
    it(`loses nothing when the process ends before the turn does (${how}${hold === '0' ? '' : ', lines held for days: the timer keeps nothing alive'})`, async () => {
      const child = fileURLToPath(new URL('../helpers/coalesced-exit-child.ts', import.meta.url));
      const r = await runTsScript(child, [how, hold], { timeoutMs: 60_000 });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, /line 0\nline 1\nline 2\nline 3\nline 4\n/);
      if (how === 'throw') assert.match(r.stderr, /uncaught on purpose/);
    });
  }
});
