/**
 * `batch --shard I/N`: the hash (the first 8 bytes of SHA-256 over UTF-8, checked against fixed
 * values and a BigInt reference), parsing, the shard-aware key count, and usage errors through
 * runCli.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { runCli } from '../../src/cli/program.js';
import { countKeys, isOverlong, openKeyFile } from '../../src/cli/key-source.js';
import { MAX_SHARDS, parseShard, shardHashHex, shardOf } from '../../src/cli/shard.js';
import { captured } from '../helpers/captured-io.js';

function reference(key: string): bigint {
  return createHash('sha256').update(Buffer.from(key, 'utf8')).digest().readBigUInt64BE(0);
}

describe('--shard I/N', () => {
  let tmp: string;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-shard-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });

  it('hashes the first 8 bytes of SHA-256 over the UTF-8 bytes (fixed values: stable across versions)', () => {
    // sha256("") = e3b0c44298fc1c14..., sha256("abc") = ba7816bf8f01cfea...
    assert.equal(shardHashHex(''), 'e3b0c44298fc1c14');
    assert.equal(shardHashHex('abc'), 'ba7816bf8f01cfea');
    assert.equal(shardOf('abc', 7), Number(0xba7816bf8f01cfean % 7n));
    assert.equal(shardOf('ключ/ü 🎉', 1000), Number(reference('ключ/ü 🎉') % 1000n));
  });

  it('agrees with a BigInt reference for any key and any N', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 1, max: MAX_SHARDS }), (key, n) => {
      assert.equal(shardOf(key, n), Number(reference(key) % BigInt(n)));
    }), { numRuns: 2000 });
  });

  it('spreads structured keys evenly over power-of-two shard counts too', () => {
    // Keys whose digits change together: FNV-1a mod 2^k would put all of them in one half.
    for (const n of [2, 8]) {
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < 8000; i++) {
        const s = shardOf(`4k/${String(i % 100).padStart(2, '0')}/${String(i).padStart(6, '0')}.bin`, n);
        counts[s] = (counts[s] ?? 0) + 1;
      }
      for (const c of counts) assert.ok(Math.abs(c - 8000 / n) < (8000 / n) * 0.15, `${n} shards: ${counts.join(',')}`);
    }
  });

  it('parses I/N and rejects anything else', () => {
    assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
    assert.deepEqual(parseShard('3/4'), { index: 3, count: 4 });
    assert.deepEqual(parseShard(`0/${MAX_SHARDS}`), { index: 0, count: MAX_SHARDS });
    for (const bad of ['', '1', '4/4', '5/4', '-1/4', '1/-4', '0/0', '1/0', 'a/b', '0.5/2', '1/2/3', '1 /2', '0x1/4', `0/${MAX_SHARDS + 1}`, '99999999999999999999/1']) {
      assert.ok('problem' in parseShard(bad), JSON.stringify(bad));
    }
  });

  it('countKeys with a shard counts what the key source yields for that shard', async () => {
    const keys = ['plain', 'ünïcödé/ключ', 'with space ', 'tab\tkey', 'emoji 🎉', 'cr\rinside', ...Array.from({ length: 300 }, (_, i) => `k/${i}`)];
    const file = path.join(tmp, 'keys.txt');
    // A BOM, CRLF endings, empty lines, an overlong line, no final newline.
    await writeFile(file, `\ufeff${keys.map((k, i) => (i % 3 === 0 ? `${k}\r\n` : `${k}\n\n`)).join('')}${'x'.repeat(5000)}\nlast`);
    const all: string[] = [];
    let overlong = 0;
    for await (const line of await openKeyFile(file)) {
      if (isOverlong(line)) overlong++;
      else all.push(line);
    }
    assert.equal(overlong, 1);
    assert.deepEqual(all, [...keys, 'last']);
    let total = 0;
    for (let i = 0; i < 3; i++) {
      const n = await countKeys(file, undefined, { index: i, count: 3 });
      assert.equal(n, all.filter((k) => shardOf(k, 3) === i).length + (i === 0 ? overlong : 0), `shard ${i}/3`);
      total += n ?? 0;
    }
    assert.equal(total, all.length + overlong);
    assert.equal(await countKeys(file), all.length + overlong);
  });

  it('an invalid --shard is a usage error naming the flag (exit 2), before any config is read', async () => {
    for (const bad of ['4/4', 'x', '-1/2', '1/0', '1/2/3', '']) {
      const { stdout, stderr, out, err } = captured();
      const code = await runCli(['batch', '-c', path.join(tmp, 'no-such.yaml'), '--keys', '-', '--shard', bad], { stdin: new PassThrough(), stdout, stderr, env: {} });
      assert.equal(code, 2, `${bad}: ${err()}`);
      assert.match(err(), /--shard/, bad);
      assert.doesNotMatch(err(), /INVALID_CONFIG|no-such/, `${bad}: rejected before the configuration is read`);
      assert.equal(err().trim().split('\n').length, 1, err());
      assert.equal(out(), '');
    }
  });
});
