import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { objectSizeOf, parseTimestamp, sortCopies, toObjectLocation, toObjectTags, rowTimestamp, undatedTimestamp, type RawLocationRow } from '../../src/stores/row-mapping.js';
import { taggingXml } from '../../src/gateway/s3-xml.js';
import { hasCode } from '../../src/errors.js';

const iso = (s: string): string | undefined => parseTimestamp(s)?.date.toISOString();

describe('parseTimestamp', () => {
  it('parses the layouts s3-orchestrator databases hold', () => {
    assert.equal(iso('2024-03-01T10:20:30.123Z'), '2024-03-01T10:20:30.123Z'); // strftime default / toISOString
    assert.equal(iso('2024-03-01T10:20:30Z'), '2024-03-01T10:20:30.000Z'); // RFC3339Nano, no fraction
    assert.equal(iso('2024-03-01T10:20:30.5Z'), '2024-03-01T10:20:30.500Z'); // RFC3339Nano, trimmed
    assert.equal(iso('2024-03-01T10:20:30.123456789Z'), '2024-03-01T10:20:30.123Z');
    assert.equal(iso('2024-03-01T12:20:30+02:00'), '2024-03-01T10:20:30.000Z');
    assert.equal(iso('2024-03-01T05:50:30-0430'), '2024-03-01T10:20:30.000Z');
    assert.equal(iso('2024-03-01 10:20:30'), '2024-03-01T10:20:30.000Z'); // CURRENT_TIMESTAMP: UTC
    assert.equal(iso('2024-03-01 10:20:30.25+00'), '2024-03-01T10:20:30.250Z'); // PostgreSQL text
    assert.equal(iso('2024-03-01 10:20:30.123456789 +0000 UTC'), '2024-03-01T10:20:30.123Z'); // Go time.String()
    assert.equal(iso('2024-03-01 11:20:30 +0100 CET m=+0.001'), '2024-03-01T10:20:30.000Z');
    assert.equal(iso('2024-03-01'), '2024-03-01T00:00:00.000Z');
    assert.equal(iso('2024-03-01 10:20'), '2024-03-01T10:20:00.000Z'); // SQLite's HH:MM form
    assert.equal(iso('2024-02-29T00:00:00.000Z'), '2024-02-29T00:00:00.000Z');
    assert.equal(iso('0099-01-01T00:00:00.000Z'), '0099-01-01T00:00:00.000Z'); // not 1999
  });

  it('keeps the nanoseconds below the millisecond for ordering', () => {
    assert.equal(parseTimestamp('2024-03-01T10:20:30.123456789Z')?.subMillisNanos, 456789);
    assert.equal(parseTimestamp('2024-03-01T10:20:30.1234Z')?.subMillisNanos, 400000);
  });

  it('rejects malformed and out-of-range timestamps', () => {
    for (const s of [
      '', 'yesterday', '2024-3-1', '2024-03-01T10', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z', '2023-02-29T00:00:00.000Z',
      '2024-04-31T00:00:00Z', '2024-03-01T24:00:00.000Z', '2024-03-01T23:60:00Z', '2024-03-01T23:59:60Z',
      '2024-03-01T10:20:30.1234567890Z', '2024-03-01T10:20:30+25:00', '2024-03-01T10:20:30 junk', '1709288430',
    ]) {
      assert.equal(parseTimestamp(s), undefined, s);
    }
  });
});

