/**
 * PostgresMetadataStore imports pg on first need. A store closed before its pool was ever built
 * closes at once and refuses calls; one whose first call fails to connect still answers
 * DB_UNAVAILABLE (port 1 on loopback: nothing listens there) and closes cleanly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PostgresMetadataStore } from '../../src/stores/postgres-store.js';
import { hasCode } from '../../src/errors.js';

const URL = 'postgres://u:p@127.0.0.1:1/db';

describe('PostgresMetadataStore, pg loaded on first need', () => {
  it('closed before any call: close resolves and later calls answer DB_UNAVAILABLE', async () => {
    const store = new PostgresMetadataStore({ url: URL, statementTimeoutMs: 1_000 });
    await store.close();
    await store.close();
    await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE') && /closed/.test((err as Error).message));
  });

  it('a first call that cannot connect is DB_UNAVAILABLE, and the store then closes', async () => {
    const store = new PostgresMetadataStore({ url: URL, statementTimeoutMs: 1_000 });
    await assert.rejects(store.getAllObjectLocations('k'), (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
    await store.close();
  });

  it('closed while pg may still be loading: the call in flight and the close both settle', async () => {
    const store = new PostgresMetadataStore({ url: URL, statementTimeoutMs: 1_000 });
    const call = store.getAllObjectLocations('k');
    await store.close();
    await assert.rejects(call, (err: unknown) => hasCode(err, 'DB_UNAVAILABLE'));
  });
});
