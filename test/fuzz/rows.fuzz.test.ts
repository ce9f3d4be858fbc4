/**
 * Broken location rows in a real SQLite database (inserted behind readpath's back with
 * better-sqlite3, as another writer or an old upstream version could leave them): unknown
 * backends, malformed hashes, dates, sizes and flags. Each broken key gets a coded error naming
 * what was wrong — in `get` and in `readMany` outcomes alike — and the good keys read in the
 * same batch are unaffected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ReadPath, type BatchOutcome } from '../../src/read-path.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { fcParams } from '../helpers/property-params.js';

let dir: string;
let rp: ReadPath;
let db: Database.Database;
const backends = ['b1', 'b2', 'b3'].map((n) => new MemoryBackend(n));
const GOOD_AT = '2026-01-01T00:00:00.000Z';

/** One column's damage and the words the error must hold (besides the key). */
interface Damage {
  column: string;
  value: unknown;
  code: string;
  words: RegExp;
}

const DAMAGES: Damage[] = [
  { column: 'backend_name', value: 'ghost', code: 'BACKEND_NOT_FOUND', words: /ghost/ },
  { column: 'backend_name', value: '', code: 'METADATA_ERROR', words: /backend_name/ },
  { column: 'content_hash', value: 'not-a-hash', code: 'METADATA_ERROR', words: /content_hash/ },
  { column: 'content_hash', value: 'a'.repeat(63), code: 'METADATA_ERROR', words: /content_hash/ },
  { column: 'content_hash', value: 'g'.repeat(64), code: 'METADATA_ERROR', words: /content_hash/ },
  { column: 'content_hash', value: 12345, code: 'METADATA_ERROR', words: /content_hash/ },
  { column: 'content_hash', value: Buffer.from('abc'), code: 'METADATA_ERROR', words: /content_hash/ },
  { column: 'content_hash', value: 'b'.repeat(64), code: 'INTEGRITY_MISMATCH', words: /hash/ },
  { column: 'created_at', value: 'yesterday', code: 'METADATA_ERROR', words: /created_at/ },
  { column: 'created_at', value: '2026-13-01T00:00:00Z', code: 'METADATA_ERROR', words: /created_at/ },
  { column: 'created_at', value: '2026-02-30 10:00:00', code: 'METADATA_ERROR', words: /created_at/ },
  { column: 'created_at', value: '', code: 'METADATA_ERROR', words: /created_at/ },
  { column: 'created_at', value: 1.5, code: 'METADATA_ERROR', words: /created_at/ },
  { column: 'size_bytes', value: -1, code: 'METADATA_ERROR', words: /size_bytes/ },
  { column: 'size_bytes', value: 1.5, code: 'METADATA_ERROR', words: /size_bytes/ },
  { column: 'size_bytes', value: 'ten', code: 'METADATA_ERROR', words: /size_bytes/ },
  { column: 'encrypted', value: 2, code: 'METADATA_ERROR', words: /encrypted/ },
  { column: 'encrypted', value: 'yes', code: 'METADATA_ERROR', words: /encrypted/ },
  { column: 'plaintext_size', value: -5, code: 'METADATA_ERROR', words: /plaintext_size/ },
  { column: 'key_id', value: Buffer.from([1, 2]), code: 'METADATA_ERROR', words: /key_id/ },
  { column: 'encryption_key', value: 'text, not bytes', code: 'METADATA_ERROR', words: /encryption_key/ },
];

const COLUMNS = ['object_key', 'backend_name', 'size_bytes', 'encrypted', 'encryption_key', 'key_id', 'plaintext_size', 'content_hash', 'created_at'];

function insertRow(row: Record<string, unknown>): void {
  db.prepare(`INSERT OR REPLACE INTO object_locations (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`)
    .run(...COLUMNS.map((c) => row[c] ?? null));
}

let n = 0;
/** Seed a good object on b1 (and its row), returning its key and row. */
function goodObject(prefix: string): { key: string; row: Record<string, unknown> } {
  const key = `${prefix}/${++n}`;
  const body = new TextEncoder().encode(`body of ${key}`);
  for (const b of backends) b.put(key, body);
  const row = {
    object_key: key, backend_name: 'b1', size_bytes: body.length, encrypted: 0, encryption_key: null, key_id: null,
    plaintext_size: null, content_hash: sha256Hex(body), created_at: GOOD_AT,
  };
  insertRow(row);
  return { key, row };
}

/** Damage `key`'s only row. */
function damage(key: string, row: Record<string, unknown>, d: Damage): void {
  db.prepare('DELETE FROM object_locations WHERE object_key = ?').run(key);
  insertRow({ ...row, [d.column]: d.value });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'readpath-rows-'));
  rp = await ReadPath.open({
    backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
    database: { driver: 'sqlite', path: join(dir, 'meta.db') },
    runtime: { mode: 'inline' },
    logging: { level: 'silent' },
  }, { backends });
  db = new Database(join(dir, 'meta.db'));
});

after(async () => {
  db?.close();
  await rp?.close();
  rmSync(dir, { recursive: true, force: true });
});

function judge(key: string, d: Damage, e: { code: string; message: string }): void {
  assert.equal(e.code, d.code, `${d.column}=${String(d.value)}: ${e.code}: ${e.message}`);
  assert.match(e.message, d.words, `${d.column}=${String(d.value)}: the message names what was wrong: ${e.message}`);
  if (d.code === 'METADATA_ERROR') assert.ok(e.message.includes(key), `the message names the key: ${e.message}`);
}

test('each kind of broken row: get rejects with a coded error naming the column, the key and what is wrong', async () => {
  for (const d of DAMAGES) {
    const { key, row } = goodObject('get');
    assert.equal((await rp.get(key)).verified, true);
    damage(key, row, d);
    const err = await rp.get(key).then(() => undefined, (e: unknown) => e as { code: string; message: string });
    assert.ok(err !== undefined, `${d.column}=${String(d.value)} was read as if fine`);
    judge(key, d, err);
  }
});

test('random batches mixing broken and good rows: one outcome per key, each broken key its coded error, good keys unaffected', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.option(fc.constantFrom(...DAMAGES), { nil: undefined, freq: 2 }), { minLength: 1, maxLength: 25 }),
    fc.integer({ min: 1, max: 8 }),
    async (plan, concurrency) => {
      const keys = plan.map((d) => {
        const { key, row } = goodObject('batch');
        if (d !== undefined) damage(key, row, d);
        return { key, d };
      });
      const outcomes = new Map<string, BatchOutcome>();
      for await (const o of rp.readMany(keys.map((k) => k.key), { concurrency })) {
        assert.ok(!outcomes.has(o.key), `two outcomes for ${o.key}`);
        outcomes.set(o.key, o);
      }
      assert.equal(outcomes.size, keys.length);
      for (const { key, d } of keys) {
        const o = outcomes.get(key) as BatchOutcome;
        if (d === undefined) {
          assert.ok(o.ok, `good key ${key} failed next to broken ones: ${o.ok ? '' : o.error.message}`);
          continue;
        }
        assert.equal(o.ok, false, `${d.column}=${String(d.value)} was read as if fine`);
        if (!o.ok) judge(key, d, o.error);
      }
    },
  ), fcParams(60));
});
