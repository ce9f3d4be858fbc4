/**
 * Child of test/unit/s3-backend-lazy.test.ts, run in a fresh process so the AWS SDK is not yet
 * loaded: an S3Backend built before the SDK has loaded builds its client on its first call.
 * Answers HEAD and GET from a plain HTTP server on loopback; prints one JSON line.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Backend } from '../../src/backends/s3-backend.js';
import { s3Sdk } from '../../src/backends/s3-sdk.js';
import { collectBody } from '../../src/backends/body.js';

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-length': '5', etag: '"5d41402abc4b2a76b9719d911017c592"', 'content-type': 'text/plain' });
  res.end(req.method === 'HEAD' ? undefined : 'hello');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const opts = { name: 'b', endpoint, bucket: 'd', accessKeyId: 'k', secretAccessKey: 's', forcePathStyle: true, timeoutMs: 5_000 };

const loadedBefore = s3Sdk.loaded() !== undefined;
const b = new S3Backend(opts);
const head = await b.head('k');
const got = await b.get('k');
const body = new TextDecoder().decode(await collectBody(got.body));
await b.close();

// Closed while the SDK may still be loading: the call fails as closed, nothing is left open.
const unused = new S3Backend(opts);
await unused.close();
let closedError = '';
try {
  await unused.head('k');
} catch (err) {
  closedError = (err as Error).message;
}
server.close();
process.stdout.write(`${JSON.stringify({ loadedBefore, loadedAfter: s3Sdk.loaded() !== undefined, size: head.size, etag: head.etag, body, closedError })}\n`);
