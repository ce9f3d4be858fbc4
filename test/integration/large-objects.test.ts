/**
 * Large objects over real HTTP (issue 14): servers that generate multi-GiB objects on the fly
 * (bench/large/big-object-server.ts), rows in a real SQLite file. `readpath get -o` of 1 GiB
 * in a child process (the compiled CLI) with its peak RSS measured; a copy cut at 40% resumed by Range; a flipped
 * byte that never reaches 'end' nor leaves a file; a paused consumer that stops the server; an
 * abort that frees its socket; a striped read that loses a copy halfway.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ReadPath } from '../../src/read-path.js';
import { SqliteMetadataStore } from '../../src/stores/sqlite-store.js';
import { hasCode } from '../../src/errors.js';
import type { ReadPathConfig } from '../../src/config/types.js';
import { generatedSha256, startBigObjectServer, type BigObjectServer } from '../../bench/large/big-object-server.js';
import { runWithPeakRss } from '../../bench/large/peak-rss.js';
import { eventually } from '../helpers/handles.js';
import { assertMismatchBeforeEnd } from '../helpers/streams.js';

/**
 * The compiled CLI, as users run it (`npm test` builds dist/ first). Under tsx the child carried
 * tsx's own 60–90 MiB, whose variation on a loaded machine once pushed the peak past the bound.
 */
const DIST_MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HUGE = { key: 'backups/huge.bin', size: GiB, seed: 'huge' };
const MID = { key: 'media/mid.bin', size: 48 * MiB + 12345, seed: 'mid' };

let servers: BigObjectServer[];
let tmp: string;
let db: string;
const hashes = new Map<string, string>();

function backends(): NonNullable<ReadPathConfig['backends']> {
  return servers.map((s, i) => ({ name: `b${i + 1}`, endpoint: s.url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true }));
}

function config(extra: Partial<ReadPathConfig> = {}): ReadPathConfig {
  return {
    backends: backends(),
    database: { driver: 'sqlite', path: db },
    runtime: { mode: 'inline', stream_idle_timeout: '2s' },
    logging: { level: 'silent' },
    ...extra,
  };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

async function drainHash(body: Readable): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of body) {
    h.update(c as Buffer);
    bytes += (c as Buffer).byteLength;
  }
  return { hex: h.digest('hex'), bytes };
}

before(async () => {
  servers = await Promise.all([0, 1, 2].map(() => startBigObjectServer({ buckets: ['data'] })));
  tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-large-'));
  db = path.join(tmp, 'meta.db');
  const store = await SqliteMetadataStore.open({ path: db });
  let t = Date.UTC(2026, 0, 1);
  for (const o of [HUGE, MID]) {
    hashes.set(o.key, await generatedSha256(o.size, o.seed));
    for (const s of servers) s.addObject('data', o.key, { size: o.size, seed: o.seed });
    await store.addLocations(servers.map((_, i) => ({
      objectKey: o.key, backendName: `b${i + 1}`, sizeBytes: o.size, createdAt: new Date(t++), encrypted: false, contentHash: hashes.get(o.key) ?? null,
    })));
  }
  await store.close();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(tmp, { recursive: true, force: true });
});

