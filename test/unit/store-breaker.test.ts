import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreakerStore, isStoreOutage, type StoreBreakerState } from '../../src/policies/store-breaker.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { ReadPathError, hasCode } from '../../src/errors.js';
import type { MetadataStore, ObjectLocation } from '../../src/types.js';

const row: ObjectLocation = { objectKey: 'k', backendName: 'b1', sizeBytes: 1, createdAt: new Date(0), encrypted: false };

function setup(opts: { threshold?: number; openMs?: number; random?: number } = {}) {
  const inner = new MemoryMetadataStore();
  inner.add(row);
  let clock = 1_000_000;
  let cleared = 0;
  const changes: string[] = [];
  const breaker = new CircuitBreakerStore(inner, {
    failureThreshold: opts.threshold ?? 3,
    openTimeoutMs: opts.openMs ?? 10_000,
    now: () => clock,
    random: () => opts.random ?? 0,
    onClose: () => cleared++,
    onStateChange: (s: StoreBreakerState, p: StoreBreakerState) => changes.push(`${p}->${s}`),
  });
  return {
    inner,
    breaker,
    advance: (ms: number) => {
      clock += ms;
    },
    cleared: () => cleared,
    changes,
  };
}

const isUnavailable = (err: unknown): boolean => {
  assert.ok(hasCode(err, 'DB_UNAVAILABLE'), String(err));
  assert.equal((err as { httpStatus?: number }).httpStatus, 503);
  return true;
};

/** A store whose calls wait on gates the test opens. */
class GatedStore implements MetadataStore {
  calls: { key: string; resolve: (rows: ObjectLocation[]) => void; reject: (err: unknown) => void }[] = [];
  getAllObjectLocations(key: string): Promise<ObjectLocation[]> {
    return new Promise((resolve, reject) => this.calls.push({ key, resolve, reject }));
  }
}

