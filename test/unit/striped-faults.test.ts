// Striped reads under faults, over memory backends whose part answers are scripted and gated:
// hedges, duplicates that finish together, cut and refused parts, and the caller's abort.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { openMemoryReadPath } from '../helpers/memory-readpath.js';
import { readAll } from '../helpers/streams.js';
import { deferred, type Deferred } from '../helpers/gate.js';
import type { MemoryBackend } from '../../src/backends/memory-backend.js';
import { ReadPathError, hasCode } from '../../src/errors.js';

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
 * Hold the first `n` GETs of `range` on `backends` (later ones are answered as usual): the
 * answer (headers) comes at once, its body sends nothing until the test pushes it. `held`
 * resolves once the `n` GETs were made.
 */
function holdPart(backends: MemoryBackend[], range: string, n: number): { gets: HeldGet[]; held: Deferred<HeldGet[]> } {
  const gets: HeldGet[] = [];
  const held = deferred<HeldGet[]>();
  for (const b of backends) {
    const get = b.get.bind(b);
    b.get = async (key, opts) => {
      const r = await get(key, opts);
      if (opts?.range !== range || gets.length >= n) return r;
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


/** Run `fn`, then fail if it left a rejection nobody handled (checked a turn after it ends). */
async function withoutUnhandled(fn: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}

describe('striped reads under faults (memory backends)', () => {
  it('a hedged part whose two copies complete in the same turn is served and counted once', async () => {
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
    // Both copies deliver the whole part, and end, in the same turn: the first to complete wins,
    // the other's bytes are dropped uncounted.
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

  /** Every body the backends handed out, to check none is left open. */
  const trackBodies = (backends: MemoryBackend[]): Readable[] => {
    const bodies: Readable[] = [];
    for (const b of backends) {
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        const r = await get(key, opts);
        bodies.push(r.body);
        return r;
      };
    }
    return bodies;
  };
  const allClosed = (bodies: Readable[]): boolean => bodies.every((b) => b.destroyed || b.readableEnded);

  it('a part stalled on its copy is hedged to another: served once, the stalled body released, no resume counted', async () => {
    const { rp, seed, backends } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
    const size = 4 * PART;
    const bytes = object(size);
    seed('big', bytes, ['b1', 'b2']);
    // The first GET of part 1 never sends a byte; the hedge's is answered.
    const { held } = holdPart(backends, rangeOf(1, size), 1);
    const bodies = trackBodies(backends);
    const o = await rp.getStream('big');
    const reading = readAll(o.body);
    const [stalled] = (await waitFor(held.promise)) as [HeldGet];
    assert.ok((await waitFor(reading)).equals(bytes));
    assert.equal(await o.verified, true);
    assert.equal(rp.recorder.count('striped_parts_total'), 4);
    assert.equal(rp.recorder.count('striped_part_hedges_total'), 1);
    assert.equal(rp.recorder.count('stream_resumes_total'), 0, 'a hedge that lost is no failure');
    assert.ok(stalled.body.destroyed, 'the stalled copy\'s body was released');
    assert.ok(allClosed(bodies), 'every body ended or released');
    await rp.close();
  });

  it('a copy reset mid-part: the part is fetched again elsewhere, counted once, the resume once', async () => {
    const { rp, seed, backends } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const size = 6 * PART;
    const bytes = object(size);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    const reset: string[] = [];
    for (const b of backends) {
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        const r = await get(key, opts);
        if (opts?.range !== rangeOf(2, size) || reset.length > 0) return r;
        reset.push(b.name);
        const whole = await readAll(r.body);
        async function* cut(): AsyncGenerator<Buffer> {
          yield whole.subarray(0, 1000);
          throw new ReadPathError('BACKEND_ERROR', `${b.name}: connection reset`);
        }
        return { ...r, body: Readable.from(cut()) };
      };
    }
    const bodies = trackBodies(backends);
    const o = await rp.getStream('big');
    assert.ok((await waitFor(readAll(o.body))).equals(bytes));
    assert.equal(await o.verified, true);
    assert.equal(reset.length, 1);
    assert.equal(rp.recorder.count('striped_parts_total'), 6);
    assert.equal(rp.recorder.count('stream_resumes_total'), 1);
    assert.equal(rp.recorder.count('stream_resumes_total', { backend: reset[0] as string }), 1);
    const served = ['b1', 'b2', 'b3'].filter((n) => rp.recorder.count('striped_parts_total', { backend: n }) > 0);
    assert.deepEqual([...o.backends].sort(), served);
    assert.ok(allClosed(bodies));
    await rp.close();
  });

  it('without content hashes, a copy answering another ETag under If-Match (412) serves no part', async () => {
    const { rp, store, backend } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const size = 6 * PART;
    const bytes = object(size);
    const other = Buffer.from(bytes).fill(0x55, PART, 2 * PART);
    backend('b1').put('k', bytes);
    backend('b2').put('k', other);
    backend('b3').put('k', bytes);
    for (const [i, n] of ['b1', 'b2', 'b3'].entries()) {
      store.add({ objectKey: 'k', backendName: n, sizeBytes: size, createdAt: new Date(i + 1), encrypted: false, contentHash: null });
    }
    const o = await rp.getStream('k');
    assert.ok((await waitFor(readAll(o.body))).equals(bytes), 'none of b2\'s bytes');
    assert.ok(!o.backends.includes('b2'));
    assert.equal(rp.recorder.count('striped_parts_total', { backend: 'b2' }), 0);
    assert.equal(rp.recorder.count('striped_parts_total'), 6);
    assert.ok(backend('b2').calls.get <= 1, 'b2 is dropped at its first 412');
    await rp.close();
  });

  it('every copy failing one middle part ends the body with ALL_BACKENDS_FAILED naming its bytes, every body released', async () => {
    const { rp, seed, backends } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping });
    const size = 6 * PART;
    const bytes = object(size);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    for (const b of backends) {
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        if (opts?.range === rangeOf(3, size)) throw new ReadPathError('BACKEND_ERROR', `${b.name}: ${key}: InternalError`, { backendStatus: 500 });
        return get(key, opts);
      };
    }
    const bodies = trackBodies(backends);
    await withoutUnhandled(async () => {
      const o = await rp.getStream('big');
      let got = 0;
      await assert.rejects(waitFor((async () => {
        for await (const c of o.body) got += (c as Buffer).byteLength;
      })()), (err: unknown) => hasCode(err, 'ALL_BACKENDS_FAILED') && (err as Error).message.includes(`bytes ${3 * PART}-${4 * PART - 1}`));
      assert.ok(got <= 3 * PART, 'no byte past the parts before it');
      assert.equal(await o.verified, false);
      await waitFor(new Promise((r) => setImmediate(r)));
      assert.ok(allClosed(bodies), 'every body ended or released');
      assert.equal(rp.recorder.count('stream_resumes_total'), 3, 'one failure per copy');
    });
    await rp.close();
  });

  it('the caller aborting mid-stream cancels every part in flight: bodies released, opens cancelled, nothing unhandled', async () => {
    const { rp, seed, backends } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: { ...striping, parts_in_flight: 4 } });
    const size = 8 * PART;
    const bytes = object(size);
    seed('big', bytes, ['b1', 'b2', 'b3']);
    // Part 1 stalls in its body; part 2's request is never answered (until its signal aborts, as an HTTP client's).
    const { held } = holdPart(backends, rangeOf(1, size), 1);
    const opens: AbortSignal[] = [];
    for (const b of backends) {
      const get = b.get.bind(b);
      b.get = async (key, opts) => {
        if (opts?.range !== rangeOf(2, size)) return get(key, opts);
        const signal = opts.signal as AbortSignal;
        opens.push(signal);
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      };
    }
    const bodies = trackBodies(backends);
    await withoutUnhandled(async () => {
      const ac = new AbortController();
      const o = await rp.getStream('big', { signal: ac.signal });
      let got = 0;
      const reading = (async () => {
        for await (const c of o.body) got += (c as Buffer).byteLength;
      })();
      reading.catch(() => {});
      const [stalled] = (await waitFor(held.promise)) as [HeldGet];
      // The consumer waits on part 1 (part 0's last bytes are held until the next ones come).
      while (opens.length === 0) await waitFor(new Promise((r) => setImmediate(r)));
      await waitFor(new Promise((r) => setImmediate(r)));
      ac.abort();
      await assert.rejects(waitFor(reading), (err: unknown) => hasCode(err, 'ABORTED'));
      assert.ok(got <= PART, 'part 0 at most');
      await waitFor(new Promise((r) => setImmediate(r)));
      assert.ok(stalled.body.destroyed, 'the stalled part\'s body was released');
      assert.ok(opens.every((s) => s.aborted), 'every open request was cancelled');
      assert.ok(allClosed(bodies), 'every body ended or released');
      assert.equal(rp.recorder.count('stream_resumes_total'), 0, 'a cancelled part is no copy\'s failure');
    });
    await rp.close();
  });

  it('the consumer destroying the body mid-stream cancels every part in flight', async () => {
    const { rp, seed, backends } = await openMemoryReadPath(3, { runtime: { mode: 'inline' }, striping: { ...striping, parts_in_flight: 4 } });
    const size = 8 * PART;
    seed('big', object(size), ['b1', 'b2', 'b3']);
    const { held } = holdPart(backends, rangeOf(1, size), 1);
    const bodies = trackBodies(backends);
    const o = await rp.getStream('big');
    const reading = (async () => {
      for await (const c of o.body) void c;
    })();
    reading.catch(() => {});
    const [stalled] = (await waitFor(held.promise)) as [HeldGet];
    await waitFor(new Promise((r) => setImmediate(r)));
    o.body.destroy();
    // A few turns of the loop, no more: the stalled part never comes.
    for (let i = 0; i < 20 && !(stalled.body.destroyed && o.body.closed); i++) await new Promise((r) => setImmediate(r));
    assert.ok(stalled.body.destroyed, 'the stalled part\'s body was released');
    assert.ok(allClosed(bodies), 'every body ended or released');
    assert.ok(o.body.closed, 'the body closed');
    await assert.rejects(reading);
    assert.equal(await o.verified, false);
    await rp.close();
  });

  it('a caller aborting as part 0 answers leaves no hedge timer running, at whatever turn the abort lands', async () => {
    // The striped read checks for hedges on an unref'd interval: one left running would not keep
    // the process up, only the read's state alive and the check ticking. Intervals are counted.
    const live = new Set<unknown>();
    const realSet = globalThis.setInterval;
    const realClear = globalThis.clearInterval;
    globalThis.setInterval = (...args: Parameters<typeof setInterval>) => {
      const t = realSet(...args);
      live.add(t);
      return t;
    };
    globalThis.clearInterval = (t: Parameters<typeof clearInterval>[0]) => {
      live.delete(t);
      realClear(t);
    };
    try {
      // The abort lands `depth` microtasks after b1 answers part 0: a sweep covers every turn of
      // the opening, among them the one between the answer and the read's start.
      for (let depth = 0; depth < 60; depth++) {
        const { rp, seed, backends } = await openMemoryReadPath(2, { runtime: { mode: 'inline' }, striping });
        seed('big', object(4 * PART), ['b1', 'b2']);
        const ac = new AbortController();
        const b1 = backends[0] as MemoryBackend;
        const get = b1.get.bind(b1);
        b1.get = async (key, opts) => {
          const r = await get(key, opts);
          let later = Promise.resolve();
          for (let i = 0; i < depth; i++) later = later.then(() => {});
          void later.then(() => ac.abort());
          return r;
        };
        await assert.rejects(async () => {
          const o = await rp.getStream('big', { signal: ac.signal });
          for await (const c of o.body) void c;
        }, (err: unknown) => hasCode(err, 'ABORTED'), `depth ${depth}`);
        await new Promise((r) => setImmediate(r));
        assert.equal(live.size, 0, `depth ${depth}: every hedge timer cleared`);
        await rp.close();
      }
    } finally {
      for (const t of live) realClear(t as NodeJS.Timeout);
      globalThis.setInterval = realSet;
      globalThis.clearInterval = realClear;
    }
  });
});
