import { ReadPath } from '../src/read-path.js';
import { MemoryBackend } from '../src/backends/memory-backend.js';
import { SqliteMetadataStore } from '../src/stores/sqlite-store.js';
import { sha256Hex } from '../src/probe/verify.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'h5exp-'));
const path = join(dir, 'rp.db');
const store = await SqliteMetadataStore.open({ path });
const data = randomBytes(4 << 20);
const b1 = new MemoryBackend('b1');
b1.put('k', data);
const origGet = b1.get.bind(b1);
const { Readable } = await import('node:stream');
b1.get = async (k, o) => {
  const res = await origGet(k, o);
  async function* slow() { for (let at = 0; at < data.length; at += 65536) { await new Promise((r) => setTimeout(r, 10)); yield data.subarray(at, at + 65536); } }
  return { ...res, body: Readable.from(slow()) };
};
await store.addLocations([{ objectKey: 'k', backendName: 'b1', sizeBytes: data.byteLength, createdAt: new Date(1), encrypted: false, contentHash: sha256Hex(data) }]);
const rp = await ReadPath.open({
  backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'k', secret_access_key: 's', egress_byte_limit: 1 << 30 }],
  database: { driver: 'sqlite', path }, runtime: { mode: 'inline' }, logging: { level: 'silent' },
} as never, { backends: [b1], store } as never);
const s = await rp.getStream('k');
let got = 0;
s.body.on('data', (c: Buffer) => { got += c.length; });
s.body.on('error', () => {});
await new Promise((r) => setTimeout(r, 35));
const closing = rp.close();
await closing;
await new Promise((r) => setTimeout(r, 50));
console.log('got', got, 'recorder', rp.recorder.usage.usage('b1'), 'pending', rp.recorder.reservations.pending('b1'));
const check = await SqliteMetadataStore.open({ path });
console.log('stored', await check.loadUsage(new Date().toISOString().slice(0, 7)));
