/**
 * The package root exports the contract (API.md) and little else: no internals, no CLI, no
 * demo, no benchmark harness — and importing it loads none of those modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as api from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the root entry exports the API.md contract in at most 45 runtime values', () => {
  const names = Object.keys(api);
  assert.ok(names.length <= 45, `${names.length} runtime exports: ${names.join(', ')}`);
  for (const name of [
    'ReadPathError', 'UsageLimitSkipError', 'hasCode', 'httpStatusOf', 'noopCleanup', 'Failover', 'Recorder',
    'MemoryBackend', 'MemoryMetadataStore', 'MemoryLocationCache', 'ReadPath', 'SqliteMetadataStore',
    'PostgresMetadataStore', 'S3Backend', 'loadConfig', 'InlineExecutor', 'PoolExecutor',
  ]) {
    assert.ok(name in api, `${name} is exported`);
  }
  for (const internal of ['ProbeRun', 'getProbe', 'headProbe', 'runProbe', 'benchMain', 'renderCdfSvg', 'messageOf', 'requirePositiveInt', 'runBatch']) {
    assert.ok(!(internal in api), `${internal} is not exported`);
  }
});

test('importing the root loads no CLI, demo or benchmark module', async () => {
  const code = `
    import { MessageChannel } from 'node:worker_threads';
    import { register } from 'node:module';
    const { port1, port2 } = new MessageChannel();
    const seen = [];
    port1.on('message', (u) => seen.push(u));
    register('data:text/javascript,' + encodeURIComponent(
      'let port; export function initialize(d) { port = d.port; }' +
      'export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }'),
      { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
    await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
    await new Promise((r) => setTimeout(r, 50));
    port1.close();
    process.stdout.write(JSON.stringify(seen));
  `;
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  const urls = (JSON.parse(out) as string[]).filter((u) => u.startsWith('file:') && !u.includes('/node_modules/'));
  assert.ok(urls.some((u) => u.endsWith('/src/read-path.ts')), 'the hook saw the package load');
  const offending = urls.filter((u) => /\/(bench|src\/cli|test)\//.test(u));
  assert.deepEqual(offending, [], 'modules the library entry must not load');
});
