/**
 * Child of test/unit/lazy-dependencies.test.ts. Logs which npm packages are loaded at each
 * step of a reader's life, as `STEP <name>` marker lines in the same log the hooks append to.
 */
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { logRequiredPackages } from './package-log-require.js';

const log = process.env.READPATH_PACKAGE_LOG as string;
register(new URL('./package-log-hooks.mjs', import.meta.url));
logRequiredPackages(log);
const step = (name: string): void => appendFileSync(log, `STEP ${name}\n`);

const { ReadPath, MemoryBackend, MemoryMetadataStore } = await import('../../src/index.js');
step('imported');
const backends = [new MemoryBackend('b1')];
backends[0]?.put('k', 'hello');
const store = new MemoryMetadataStore();
store.add({ objectKey: 'k', backendName: 'b1', sizeBytes: 5, createdAt: new Date(0), encrypted: false, contentHash: null });
const s3Backend = { name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'k', secret_access_key: 's' };
const s3Config = {
  backends: [s3Backend],
  database: { driver: 'memory' as const },
  runtime: { mode: 'inline' as const },
  logging: { level: 'silent' as const },
};
const rp = await ReadPath.open(s3Config, { backends, store });
const got = await rp.get('k');
if (new TextDecoder().decode(got.body) !== 'hello') throw new Error('wrong body');
step('read');
await rp.metrics();
step('metrics');
await rp.close();
const s3 = await ReadPath.open(s3Config, { store });
step('s3-open');
await s3.close();
const tls = await ReadPath.open({ ...s3Config, backends: [{ ...s3Backend, endpoint: 'https://127.0.0.1:9' }] }, { store });
step('s3-tls-open');
await tls.close();
