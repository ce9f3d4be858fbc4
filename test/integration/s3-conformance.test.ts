/**
 * The S3 transport conformance suite (test/helpers/s3-backend-conformance.ts) against both
 * transports, and the two side by side on the same answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeanS3Backend } from '../../src/backends/lean-s3-backend.js';
import { S3Backend } from '../../src/backends/s3-backend.js';
import { createS3Backend } from '../../src/backends/s3-options.js';
import { readBody } from '../../src/backends/body.js';
import { s3TransportConformance, type ConformanceBackend } from '../helpers/s3-backend-conformance.js';
import type { BackendGetOptions, BackendHeadOptions, BackendListOptions, BackendListPage, GetResult, HeadResult } from '../../src/types.js';
import type { SocketStats } from '../../src/backends/s3-backend.js';
import { startS3Fleet, type S3Fleet } from '../helpers/s3-fleet.js';

s3TransportConformance('lean (SigV4, own HTTP/1.1 connections)', (o) => new LeanS3Backend(o));
s3TransportConformance('sdk (@aws-sdk/client-s3)', (o) => new S3Backend(o));

/**
 * The lean transport with a buffer to read into given to every GET: its GETs then go over its
 * own HTTP/1.1 connections (src/backends/raw-http.ts). The buffer is larger than every object
 * the suite reads, so every 2xx body of known length lands in it (test/integration/raw-http.test.ts
 * checks that the chunks are views of it).
 */
class ReadingInto implements ConformanceBackend {
  readonly name: string;
  readonly #lean: LeanS3Backend;

  constructor(lean: LeanS3Backend) {
    this.#lean = lean;
    this.name = lean.name;
  }

  head(key: string, opts?: BackendHeadOptions): Promise<HeadResult> {
    return this.#lean.head(key, opts);
  }

  get(key: string, opts?: BackendGetOptions): Promise<GetResult> {
    return this.#lean.get(key, { ...opts, into: Buffer.alloc(256 * 1024) });
  }

  list(opts: BackendListOptions): Promise<BackendListPage> {
    return this.#lean.list(opts);
  }

  sockets(): SocketStats {
    return this.#lean.sockets();
  }

  close(): Promise<void> {
    return this.#lean.close();
  }
}
s3TransportConformance('lean, GETs read into a caller buffer (own HTTP/1.1 connections)', (o) => new ReadingInto(new LeanS3Backend(o)));

describe('lean and sdk transports answer alike', () => {
  let fleet: S3Fleet;
  const keys = ['plain', 'with space/ünï+%~.bin'];
  before(async () => {
    fleet = await startS3Fleet({ count: 1 });
    for (const k of keys) await fleet.seed(k, `bytes of ${k}`);
  });
  after(() => fleet.close());

  it('the same HEAD and GET fields for the same objects, ranges and errors', async () => {
    const lean = createS3Backend(fleet.backendOptions('b1', { client: 'lean' }));
    const sdk = createS3Backend(fleet.backendOptions('b1', { client: 'sdk' }));
    assert.ok(lean instanceof LeanS3Backend);
    assert.ok(sdk instanceof S3Backend);
    try {
      for (const k of keys) {
        assert.deepEqual(await lean.head(k), await sdk.head(k));
        const a = await lean.get(k, { range: 'bytes=1-4' });
        const b = await sdk.get(k, { range: 'bytes=1-4' });
        const { body: _a, ...restA } = a;
        const { body: _b, ...restB } = b;
        assert.deepEqual(restA, restB);
        assert.deepEqual(await readBody(a), await readBody(b));
      }
      const failure = async (p: Promise<unknown>): Promise<unknown> => p.then(() => 'resolved', (e: { code?: string; backendStatus?: number; httpStatus?: number }) => [e.code, e.backendStatus, e.httpStatus]);
      assert.deepEqual(await failure(lean.get('missing')), await failure(sdk.get('missing')));
      assert.deepEqual(await failure(lean.head('missing')), await failure(sdk.head('missing')));
      assert.deepEqual(await failure(lean.get('plain', { range: 'bytes=99-' })), await failure(sdk.get('plain', { range: 'bytes=99-' })));
    } finally {
      await lean.close();
      await sdk.close();
    }
  });
});
