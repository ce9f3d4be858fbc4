/**
 * `bench/stream.bench.ts` end to end with small objects, as a child process: its generating
 * servers in a process of their own, `readpath get -o` children with their peak RSS for each
 * `--rss-mib` size (the bench checks each file's size and that the read was verified), getStream,
 * a copy cut at 40% resumed from the next copy, striped vs one copy, and readMany. Asserts every
 * section's rows; no timing is asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJsScript } from '../helpers/run-ts-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the stream bench on small objects: every section reports, the resumed copy serves only the rest', async () => {
  // Compiled: the bench starts the compiled CLI beside it (dist/src/cli/main.js).
  const r = await runJsScript(path.join(ROOT, 'dist/bench/stream.bench.js'), [
    '--huge-mib', '8', '--rss-mib', '2,8', '--striped-mib', '8', '--cap-mib', '200', '--rounds', '1', '--small', '4',
  ], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const mib of [2, 8]) {
    const row = new RegExp(`^\\| ${mib} MiB \\| (\\d+) MiB \\(.*\\) \\| (\\d+) MiB \\(.*\\) \\|$`, 'm').exec(r.stdout);
    assert.ok(row !== null, `an RSS row for ${mib} MiB:\n${r.stdout}`);
    for (const rss of [row[1], row[2]]) assert.ok(Number(rss) > 20 && Number(rss) < 1024, `a peak RSS in MiB: ${row[0]}`);
  }
  assert.match(r.stdout, /^\| striped \| [\d.]+ \| [\d.]+ ms \|/m);
  assert.match(r.stdout, /^\| one copy \| [\d.]+ \| [\d.]+ ms \|/m);
  const share = /the second copy served \*\*([\d.]+)%\*\*/.exec(r.stdout);
  assert.ok(share !== null, r.stdout);
  // The cut is at 40%: a resume by Range re-reads nothing, so the second copy serves the rest.
  assert.ok(Math.abs(Number(share[1]) - 60) < 0.5, `second copy's share ${share[1]}%`);
  assert.match(r.stdout, /^\| striped over 3 copies \| [\d.]+ \| [\d.]+ \|$/m);
  assert.match(r.stdout, /^\| this build \| \d+ \| \d+ \| [\d.]+ \|$/m);
});
