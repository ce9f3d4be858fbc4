/**
 * What both stores must answer for upstream rows with a NULL created_at, seeded the same way in
 * each store's test: `mixed` (b1 NULL, b2 at 00:00:07, b3 at 00:00:06 on 2024-01-01), `undated`
 * (b3 and b2 NULL) and `alone` (b1 NULL), sizes 1–3 by backend.
 */
import assert from 'node:assert/strict';
import type { MetadataStore, ObjectLocation } from '../../src/types.js';

const EXPECTED = {
  mixed: [['b3', '2024-01-01T00:00:06.000Z'], ['b2', '2024-01-01T00:00:07.000Z'], ['b1', '2024-01-01T00:00:07.000Z']],
  undated: [['b2', '1970-01-01T00:00:00.000Z'], ['b3', '1970-01-01T00:00:00.000Z']],
  alone: [['b1', '1970-01-01T00:00:00.000Z']],
};

const copies = (rows: ObjectLocation[]): string[][] => rows.map((r) => [r.backendName, r.createdAt.toISOString()]);

/**
 * An undated copy comes after the dated ones, at the newest one's time (the epoch when none is
 * dated), in lookups alone and together, and a listing describes the copy a lookup tries first.
 */
export async function assertUndatedCopies(store: Pick<MetadataStore, 'getAllObjectLocations' | 'listKeys'>): Promise<void> {
  for (const [key, want] of Object.entries(EXPECTED)) assert.deepEqual(copies(await store.getAllObjectLocations(key)), want, key);
  const together = await Promise.all(Object.keys(EXPECTED).map((k) => store.getAllObjectLocations(k)));
  assert.deepEqual(together.map(copies), Object.values(EXPECTED));
  assert.ok(store.listKeys !== undefined);
  assert.deepEqual((await store.listKeys({ limit: 10 })).map((o) => [o.key, o.size, o.lastModified.toISOString()]), [
    ['alone', 1, '1970-01-01T00:00:00.000Z'],
    ['mixed', 3, '2024-01-01T00:00:06.000Z'],
    ['undated', 2, '1970-01-01T00:00:00.000Z'],
  ]);
}
