/**
 * removeOrphanTemps: only the temporary names a dead thread of this process gave one of the
 * keys' files go; nothing is followed through a symbolic link.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOrphanTemps, removeOwnTempsSync } from '../../src/sinks/orphan-temps.js';
import { tempNameFor, type TempWriter } from '../../src/sinks/temp-name.js';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'readpath-orphans-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

const PID = 4242;

function at(pid: number, thread: number, seq: number): TempWriter {
  return { pid, thread, seq };
}

test('removes exactly the dead threads\' temporary files beside the keys, long names included', async () => {
  const dir = join(root, 'exact');
  mkdirSync(join(dir, 'a'), { recursive: true });
  const long = 'L'.repeat(250);
  const gone = [
    join('a', tempNameFor('f.bin', at(PID, 5, 1))),
    join('a', tempNameFor('f.bin', at(PID, 5, 12))),
    join('a', tempNameFor('f.bin', at(PID, 9, 3))),
    tempNameFor(long, at(PID, 5, 7)),
  ];
  const kept = [
    join('a', 'f.bin'),
    join('a', tempNameFor('f.bin', at(PID, 6, 1))), // a live thread's
    join('a', tempNameFor('f.bin', at(PID + 1, 5, 1))), // another process's
    join('a', tempNameFor('g.bin', at(PID, 5, 1))), // a key not given
    join('a', `.f.bin.readpath-${PID}-5-x.tmp`), // not a name the writer gives
    join('a', `.f.bin.readpath-${PID}-5-1.tmp.keep`),
    tempNameFor('f.bin', at(PID, 5, 1)), // beside another path's file of that name
    tempNameFor('L'.repeat(200), at(PID, 5, 7)), // shares the long name's first characters only
  ];
  for (const f of [...gone, ...kept]) writeFileSync(join(dir, f), 'x');
  const removed = await removeOrphanTemps(dir, ['a/f.bin', long, 'a/missing-dir/x', '../escape'], new Set([5, 9]), PID);
  assert.equal(removed, gone.length);
  const left = (readdirSync(dir, { recursive: true }) as string[]).filter((n) => n !== 'a').sort();
  assert.deepEqual(left, [...kept].sort());
});

test('never follows a symbolic link: neither a linked directory on the way nor a link with a temporary name', async () => {
  const dir = join(root, 'links');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(dir, { recursive: true });
  mkdirSync(elsewhere, { recursive: true });
  const name = tempNameFor('f', at(PID, 5, 1));
  writeFileSync(join(elsewhere, name), 'not under DIR');
  symlinkSync(elsewhere, join(dir, 'via'));
  symlinkSync(join(elsewhere, name), join(dir, name));
  const removed = await removeOrphanTemps(dir, ['via/f', 'f'], new Set([5]), PID);
  assert.equal(removed, 0);
  assert.deepEqual(readdirSync(elsewhere), [name]);
  assert.deepEqual(readdirSync(dir).sort(), [name, 'via'].sort());
});

test('removeOwnTempsSync removes every thread\'s temporary files of this process beside the keys, nothing else', () => {
  const dir = join(root, 'own-sync');
  mkdirSync(join(dir, 'a'), { recursive: true });
  const gone = [join('a', tempNameFor('f.bin', at(PID, 2, 1))), join('a', tempNameFor('f.bin', at(PID, 7, 4))), tempNameFor('g', at(PID, 0, 9))];
  const kept = [
    join('a', 'f.bin'),
    join('a', tempNameFor('f.bin', at(PID + 1, 2, 1))), // another process's
    join('a', tempNameFor('h.bin', at(PID, 2, 1))), // a key not being written
    join('a', `.f.bin.readpath-${PID}-2-1.tmp.keep`),
  ];
  for (const f of [...gone, ...kept]) writeFileSync(join(dir, f), 'x');
  assert.equal(removeOwnTempsSync(dir, ['a/f.bin', 'g', '../escape'], PID), gone.length);
  const left = (readdirSync(dir, { recursive: true }) as string[]).filter((n) => n !== 'a').sort();
  assert.deepEqual(left, [...kept].sort());
});
