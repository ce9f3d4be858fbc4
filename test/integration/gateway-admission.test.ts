/**
 * The gateway's admission control end to end (s3-orchestrator's server keys): with one slot and
 * `admission_wait`, a second GET waits for the first instead of being refused and both are
 * served whole; without a wait it is refused with 503 SlowDown and `Retry-After: 1`, counted by
 * reason; `max_concurrent_requests` is the limit when `max_concurrent_reads` is 0. A backend
 * gate holds the first read: nothing here depends on how long anything takes. And a read that
 * every backend's usage limit refuses (USAGE_LIMIT_EXCEEDED) is 503 SlowDown too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/backends/s3-signer.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { ReadPath } from '../../src/read-path.js';
import { sha256Hex } from '../../src/probe/verify.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import type { BackendGetOptions, GetResult, HeadResult, ObjectBackend } from '../../src/types.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-request.js';

const AKID = 'AKIAADMISSION0000001';
const SECRET = 'admission-secret-0123456789';
const SLOW = Buffer.from('held by the gate until the test opens it\n');
const FAST = Buffer.from('served as soon as it is admitted\n');

const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });

/** A header-signed GET of `/photos/{key}` from the gateway on `port`, on a connection of its own. */
async function signedGet(port: number, key: string): Promise<RawAnswer> {
  const host = `127.0.0.1:${port}`;
  const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port, path: `/photos/${key}`, query: {}, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  return rawRequest(`http://${host}/photos/${key}`, { headers: signed.headers });
}

/** A memory backend whose GETs of `photos/slow.txt` wait for the test to open a gate. */
class GatedBackend implements ObjectBackend {
  readonly name: string;
  readonly inner: MemoryBackend;
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  /** Resolves when a gated GET has started. */
  started: Promise<void> = Promise.resolve();
  #sawStart: () => void = () => {};

  constructor(name: string) {
    this.name = name;
    this.inner = new MemoryBackend(name);
  }