describe('readpath get -o of 1 GiB (child process)', () => {
  it('streams to the file in bounded memory, verified (peak RSS ≤ 256 MiB)', { skip: existsSync(DIST_MAIN) ? false : 'dist/ not built (npm run build)' }, async (t) => {
    const cfg = path.join(tmp, 'readpath.json');
    await writeFile(cfg, JSON.stringify(config({ runtime: { stream_idle_timeout: '5s' } })));
    const out = path.join(tmp, 'huge.out');
    const r = await runWithPeakRss(DIST_MAIN, ['get', HUGE.key, '-c', cfg, '-o', out], { ...process.env, READPATH_LOG_LEVEL: '' }, { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /1073741824 bytes, verified/);
    assert.equal((await stat(out)).size, GiB);
    assert.equal(await sha256File(out), hashes.get(HUGE.key));
    t.diagnostic(`peak RSS ${((r.maxRssBytes ?? 0) / MiB).toFixed(0)} MiB`);
    assert.ok(r.maxRssBytes !== undefined && r.maxRssBytes <= 256 * MiB, `peak RSS ${((r.maxRssBytes ?? 0) / MiB).toFixed(0)} MiB`);
    await rm(out);
  });
});

describe('getStream of large objects (inline, one copy at a time)', () => {
  let rp: ReadPath;
  before(async () => {
    rp = await ReadPath.open(config({ striping: { enabled: false } }));
  });
  after(async () => {
    await rp.close();
    for (const s of servers) s.setFaults({});
  });

  it('a copy cut at 40% is resumed by Range: the second copy serves ≤ 65% of the object', async () => {
    const cut = Math.floor(MID.size * 0.4);
    servers[0]?.setFaults({ cutAtByte: cut, cutTimes: 1 }, { key: MID.key });
    const sent2 = servers[1]?.stats().bytesSent ?? 0;
    const o = await rp.getStream(MID.key);
    const got = await drainHash(o.body);
    assert.equal(got.bytes, MID.size);
    assert.equal(got.hex, hashes.get(MID.key));
    assert.equal(await o.verified, true);
    assert.deepEqual(o.backends, ['b1', 'b2']);
    const fromB2 = (servers[1]?.stats().bytesSent ?? 0) - sent2;
    assert.ok(fromB2 <= 0.65 * MID.size, `the second copy sent ${fromB2} of ${MID.size} bytes`);
    const resumed = servers[1]?.stats().requests.filter((q) => q.key === MID.key).at(-1);
    assert.equal(resumed?.range, `bytes=${cut}-${MID.size - 1}`, 'resumed exactly where the first copy stopped');
    servers[0]?.setFaults({}, { key: MID.key });
  });

  it('a flipped byte destroys the stream with INTEGRITY_MISMATCH before end', async () => {
    servers[0]?.setFaults({ flipByteAt: 30 * MiB }, { key: MID.key });
    const o = await rp.getStream(MID.key);
    await assertMismatchBeforeEnd(o);
    servers[0]?.setFaults({}, { key: MID.key });
  });

  it('a paused consumer stops the server: bytes sent stay bounded while the body waits', async () => {
    const s = servers[0] as BigObjectServer;
    const before1 = s.stats().bytesSent;
    const o = await rp.getStream(HUGE.key);
    await new Promise<void>((resolve) => o.body.once('readable', () => resolve()));
    // Nothing reads now: the server must end up waiting for 'drain' with little sent.
    assert.ok(await eventually(() => s.stats().waitingDrain > 0, 5000), 'the server waits for the client');
    let last = -1;
    let still = 0;
    await eventually(() => {
      const n = s.stats().bytesSent;
      still = n === last ? still + 1 : 0;
      last = n;
      return still >= 300;
    }, 5000);
    const sent = s.stats().bytesSent - before1;
    assert.ok(sent <= 16 * MiB, `sent ${(sent / MiB).toFixed(1)} MiB of a 1 GiB object to a consumer that read nothing`);
    o.body.destroy();
    assert.ok(await eventually(() => s.stats().waitingDrain === 0 && s.stats().openSockets === 0, 5000), 'the socket is freed');
  });

  it('an abort mid-stream ends the body with ABORTED and frees the socket', async () => {
    const s = servers[0] as BigObjectServer;
    const sent0 = s.stats().bytesSent;
    const ac = new AbortController();
    const o = await rp.getStream(HUGE.key, { signal: ac.signal });
    let n = 0;
    const reading = (async () => {
      for await (const c of o.body) {
        n += (c as Buffer).byteLength;
        if (n >= 8 * MiB) ac.abort();
      }
    })();
    await assert.rejects(reading, (err: unknown) => hasCode(err, 'ABORTED'));
    assert.ok(await eventually(() => s.stats().openSockets === 0, 5000), `open sockets: ${s.stats().openSockets}`);
    assert.ok(s.stats().bytesSent - sent0 < GiB / 4, 'the read stopped soon after the abort');
  });
});

describe('striped reads', () => {
  it('reads parts from every copy; a copy that dies mid-read is replaced, the body whole and verified', async () => {
    const dying = await startBigObjectServer({ buckets: ['data'] });
    dying.addObject('data', MID.key, { size: MID.size, seed: MID.seed });
    const rp = await ReadPath.open(config({
      backends: [...backends(), { name: 'b4', endpoint: dying.url, bucket: 'data', access_key_id: 'k', secret_access_key: 's', force_path_style: true }],
      striping: { min_size: '8MiB', part_size: '1MiB', parts_in_flight: 6 },
    }));
    const store = rp.store as SqliteMetadataStore;
    await store.addLocations([{ objectKey: 'striped/mid.bin', backendName: 'b4', sizeBytes: MID.size, createdAt: new Date(1), encrypted: false, contentHash: hashes.get(MID.key) ?? null }]);
    for (const [i, s] of servers.entries()) {
      s.addObject('data', 'striped/mid.bin', { size: MID.size, seed: MID.seed });
      await store.addLocations([{ objectKey: 'striped/mid.bin', backendName: `b${i + 1}`, sizeBytes: MID.size, createdAt: new Date(2 + i), encrypted: false, contentHash: hashes.get(MID.key) ?? null }]);
    }
    dying.addObject('data', 'striped/mid.bin', { size: MID.size, seed: MID.seed });
    // b4 (first in row order) stalls in the first part, then dies with other parts in flight.
    dying.setFaults({ stallAtByte: 100 });
    const o = await rp.getStream('striped/mid.bin');
    const reading = drainHash(o.body);
    assert.ok(await eventually(() => dying.stats().stalled > 0, 5000));
    await dying.close();
    const got = await reading;
    assert.equal(got.bytes, MID.size);
    assert.equal(got.hex, hashes.get(MID.key));
    assert.equal(await o.verified, true);
    assert.ok(o.backends.length >= 3, `served by ${o.backends.join(',')}`);
    const parts = servers.map((s) => s.stats().requests.filter((q) => q.key === 'striped/mid.bin' && q.method === 'GET').length);
    assert.ok(parts.every((n) => n > 0), `parts per healthy copy: ${parts.join(',')}`);
    assert.equal(rp.recorder.count('striped_parts_total'), Math.ceil(MID.size / MiB));
    await rp.close();
    assert.deepEqual((await readdir(tmp)).filter((f) => f.endsWith('.tmp')), []);
  });
});
