/**
 * Degraded mode's choice of the bytes to read on a backend (src/probe/stored-copy.ts): the newest
 * of the key itself and its `{key}!{32 lowercase hex}` copies, as s3-orchestrator reads degraded,
 * never an object that only shares the name as a prefix; the listing's pages, failures and cost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { isCopyOf, newestCopy, storedKeyOf } from '../../src/probe/stored-copy.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { BackendListOptions, BackendListPage, GetResult, HeadResult, ObjectBackend } from '../../src/types.js';

const OLD = '00000000000000000000000000000001';
const NEW = '00000000000000000000000000000002';
const base = Date.UTC(2026, 9, 1);
const at = (hours: number): Date => new Date(base + hours * 3_600_000);

/** A backend holding `objects` (key → hours after `base`), and the key storedKeyOf picks on it. */
async function pick(objects: Record<string, number>, key = 'key'): Promise<{ chosen: string; requests: number }> {
  const b = new MemoryBackend('b1');
  for (const [k, h] of Object.entries(objects)) b.put(k, k, { lastModified: at(h) });
  let requests = 0;
  const chosen = await storedKeyOf(b, key, new AbortController().signal, () => requests++);
  return { chosen, requests };
}

describe('storedKeyOf: the newest of the key and its per-write copies', () => {
  const cases: [string, Record<string, number>, string][] = [
    ['bare key only', { key: 0 }, 'key'],
    ['copy only', { [`key!${OLD}`]: 0 }, `key!${OLD}`],
    ['copy newer than the bare key', { key: 0, [`key!${OLD}`]: 1 }, `key!${OLD}`],
    ['bare key newer than a copy', { key: 2, [`key!${OLD}`]: 1 }, 'key'],
    ['newest of two copies', { [`key!${OLD}`]: 0, [`key!${NEW}`]: 1 }, `key!${NEW}`],
    ['another object named key!backup is skipped', { [`key!${OLD}`]: 0, 'key!backup': 1 }, `key!${OLD}`],
    ['another object named key.bak is skipped', { [`key!${OLD}`]: 0, 'key.bak': 1 }, `key!${OLD}`],
    ['children and namesakes are skipped', { key: 0, 'key/child': 5, 'key two': 5, [`key!${OLD.toUpperCase().replace(/0/g, 'A')}`]: 5, [`key!${OLD}x`]: 5 }, 'key'],
    ['a tie goes to the copy, then to the greater id', { key: 1, [`key!${OLD}`]: 1, [`key!${NEW}`]: 1 }, `key!${NEW}`],
  ];
  for (const [name, objects, want] of cases) {
    it(name, async () => {
      const r = await pick(objects);
      assert.equal(r.chosen, want);
      assert.equal(r.requests, 1, 'one listing');
    });
  }

  it('a key with regex or URL characters is matched literally', async () => {
    const key = 'a+b (1)/[x]*.txt';
    assert.equal((await pick({ [key]: 0, [`${key}!${NEW}`]: 1, 'a+b (1)/[x]*.txtX': 9 }, key)).chosen, `${key}!${NEW}`);
    assert.equal(isCopyOf(key, `${key}!${NEW}`), true);
    assert.equal(isCopyOf('a.', `aX!${NEW}`), false);
  });

  it('nothing at the key or a copy: BACKEND_ERROR 404, as the backend answers a missing object', async () => {
    await assert.rejects(pick({ 'key!backup': 0, 'key.bak': 0, keyring: 0 }), (err: unknown) => hasCode(err, 'BACKEND_ERROR') && (err as ReadPathError).backendStatus === 404 && /neither the key nor a copy/.test((err as Error).message));
  });

  it('follows pages only while they may still hold a copy', async () => {
    // 150 near-namesakes sort before the copies ("key " < "key!"): the copy is on the second page.
    const near: Record<string, number> = {};
    for (let i = 0; i < 150; i++) near[`key ${String(i).padStart(3, '0')}`] = 9;
    assert.deepEqual(await pick({ ...near, key: 0, [`key!${NEW}`]: 1 }), { chosen: `key!${NEW}`, requests: 2 });
    // Siblings after the copies ("key/..." > "key!..."): the first page already passed them.
    const after: Record<string, number> = {};
    for (let i = 0; i < 300; i++) after[`key/${String(i).padStart(3, '0')}`] = 9;
    assert.deepEqual(await pick({ ...after, [`key!${OLD}`]: 0 }), { chosen: `key!${OLD}`, requests: 1 });
  });

  it('a backend that cannot list is read at the key; a listing that fails fails that backend, billed when it was sent', async () => {
    const plain: ObjectBackend = { name: 'p', head: () => Promise.reject(new Error('unused')), get: () => Promise.reject(new Error('unused')) };
    assert.equal(await storedKeyOf(plain, 'k', new AbortController().signal, () => assert.fail('no request')), 'k');
    const failing = (err: Error): ObjectBackend => ({
      name: 'f',
      head: (): Promise<HeadResult> => Promise.reject(new Error('unused')),
      get: (): Promise<GetResult> => Promise.reject(new Error('unused')),
      list: (_o: BackendListOptions): Promise<BackendListPage> => Promise.reject(err),
    });
    let billed = 0;
    const answered = new ReadPathError('BACKEND_ERROR', 'f: LIST: HTTP 503 SlowDown', { backendStatus: 503 });
    await assert.rejects(storedKeyOf(failing(answered), 'k', new AbortController().signal, () => billed++), (e: unknown) => e === answered);
    assert.equal(billed, 1, 'an answered failure is billed');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await assert.rejects(storedKeyOf(failing(refused), 'k', new AbortController().signal, () => billed++), (e: unknown) => e === refused);
    assert.equal(billed, 1, 'a connection never made is not');
    // Allowed to read but not to list (no s3:ListBucket), or no ListObjectsV2 at all: the key itself.
    for (const status of [403, 405, 501]) {
      const forbidden = new ReadPathError('BACKEND_ERROR', `f: LIST: HTTP ${status}`, { backendStatus: status });
      assert.equal(await storedKeyOf(failing(forbidden), 'k', new AbortController().signal, () => billed++), 'k', String(status));
    }
    assert.equal(billed, 4, 'each refused listing was still a request');
  });

  it("every listing page carries the probe's since (its requests share one timeout); without one, none is sent", async () => {
    const b = new MemoryBackend('b1');
    for (let i = 0; i < 150; i++) b.put(`key ${String(i).padStart(3, '0')}`, 'x');
    b.put(`key!${NEW}`, 'x');
    const seen: (number | undefined)[] = [];
    const listing: ObjectBackend = {
      name: 'b1',
      head: (k, o) => b.head(k, o),
      get: (k, o) => b.get(k, o),
      list: (o: BackendListOptions) => {
        seen.push(o.since);
        return b.list(o);
      },
    };
    assert.equal(await storedKeyOf(listing, 'key', new AbortController().signal, () => {}, 1234.5), `key!${NEW}`);
    assert.deepEqual(seen, [1234.5, 1234.5], 'two pages, one start');
    seen.length = 0;
    await storedKeyOf(listing, 'key', new AbortController().signal);
    assert.deepEqual(seen, [undefined, undefined]);
  });

  it('newestCopy of nothing is undefined; entries without a time count as oldest', () => {
    assert.equal(newestCopy('k', []), undefined);
    assert.equal(newestCopy('k', [{ key: `k!${NEW}`, size: 1 }, { key: 'k', size: 1, lastModified: at(0) }])?.key, 'k');
  });
});
