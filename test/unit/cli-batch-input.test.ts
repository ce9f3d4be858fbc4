/**
 * `readpath batch` in-process, through runCli: a batch that ends before its input does lets go
 * of stdin, whose pending read would otherwise keep the process alive; a Ctrl-C that came while
 * it started still stops it; an --out directory that cannot be written is a usage error before
 * any key is read.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runCli } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/errors.js';
import { unwritableDir } from '../helpers/unwritable-dir.js';
import { captured } from '../helpers/captured-io.js';

let tmp: string;
let config: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-batch-input-'));
  config = path.join(tmp, 'readpath.yaml');
  // No key is stored, so no backend is ever asked: every read is OBJECT_NOT_FOUND from the store.
  await writeFile(config, `backends:
  - { name: b1, endpoint: "http://127.0.0.1:9", region: us-east-1, bucket: data, access_key_id: k, secret_access_key: s }
database: { driver: memory }
runtime: { mode: inline }
`);
});
after(async () => { await rm(tmp, { recursive: true, force: true }); });

it('interrupted while stdin is still open and idle, batch prints its summary, exits 130 and releases stdin', async () => {
  const stdin = new PassThrough();
  // Read by the test itself, line by line: not captured.
  const stdout = new PassThrough();
  const { stderr, err } = captured();
  const interrupt = new AbortController();
  const run = runCli(['batch', '-c', config, '--keys', '-', '--ndjson'], { stdin, stdout, stderr, env: {} }, { signal: interrupt.signal });
  // One key, then nothing: the producer is alive but has nothing more to say.
  stdin.write('no-such-key\n');
  const [line] = await once(stdout, 'data') as [Buffer];
  assert.equal((JSON.parse(line.toString()) as { key: string }).key, 'no-such-key');
  interrupt.abort(new Error('interrupted (SIGINT)'));
  assert.equal(await run, EXIT.INTERRUPTED, err());
  assert.match(err(), /^readpath: interrupted: 1 reads?, 0 ok, 1 failed/m);
  assert.equal(stdin.destroyed, true, 'stdin is let go: its pending read no longer holds the process');
});

it('an --out directory that cannot be written is a usage error (exit 2) before any key is read', async () => {
  const dir = path.join(tmp, 'read-only');
  const restore = unwritableDir(dir);
  try {
    const { stdout, stderr, out, err } = captured();
    const stdin = new PassThrough();
    stdin.end('a\nb\n');
    const code = await runCli(['batch', '-c', config, '--keys', '-', '--out', dir], { stdin, stdout, stderr, env: {} });
    assert.equal(code, EXIT.USAGE, err());
    assert.equal(err(), `readpath: error: --out ${dir}: permission denied\n`);
    assert.equal(out(), '', 'no key was read: no outcome line');
  } finally {
    restore();
  }
});

it('a Ctrl-C that came while batch was starting (config, workers) stops it before any read: summary, exit 130', async () => {
  const { stdout, stderr, out, err } = captured();
  const stdin = new PassThrough();
  stdin.end('a\nb\nc\n');
  // Aborted before the command could listen: as when SIGINT arrives while the reader opens.
  const interrupt = new AbortController();
  interrupt.abort(new Error('interrupted (SIGINT)'));
  const code = await runCli(['batch', '-c', config, '--keys', '-', '--ndjson'], { stdin, stdout, stderr, env: {} }, { signal: interrupt.signal });
  assert.equal(code, EXIT.INTERRUPTED, err());
  assert.equal(out(), '', 'no key was read after the interrupt');
  assert.match(err(), /^readpath: interrupted: 0 reads, 0 ok, 0 failed/m);
});

it('a batch whose stdout reader goes away (| head) stops reading and exits 141, printing nothing more', async () => {
  let writes = 0;
  // A pipe whose reader closed after the first line: each later write fails with EPIPE.
  const stdout = new Writable({
    write(_chunk, _enc, cb) {
      writes++;
      cb(writes === 1 ? null : Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const { stderr, err } = captured();
  const stdin = new PassThrough();
  const run = runCli(['batch', '-c', config, '--keys', '-', '--ndjson'], { stdin, stdout, stderr, env: {} });
  // Keys keep coming: the batch must stop on its own once its output is gone.
  const feeding = setInterval(() => stdin.write('no-such-key\n'), 5);
  try {
    assert.equal(await run, EXIT.OUTPUT_CLOSED, err());
  } finally {
    clearInterval(feeding);
  }
  assert.equal(err(), '', 'no summary: the output went away, as `cat` into `head` says nothing');
  assert.equal(stdin.destroyed, true, 'stdin is let go');
});
