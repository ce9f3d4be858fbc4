/**
 * Bad keys, and random key lists through readMany. Valid and invalid keys, duplicates,
 * non-strings a JavaScript caller might pass, keys of exactly 1088 and 1089 UTF-8 bytes (the longest
 * `{bucket}/{key}`: a 1024-byte S3 key in a 63-byte bucket), lone
 * surrogates — over chaos backends with faulty copies. Every input item gets exactly one
 * outcome; an invalid key is INVALID_KEY naming its problem and costs no backend call; valid
 * keys get what their copies make possible, whatever sits next to them in the list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { BatchOutcome } from '../../src/read-path.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import {
  bodyOf, chaosPlan, copyFault, expectations, hashOf, keyIndex, keyName, replicas, type ChaosPlan,
} from '../helpers/chaos-backends.js';
import { chaosExecutors, openChaosReader, type ChaosReader } from '../helpers/chaos-reader.js';
import { fcParams } from '../helpers/property-params.js';

const SEEDED = 40;

/** Keys that must be INVALID_KEY, with the words their message must hold. */
const INVALID: [unknown, RegExp][] = [
  ['', /empty/],
  ['a\u0000b', /NUL/],
  ['\u0000', /NUL/],
  ['x'.repeat(1089), /1089 UTF-8 bytes, over the 1088-byte limit/],
  ['é'.repeat(545), /1090 UTF-8 bytes/],
  ['€'.repeat(363), /1089 UTF-8 bytes/],
  ['\uD800', /surrogate/],
  ['a\uDC00b', /surrogate/],
  ['\uDBFF\uDBFF\uDFFF', /surrogate/],
  [42, /string/],
  [null, /string/],
  [undefined, /string/],
  [{ toString: () => 'chaos/0/obj 0-é' }, /string/],
];

function storeFor(plan: ChaosPlan): MemoryMetadataStore {
  const store = new MemoryMetadataStore();
  for (let i = 0; i < plan.keys; i++) {
    replicas(plan, i).forEach((b, j) => store.add({
      objectKey: keyName(i), backendName: b, sizeBytes: bodyOf(plan, i).byteLength, createdAt: new Date(1_700_000_000_000 + j), encrypted: false, contentHash: hashOf(plan, i),
    }));
  }
  return store;
}

/** Input items: seeded keys (readable or not), unseeded valid keys, invalid keys, non-strings. */
const itemArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: SEEDED - 1 }).map(keyName) },
  { weight: 2, arbitrary: fc.integer({ min: SEEDED, max: 10_000 }).map(keyName) },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID.map(([k]) => k)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1080, maxLength: 1095 }) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(1088), 'é'.repeat(544), '😀'.repeat(272), '😀'.repeat(272) + 'x', 'x'.repeat(1025)) },
);

function problemOf(k: unknown): 'invalid' | 'valid' {
  if (typeof k !== 'string' || k === '' || k.includes('\0')) return 'invalid';
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(k)) return 'invalid';
  return Buffer.byteLength(k, 'utf8') > 1088 ? 'invalid' : 'valid';
}

/** A valid key's outcome: what its copies make possible. */
function judgeValid(plan: ChaosPlan, k: string, o: BatchOutcome, op: 'get' | 'head'): void {
  const i = keyIndex(k);
  if (i < 0 || i >= SEEDED) {
    assert.equal(o.ok, false);
    if (!o.ok) assert.equal(o.error.code, 'OBJECT_NOT_FOUND', `${k}: not stored`);
    return;
  }
  const e = expectations(plan, i);
  if (e.good) assert.equal(o.ok, true, `${k} has a good copy: ${o.ok ? '' : o.error.code}`);
  if (o.ok && op === 'get') {
    const body = (o as { body: Uint8Array }).body;
    assert.equal(createHash('sha256').update(body).digest('hex'), hashOf(plan, i), `${k}: body matches its hash`);
  }
  if (!o.ok) {
    assert.ok(['BACKEND_ERROR', 'INTEGRITY_MISMATCH'].includes(o.error.code), `${k}: ${o.error.code}`);
    if (op === 'get') assert.equal(e.good, false);
    else assert.ok(replicas(plan, i).every((b) => !['none', 'latency', 'corrupt', 'truncate'].includes(copyFault(plan, b, i))), `${k}: HEAD needs no body`);
  }
}

