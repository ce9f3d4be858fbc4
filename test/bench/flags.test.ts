/**
 * bench/flags.ts, the bench entries' command-line reader: the flags of the table are read with
 * their kinds, anything else is a FlagError naming the flag (the entries turn it into exit 2
 * before starting anything; bench-entries.test.ts runs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, parseFlags, type FlagTable } from '../../bench/flags.js';

const TABLE: FlagTable = {
  quick: 'flag', rounds: 'whole', count: 'count', nice: 'int', mib: 'positive', json: 'text', compare: 'texts',
  'rclone-flags': 'words', sizes: { oneOf: ['4KiB', '1MiB'] },
};

function refused(argv: string[], ...parts: string[]): void {
  assert.throws(() => parseFlags(TABLE, argv), (err: unknown) => {
    assert.ok(err instanceof FlagError, String(err));
    for (const p of parts) assert.ok(err.message.includes(p), `${JSON.stringify(argv)}: ${err.message} lacks ${p}`);
    return true;
  });
}

test('parseFlags: the table\'s flags with their values, either spelling', () => {
  const f = parseFlags(TABLE, ['--quick', '--rounds', '3', '--count=0', '--nice', '-5', '--mib', '0.5', '--json', 'out.json',
    '--compare', 'a=x', '--compare', 'b=y', '--rclone-flags', '--fast-list --checkers 8', '--sizes', '1MiB,4KiB']);
  assert.equal(f.has('quick'), true);
  assert.equal(f.num('rounds', 9), 3);
  assert.equal(f.num('count', 9), 0);
  assert.equal(f.num('nice'), -5);
  assert.equal(f.num('mib'), 0.5);
  assert.equal(f.text('json'), 'out.json');
  assert.deepEqual(f.texts('compare'), ['a=x', 'b=y']);
  assert.deepEqual(f.words('rclone-flags'), ['--fast-list', '--checkers', '8']);
  assert.deepEqual(f.list('sizes'), ['1MiB', '4KiB']);
  const none = parseFlags(TABLE, []);
  assert.equal(none.has('quick'), false);
  assert.equal(none.num('rounds', 7), 7);
  assert.equal(none.text('json'), undefined);
  assert.deepEqual(none.texts('compare'), []);
  // --help is process-guard's to answer, not an unknown flag.
  assert.equal(parseFlags(TABLE, ['--help']).has('quick'), false);
});

test('parseFlags: unknown flags, positionals, missing and bad values are FlagErrors naming the flag', () => {
  refused(['--quik'], '--quik');
  refused(['--quick', 'extra'], 'extra');
  refused(['--rounds'], '--rounds');
  refused(['--rounds', '--quick'], '--rounds');
  refused(['--rounds', 'x'], '--rounds', '"x"');
  refused(['--rounds', '0'], '--rounds', '≥ 1');
  refused(['--rounds', '1.5'], '--rounds');
  refused(['--rounds', ''], '--rounds');
  refused(['--count', '-1'], '--count');
  refused(['--count=-1'], '--count', 'non-negative');
  refused(['--nice', 'high'], '--nice');
  refused(['--mib', '0'], '--mib', '> 0');
  refused(['--mib', 'NaN'], '--mib');
  refused(['--mib', 'Infinity'], '--mib');
  refused(['--sizes', '4KB'], '--sizes', '4KiB, 1MiB');
  refused(['--sizes', '4KiB,'], '--sizes');
  refused(['--quick=yes'], '--quick');
});
