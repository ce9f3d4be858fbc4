/**
 * Child of test/unit/lean-s3-lazy.test.ts, in a fresh process: logs which npm packages are
 * loaded at each step of a lean backend's life (`STEP <name>` lines in the hooks' log), and
 * prints one JSON line of what the backends answered. A plain HTTP server on loopback answers.
 */
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register } from 'node:module';
import { logRequiredPackages } from './package-log-require.js';

const log = process.env.READPATH_PACKAGE_LOG as string;
register(new URL('./package-log-hooks.mjs', import.meta.url));
logRequiredPackages(log);
const step = (name: string): void => appendFileSync(log, `STEP ${name}\n`);

const { createS3Backend, preloadS3 } = await import('../../src/backends/s3-options.js');
const { leanS3Deps } = await import('../../src/backends/lean-s3-deps.js');
const { collectBody } = await import('../../src/backends/body.js');
step('imported');

const seen: string[] = [];
const server = createServer((req, res) => {
  seen.push(String(req.headers.authorization ?? ''));
  res.writeHead(200, { 'content-length': '5', etag: '"5d41402abc4b2a76b9719d911017c592"' });
  res.end(req.method === 'HEAD' ? undefined : 'hello');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const base = { name: 'b', endpoint, bucket: 'd', forcePathStyle: true, timeoutMs: 5_000, client: 'lean' as const };

const loadedBefore = leanS3Deps.loaded() !== undefined;
const b = createS3Backend({ ...base, accessKeyId: 'STATICKEY', secretAccessKey: 's' });
step('built');
const head = await b.head('k');
const body = new TextDecoder().decode(await collectBody((await b.get('k')).body));
await b.close();
step('used');

await preloadS3([{ client: 'lean', accessKeyId: 'k', secretAccessKey: 's' }]);
step('preload-lean');

// No keys: the default chain, here from the environment (AWS_ACCESS_KEY_ID set by the test).
await preloadS3([{ client: 'lean' }]);
step('preload-chain');
const chain = createS3Backend(base);
await chain.head('k');
await chain.close();
step('chain');

const closed = createS3Backend({ ...base, accessKeyId: 'k', secretAccessKey: 's' });
await closed.close();
let closedError = '';
try {
  await closed.head('k');
} catch (err) {
  closedError = (err as Error).message;
}
server.close();
process.stdout.write(`${JSON.stringify({ loadedBefore, size: head.size, body, closedError, credentials: seen.map((a) => /Credential=([^/]+)/.exec(a)?.[1]) })}\n`);
