/** The documented transform example, called directly: gunzip (when gzipped) + NDJSON parse. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { loadTransform, transformUrl, type TransformInfo } from '../../src/probe/transform.js';

const info: TransformInfo = { key: 'logs/a.ndjson.gz', backend: 'b1', size: 0, verified: true };
const url = transformUrl('examples/transforms/gunzip-ndjson.mjs');

test('gunzip-ndjson parses gzipped and plain NDJSON, skipping blank lines', async () => {
  const fn = await loadTransform(url);
  const text = '{"id":1}\n\n{"id":2,"tags":["a"]}\n';
  assert.deepEqual(fn(new Uint8Array(gzipSync(text)), info), [{ id: 1 }, { id: 2, tags: ['a'] }]);
  assert.deepEqual(fn(new TextEncoder().encode(text), info), [{ id: 1 }, { id: 2, tags: ['a'] }]);
  assert.deepEqual(fn(new Uint8Array(0), info), []);
});

test('gunzip-ndjson names the key and line of a bad record; corrupt gzip throws zlib\'s error', async () => {
  const fn = await loadTransform(url);
  assert.throws(() => fn(new TextEncoder().encode('{"ok":1}\n{nope}\n'), info), /logs\/a\.ndjson\.gz: NDJSON line 2: /);
  const gz = gzipSync('{"a":1}\n');
  gz[gz.length - 5] = (gz[gz.length - 5] as number) ^ 0xff;
  assert.throws(() => fn(new Uint8Array(gz), info));
});

test('transformUrl resolves relative paths against the cwd and keeps file: URLs', () => {
  assert.equal(transformUrl('/abs/t.mjs'), 'file:///abs/t.mjs');
  assert.equal(transformUrl('file:///x/y.mjs'), 'file:///x/y.mjs');
  assert.ok(url.startsWith('file:///') && url.endsWith('/examples/transforms/gunzip-ndjson.mjs'));
  assert.throws(() => transformUrl(''), { code: 'INVALID_CONFIG' });
});
