/**
 * The `readpath` CLI as users run it: a child process (`node --import tsx src/cli/main.ts`)
 * against an s3rver fleet and a SQLite metadata database in a temp directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess } from '../helpers/run-ts-child.js';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { shardOf } from '../../src/cli/shard.js';
import { sha256Hex } from '../../src/probe/probes.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import type { ObjectLocation } from '../../src/types.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';
import { logLines, seekableZstd } from '../helpers/seekable-zstd.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const SDK_WARNING = /NodeVersionSupportWarning|NodeDeprecationWarning|AWS SDK/;
const STACK_LINE = /^\s+at /m;

interface Run { code: number | null; stdout: Buffer; stderr: string }

/**
 * Run the CLI; `input` is written to its stdin (stdin is a closed pipe otherwise). A run that
 * hangs is killed after 3 minutes and fails its test with its output.
 */
function cli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return runProcess(['--import', 'tsx', MAIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, READPATH_LOG_LEVEL: '', ...opts.env },
    ...(opts.input === undefined ? {} : { input: opts.input }),
    timeoutMs: CLI_TIMEOUT_MS,
  });
}

/** Far above any run here, below the test runner's 300 s (which would report no output). */
const CLI_TIMEOUT_MS = 180_000;

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

function assertClean(r: Run): void {
  assert.doesNotMatch(r.stderr, SDK_WARNING, 'no AWS SDK warning reaches the terminal');
  assert.ok(!r.stderr.includes('S3CR3T-test') && !r.stdout.includes('S3CR3T-test'), 'the secret never appears in output');
}

/** Stored by s3-orchestrator compressed (zstd seekable), read only with the database down. */
const ZLOG = logLines(200_000, 2);
const ZLOG_Z = seekableZstd(ZLOG, { chunkSize: 64 * 1024 });
const BIN = Uint8Array.from({ length: 5000 }, (_, i) => (i * 131 + 17) & 0xff);
const SECRET_ENV = { TEST_S3_SECRET: 'S3RVER', TEST_DB_PASSWORD: 'S3CR3T-test-password' };

