/**
 * Child of test/integration/pool-main-thread.test.ts, in a fresh process: a pooled ReadPath over
 * S3 backends reads an object (served by a plain HTTP server on loopback) while its main thread
 * never loads an S3 transport (the lean one's undici and signer, or the AWS SDK) — the workers
 * hold the clients. Prints one JSON line.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReadPath } from '../../src/read-path.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { s3Sdk } from '../../src/backends/s3-sdk.js';
import { leanS3Deps } from '../../src/backends/lean-s3-deps.js';

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-length': '5', 'content-type': 'text/plain' });
  res.end(req.method === 'HEAD' ? undefined : 'hello');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const store = new MemoryMetadataStore();
store.add({ objectKey: 'k', backendName: 'b1', sizeBytes: 5, createdAt: new Date(0), encrypted: false });
const rp = await ReadPath.open({
  backends: [{ name: 'b1', endpoint, bucket: 'd', access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
  database: { driver: 'memory' },
  runtime: { mode: 'pool', threads: 1 },
  backend_circuit_breaker: { enabled: true },
  logging: { level: 'silent' },
}, { store });
const got = await rp.get('k');
const head = await rp.head('k');
await rp.close();
server.close();
process.stdout.write(JSON.stringify({ body: new TextDecoder().decode(got.body), size: head.size, sdkOnMain: s3Sdk.loaded() !== undefined, leanOnMain: leanS3Deps.loaded() !== undefined }) + '\n');
