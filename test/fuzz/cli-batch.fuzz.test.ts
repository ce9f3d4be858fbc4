/**
 * Random key files through `readpath batch --ndjson [--out DIR]`, as users run it (a child
 * process): blank lines, CRLF and lone CRs, huge lines, 1089-byte keys, NULs, bytes that are not
 * UTF-8, a byte-order mark, `..`/`.`/absolute/empty path segments, spaces — mixed with keys that
 * exist. Each run must exit 0 or 1 (never crash), print exactly one NDJSON outcome per non-empty
 * line and nothing else on stdout, and never write outside DIR.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runTsScript } from '../helpers/run-ts-child.js';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { sha256Hex } from '../../src/probe/probes.js';
import { MAX_KEY_BYTES } from '../../src/engine/keys.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { fcParams } from '../helpers/property-params.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const MAX_LINE_CHARS = 4096;

const SEEDED: Record<string, string> = {
  'a.txt': 'alpha\n',
  'dir/b.bin': 'beta beta',
  'deep/x/y/z': 'zeta',
  '...': 'three dots is a name',
  '..x': 'so is this',
  'sp ace': 'spaces kept',
};

let fleet: S3Fleet;
let tmp: string;
let config: string;
let run = 0;

before(async () => {
  fleet = await startS3Fleet({ count: 2 });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-cli-fuzz-'));
  const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
  let t = Date.UTC(2025, 0, 1);
  for (const [key, body] of Object.entries(SEEDED)) {
    await fleet.seed(key, body, ['b1', 'b2']);
    await store.addLocations(['b1', 'b2'].map((b) => ({
      objectKey: key, backendName: b, sizeBytes: Buffer.byteLength(body), createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(new TextEncoder().encode(body)),
    })));
  }
  await store.close();
  const backends = fleet.backends.map((b) => `  - name: ${b.name}\n    endpoint: "${b.endpoint}"\n    bucket: ${fleet.bucket}\n    access_key_id: S3RVER\n    secret_access_key: S3RVER\n    force_path_style: true`).join('\n');
  config = path.join(tmp, 'readpath.yaml');
  await writeFile(config, `backends:\n${backends}\ndatabase:\n  driver: sqlite\n  path: meta.db\nruntime:\n  mode: inline\nserver:\n  backend_timeout: 5s\n`);
});

after(async () => {
  await fleet?.close();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runTsScript(MAIN, args, { env: { ...process.env, READPATH_LOG_LEVEL: '' }, timeoutMs: 180_000 });
}

/** One line of a key file, as bytes (some are not UTF-8). */
const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.keys(SEEDED)).map((k) => Buffer.from(k)) },
  { weight: 2, arbitrary: fc.constantFrom('', '', '\r', 'a.txt\r', 'c\rd', '   ', '\t#comment') .map((s) => Buffer.from(s)) },
  { weight: 4, arbitrary: fc.constantFrom('..', '.', '../x', 'a/../../b', '../../etc/passwd', './x', '/abs/x', 'a//b', 'trail/', 'deep/x/..', 'x/./y').map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.constantFrom('x'.repeat(1089), 'y'.repeat(MAX_LINE_CHARS + 10), 'é'.repeat(600), 'z'.repeat(1088), 'n\u0000ul').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff, 0xfe, 0x41]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\n')).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('no/such/key')) },
);

const fileArb = fc.record({
  lines: fc.array(lineArb, { maxLength: 30 }),
  crlf: fc.boolean(),
  trailingNewline: fc.boolean(),
  bom: fc.boolean(),
});

/** Lines the CLI reads as keys (README "Key files"): the model of key-source.ts. */
function keyLines(buf: Buffer): number {
  let text = new TextDecoder('utf-8').decode(buf);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length > MAX_LINE_CHARS) n++;
    else if ((line.endsWith('\r') ? line.slice(0, -1) : line) !== '') n++;
  }
  return n;
}

/** Every file under `dir`, relative. */
async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) out.push(`${p}/`, ...(await walk(dir, p)));
    else out.push(p);
  }
  return out;
}

test('random key files through `readpath batch`: one outcome per non-empty line, exit 0/1, nothing written outside --out', async () => {
  await fc.assert(fc.asyncProperty(fileArb, fc.boolean(), fc.integer({ min: 1, max: 8 }), async (f, useOut, concurrency) => {
    const base = await mkdtemp(path.join(tmp, `run${++run}-`));
    const dir = path.join(base, 'dir');
    await mkdir(path.join(base, 'outside'));
    const sep = Buffer.from(f.crlf ? '\r\n' : '\n');
    const parts: Buffer[] = f.bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
    f.lines.forEach((l, i) => {
      parts.push(l);
      if (i < f.lines.length - 1 || f.trailingNewline) parts.push(sep);
    });
    const file = Buffer.concat(parts);
    const keyFile = path.join(base, 'keys.txt');
    await writeFile(keyFile, file);
    const r = await cli(['batch', '-c', config, '--keys', keyFile, '--ndjson', '--concurrency', String(concurrency), ...(useOut ? ['--out', dir] : [])]);

    assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    const recs = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { key: string; ok: boolean; path?: string; error?: { code: string; message: string } });
    assert.equal(recs.length, keyLines(file), `one outcome per key line:\n${r.stdout}`);
    assert.equal(r.code === 0, recs.every((x) => x.ok), 'exit 0 exactly when every read succeeded');
    for (const x of recs) {
      assert.equal(typeof x.key, 'string');
      if (x.ok) {
        assert.ok(Object.hasOwn(SEEDED, x.key), `only stored keys succeed: ${JSON.stringify(x.key)}`);
        if (useOut) {
          assert.equal(x.path, x.key);
          assert.equal(await readFile(path.join(dir, x.key), 'utf8'), SEEDED[x.key]);
        }
      } else {
        assert.ok(['INVALID_KEY', 'OBJECT_NOT_FOUND'].includes(x.error?.code ?? ''), `${JSON.stringify(x.key)}: ${x.error?.code} ${x.error?.message}`);
        if (useOut && /(^|\/)\.{1,2}(\/|$)|^\/|\/\/|\/$/.test(x.key)) assert.equal(x.error?.code, 'INVALID_KEY', `${x.key} cannot map under --out`);
        // Up to MAX_KEY_BYTES a key is read (and, never stored here, not found); past it, refused.
        // Under --out a name over 255 bytes is refused too: no file can have it.
        if (/^(x{1089}|z{1088})$/.test(x.key)) assert.equal(x.error?.code, x.key.length > MAX_KEY_BYTES || useOut ? 'INVALID_KEY' : 'OBJECT_NOT_FOUND', `${x.key.length}-byte key`);
        if (useOut && x.key.split('/').some((s) => Buffer.byteLength(s) > 255)) assert.equal(x.error?.code, 'INVALID_KEY', `${x.key} has a name over 255 bytes`);
      }
    }
    // Nothing anywhere but the key file, the output directory and the untouched sentinel.
    assert.deepEqual(await readdir(path.join(base, 'outside')), []);
    const top = (await readdir(base)).sort();
    assert.deepEqual(top, useOut ? ['dir', 'keys.txt', 'outside'] : ['keys.txt', 'outside']);
    if (useOut) {
      const written = (await walk(dir)).filter((p) => !p.endsWith('/')).sort();
      const expected = [...new Set(recs.filter((x) => x.ok).map((x) => x.key))].sort();
      assert.deepEqual(written, expected, 'exactly the bodies read, under DIR');
    }
  }), fcParams(6));
});