describe('readpath CLI (child process, s3rver fleet, SQLite)', { concurrency: 3 }, () => {
  let fleet: S3Fleet;
  let tmp: string;
  let config: string;

  before(async () => {
    fleet = await startS3Fleet({ count: 3 });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-cli-'));
    const rows: ObjectLocation[] = [];
    let t = Date.UTC(2025, 0, 1);
    const put = async (key: string, body: Uint8Array | string, on: string[], rowsOn: string[] = on): Promise<void> => {
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
      await fleet.seed(key, bytes, on);
      for (const b of rowsOn) rows.push({ objectKey: key, backendName: b, sizeBytes: bytes.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(bytes) });
    };
    await put('hello.txt', 'hello, world\n', ['b1', 'b2']);
    // Only the get -o fault test reads it (the faults it injects must not hit other tests).
    await put('faulty.txt', 'hello, world\n', ['b1', 'b2']);
    await put('space key .txt', 'spaces are kept\n', ['b2', 'b3']);
    await put('dir/nested/file.bin', BIN, ['b1', 'b3']);
    // Stored on b1 and b2, but b1's copy is gone: reads fail over to b2.
    await put('first-missing', 'second copy\n', ['b2'], ['b1', 'b2']);
    // For the symlink trap under --out.
    await put('link/x', 'must not leave DIR\n', ['b3']);
    const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
    await store.addLocations(rows);
    await store.close();
    const backends = fleet.backends.map((b) => `  - name: ${b.name}
    endpoint: "${b.endpoint}"
    region: us-east-1
    bucket: ${fleet.bucket}
    access_key_id: S3RVER
    secret_access_key: "\${TEST_S3_SECRET}"
    force_path_style: true`).join('\n');
    config = path.join(tmp, 'readpath.yaml');
    await writeFile(config, `backends:\n${backends}\ndatabase:\n  driver: sqlite\n  path: meta.db\nruntime:\n  mode: inline\nserver:\n  backend_timeout: 5s\n`);
  });

  after(async () => {
    await fleet?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('get writes the body to a file and one outcome line to stderr', async () => {
    const out = path.join(tmp, 'hello.out');
    const r = await cli(['get', 'hello.txt', '-c', config, '-o', out], { env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(out, 'utf8'), 'hello, world\n');
    assert.equal(r.stdout.length, 0);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^readpath: got hello\.txt from b1: 13 bytes, verified/);
    assertClean(r);
  });

  it('get -o streams through a temporary file: a damaged body leaves no file and keeps what was there', async () => {
    const out = path.join(tmp, 'damaged.out');
    await writeFile(out, 'previous contents');
    // One damaged copy of a small object is left for the next before a byte is written.
    fleet.backend('b1').proxy.inject({ kind: 'corrupt' }, { times: 1, match: { method: 'GET', key: 'faulty.txt' } });
    const one = await cli(['get', 'faulty.txt', '-c', config, '-o', out], { env: SECRET_ENV });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(await readFile(out, 'utf8'), 'hello, world\n');
    await writeFile(out, 'previous contents');
    // Every copy damaged: the read fails, and the file is what it was.
    for (const b of ['b1', 'b2']) fleet.backend(b).proxy.inject({ kind: 'corrupt' }, { times: 1, match: { method: 'GET', key: 'faulty.txt' } });
    const r = await cli(['get', 'faulty.txt', '-c', config, '-o', out], { env: SECRET_ENV });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^readpath: error: INTEGRITY_MISMATCH: /);
    assert.equal(await readFile(out, 'utf8'), 'previous contents');
    assert.deepEqual((await readdir(tmp)).filter((f) => f.includes('.readpath-')), [], 'no temporary file left');
    // A copy cut mid-body is continued from the next copy; the file is whole.
    fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 5 }, { times: 1, match: { method: 'GET', key: 'faulty.txt' } });
    const ok = await cli(['get', 'faulty.txt', '-c', config, '-o', out], { env: SECRET_ENV });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await readFile(out, 'utf8'), 'hello, world\n');
    assert.match(ok.stderr, /verified, resumed on b2/);
    assertClean(ok);
  });

  it('get writes a binary body to stdout; a missing key is one error line and exit 1', async () => {
    const [ok, missing] = await Promise.all([
      cli(['get', 'dir/nested/file.bin', '--config', config], { env: SECRET_ENV }),
      cli(['get', 'no/such/key', '-c', config], { env: SECRET_ENV }),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(new Uint8Array(ok.stdout), BIN);
    assertClean(ok);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout.length, 0);
    assert.deepEqual(lines(missing.stderr).length, 1, missing.stderr);
    assert.match(missing.stderr, /^readpath: error: OBJECT_NOT_FOUND: /);
    assert.doesNotMatch(missing.stderr, STACK_LINE);
    assertClean(missing);
  });

  it('head prints one JSON object; the failed-over copy is reported as such', async () => {
    const r = await cli(['head', 'first-missing', '-c', config], { env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    const all = lines(r.stdout.toString('utf8'));
    assert.equal(all.length, 1);
    const o = JSON.parse(all[0] as string) as Record<string, unknown>;
    assert.equal(o['key'], 'first-missing');
    assert.equal(o['backend'], 'b2');
    assert.equal(o['size'], 12);
    assert.equal(o['failover'], true);
    assert.equal(o['degraded'], false);
    assert.equal(o['sha256'], sha256Hex(Buffer.from('second copy\n')), 'the database\'s hash of the object');
    assert.equal(r.stderr, '');
  });

  it('batch --ndjson: exactly one line per key, failures included, exit 1, summary on stderr', async () => {
    const keyFile = path.join(tmp, 'keys.txt');
    const overlong = 'x'.repeat(5000);
    // A CRLF line, a duplicate, an empty line, a NUL key, a missing key, an overlong line.
    await writeFile(keyFile, `hello.txt\r\nspace key .txt\n\nfirst-missing\nbad\u0000key\nno-such-key\nhello.txt\n${overlong}\ndir/nested/file.bin`);
    const r = await cli(['batch', '-c', config, '--keys', keyFile, '--ndjson', '--concurrency', '2'], { env: SECRET_ENV });
    assert.equal(r.code, 1, r.stderr);
    const recs = lines(r.stdout.toString('utf8')).map((l) => JSON.parse(l) as { key: string; ok: boolean; backend?: string; failover?: boolean; verified?: boolean; sha256?: string; error?: { code: string }; body?: unknown });
    assert.equal(recs.length, 8, r.stdout.toString('utf8'));
    const byKey = (k: string) => recs.filter((x) => x.key === k);
    assert.equal(byKey('hello.txt').length, 2);
    assert.ok(byKey('hello.txt').every((x) => x.ok && x.backend === 'b1' && x.verified === true && x.sha256 === sha256Hex(Buffer.from('hello, world\n'))));
    assert.equal(byKey('space key .txt')[0]?.ok, true, 'spaces kept');
    assert.equal(byKey('first-missing')[0]?.failover, true);
    assert.equal(byKey('dir/nested/file.bin')[0]?.ok, true);
    assert.equal(byKey('bad\u0000key')[0]?.error?.code, 'INVALID_KEY');
    assert.equal(byKey('no-such-key')[0]?.error?.code, 'OBJECT_NOT_FOUND');
    assert.equal(recs.filter((x) => x.key.startsWith('xxxx'))[0]?.error?.code, 'INVALID_KEY');
    assert.ok(recs.every((x) => !('body' in x)), 'bodies are never printed');
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0] as string, /^readpath: 8 reads, 5 ok, 3 failed \((INVALID_KEY 2, OBJECT_NOT_FOUND 1)\), 1 failover, 0 degraded, 0 cache hits, p50 [\d.]+ ms, p99 [\d.]+ ms/);
    assertClean(r);
  });

  it('batch --out DIR never writes outside DIR, whatever the key', async () => {
    const base = await mkdtemp(path.join(tmp, 'out-'));
    const dir = path.join(base, 'dir');
    const outside = path.join(base, 'outside');
    await mkdir(dir);
    await mkdir(outside);
    await symlink(outside, path.join(dir, 'link'));
    const keys = ['hello.txt', 'dir/nested/file.bin', '../../etc/passwd', '/abs', 'a/../../b', './x', 'a//b', 'trailing/', 'nul\u0000key', 'link/x', '..', 'hello.txt'];
    const r = await cli(['batch', '-c', config, '--keys', '-', '--out', dir, '--ndjson'], { input: keys.join('\n'), env: SECRET_ENV });
    assert.equal(r.code, 1, r.stderr);
    const recs = lines(r.stdout.toString('utf8')).map((l) => JSON.parse(l) as { key: string; ok: boolean; path?: string; error?: { code: string; message: string } });
    assert.equal(recs.length, keys.length);
    const get = (k: string) => recs.find((x) => x.key === k);
    assert.deepEqual(recs.filter((x) => x.key === 'hello.txt').map((x) => x.path), ['hello.txt', 'hello.txt'], 'a key given twice is written twice');
    assert.equal(get('dir/nested/file.bin')?.path, 'dir/nested/file.bin');
    for (const k of ['../../etc/passwd', '/abs', 'a/../../b', './x', 'a//b', 'trailing/', '..']) {
      assert.equal(get(k)?.error?.code, 'INVALID_KEY', k);
      assert.match(get(k)?.error?.message ?? '', /cannot be written under --out/, k);
    }
    assert.equal(get('nul\u0000key')?.error?.code, 'INVALID_KEY');
    assert.equal(get('link/x')?.ok, false, 'a symlink inside DIR is not followed');
    assert.equal(get('link/x')?.error?.code, 'WRITE_FAILED');
    assert.equal(await readFile(path.join(dir, 'hello.txt'), 'utf8'), 'hello, world\n');
    assert.deepEqual(new Uint8Array(await readFile(path.join(dir, 'dir/nested/file.bin'))), BIN);
    // Nothing anywhere but the two files (and the planted link).
    assert.deepEqual(await readdir(outside), []);
    assert.deepEqual((await readdir(base)).sort(), ['dir', 'outside']);
    assert.deepEqual((await readdir(dir)).sort(), ['dir', 'hello.txt', 'link']);
    assertClean(r);
  });

  it('batch runs one probe worker per core unless runtime.threads or --threads says otherwise; head and get run inline', async () => {
    const opened = (r: Run): { runtime?: string; threads?: number } => {
      const line = lines(r.stderr).map((l) => JSON.parse(l) as { msg?: string; runtime?: string; threads?: number }).find((l) => l.msg === 'readpath opened');
      assert.ok(line !== undefined, r.stderr);
      return line;
    };
    const debug = { ...SECRET_ENV, READPATH_LOG_LEVEL: 'debug' };
    // This file's configuration runs inline; these two use the pool, with and without a thread count.
    const text = await readFile(config, 'utf8');
    assert.ok(text.includes('runtime:\n  mode: inline\n'));
    const pool = path.join(tmp, 'pool-default.yaml');
    await writeFile(pool, text.replace('runtime:\n  mode: inline\n', ''));
    const two = path.join(tmp, 'pool-threads-2.yaml');
    await writeFile(two, text.replace('runtime:\n  mode: inline\n', 'runtime:\n  threads: 2\n  tasks_per_thread: 4\n'));
    const batch = await cli(['batch', '-c', pool, '--json'], { input: 'hello.txt\n', env: debug });
    assert.equal(batch.code, 0, batch.stderr);
    assert.deepEqual(opened(batch), { ...opened(batch), runtime: 'pool', threads: Math.min(8, os.availableParallelism()) });
    const set = await cli(['batch', '-c', two, '--json'], { input: 'hello.txt\n', env: debug });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(opened(set).threads, 2, 'the configuration\'s runtime.threads wins');
    const flag = await cli(['batch', '-c', two, '--json', '--threads', '3'], { input: 'hello.txt\n', env: debug });
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(opened(flag).threads, 3, '--threads wins over runtime.threads');
    assert.doesNotMatch(flag.stderr, /has no effect/);
    // This file's own configuration runs inline: --threads cannot apply, and says so.
    const inline = await cli(['batch', '-c', config, '--threads', '3'], { input: 'hello.txt\n', env: SECRET_ENV });
    assert.equal(inline.code, 0, inline.stderr);
    assert.match(inline.stderr, /^readpath: warning: --threads 3 has no effect: runtime\.mode is inline/m);
    const zero = await cli(['batch', '-c', pool, '--threads', '0'], { input: 'hello.txt\n' });
    assert.equal(zero.code, 2, zero.stderr);
    assert.match(zero.stderr, /--threads/);
    const head = await cli(['head', '-c', pool, '--json', 'hello.txt'], { env: debug });
    assert.equal(head.code, 0, head.stderr);
    assert.deepEqual(opened(head), { ...opened(head), runtime: 'inline' });
    assert.equal(opened(head).threads, undefined);
  });

  it('batch from stdin without --ndjson: text lines; all ok exits 0', async () => {
    const r = await cli(['batch', '-c', config, '--op', 'head'], { input: 'hello.txt\nspace key .txt\n', env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout.toString('utf8'));
    assert.equal(out.length, 2);
    assert.ok(out.every((l) => l.startsWith('ok    ')), out.join('\n'));
    assert.match(r.stderr, /^readpath: 2 reads, 2 ok, 0 failed, 0 failovers/);
    assertClean(r);
  });

  it('batch --shard I/N: the shards split the key list, disjoint and complete, the same from a file or stdin', async () => {
    const keyFile = path.join(tmp, 'shard-keys.txt');
    const present = ['hello.txt', 'space key .txt', 'dir/nested/file.bin', 'first-missing', 'link/x'];
    const keys = [...present, ...Array.from({ length: 40 }, (_, i) => `missing/${i}`), 'hello.txt', 'bad\u0000key'];
    await writeFile(keyFile, `${keys.join('\n')}\n`);
    const outcomeKeys = (r: Run): string[] => lines(r.stdout.toString('utf8')).map((l) => (JSON.parse(l) as { key: string }).key);
    const base = ['batch', '-c', config, '--op', 'head', '--ndjson'];
    const [s0, s1, s2, s1again, s1stdin] = await Promise.all([
      cli([...base, '--keys', keyFile, '--shard', '0/3'], { env: SECRET_ENV }),
      cli([...base, '--keys', keyFile, '--shard', '1/3'], { env: SECRET_ENV }),
      cli([...base, '--keys', keyFile, '--shard', '2/3'], { env: SECRET_ENV }),
      cli([...base, '--keys', keyFile, '--shard', '1/3'], { env: SECRET_ENV }),
      cli([...base, '--keys', '-', '--shard', '1/3'], { input: `${keys.join('\n')}\n`, env: SECRET_ENV }),
    ]);
    const shards = [s0, s1, s2].map(outcomeKeys);
    shards.forEach((ks, i) => {
      assert.ok(ks.length > 0, `shard ${i} has keys`);
      for (const k of ks) assert.equal(shardOf(k, 3), i, `${JSON.stringify(k)} read by shard ${i}`);
    });
    // Complete: every key line has exactly one outcome over all shards (the duplicate twice).
    assert.deepEqual(shards.flat().sort(), [...keys].sort());
    // Disjoint.
    const distinct = shards.map((ks) => new Set(ks));
    for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) for (const k of distinct[a] as Set<string>) assert.ok(!(distinct[b] as Set<string>).has(k), k);
    // Stable across processes, and the same from stdin.
    assert.deepEqual(outcomeKeys(s1again).sort(), [...(shards[1] as string[])].sort());
    assert.deepEqual(outcomeKeys(s1stdin).sort(), [...(shards[1] as string[])].sort());
    [s0, s1, s2].forEach((r, i) => {
      const n = (shards[i] as string[]).length;
      assert.match(r.stderr, new RegExp(`; shard ${i}/3: ${n} keys? in this shard, ${keys.length - n} skipped\\n$`), r.stderr);
      assertClean(r);
    });
  });

  it('batch --shard with --out writes only the keys of its shard', async () => {
    const dir = await mkdtemp(path.join(tmp, 'shard-out-'));
    const keys = ['hello.txt', 'space key .txt', 'dir/nested/file.bin', 'first-missing'];
    const want = keys.filter((k) => shardOf(k, 2) === 1);
    assert.ok(want.length > 0 && want.length < keys.length, 'the keys fall in both shards');
    const r = await cli(['batch', '-c', config, '--keys', '-', '--out', dir, '--ndjson', '--shard', '1/2'], { input: keys.join('\n'), env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout.toString('utf8')).map((l) => (JSON.parse(l) as { key: string }).key).sort(), [...want].sort());
    const written = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    assert.deepEqual(written, want.map((k) => k.split('/').pop() as string).sort());
  });

  it('batch --out --skip-existing reads only what an earlier run did not leave in DIR', async () => {
    const dir = await mkdtemp(path.join(tmp, 'resume-'));
    const first = await cli(['batch', '-c', config, '--keys', '-', '--out', dir, '--ndjson'], { input: 'hello.txt\ndir/nested/file.bin\n', env: SECRET_ENV });
    assert.equal(first.code, 0, first.stderr);
    // Proof that a skipped key is not read again: its file keeps what we put there.
    await writeFile(path.join(dir, 'hello.txt'), 'left by an earlier run\n');
    const keys = ['hello.txt', 'dir/nested/file.bin', 'space key .txt', 'first-missing', 'missing/never'];
    const r = await cli(['batch', '-c', config, '--keys', '-', '--out', dir, '--ndjson', '--skip-existing'], { input: keys.join('\n'), env: SECRET_ENV });
    assert.equal(r.code, 1, r.stderr);
    const recs = lines(r.stdout.toString('utf8')).map((l) => JSON.parse(l) as { key: string; ok: boolean; skipped?: string; path?: string; error?: { code: string } });
    assert.deepEqual(recs.map((x) => x.key).sort(), [...keys].sort(), 'one line per key');
    const get = (k: string) => recs.find((x) => x.key === k);
    for (const k of ['hello.txt', 'dir/nested/file.bin']) assert.deepEqual(get(k), { key: k, ok: true, skipped: 'exists', path: k });
    for (const k of ['space key .txt', 'first-missing']) {
      assert.equal(get(k)?.ok, true, k);
      assert.equal(get(k)?.skipped, undefined, k);
      assert.equal(get(k)?.path, k);
    }
    assert.equal(get('missing/never')?.error?.code, 'OBJECT_NOT_FOUND');
    assert.equal(await readFile(path.join(dir, 'hello.txt'), 'utf8'), 'left by an earlier run\n');
    assert.equal(await readFile(path.join(dir, 'space key .txt'), 'utf8'), 'spaces are kept\n');
    assert.equal(await readFile(path.join(dir, 'first-missing'), 'utf8'), 'second copy\n');
    assert.match(r.stderr, /^readpath: 3 reads, 2 ok, 1 failed \(OBJECT_NOT_FOUND 1\), 1 failover, 0 degraded, 0 cache hits, 2 already in DIR \(not read\), p50 /);
    assertClean(r);

    // Text lines; a directory standing at a key's path is not a file: that key is read (and its write fails).
    await mkdir(path.join(dir, 'link/x'), { recursive: true });
    const text = await cli(['batch', '-c', config, '--keys', '-', '--out', dir, '--skip-existing'], { input: 'hello.txt\nlink/x\n', env: SECRET_ENV });
    assert.equal(text.code, 1, text.stderr);
    const textLines = lines(text.stdout.toString('utf8'));
    assert.equal(textLines[0], 'skip  hello.txt  exists  -> hello.txt');
    assert.match(textLines[1] ?? '', /^FAIL {2}link\/x {2}WRITE_FAILED: /);
    const usage = await cli(['batch', '-c', config, '--keys', '-', '--skip-existing'], { input: 'hello.txt\n', env: SECRET_ENV });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--skip-existing needs --out DIR/);
  });

  it('batch --prefix reads what the store lists under the prefix (with --out: copies it); --prefix and --keys are exclusive', async () => {
    const dir = await mkdtemp(path.join(tmp, 'prefix-'));
    const r = await cli(['batch', '-c', config, '--prefix', 'dir/', '--out', dir, '--ndjson'], { env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    const recs = lines(r.stdout.toString('utf8')).map((l) => JSON.parse(l) as { key: string; ok: boolean; path?: string });
    assert.deepEqual(recs.map((x) => [x.key, x.ok, x.path]), [['dir/nested/file.bin', true, 'dir/nested/file.bin']]);
    assert.deepEqual(new Uint8Array(await readFile(path.join(dir, 'dir/nested/file.bin'))), BIN);
    assert.match(r.stderr, /^readpath: 1 reads, 1 ok, 0 failed/);
    // Keys listed under "s" (one: its two rows are one key), HEADs, text lines.
    const heads = await cli(['batch', '-c', config, '--prefix', 's', '--op', 'head'], { env: SECRET_ENV });
    assert.equal(heads.code, 0, heads.stderr);
    assert.deepEqual(lines(heads.stdout.toString('utf8')).map((l) => /^ok {4}(.*?) {2}b[123] {2}/.exec(l)?.[1]), ['space key .txt']);
    const none = await cli(['batch', '-c', config, '--prefix', 'no-such-prefix/', '--op', 'head'], { env: SECRET_ENV });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout.length, 0);
    assert.match(none.stderr, /^readpath: 0 reads, 0 ok, 0 failed/);
    const both = await cli(['batch', '-c', config, '--prefix', 'dir/', '--keys', '-'], { input: 'hello.txt\n', env: SECRET_ENV });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--prefix and --keys are exclusive/);
    assertClean(r);
  });

  it('ls lists what the store holds under a prefix: each key once, S3 order, size and time; --ndjson, --max', async () => {
    const all = await cli(['ls', '-c', config], { env: SECRET_ENV });
    assert.equal(all.code, 0, all.stderr);
    const rows = lines(all.stdout.toString('utf8')).map((l) => /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(\d+) {2}(.*)$/.exec(l));
    assert.ok(rows.every((m) => m !== null), all.stdout.toString('utf8'));
    assert.deepEqual(rows.map((m) => m?.[3]), ['dir/nested/file.bin', 'faulty.txt', 'first-missing', 'hello.txt', 'link/x', 'space key .txt']);
    assert.equal(rows.find((m) => m?.[3] === 'dir/nested/file.bin')?.[2], String(BIN.length));
    const nd = await cli(['ls', '-c', config, 'f', '--ndjson'], { env: SECRET_ENV });
    assert.equal(nd.code, 0, nd.stderr);
    const recs = lines(nd.stdout.toString('utf8')).map((l) => JSON.parse(l) as { key: string; size: number; lastModified: string });
    assert.deepEqual(recs.map((r) => [r.key, r.size]), [['faulty.txt', 13], ['first-missing', 12]]);
    assert.ok(recs.every((r) => !Number.isNaN(Date.parse(r.lastModified))));
    const max = await cli(['ls', '-c', config, '--max', '2'], { env: SECRET_ENV });
    assert.equal(lines(max.stdout.toString('utf8')).length, 2);
    const none = await cli(['ls', '-c', config, 'zzz/'], { env: SECRET_ENV });
    assert.equal(none.code, 0);
    assert.equal(none.stdout.length, 0);
    assertClean(all);
  });

  it('validate prints the resolved config with secrets masked', async () => {
    const pg = path.join(tmp, 'pg.yaml');
    await writeFile(pg, `backends:
  - name: b1
    endpoint: "http://127.0.0.1:9"
    bucket: data
    access_key_id: AKIDEXAMPLE
    secret_access_key: "S3CR3T-test-secret-key"
database:
  host: 127.0.0.1
  database: readpath
  user: readpath
  password: "\${TEST_DB_PASSWORD}"
`);
    const r = await cli(['validate', '-c', pg], { env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString('utf8');
    assert.match(text, /secret_access_key: "?\(redacted\)"?/);
    assert.match(text, /password: "?\(redacted\)"?/);
    assert.match(text, /driver: postgres/);
    assertClean(r);
  });

  it('help, asked for in any of its forms, exits 0 with the help on stdout', async () => {
    const runs = await Promise.all([['--help'], ['help'], ['help', 'batch'], ['batch', '--help']].map((args) => cli(args)));
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^Usage: readpath/m);
    }
    assert.match(runs[2]!.stdout.toString(), /--keys/, 'help batch is batch\'s help');
  });

  it('usage and configuration errors exit 2 with one line and no stack; --verbose adds it', async () => {
    const bad = path.join(tmp, 'bad.yaml');
    await writeFile(bad, 'backends:\n  - name: b1\n    endpoint: not-a-url\n    bucket: data\n    access_key_id: a\n    secret_access_key: "S3CR3T-test-x"\n');
    const [cfg, flag, verbose, unknown, processes] = await Promise.all([
      cli(['batch', '-c', bad, '--keys', '-']),
      cli(['batch', '-c', config, '--concurrency', '0']),
      cli(['get', 'k', '-c', bad, '--verbose']),
      cli(['frobnicate']),
      cli(['serve', '-c', config, '--processes', '257']),
    ]);
    for (const r of [cfg, flag, unknown, processes]) {
      assert.equal(r.code, 2, r.stderr);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /^readpath: error: /);
      assert.doesNotMatch(r.stderr, STACK_LINE);
      assert.equal(r.stdout.length, 0);
      assertClean(r);
    }
    assert.match(cfg.stderr, /INVALID_CONFIG: .*bad\.yaml: backends\[0\]\.endpoint: /);
    assert.match(flag.stderr, /--concurrency/);
    assert.match(processes.stderr, /--processes.*from 1 to 256, or 0 for one per core/);
    assert.equal(verbose.code, 2);
    assert.match(verbose.stderr, STACK_LINE);
    assertClean(verbose);
  });

  it('batch --out DIR under /proc, where mkdir answers ENOENT under a parent that exists, is a usage error, not an endless loop', async () => {
    // Node's own recursive mkdir retries such a DIR forever on the main thread (Ctrl-C cannot end it).
    const r = await cli(['batch', '-c', config, '--keys', '-', '--out', `/proc/readpath-no-such-${process.pid}/out`], { input: 'hello.txt\n', env: SECRET_ENV });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^readpath: error: --out \/proc\/readpath-no-such-\d+\/out: file not found$/m);
    assert.equal(r.stdout.length, 0);
  });

  it('the database down: head, get -o and batch --out read degraded, a compressed copy decoded; the outcome says where it was found', async () => {
    // A PostgreSQL address nothing listens on: every lookup is DB_UNAVAILABLE.
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    const stored = `zlog.txt!${'7'.repeat(32)}`;
    await fleet.seed(stored, ZLOG_Z.body, ['b3']);
    const down = path.join(tmp, 'down.yaml');
    const text = await readFile(config, 'utf8');
    await writeFile(down, text.replace('database:\n  driver: sqlite\n  path: meta.db\n', `database:\n  driver: postgres\n  url: "postgres://readpath@127.0.0.1:${closed}/meta?connect_timeout=2"\n`));
    const h = await cli(['head', 'zlog.txt', '-c', down], { env: SECRET_ENV });
    assert.equal(h.code, 0, h.stderr);
    const o = JSON.parse(h.stdout.toString()) as Record<string, unknown>;
    assert.deepEqual([o['size'], o['degraded'], o['backend']], [ZLOG.length, true, 'b3']);
    assert.deepEqual(o['storedAs'], { storageKey: stored, storedSize: ZLOG_Z.body.length, compression: 'zstd', etag: `"${createHash('md5').update(ZLOG_Z.body).digest('hex')}"` });
    const file = path.join(tmp, 'zlog.out');
    const g = await cli(['get', 'zlog.txt', '-c', down, '-o', file], { env: SECRET_ENV });
    assert.equal(g.code, 0, g.stderr);
    assert.ok((await readFile(file)).equals(ZLOG), 'the object, not its stored frames');
    const dir = path.join(tmp, 'down-out');
    const b = await cli(['batch', '-c', down, '--out', dir, '--ndjson'], { env: SECRET_ENV, input: 'zlog.txt\nhello.txt\n' });
    assert.equal(b.code, 0, b.stderr);
    const recs = lines(b.stdout.toString()).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(recs.map((r) => [r['key'], r['ok'], r['degraded']]).sort(), [['hello.txt', true, true], ['zlog.txt', true, true]]);
    assert.equal((recs.find((r) => r['key'] === 'zlog.txt')?.['storedAs'] as { compression?: string } | undefined)?.compression, 'zstd');
    assert.ok((await readFile(path.join(dir, 'zlog.txt'))).equals(ZLOG));
    assert.equal(await readFile(path.join(dir, 'hello.txt'), 'utf8'), 'hello, world\n');
    assertClean(b);
    // A listing needs the database: batch --prefix and ls stop, each with the listing's own code
    // and how far it got.
    const listed = await cli(['batch', '-c', down, '--prefix', 'dir/'], { env: SECRET_ENV });
    assert.equal(listed.code, 1, listed.stderr);
    assert.match(listed.stderr, /^readpath: error: batch stopped after 0 keys: DB_UNAVAILABLE: reading keys failed: /m);
    const ls = await cli(['ls', '-c', down], { env: SECRET_ENV });
    assert.equal(ls.code, 1, ls.stderr);
    assert.match(ls.stderr, /^readpath: error: ls stopped after 0 keys: DB_UNAVAILABLE: /m);
  });

  it('get --range that cannot be a range is a usage error (exit 2, nothing read); one past the object is a failed read (exit 1)', async () => {
    for (const range of ['0-4', 'bytes=0-1,3-4', 'bytes=5-2', 'bytes=-']) {
      const r = await cli(['get', 'hello.txt', '-c', config, '--range', range], { env: SECRET_ENV });
      assert.equal(r.code, 2, `${range}: ${r.stderr}`);
      assert.match(r.stderr, /^readpath: error: --range /, range);
      assert.equal(r.stdout.length, 0);
    }
    const past = await cli(['get', 'hello.txt', '-c', config, '--range', 'bytes=100-'], { env: SECRET_ENV });
    assert.equal(past.code, 1, past.stderr);
    assert.match(past.stderr, /RANGE_NOT_SATISFIABLE/);
    const ok = await cli(['get', 'hello.txt', '-c', config, '--range', 'bytes=0-4'], { env: SECRET_ENV });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.toString(), 'hello');
  });

  it('get of a striped object says which copies served parts, not that it resumed', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    await fleet.seed('striped.bin', big, ['b1', 'b2', 'b3']);
    const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
    let t = Date.UTC(2025, 5, 1);
    await store.addLocations(['b1', 'b2', 'b3'].map((b) => ({ objectKey: 'striped.bin', backendName: b, sizeBytes: big.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(big) })));
    await store.close();
    const striping = path.join(tmp, 'striping.yaml');
    await writeFile(striping, `${await readFile(config, 'utf8')}striping:\n  min_size: 1MiB\n  part_size: 256KiB\n`);
    const out = path.join(tmp, 'striped.out');
    const r = await cli(['get', 'striped.bin', '-c', striping, '-o', out, '--json'], { env: SECRET_ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await readFile(out)).equals(big));
    const line = JSON.parse(lines(r.stderr)[0] ?? '{}') as { striped?: boolean; backends?: string[]; msg?: string };
    assert.equal(line.striped, true);
    assert.ok((line.backends?.length ?? 0) >= 2, `parts from several copies: ${r.stderr}`);
    const text = await cli(['get', 'striped.bin', '-c', striping, '-o', out], { env: SECRET_ENV });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /verified, striped over b\d(, b\d)+, /);
    assert.doesNotMatch(text.stderr, /resumed/);
    // Not striped (below min_size): one copy, as before.
    const plain = await cli(['get', 'striped.bin', '-c', config, '-o', out], { env: SECRET_ENV });
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /from b1: 3145728 bytes, verified, [\d.]+ m?s -> /);
  });

  it('get of a striped object whose first copy\'s part 0 was cut names the copies that served the bytes', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
    await fleet.seed('striped-cut.bin', big, ['b1', 'b2', 'b3']);
    const store = await SqliteMetadataStore.open({ path: path.join(tmp, 'meta.db') });
    let t = Date.UTC(2025, 6, 1);
    await store.addLocations(['b1', 'b2', 'b3'].map((b) => ({ objectKey: 'striped-cut.bin', backendName: b, sizeBytes: big.byteLength, createdAt: new Date(t++), encrypted: false, contentHash: sha256Hex(big) })));
    await store.close();
    const striping = path.join(tmp, 'striping-cut.yaml');
    await writeFile(striping, `${await readFile(config, 'utf8')}striping:\n  min_size: 1MiB\n  part_size: 256KiB\n`);
    const out = path.join(tmp, 'striped-cut.out');
    const run = async (json: boolean): Promise<Run> => {
      // b1 answers part 0 first, and its body is cut: part 0 comes from another copy.
      fleet.backend('b1').proxy.inject({ kind: 'truncate', keepBytes: 1000 }, { times: 1, match: { method: 'GET', key: 'striped-cut.bin', range: 'bytes=0-262143' } });
      const r = await cli(['get', 'striped-cut.bin', '-c', striping, '-o', out, ...(json ? ['--json'] : [])], { env: SECRET_ENV });
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await readFile(out)).equals(big));
      assert.ok(fleet.backend('b1').proxy.requests().some((q) => q.key === 'striped-cut.bin' && q.fault === 'truncate'), 'the cut happened');
      return r;
    };
    const line = JSON.parse(lines((await run(true)).stderr)[0] ?? '{}') as { backend?: string; backends?: string[]; striped?: boolean; failover?: boolean };
    assert.equal(line.striped, true);
    assert.notEqual(line.backend, 'b1', `b1 served none of part 0: ${JSON.stringify(line)}`);
    assert.equal(line.backends?.[0], line.backend, 'the first copy listed is the one the first byte came from');
    assert.equal(line.failover, true);
    const text = (await run(false)).stderr;
    const m = /got striped-cut\.bin from (b\d): 3145728 bytes, verified, failover, striped over (b\d(?:, b\d)*), /.exec(text);
    assert.ok(m !== null, text);
    assert.notEqual(m[1], 'b1', text);
    assert.equal(m[2]?.split(', ')[0], m[1], text);
  });
});