describe('CircuitBreakerStore', () => {
  it('passes lookups through while closed', async () => {
    const { breaker, inner } = setup();
    assert.deepEqual(await breaker.getAllObjectLocations('k'), [row]);
    assert.equal(inner.calls, 1);
    assert.equal(breaker.state(), 'closed');
  });

  it('opens on the failure_threshold-th consecutive outage; that call and later ones answer DB_UNAVAILABLE without the store', async () => {
    const { breaker, inner, changes } = setup({ threshold: 3 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.consecutiveFailures(), 2);
    await assert.rejects(breaker.getAllObjectLocations('k'), (err: unknown) => isUnavailable(err) && /opened after 3 consecutive failures/.test((err as Error).message));
    assert.equal(breaker.state(), 'open');
    assert.equal(inner.calls, 3);
    inner.setAvailable(true);
    await assert.rejects(breaker.getAllObjectLocations('k'), (err: unknown) => isUnavailable(err) && hasCode((err as Error).cause, 'DB_UNAVAILABLE'));
    assert.equal(inner.calls, 3, 'an open breaker does not call the store');
    assert.deepEqual(changes, ['closed->open']);
  });

  it('does not count OBJECT_NOT_FOUND, METADATA_ERROR or caller aborts; a success resets the count', async () => {
    const { breaker, inner } = setup({ threshold: 2 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    inner.setAvailable(true);
    await assert.rejects(breaker.getAllObjectLocations('missing'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
    assert.equal(breaker.consecutiveFailures(), 0, 'the store answered: it is up');
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(breaker.getAllObjectLocations('k', { signal: ac.signal }), (err: unknown) => hasCode(err, 'ABORTED'));
    assert.equal(breaker.consecutiveFailures(), 1);
    assert.equal(breaker.state(), 'closed');

    const bad = new CircuitBreakerStore({ getAllObjectLocations: () => Promise.reject(new ReadPathError('METADATA_ERROR', 'bad row')) }, { failureThreshold: 1, openTimeoutMs: 1 });
    await assert.rejects(bad.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'METADATA_ERROR'));
    assert.equal(bad.state(), 'closed');
  });

  it('counts timeouts and raw connection errors, wrapping them as DB_UNAVAILABLE', async () => {
    const errors = [new ReadPathError('TIMEOUT', 'slow'), Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })];
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- every element is an Error
    const breaker = new CircuitBreakerStore({ getAllObjectLocations: () => Promise.reject(errors.shift()) }, { failureThreshold: 2, openTimeoutMs: 1000 });
    await assert.rejects(breaker.getAllObjectLocations('k'), (err: unknown) => isUnavailable(err) && hasCode((err as Error).cause, 'TIMEOUT'));
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    assert.equal(breaker.state(), 'open');
  });

  it('after open_timeout lets one probe through; success closes it and clears the cache via onClose', async () => {
    const { breaker, inner, advance, cleared, changes } = setup({ threshold: 1, openMs: 10_000 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    inner.setAvailable(true);
    advance(9_999);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    assert.equal(inner.calls, 1);
    advance(1);
    assert.deepEqual(await breaker.getAllObjectLocations('k'), [row]);
    assert.equal(breaker.state(), 'closed');
    assert.equal(cleared(), 1);
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('a probe answered OBJECT_NOT_FOUND also closes it (the store answered)', async () => {
    const { breaker, inner, advance, cleared } = setup({ threshold: 1, openMs: 100 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    inner.setAvailable(true);
    advance(100);
    await assert.rejects(breaker.getAllObjectLocations('missing'), (err: unknown) => hasCode(err, 'OBJECT_NOT_FOUND'));
    assert.equal(breaker.state(), 'closed');
    assert.equal(cleared(), 1);
  });

  it('a failed probe reopens it for another open_timeout', async () => {
    const { breaker, inner, advance, cleared } = setup({ threshold: 1, openMs: 1000 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    advance(1000);
    await assert.rejects(breaker.getAllObjectLocations('k'), (err: unknown) => isUnavailable(err) && /probe failed/.test((err as Error).message));
    assert.equal(inner.calls, 2);
    assert.equal(breaker.state(), 'open');
    inner.setAvailable(true);
    advance(999);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    assert.equal(inner.calls, 2);
    advance(1);
    await breaker.getAllObjectLocations('k');
    assert.equal(breaker.state(), 'closed');
    assert.equal(cleared(), 1);
  });

  it('adds jitter to the open period, never shortening it', async () => {
    const { breaker, inner, advance } = setup({ threshold: 1, openMs: 10_000, random: 0.5 });
    inner.setAvailable(false);
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    inner.setAvailable(true);
    advance(10_999); // default jitter ratio 0.2 * 0.5 → +1000 ms
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    advance(1);
    await breaker.getAllObjectLocations('k');
    assert.equal(breaker.state(), 'closed');
  });

  it('answers DB_UNAVAILABLE to concurrent calls while the probe is in flight', async () => {
    const inner = new GatedStore();
    let clock = 0;
    const breaker = new CircuitBreakerStore(inner, { failureThreshold: 1, openTimeoutMs: 50, now: () => clock, random: () => 0 });
    const first = breaker.getAllObjectLocations('k');
    inner.calls[0]?.reject(new ReadPathError('DB_UNAVAILABLE', 'down'));
    await assert.rejects(first, isUnavailable);
    clock = 50;
    const probe = breaker.getAllObjectLocations('k');
    assert.equal(breaker.state(), 'half-open');
    await assert.rejects(breaker.getAllObjectLocations('other'), (err: unknown) => isUnavailable(err) && /half-open/.test((err as Error).message));
    assert.equal(inner.calls.length, 2, 'only the probe reached the store');
    inner.calls[1]?.resolve([row]);
    assert.deepEqual(await probe, [row]);
    assert.equal(breaker.state(), 'closed');
  });

  it('a probe aborted by its caller leaves the next call to probe', async () => {
    const inner = new GatedStore();
    let clock = 0;
    const breaker = new CircuitBreakerStore(inner, { failureThreshold: 1, openTimeoutMs: 50, now: () => clock, random: () => 0 });
    const first = breaker.getAllObjectLocations('k');
    inner.calls[0]?.reject(new ReadPathError('DB_UNAVAILABLE', 'down'));
    await assert.rejects(first, isUnavailable);
    clock = 50;
    const ac = new AbortController();
    const probe = breaker.getAllObjectLocations('k', { signal: ac.signal });
    ac.abort();
    inner.calls[1]?.reject(new ReadPathError('ABORTED', 'aborted'));
    await assert.rejects(probe, (err: unknown) => hasCode(err, 'ABORTED'));
    assert.equal(breaker.state(), 'open');
    const next = breaker.getAllObjectLocations('k');
    assert.equal(breaker.state(), 'half-open');
    inner.calls[2]?.resolve([row]);
    await next;
    assert.equal(breaker.state(), 'closed');
  });

  it('ignores the outcome of a call that started before the breaker opened', async () => {
    const inner = new GatedStore();
    let cleared = 0;
    const breaker = new CircuitBreakerStore(inner, { failureThreshold: 1, openTimeoutMs: 1000, now: () => 0, onClose: () => cleared++ });
    const slow = breaker.getAllObjectLocations('slow');
    const failing = breaker.getAllObjectLocations('k');
    inner.calls[1]?.reject(new ReadPathError('DB_UNAVAILABLE', 'down'));
    await assert.rejects(failing, isUnavailable);
    assert.equal(breaker.state(), 'open');
    inner.calls[0]?.resolve([row]);
    assert.deepEqual(await slow, [row]);
    assert.equal(breaker.state(), 'open', 'a stale success does not close it');
    assert.equal(cleared, 0);
  });

  it('survives throwing observers and validates its options', async () => {
    const inner = new MemoryMetadataStore();
    inner.setAvailable(false);
    const breaker = new CircuitBreakerStore(inner, {
      failureThreshold: 1, openTimeoutMs: 0, now: () => 0,
      onClose: () => { throw new Error('observer bug'); },
      onStateChange: () => { throw new Error('observer bug'); },
    });
    await assert.rejects(breaker.getAllObjectLocations('k'), isUnavailable);
    inner.setAvailable(true);
    inner.add(row);
    assert.deepEqual(await breaker.getAllObjectLocations('k'), [row]);
    assert.equal(breaker.state(), 'closed');
    assert.throws(() => new CircuitBreakerStore(inner, { failureThreshold: 0, openTimeoutMs: 1 }), /failure_threshold/);
    assert.throws(() => new CircuitBreakerStore(inner, { failureThreshold: 1, openTimeoutMs: -1 }), /open_timeout/);
  });

  it('closes its inner store', async () => {
    let closed = 0;
    const breaker = new CircuitBreakerStore({ getAllObjectLocations: async () => [row], close: async () => { closed++; } }, { failureThreshold: 1, openTimeoutMs: 1 });
    await breaker.close();
    assert.equal(closed, 1);
  });

  it('lists keys through the same breaker as lookups, and only when the inner store lists', async () => {
    const { breaker, inner, changes } = setup({ threshold: 2 });
    inner.add({ ...row, objectKey: 'k2' });
    assert.equal(typeof breaker.listKeys, 'function');
    const list = (breaker as Required<Pick<MetadataStore, 'listKeys'>>).listKeys;
    assert.deepEqual((await list({ limit: 10 })).map((o) => o.key), ['k', 'k2']);
    assert.deepEqual((await list({ prefix: 'k2', limit: 10 })).map((o) => [o.key, o.size, o.lastModified.getTime()]), [['k2', 1, 0]]);
    // Outages while listing count toward opening the breaker, for lookups too.
    inner.setAvailable(false);
    await assert.rejects(list({ limit: 10 }), isUnavailable);
    await assert.rejects(breaker.getAllObjectLocations('k'), (err: unknown) => isUnavailable(err) && /opened after 2/.test((err as Error).message));
    assert.equal(breaker.state(), 'open');
    inner.setAvailable(true);
    await assert.rejects(list({ limit: 10 }), isUnavailable);
    assert.deepEqual(changes, ['closed->open']);
    // An aborted caller is neutral; a bad argument is an answer (the store is up).
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(list({ limit: 10, signal: ac.signal }), (err: unknown) => hasCode(err, 'ABORTED'));

    const plain = new CircuitBreakerStore({ getAllObjectLocations: async () => [row] }, { failureThreshold: 1, openTimeoutMs: 1 });
    assert.equal(plain.listKeys, undefined);
    assert.ok(!('listKeys' in plain), 'no listKeys property at all on a breaker over a store that cannot list');
    const raw = new CircuitBreakerStore(
      { getAllObjectLocations: async () => [row], listKeys: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) },
      { failureThreshold: 1, openTimeoutMs: 1000 },
    );
    await assert.rejects((raw as Required<Pick<MetadataStore, 'listKeys'>>).listKeys({ limit: 1 }), isUnavailable);
    assert.equal(raw.state(), 'open');
  });

  it('isStoreOutage tells outages from answers', () => {
    assert.ok(isStoreOutage(new ReadPathError('DB_UNAVAILABLE', 'x')));
    assert.ok(isStoreOutage(new ReadPathError('METADATA_ERROR', 'x', { cause: new ReadPathError('TIMEOUT', 'y') })));
    assert.ok(isStoreOutage(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
    assert.ok(!isStoreOutage(new ReadPathError('OBJECT_NOT_FOUND', 'x')));
    assert.ok(!isStoreOutage(new ReadPathError('METADATA_ERROR', 'x')));
    assert.ok(!isStoreOutage(new Error('x')));
  });
});
