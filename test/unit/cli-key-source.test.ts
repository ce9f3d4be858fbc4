import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { countKeys, isOverlong, openKeyFile, readKeyLines, type KeyLine } from '../../src/cli/key-source.js';

async function collect(chunks: (string | Uint8Array)[], max?: number): Promise<KeyLine[]> {
  async function* src() { for (const c of chunks) yield c; }
  const out: KeyLine[] = [];
  for await (const k of readKeyLines(src(), max)) out.push(k);
  return out;
}

describe('key files', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'readpath-keys-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('one key per line exactly as written: spaces kept, empty lines skipped, one CR of a CRLF dropped', async () => {
    const keys = await collect([' lead\n', 'trail \r\n', '\n', '\r\n', 'in\rside\n', 'tab\there\n', 'two\r\r\n', 'last']);
    assert.deepEqual(keys, [' lead', 'trail ', 'in\rside', 'tab\there', 'two\r', 'last']);
  });

  it('lines and UTF-8 characters split across chunks; a leading BOM is dropped', async () => {
    const bytes = Buffer.from('\uFEFFünï/cødé\nzweite Zeile\n', 'utf8');
    const chunks = [...bytes].map((b) => Uint8Array.of(b)); // one byte at a time
    assert.deepEqual(await collect(chunks), ['ünï/cødé', 'zweite Zeile']);
  });

  it('an overlong line is reported, not buffered, and the next line is intact', async () => {
    const long = 'y'.repeat(50);
    const keys = await collect(['a\n', long.slice(0, 20), long.slice(20), '\nb\n', 'z'.repeat(30)], 16);
    assert.equal(keys.length, 4);
    assert.equal(keys[0], 'a');
    const over = keys[1];
    assert.ok(over !== undefined && isOverlong(over));
    assert.equal(over.length, 50);
    assert.ok(over.prefix.length > 0 && long.startsWith(over.prefix), over.prefix);
    assert.equal(keys[2], 'b');
    const tail = keys[3];
    assert.ok(tail !== undefined && isOverlong(tail) && tail.length === 30);
  });

  it('reads lazily: a consumer that stops early leaves the rest unread', async () => {
    let pulled = 0;
    async function* src() {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        yield `k${i}\n`;
      }
    }
    for await (const k of readKeyLines(src())) {
      if (k === 'k9') break;
    }
    assert.equal(pulled, 10);
  });

  it('openKeyFile streams a file; countKeys agrees with what it yields', async () => {
    const file = path.join(dir, 'keys.txt');
    const text = '\uFEFFa\r\n\nb c\n\r\n\r\nx\r\r\nlast\r';
    await writeFile(file, text);
    const keys: KeyLine[] = [];
    for await (const k of await openKeyFile(file)) keys.push(k);
    assert.deepEqual(keys, ['a', 'b c', 'x\r', 'last']);
    assert.equal(await countKeys(file), keys.length);
    await assert.rejects(openKeyFile(path.join(dir, 'nope.txt')), { code: 'ENOENT' });
    await assert.rejects(openKeyFile(dir), { code: 'EISDIR' });
  });
});