for (const kind of chaosExecutors()) describe(`${kind} executor`, () => {
  let rp: ChaosReader;
  const plan = chaosPlan({
    keys: SEEDED, seed: 0x4e75, faultRate: 0.35,
    faults: [['status503', 1], ['reset', 1], ['truncate', 1], ['corrupt', 1], ['missing', 1]],
  });

  before(async () => {
    rp = await openChaosReader(kind, {
      backends: plan.names.map((name) => ({ name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' })),
      database: { driver: 'memory' },
      logging: { level: 'silent' },
    }, plan, storeFor(plan));
  });
  after(() => rp.close());

  test(`(${kind}) each invalid key is INVALID_KEY naming its problem, from get, head and readMany`, async () => {
    for (const [k, words] of INVALID) {
      await assert.rejects(rp.get(k as string), (e: { code: string; message: string; httpStatus: number }) => {
        assert.equal(e.code, 'INVALID_KEY');
        assert.equal(e.httpStatus, 400);
        assert.match(e.message, words);
        return true;
      });
      await assert.rejects(rp.head(k as string), { code: 'INVALID_KEY' });
    }
    // 1088 bytes exactly is a valid key (not stored here: OBJECT_NOT_FOUND, not INVALID_KEY).
    await assert.rejects(rp.get('é'.repeat(544)), { code: 'OBJECT_NOT_FOUND' });
    const out: BatchOutcome[] = [];
    for await (const o of rp.readMany(INVALID.map(([k]) => k) as string[], { concurrency: 3 })) out.push(o);
    assert.equal(out.length, INVALID.length);
    for (const o of out) {
      assert.equal(o.ok, false);
      if (!o.ok) assert.equal(o.error.code, 'INVALID_KEY');
    }
  });

  test(`(${kind}) random key lists through readMany: one outcome per item, invalid keys isolated, valid keys unaffected`, async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(itemArb, { maxLength: 60 }),
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom<'get' | 'head'>('get', 'head'),
      async (items, concurrency, op) => {
        const outcomes: BatchOutcome[] = [];
        for await (const o of rp.readMany(items as string[], { concurrency, op })) outcomes.push(o);
        assert.equal(outcomes.length, items.length, 'exactly one outcome per input item');
        // The outcome keys are the input items (as strings), as a multiset.
        const want = items.map((k) => (typeof k === 'string' ? k : String(k))).sort();
        assert.deepEqual(outcomes.map((o) => o.key).sort(), want);
        // Items that print the same (42 and '42') share a string: judge each group as a multiset.
        const groups = new Map<string, { invalid: number; valid: number; outcomes: BatchOutcome[] }>();
        const group = (s: string) => {
          let g = groups.get(s);
          if (g === undefined) groups.set(s, (g = { invalid: 0, valid: 0, outcomes: [] }));
          return g;
        };
        for (const k of items) {
          const g = group(typeof k === 'string' ? k : String(k));
          if (typeof k !== 'string' || problemOf(k) === 'invalid') g.invalid++;
          else g.valid++;
        }
        for (const o of outcomes) group(o.key).outcomes.push(o);
        for (const [k, g] of groups) {
          const invalid = g.outcomes.filter((o) => !o.ok && o.error.code === 'INVALID_KEY');
          assert.equal(invalid.length, g.invalid, `${JSON.stringify(k.slice(0, 40))}: INVALID_KEY exactly for the invalid items`);
          for (const o of g.outcomes) {
            if (!o.ok && o.error.code === 'INVALID_KEY') continue;
            judgeValid(plan, k, o, op);
          }
        }
      },
    ), fcParams(120));
  });
});