  close(): void {
    this.#open = new Promise((r) => { this.#release = r; });
    this.started = new Promise((r) => { this.#sawStart = r; });
  }

  open(): void {
    this.#release();
  }

  head(key: string, opts?: { signal?: AbortSignal }): Promise<HeadResult> {
    return this.inner.head(key, opts);
  }

  async get(key: string, opts?: BackendGetOptions): Promise<GetResult> {
    if (key === 'photos/slow.txt') {
      this.#sawStart();
      await this.#open;
    }
    return this.inner.get(key, opts);
  }
}

describe('gateway admission: one slot, admission_wait, Retry-After', () => {
  let rp: ReadPath;
  let gw: Gateway;
  const b1 = new GatedBackend('b1');

  before(async () => {
    const store = new MemoryMetadataStore();
    for (const [k, v] of [['photos/slow.txt', SLOW], ['photos/fast.txt', FAST]] as const) {
      b1.inner.put(k, v);
      store.add({ objectKey: k, backendName: 'b1', sizeBytes: v.length, createdAt: new Date(1), encrypted: false, contentHash: sha256Hex(v) });
    }
    rp = await ReadPath.open({
      backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's' }],
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
      buckets: [{ name: 'photos', credentials: [{ access_key_id: AKID, secret_access_key: SECRET }] }],
      server: { listen_addr: '127.0.0.1:0', max_concurrent_reads: 1, admission_wait: '10m' },
    }, { backends: [b1], store });
    gw = await startGateway(rp, { settings: rp.config.gateway });
  });

  after(async () => {
    b1.open();
    await gw?.close(1000);
    await rp?.close();
  });

  const get = (key: string): Promise<RawAnswer> => signedGet(gw.port, key);
  const rejected = async (reason: string): Promise<number> => {
    const m = new RegExp(`^readpath_gateway_admission_rejections_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(await rp.metrics());
    return Number(m?.[1] ?? 0);
  };

  it('with admission_wait a second request waits for the slot and both are served whole', async () => {
    b1.close();
    const first = get('slow.txt');
    await b1.started;
    const second = get('fast.txt');
    // The second is queued, not refused: nothing has answered it while the first holds the slot.
    let secondDone = false;
    void second.then(() => { secondDone = true; });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(secondDone, false, 'still waiting for the slot');
    b1.open();
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.ok(a.body.equals(SLOW) && b.body.equals(FAST));
  });

  it('without a wait the second is 503 SlowDown with Retry-After: 1 and counted; the slot frees when the first ends', async () => {
    gw.reload({ ...rp.config.gateway, admissionWaitMs: 0 });
    const before = await rejected('full');
    b1.close();
    const first = get('slow.txt');
    await b1.started;
    const second = await get('fast.txt');
    assert.equal(second.status, 503);
    assert.equal(second.headers['retry-after'], '1');
    assert.match(second.body.toString(), /<Code>SlowDown<\/Code>/);
    assert.equal(await rejected('full'), before + 1);
    b1.open();
    assert.equal((await first).status, 200);
    assert.equal((await get('fast.txt')).status, 200, 'the slot is free again');
  });

  it('max_concurrent_requests is the limit when max_concurrent_reads is 0; both 0 is unlimited', async () => {
    gw.reload({ ...rp.config.gateway, maxConcurrentReads: 0, maxConcurrentRequests: 1, admissionWaitMs: 0 });
    b1.close();
    const first = get('slow.txt');
    await b1.started;
    assert.equal((await get('fast.txt')).status, 503);
    gw.reload({ ...rp.config.gateway, maxConcurrentReads: 0, maxConcurrentRequests: 0, admissionWaitMs: 0 });
    assert.equal((await get('fast.txt')).status, 200, 'unlimited');
    b1.open();
    assert.equal((await first).status, 200);
  });
});

describe('gateway: every copy over its backend\'s usage limit', () => {
  let rp: ReadPath;
  let gw: Gateway;

  before(async () => {
    const store = new MemoryMetadataStore();
    const backends = ['b1', 'b2'].map((name) => new MemoryBackend(name));
    for (const b of backends) {
      b.put('photos/fast.txt', FAST);
      store.add({ objectKey: 'photos/fast.txt', backendName: b.name, sizeBytes: FAST.length, createdAt: new Date(b.name === 'b1' ? 1 : 2), encrypted: false, contentHash: sha256Hex(FAST) });
    }
    rp = await ReadPath.open({
      backends: backends.map((b) => ({ name: b.name, endpoint: 'http://127.0.0.1:9', bucket: 'data', access_key_id: 'k', secret_access_key: 's', api_request_limit: 1 })),
      database: { driver: 'memory' },
      runtime: { mode: 'inline' },
      logging: { level: 'silent' },
      buckets: [{ name: 'photos', credentials: [{ access_key_id: AKID, secret_access_key: SECRET }] }],
      server: { listen_addr: '127.0.0.1:0' },
    }, { backends, store });
    gw = await startGateway(rp, { settings: rp.config.gateway });
  });

  after(async () => {
    await gw?.close(1000);
    await rp?.close();
  });

  it('is 503 SlowDown (USAGE_LIMIT_EXCEEDED), once each backend has spent its one request', async () => {
    for (let i = 0; i < 2; i++) {
      const ok = await signedGet(gw.port, 'fast.txt');
      assert.equal(ok.status, 200, `read ${i + 1}: a backend with its request left`);
      assert.ok(ok.body.equals(FAST));
    }
    const over = await signedGet(gw.port, 'fast.txt');
    assert.equal(over.status, 503);
    assert.match(over.body.toString(), /<Code>SlowDown<\/Code>/);
    assert.match(over.body.toString(), /<Message>every copy of photos\/fast\.txt is over its backend&apos;s usage limit<\/Message>/);
  });
});

