import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger, maskSecrets } from '../../src/telemetry/logger.js';
import { loadConfig } from '../../src/config/load.js';

test('secrets are masked at any depth, in config objects and URLs', async () => {
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(d.toString()));
  const log = createLogger('info', sink);
  const config = await loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9000', bucket: 'x', access_key_id: 'AKIDVISIBLE', secret_access_key: 'TOPSECRET-1' }],
    database: { driver: 'postgres', url: 'postgres://reader:TOPSECRET-2@db.internal:5432/meta?sslmode=disable' },
  });
  log.info({ cfg: config }, 'resolved');
  log.info({ a: { b: { c: config } } }, 'nested');
  log.info({ list: [{ password: 'TOPSECRET-3' }] }, 'array');
  await new Promise((r) => setImmediate(r));
  const all = lines.join('');
  assert.ok(all.length > 0);
  for (const s of ['TOPSECRET-1', 'TOPSECRET-2', 'TOPSECRET-3']) assert.equal(all.includes(s), false, `${s} leaked`);
  assert.match(all, /AKIDVISIBLE/, 'key ids are not secrets');
  assert.match(all, /postgres:\/\/reader:\(redacted\)@db\.internal/);
  const cyclic: Record<string, unknown> = { password: 'p' };
  cyclic['self'] = cyclic;
  assert.deepEqual(maskSecrets(cyclic), { password: '(redacted)', self: '[…]' });
});
