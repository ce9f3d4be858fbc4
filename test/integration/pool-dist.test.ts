/**
 * The compiled package uses the compiled worker: a plain `node` process (no tsx) imports the
 * pool from dist/, which must resolve dist/workers/probe-worker.js and run probes, transforms
 * included. `npm test` builds dist/ first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const built = new URL('../../dist/src/executors/pool/executor.js', import.meta.url);

const script = `
const { PoolExecutor, defaultWorkerFilename } = await import(${JSON.stringify(built.href)});
const { Recorder } = await import(${JSON.stringify(new URL('../../dist/src/telemetry/recorder.js', import.meta.url).href)});
const pool = new PoolExecutor({
  recorder: new Recorder(),
  backendModule: ${JSON.stringify(new URL('../helpers/plain-backends.mjs', import.meta.url).href)},
  backendData: { b1: { k: 'hello', nd: '{"a":1}\\n{"a":2}\\n' } },
  threads: 1,
});
const req = { backendName: 'b1', signal: new AbortController().signal, location: null, backend: { name: 'b1' } };
const g = await pool.get('k')(req);
const h = await pool.head('k')(req);
const nd = await pool.get('nd', { transform: ${JSON.stringify(fileURLToPath(new URL('../../examples/transforms/gunzip-ndjson.mjs', import.meta.url)))} })(req);
const missing = await pool.get('nope')(req).catch((e) => e.code + ' ' + e.backendStatus);
await pool.close();
console.log(JSON.stringify({ worker: defaultWorkerFilename(), body: new TextDecoder().decode(g.value.body), size: h.value.size, records: nd.value.value, missing }));
`;

test('dist: the pool runs the compiled worker under plain node', { skip: existsSync(built) ? false : 'dist/ not built (npm run build)' }, async () => {
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err === null ? 0 : 1 });
    });
  });
  assert.equal(code, 0, stderr);
  const out = JSON.parse(stdout) as { worker: string; body: string; size: number; records: unknown; missing: string };
  assert.match(out.worker, /\/dist\/workers\/probe-worker\.js$/);
  assert.equal(out.body, 'hello');
  assert.equal(out.size, 5);
  assert.deepEqual(out.records, [{ a: 1 }, { a: 2 }]);
  assert.equal(out.missing, 'BACKEND_ERROR 404');
});