describe('toObjectLocation', () => {
  const base: RawLocationRow = {
    object_key: 'k', backend_name: 'b1', size_bytes: '12', encrypted: 0, encryption_key: null,
    key_id: null, plaintext_size: null, content_hash: '', created_at: '2024-03-01T00:00:00Z',
  };
  const map = (r: Partial<RawLocationRow>) => {
    const row = { ...base, ...r };
    return toObjectLocation('k', row, rowTimestamp('k', row.backend_name, row.created_at) ?? undatedTimestamp(undefined));
  };

  it('maps driver values: BIGINT strings, 0/1 booleans, empty hash as none, Buffers copied to Uint8Array', () => {
    const key = Buffer.from([1, 2, 3]);
    const l = map({ encrypted: 1, encryption_key: key, plaintext_size: 5n });
    assert.equal(l.sizeBytes, 12);
    assert.equal(l.encrypted, true);
    assert.equal(l.contentHash, null);
    assert.equal(l.plaintextSize, 5);
    assert.equal(Object.getPrototypeOf(l.encryptionKey), Uint8Array.prototype);
    key[0] = 9;
    assert.deepEqual([...(l.encryptionKey as Uint8Array)], [1, 2, 3], 'a copy, not a view');
    assert.equal(map({ created_at: new Date(5) }).createdAt.getTime(), 5);
  });

  it('storage_key: kept when the bytes are elsewhere; absent when NULL, empty (not yet backfilled) or the key itself', () => {
    assert.equal(map({ storage_key: 'k!01JB7Q' }).storageKey, 'k!01JB7Q');
    for (const v of [null, undefined, '', 'k']) assert.equal('storageKey' in map({ storage_key: v }), false, String(v));
  });

  it('compression columns: kept for a compressed copy (its object size the logical one); none when NULL or empty', () => {
    const z = map({ compression_algorithm: 'zstd', logical_size: '1000', compression_format_version: 1 });
    assert.deepEqual([z.compression, z.logicalSize, z.compressionVersion, z.sizeBytes], ['zstd', 1000, 1, 12]);
    assert.equal(objectSizeOf(z), 1000);
    assert.equal(map({ compression_algorithm: 'zstd', logical_size: 30, compression_format_version: null }).compressionVersion, null);
    for (const v of [null, undefined, '']) {
      const l = map({ compression_algorithm: v, logical_size: 99 });
      assert.equal('compression' in l, false, String(v));
      assert.equal(objectSizeOf(l), 12);
    }
    // Encrypted and compressed: the object is the logical size, not the (compressed) plaintext's.
    assert.equal(objectSizeOf(map({ encrypted: 1, plaintext_size: 20, compression_algorithm: 'zstd', logical_size: 50 })), 50);
    assert.equal(objectSizeOf(map({ encrypted: 1, plaintext_size: 20 })), 20);
  });

  it('object identity: the row\'s ETag (quoted as S3 sends it) and Content-Type; NULL or empty is unknown', () => {
    const l = map({ etag: '"9e107d9d372bb6826bd81d3542a419d6"', content_type: 'application/x-ndjson' });
    assert.deepEqual([l.etag, l.contentType], ['"9e107d9d372bb6826bd81d3542a419d6"', 'application/x-ndjson']);
    assert.equal(map({ etag: '9e107d9d372bb6826bd81d3542a419d6-3' }).etag, '"9e107d9d372bb6826bd81d3542a419d6-3"');
    for (const v of [null, undefined, '']) {
      const u = map({ etag: v, content_type: v });
      assert.deepEqual(['etag' in u, 'contentType' in u], [false, false], String(v));
    }
  });

  it('user_metadata: a JSON object of strings as TEXT, a BLOB or parsed JSONB; NULL, empty and JSON null are never recorded', () => {
    const want = { owner: 'team-a', 'mtime': '1767225600.5', 'ünï': 'cödé' };
    assert.deepEqual(map({ user_metadata: JSON.stringify(want) }).userMetadata, want);
    assert.deepEqual(map({ user_metadata: Buffer.from(JSON.stringify(want)) }).userMetadata, want);
    assert.deepEqual(map({ user_metadata: { ...want } }).userMetadata, want);
    assert.deepEqual(map({ user_metadata: '{}' }).userMetadata, {}, '{}: carries none (an answer in itself)');
    for (const v of [null, undefined, '', 'null', Buffer.alloc(0)]) assert.equal('userMetadata' in map({ user_metadata: v }), false, String(v));
  });

  it('tag_count: the object\'s tags, counted with the lookup (pg: a BIGINT string); none when 0 or no table', () => {
    assert.equal(map({ tag_count: '3' }).tagCount, 3);
    assert.equal(map({ tag_count: 2 }).tagCount, 2);
    for (const v of [0, '0', null, undefined]) assert.equal('tagCount' in map({ tag_count: v }), false, String(v));
  });

  it('names key, backend and column of a bad value', () => {
    const bad = (r: Partial<RawLocationRow>, column: string): void => {
      assert.throws(() => map(r), (err: unknown) => {
        assert.ok(hasCode(err, 'METADATA_ERROR'));
        assert.match((err as Error).message, new RegExp(`key "k".*column ${column}`));
        return true;
      });
    };
    bad({ size_bytes: -1 }, 'size_bytes');
    bad({ size_bytes: '9007199254740993' }, 'size_bytes');
    bad({ size_bytes: null }, 'size_bytes');
    bad({ encrypted: 'yes' }, 'encrypted');
    bad({ encryption_key: 'aGk=' }, 'encryption_key');
    bad({ content_hash: 'g'.repeat(64) }, 'content_hash');
    bad({ content_hash: 'a'.repeat(63) }, 'content_hash');
    bad({ key_id: 7 }, 'key_id');
    bad({ plaintext_size: 1.5 }, 'plaintext_size');
    bad({ created_at: new Date(NaN) }, 'created_at');
    bad({ created_at: Infinity }, 'created_at');
    bad({ created_at: 1709288430 }, 'created_at');
    bad({ backend_name: '' }, 'backend_name');
    bad({ storage_key: 42 }, 'storage_key');
    bad({ storage_key: 'x'.repeat(4097) }, 'storage_key');
    bad({ compression_algorithm: 3 }, 'compression_algorithm');
    bad({ compression_algorithm: 'zstd', logical_size: null }, 'logical_size');
    bad({ compression_algorithm: 'zstd', logical_size: -4 }, 'logical_size');
    bad({ compression_algorithm: 'zstd', logical_size: 4, compression_format_version: 'one' }, 'compression_format_version');
    bad({ etag: 42 }, 'etag');
    bad({ etag: '"abc"\r\nx-injected: 1' }, 'etag');
    bad({ content_type: 'text/plain\n' }, 'content_type');
    bad({ user_metadata: '{"owner":' }, 'user_metadata');
    bad({ user_metadata: '["a"]' }, 'user_metadata');
    bad({ user_metadata: '"text"' }, 'user_metadata');
    bad({ user_metadata: '{"n":1}' }, 'user_metadata');
    bad({ user_metadata: { n: null } }, 'user_metadata');
    bad({ user_metadata: 7 }, 'user_metadata');
    bad({ tag_count: -1 }, 'tag_count');
  });
});

