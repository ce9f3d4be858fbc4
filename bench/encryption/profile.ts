/**
 * A small driver to profile one kind of read of the encryption bench's objects:
 *
 *   npm run build && node --cpu-prof --cpu-prof-dir /tmp/prof dist/bench/encryption/profile.js \
 *     --op get|stream --variant plain|encrypted [--mode inline|pool] [--reads 10] [--mib 64]
 *
 * Same server, rows and configuration as bench/encryption.bench.ts; prints the mean ms per read.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { BUCKET, ENC_KEY, PLAIN_KEY, startEncryptionServer } from './server-process.js';

const MiB = 1024 * 1024;
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] ?? dflt : dflt;
};
const op = arg('--op', 'get');
const variant = arg('--variant', 'encrypted');
const mode = arg('--mode', 'inline') === 'pool' ? 'pool' : 'inline';
const reads = Number(arg('--reads', '10'));
const size = Number(arg('--mib', '64')) * MiB;

const masterKey = randomBytes(32);
const server = await startEncryptionServer(size, masterKey, Number(arg('--chunk', '65536')));
const tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-encryption-profile-'));
const db = path.join(tmp, 'meta.db');
const store = await SqliteMetadataStore.open({ path: db });
const createdAt = new Date();
await store.addLocations([
  { objectKey: PLAIN_KEY, backendName: 'b1', sizeBytes: size, createdAt, encrypted: false, contentHash: server.plain.contentHash },
  {
    objectKey: ENC_KEY, backendName: 'b1', sizeBytes: server.enc.sizeBytes, createdAt, encrypted: true, encryptionKey: Buffer.from(server.enc.encryptionKeyHex, 'hex'),
    keyId: server.enc.keyId, plaintextSize: server.enc.plaintextSize, contentHash: server.enc.contentHash,
  },
]);
await store.close();
const rp = await ReadPath.open({
  backends: [{ name: 'b1', endpoint: server.url, bucket: BUCKET, access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
  database: { driver: 'sqlite', path: db },
  runtime: { mode, max_buffered_bytes: Math.max(256 * MiB, 2 * size) },
  encryption: { enabled: true, master_key: masterKey.toString('base64') },
  logging: { level: 'warn' },
});
const key = variant === 'plain' ? PLAIN_KEY : ENC_KEY;
const times: number[] = [];
let cpu0 = process.cpuUsage();
for (let i = 0; i < reads; i++) {
  if (i === 1) cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (op === 'stream') {
    const o = await rp.getStream(key);
    let n = 0;
    for await (const c of o.body) n += (c as Buffer).byteLength;
    if (n !== size || !(await o.verified)) throw new Error('stream not verified');
  } else {
    const o = await rp.get(key);
    if (o.body.byteLength !== size || !o.verified) throw new Error('get not verified');
  }
  times.push(performance.now() - t0);
}
const cpu = process.cpuUsage(cpu0);
await rp.close();
await server.close();
await rm(tmp, { recursive: true, force: true });
const warm = times.slice(1);
process.stdout.write(`${op} ${variant} ${mode}: ${(warm.reduce((a, x) => a + x, 0) / warm.length).toFixed(1)} ms/read, CPU user ${(cpu.user / 1000 / warm.length).toFixed(1)} + system ${(cpu.system / 1000 / warm.length).toFixed(1)} ms/read (${times.map((t) => t.toFixed(0)).join(' ')})\n`);
