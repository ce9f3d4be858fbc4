/**
 * The lean transport's credential cache: fetched once, reused until 5 minutes before expiry,
 * refreshed once for all concurrent callers, without making callers wait while the old
 * credentials still hold; failures surface only when nothing valid is left. A fake clock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CredentialCache, HARD_EXPIRY_MARGIN_MS, REFRESH_BEFORE_EXPIRY_MS, RETRY_AFTER_FAILURE_MS } from '../../src/backends/s3-credentials.js';
import type { S3Credentials } from '../../src/backends/s3-backend.js';
import { hasCode } from '../../src/errors.js';
import { deferred, type Deferred } from '../helpers/gate.js';

const MIN = 60_000;

/** A provider whose every call waits on a gate the test opens. */
function gatedProvider(): { provider: () => Promise<S3Credentials>; calls: Deferred<S3Credentials>[] } {
  const calls: Deferred<S3Credentials>[] = [];
  return {
    calls,
    provider: () => {
      const d = deferred<S3Credentials>();
      calls.push(d);
      return d.promise;
    },
  };
}

const creds = (id: string, expiresAt?: number): S3Credentials =>
  expiresAt === undefined ? { accessKeyId: id, secretAccessKey: 's' } : { accessKeyId: id, secretAccessKey: 's', expiration: new Date(expiresAt) };

describe('CredentialCache', () => {
  it('concurrent first callers share one fetch; credentials without expiration are kept', async () => {
    let now = 0;
    const { provider, calls } = gatedProvider();
    const cache = new CredentialCache(provider, { name: 'b', now: () => now });
    const waiting = [cache.get(), cache.get(), cache.get()];
    assert.equal(calls.length, 1);
    calls[0]?.resolve(creds('A'));
    assert.deepEqual((await Promise.all(waiting)).map((c) => c.accessKeyId), ['A', 'A', 'A']);
    now += 1_000 * MIN;
    assert.equal((await cache.get()).accessKeyId, 'A');
    assert.equal(calls.length, 1);
  });

  it('reuses credentials until the refresh window, then refreshes once in the background', async () => {
    let now = 0;
    const { provider, calls } = gatedProvider();
    const cache = new CredentialCache(provider, { name: 'b', now: () => now });
    const first = cache.get();
    calls[0]?.resolve(creds('A', 60 * MIN));
    assert.equal((await first).accessKeyId, 'A');
    now = 60 * MIN - REFRESH_BEFORE_EXPIRY_MS - 1;
    assert.equal((await cache.get()).accessKeyId, 'A');
    assert.equal(calls.length, 1, 'outside the window: no refresh');
    now += 2;
    // Inside the window: callers get A at once while one refresh runs.
    const during = await Promise.all([cache.get(), cache.get(), cache.get()]);
    assert.deepEqual(during.map((c) => c.accessKeyId), ['A', 'A', 'A']);
    assert.equal(calls.length, 2, 'one refresh for every caller');
    calls[1]?.resolve(creds('B', 120 * MIN));
    await calls[1]?.promise;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await cache.get()).accessKeyId, 'B');
    assert.equal(calls.length, 2);
  });

  it('credentials about to expire make callers wait for the (shared) refresh', async () => {
    let now = 0;
    const { provider, calls } = gatedProvider();
    const cache = new CredentialCache(provider, { name: 'b', now: () => now });
    const first = cache.get();
    calls[0]?.resolve(creds('A', 10 * MIN));
    await first;
    now = 10 * MIN - HARD_EXPIRY_MARGIN_MS;
    let settled = false;
    const waiting = Promise.all([cache.get(), cache.get()]).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'waits for the refresh');
    assert.equal(calls.length, 2);
    calls[1]?.resolve(creds('B', 70 * MIN));
    assert.deepEqual((await waiting).map((c) => c.accessKeyId), ['B', 'B']);
  });

  it('a failed background refresh keeps the old credentials and is retried later, not on every call', async () => {
    let now = 0;
    const { provider, calls } = gatedProvider();
    const cache = new CredentialCache(provider, { name: 'b', now: () => now });
    const first = cache.get();
    calls[0]?.resolve(creds('A', 10 * MIN));
    await first;
    now = 10 * MIN - 4 * MIN;
    assert.equal((await cache.get()).accessKeyId, 'A');
    calls[1]?.reject(new Error('sts down'));
    await calls[1]?.promise.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await cache.get()).accessKeyId, 'A', 'still valid: still used');
    assert.equal(calls.length, 2, 'no retry before the back-off');
    now += RETRY_AFTER_FAILURE_MS;
    assert.equal((await cache.get()).accessKeyId, 'A');
    assert.equal(calls.length, 3, 'retried after the back-off');
    calls[2]?.resolve(creds('B', 70 * MIN));
  });

  it('with nothing valid left, a provider failure rejects as BACKEND_ERROR; the next call tries again', async () => {
    const { provider, calls } = gatedProvider();
    const cache = new CredentialCache(provider, { name: 'b1' });
    const p = cache.get();
    calls[0]?.reject(new Error('no credentials in the chain'));
    await assert.rejects(p, (err: unknown) => hasCode(err, 'BACKEND_ERROR') && /b1: could not load credentials: no credentials/.test((err as Error).message));
    const q = cache.get();
    assert.equal(calls.length, 2);
    calls[1]?.resolve(creds('A'));
    assert.equal((await q).accessKeyId, 'A');
  });

  it('a provider answer without keys is refused', async () => {
    const cache = new CredentialCache(async () => ({}) as S3Credentials, { name: 'b' });
    await assert.rejects(cache.get(), (err: unknown) => hasCode(err, 'BACKEND_ERROR'));
  });
});
