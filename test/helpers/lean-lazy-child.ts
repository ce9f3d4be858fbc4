/**
 * Child of test/unit/lean-s3-lazy.test.ts, in a fresh process: logs which npm packages are
 * loaded at each step of a lean backend's life (`STEP <name>` lines in the hooks' log), and
 * prints one JSON line of what the backends answered. A plain HTTP server on loopback answers,
 * and an HTTPS one with the certificate in READPATH_TLS_KEY/READPATH_TLS_CERT (which the test
 * also passes as NODE_EXTRA_CA_CERTS).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
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
const answer: RequestListener = (req, res) => {
  seen.push(String(req.headers.authorization ?? ''));
  res.writeHead(200, { 'content-length': '5', etag: '"5d41402abc4b2a76b9719d911017c592"' });
  res.end(req.method === 'HEAD' ? undefined : 'hello');
};
const server = createServer(answer);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const base = { name: 'b', endpoint, bucket: 'd', forcePathStyle: true, timeoutMs: 5_000, client: 'lean' as const };
const tlsServer = createTlsServer({ key: readFileSync(process.env.READPATH_TLS_KEY as string), cert: readFileSync(process.env.READPATH_TLS_CERT as string) }, answer);
await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
const tlsEndpoint = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;

const loadedBefore = leanS3Deps.loaded() !== undefined;
const b = createS3Backend({ ...base, accessKeyId: 'STATICKEY', secretAccessKey: 's' });
step('built');
const head = await b.head('k');
const body = new TextDecoder().decode(await collectBody((await b.get('k')).body));
await b.close();
step('used');

await preloadS3([{ client: 'lean', endpoint, accessKeyId: 'k', secretAccessKey: 's' }]);
step('preload-http');

// Over TLS the lean transport sends on undici's pool: a backend built before undici has loaded
// loads it on its first call, and works from that call.
const tlsLoadedBefore = leanS3Deps.loaded() !== undefined;
const t = createS3Backend({ ...base, endpoint: tlsEndpoint, accessKeyId: 'TLSKEY', secretAccessKey: 's' });
const tlsHead = await t.head('k');
const tlsBody = new TextDecoder().decode(await collectBody((await t.get('k')).body));
await t.close();
step('tls-used');

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
tlsServer.close();
process.stdout.write(`${JSON.stringify({ loadedBefore, size: head.size, body, tlsLoadedBefore, tlsSize: tlsHead.size, tlsBody, closedError, credentials: seen.map((a) => /Credential=([^/]+)/.exec(a)?.[1]) })}\n`);