describe('object tags', () => {
  it('toObjectTags: text keys and values (empty values are values); anything else names the column', () => {
    assert.deepEqual(toObjectTags('k', [['a', '1'], ['b', '']]), [{ key: 'a', value: '1' }, { key: 'b', value: '' }]);
    for (const [row, column] of [[['', 'v'], 'tag_key'], [[null, 'v'], 'tag_key'], [['a', null], 'tag_value'], [['a', Buffer.from('v')], 'tag_value'], [['a', 3], 'tag_value']] as const) {
      assert.throws(() => toObjectTags('k', [row]), (e: unknown) => hasCode(e, 'METADATA_ERROR') && new RegExp(`key "k": column ${column}`).test(String(e)), JSON.stringify(row));
    }
  });

  it('taggingXml: every tag in order, escaped; an empty set is <TagSet/>', () => {
    assert.match(taggingXml([]), /<Tagging xmlns="[^"]+"><TagSet\/><\/Tagging>$/);
    const x = taggingXml([{ key: 'a&b', value: '<v>' }, { key: 'z', value: '' }]);
    assert.match(x, /<TagSet><Tag><Key>a&amp;b<\/Key><Value>&lt;v&gt;<\/Value><\/Tag><Tag><Key>z<\/Key><Value><\/Value><\/Tag><\/TagSet>/);
  });
});

describe('sortCopies', () => {
  it('orders copies by instant, then sub-millisecond nanoseconds, NULL last, ties by backend name in UTF-8 byte order', () => {
    // Few distinct instants and names, so ties are common; lengths on both sides of the insertion-sort bound.
    const copy = fc.record({
      t: fc.option(fc.record({ ms: fc.integer({ min: 0, max: 3 }), ns: fc.integer({ min: 0, max: 2 }) }), { nil: null }),
      backend: fc.constantFrom('b1', 'b2', 'B1', 'é', '\u{1F600}', '\uFFFD'),
    });
    const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
    fc.assert(fc.property(fc.array(copy, { maxLength: 14 }), (specs) => {
      const rows = specs.map((x, i) => ({ i, backend: x.backend, t: x.t === null ? null : { date: new Date(x.t.ms), subMillisNanos: x.t.ns } }));
      const key = (r: (typeof rows)[number]): number => (r.t === null ? Number.POSITIVE_INFINITY : r.t.date.getTime() * 1e6 + r.t.subMillisNanos);
      const sorted = sortCopies([...rows]);
      for (let j = 1; j < sorted.length; j++) {
        const a = sorted[j - 1] as (typeof rows)[number];
        const b = sorted[j] as (typeof rows)[number];
        const ka = key(a);
        const kb = key(b);
        assert.ok(ka < kb || (ka === kb && Buffer.compare(bytes(a.backend), bytes(b.backend)) <= 0), JSON.stringify([a, b]));
      }
      assert.deepEqual(sorted.map((r) => r.i).sort((x, y) => x - y), rows.map((r) => r.i));
    }), { numRuns: 2000 });
  });
});

describe('rowTimestamp and undatedTimestamp', () => {
  it('reads a NULL created_at as an undated copy, given the newest dated copy\'s time, else the epoch', () => {
    assert.equal(rowTimestamp('k', 'b1', null), null);
    assert.equal(rowTimestamp('k', 'b1', undefined), null);
    assert.equal(undatedTimestamp(undefined).date.toISOString(), '1970-01-01T00:00:00.000Z');
    const newest = { date: new Date('2024-01-01T00:00:05.123Z'), subMillisNanos: 456 };
    const t = undatedTimestamp(newest);
    assert.deepEqual([t.date.toISOString(), t.subMillisNanos], ['2024-01-01T00:00:05.123Z', 456]);
    assert.notEqual(t.date, newest.date, 'a Date of its own: callers may modify what they are given');
  });
});
