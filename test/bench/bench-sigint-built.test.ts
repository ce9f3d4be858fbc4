/**
 * SIGINT part-way through the built benches that start servers of their own (gateway,
 * encryption, compression, head), each given far more rounds than the wait lasts: the bench
 * exits 130 without a report, every process it started — S3 stubs, `readpath serve` gateways
 * and their cluster processes, the floor proxy, rclone under its `bash` wrapper, the encryption
 * stand-in — is gone, and its TMPDIR (the SQLite files, configurations, rclone's downloads) is
 * empty. Each waits for a sign that the bench is measuring (its round line, the processes it
 * starts), never for a time. They run dist/ (`npm test` builds it first, or `npm run build`):
 * the gateway bench starts the compiled CLI beside it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasArg, sigintPartWay } from '../helpers/bench-processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const base = await mkdtemp(path.join(os.tmpdir(), 'readpath-bench-sigint-test-'));
after(() => rm(base, { recursive: true, force: true }));
let n = 0;

/** A built bench entry, dist/bench/NAME.bench.js. */
function built(name: string): string {
  const file = path.join(ROOT, 'dist/bench', `${name}.bench.js`);
  assert.ok(existsSync(file), `${file} missing: npm run build first`);
  return file;
}

async function privateTmp(): Promise<string> {
  const dir = path.join(base, `t${n++}`);
  await mkdir(dir);
  await chmod(dir, 0o755);
  return dir;
}

test('SIGINT while rclone downloads: the gateway bench exits 130; its stub, gateways (one of two processes), floor proxy and rclone go with it', async () => {
  await sigintPartWay({
    argv: [built('gateway'), '--quick', '--repeat', '1000', '--floor-variant', '--processes-variant', '2'],
    tmp: await privateTmp(),
    // After the warm-up, in the timed rounds: every server up and an rclone (under bash) running.
    ready: (kids, output) => output.includes('warm-up 1/1 done')
      && kids.some((k) => hasArg(k, 'stub-process.js'))
      && kids.filter((k) => hasArg(k, 'main.js') && hasArg(k, 'serve')).length >= 2
      && kids.some((k) => hasArg(k, 'floor-proxy.js'))
      && kids.some((k) => hasArg(k, 'rclone')),
    what: 'ran rclone against its stub and gateways',
  });
});

test('SIGINT during its rounds: the encryption bench exits 130 and its S3 stand-in goes with it', async () => {
  await sigintPartWay({
    argv: [built('encryption'), '--mib', '1', '--rounds', '100000', '--warmup', '0', '--pools', 'default'],
    tmp: await privateTmp(),
    ready: (kids, output) => /^round 1\//m.test(output) && kids.some((k) => hasArg(k, 'server-process.js')),
    what: 'measured a round',
  });
});

test('SIGINT while its S3 stand-in makes the objects: the encryption bench exits 130 and the stand-in ends quietly', async () => {
  await sigintPartWay({
    // 128 MiB: seconds of random bytes and encryption in the stand-in, which then finds the bench gone.
    argv: [built('encryption'), '--mib', '128', '--rounds', '100000', '--warmup', '0', '--pools', 'default'],
    tmp: await privateTmp(),
    ready: (kids, output) => output.includes('starting the server') && kids.some((k) => hasArg(k, 'server-process.js')),
    what: 'started its S3 stand-in',
  });
});

test('SIGINT during its rounds: the compression bench exits 130 and its S3 stand-in goes with it', async () => {
  await sigintPartWay({
    argv: [built('compression'), '--mib', '1', '--rounds', '100000', '--warmup', '0'],
    tmp: await privateTmp(),
    ready: (kids, output) => /^round 1\//m.test(output) && kids.some((k) => hasArg(k, 'server-process.js')),
    what: 'measured a round',
  });
});

test('SIGINT during its rounds: the head bench exits 130 and its stub goes with it', async () => {
  await sigintPartWay({
    argv: [built('head'), '--count', '500', '--rounds', '100000'],
    tmp: await privateTmp(),
    ready: (kids, output) => /round 1\//.test(output) && kids.some((k) => hasArg(k, 'stub-process.js')),
    what: 'measured a round',
  });
});
