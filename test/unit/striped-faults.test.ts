// Striped reads under faults, over memory backends whose part answers are scripted and gated:
// hedges, duplicates that finish together, cut and refused parts, and the caller's abort.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { readAll } from '../helpers/streams.js';
import { deferred, type Deferred } from '../helpers/gate.js';
import type { MemoryBackend } from '../../src/backends/memory-backend.js';

const PART = 64 * 1024;
const striping = { min_size: '128KiB', part_size: '64KiB', parts_in_flight: 2 };

const object = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
};
const rangeOf = (part: number, size: number): string => `bytes=${part * PART}-${Math.min(size, (part + 1) * PART) - 1}`;

/** One GET of a gated part: its backend, and the body the test writes when it chooses. */
interface HeldGet {
  backend: string;
  body: Readable;
  bytes: Buffer;
}

/**
 * Hold every GET of `range` on `backends`: the answer (headers) comes at once, its body sends
 * nothing until the test pushes it. `held` resolves once `n` such GETs were made.
 */
function holdPart(backends: MemoryBackend[], range: string, n: number): { gets: HeldGet[]; held: Deferred<HeldGet[]> } {
  const gets: HeldGet[] = [];
  const held = deferred<HeldGet[]>();
  for (const b of backends) {
    const get = b.get.bind(b);
    b.get = async (key, opts) => {
      const r = await get(key, opts);
      if (opts?.range !== range) return r;
      const bytes = await readAll(r.body);
      const body = new Readable({ read() {} });
      const g = { backend: b.name, body, bytes };
      gets.push(g);
      if (gets.length === n) held.resolve(gets);
      return { ...r, body };
    };
  }
  return { gets, held };
}

/**
 * Await `p` while keeping the event loop alive: the hedge check's timer is unref'd, and a read
 * held on a gate has nothing else pending.
 */
async function waitFor<T>(p: Promise<T>): Promise<T> {
  const alive = setInterval(() => {}, 1000);
  try {
    return await p;
  } finally {
    clearInterval(alive);
  }
}

describe('striped reads under faults (memory backends)', () => {
  it('a hedged part whose two copies complete together is served and counted once, by the copy that completed first', async () => {
    const { rp, seed, backend } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
    const size = 3 * PART;
    const bytes = object(size);
    seed('big', bytes, ['b1', 'b2']);
    // Part 1 stalls on whichever copy gets it, until the hedge has asked the other copy too.
    const { held } = holdPart([backend('b1'), backend('b2')], rangeOf(1, size), 2);
    const o = await rp.getStream('big');
    const reading = readAll(o.body);
    const [first, second] = (await waitFor(held.promise)) as [HeldGet, HeldGet];
    assert.notEqual(first.backend, second.backend, 'the hedge went to the other copy');
    // Both copies deliver the whole part, and end, in the same turn: whichever completes first wins.
    first.body.push(first.bytes);
    second.body.push(second.bytes);
    first.body.push(null);
    second.body.push(null);
    assert.ok((await reading).equals(bytes));
    assert.equal(await o.verified, true);
    assert.equal(rp.recorder.count('striped_parts_total'), 3, 'three parts, each counted once');
    assert.equal(rp.recorder.count('striped_part_hedges_total'), 1);
    const served = ['b1', 'b2'].filter((n) => rp.recorder.count('striped_parts_total', { backend: n }) > 0);
    assert.deepEqual([...o.backends].sort(), served, 'backends: exactly the copies counted as serving parts');
    await rp.close();
  });
});
