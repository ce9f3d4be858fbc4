/**
 * One conformance suite for S3 transports (the lean one, SigV4 over its own HTTP/1.1 client and the AWS SDK one): run
 * `s3TransportConformance(label, factory)` from a test file once per transport.
 *
 * Two servers, each behind its own {@link FaultProxy}:
 * - `s3rver`: a real s3rver 3.7.1 (through the test fleet);
 * - `stub`: a strict in-memory S3 (s3-stub.ts) that verifies SigV4 signatures, session tokens,
 *   virtual-host addressing, exact range and conditional semantics — what s3rver does not.
 *
 * Covers: awkward keys (spaces, unicode, `+`, `%`, `~`, sub-delimiters, 1024 bytes), missing
 * copies, range edges, conditional headers, every fault the proxy injects, aborts (before, mid-
 * request, mid-body: the socket is freed), timeouts that cover the body, credentials (session
 * token, bad keys, a provider whose credentials expire mid-batch), addressing, close().
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { discardBody, readBody } from '../../src/backends/body.js';
import type { S3BackendOptions, S3Credentials, SocketStats } from '../../src/backends/s3-backend.js';
import { hasCode, type ErrorCode } from '../../src/errors.js';
import { verifyBody } from '../../src/probe/probes.js';
import type { ObjectBackend } from '../../src/types.js';
import { FaultProxy } from './fault-proxy.js';
import { deferred } from './gate.js';
import { eventually, settleTcpHandles } from './handles.js';
import { startS3Fleet, S3RVER_ACCESS_KEY, S3RVER_SECRET_KEY, type S3Fleet } from './s3-fleet.js';
import { startS3Stub, type S3Stub } from './s3-stub.js';
import { OK_ANSWER, scriptedServer, type ScriptedServer } from './scripted-http-server.js';

/** What the suite needs of a transport. */
export interface ConformanceBackend extends ObjectBackend {
  close(): Promise<void>;
  sockets(): SocketStats;
}

/** Builds one backend of the transport under test. */
export type ConformanceFactory = (options: S3BackendOptions) => ConformanceBackend;

const BUCKET = 'data';
const REGION = 'us-east-1';
const SESSION = { accessKeyId: 'SESSIONKEY', secretAccessKey: 'session/secret+key', sessionToken: 'FwoGZXIvYXdzE//token+with/odd=chars' };

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** A 1024-byte key of multi-byte characters, its segments at most `segment` bytes (s3rver stores keys as paths). */
function longKey(segment: number): string {
  let key = '';
  let seg = 0;
  const unit = 'é'; // 2 bytes
  while (Buffer.byteLength(key) < 1024) {
    const room = 1024 - Buffer.byteLength(key);
    if (seg >= segment - 2 && room > 1) {
      key += '/';
      seg = 0;
    } else if (room >= 2) {
      key += unit;
      seg += 2;
    } else {
      key += 'k';
      seg += 1;
    }
  }
  return key;
}

/** Keys both servers must serve under the transport's encoding. */
const COMMON_KEYS = [
  'dir with space/file name.bin',
  'ünïcödé/日本語/emoji-😀.txt',
  'a+b+c plus',
  '100%/p%20q%2Fliteral',
  'tilde~/x~y',
  "sub-delims!$&'()*,;=:@",
  'query?and#hash[brackets]{braces}^`|\\"<>',
  longKey(200),
];
/** Keys only the stub holds (s3rver keeps keys as file paths). */
const STUB_KEYS = [longKey(2000), 'double//slash', 'dots/./and/../x', '/leading-slash', 'trailing/'];

const OBJ = Uint8Array.from({ length: 64 * 1024 + 3 }, (_, i) => (i * 31 + 7) & 0xff);
const KEY = 'object.bin';
const SMALL = 'small';
const SMALL_BODY = '0123456789abcdefghij'; // 20 bytes

function isCode(code: ErrorCode, backendStatus?: number): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(hasCode(err, code), `expected ${code}, got ${String((err as { code?: unknown }).code)}: ${String((err as Error).message)}`);
    if (backendStatus !== undefined) assert.equal((err as { backendStatus?: number }).backendStatus, backendStatus, (err as Error).message);
    return true;
  };
}

function closed(s: Readable): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

/** Resolve every host name to 127.0.0.1 (virtual-host addressing without DNS). */
const loopback: LookupFunction = ((_host: string, opts: unknown, cb?: unknown) => {
  const callback = (typeof opts === 'function' ? opts : cb) as (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void;
  const all = typeof opts === 'object' && opts !== null && (opts as { all?: boolean }).all === true;
  process.nextTick(() => (all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)));
});

/** The backend timeout runs on mocked timers: ticking past it is deterministic. */
async function withMockedTimers(fn: () => Promise<void>): Promise<void> {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    await fn();
  } finally {
    mock.timers.reset();
  }
}

/** Define the suite for one transport. */
export function s3TransportConformance(label: string, factory: ConformanceFactory): void {
  describe(`S3 transport conformance: ${label}`, () => {
    let fleet: S3Fleet;
    let stub: S3Stub;
    let stubProxy: FaultProxy;
    const made: ConformanceBackend[] = [];
    let stubSmall: { etag: string; lastModified: Date };

    const track = (b: ConformanceBackend): ConformanceBackend => {
      made.push(b);
      return b;
    };
    /** A backend on s3rver, behind its fault proxy. */
    const s3rver = (extra: Partial<S3BackendOptions> = {}): ConformanceBackend =>
      track(factory(fleet.backendOptions('b1', { timeoutMs: 5_000, ...extra })));
    /** A backend on the strict stub, behind its fault proxy. */
    const strict = (extra: Partial<S3BackendOptions> = {}): ConformanceBackend =>
      track(factory({
        name: 'stub', endpoint: stubProxy.url, region: REGION, bucket: BUCKET, forcePathStyle: true,
        accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY, timeoutMs: 5_000, ...extra,
      }));
    /** Run `fn` with a backend of the transport (one socket) on a scripted server. */
    const onScripted = async (onRequest: Parameters<typeof scriptedServer>[0], fn: (b: ConformanceBackend, srv: ScriptedServer) => Promise<void>): Promise<void> => {
      const srv = await scriptedServer(onRequest);
      try {
        await fn(track(factory({
          name: 'scripted', endpoint: srv.url, region: REGION, bucket: BUCKET, forcePathStyle: true,
          accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY, timeoutMs: 5_000, maxSockets: 1,
        })), srv);
      } finally {
        await srv.close();
      }
    };
    const proxyOf = (world: 's3rver' | 'stub'): FaultProxy => (world === 's3rver' ? fleet.backend('b1').proxy : stubProxy);
    const backendOf = (world: 's3rver' | 'stub', extra: Partial<S3BackendOptions> = {}): ConformanceBackend =>
      world === 's3rver' ? s3rver(extra) : strict(extra);

    before(async () => {
      fleet = await startS3Fleet({ count: 1, bucket: BUCKET });
      stub = await startS3Stub({ bucket: BUCKET, credentials: [{ accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY }, SESSION] });
      stubProxy = await FaultProxy.start({ upstreamPort: stub.port });
      await fleet.seed(KEY, OBJ);
      await fleet.seed(SMALL, SMALL_BODY);
      for (const k of COMMON_KEYS) await fleet.seed(k, `body of ${k}`);
      stub.put(KEY, OBJ);
      stubSmall = stub.put(SMALL, SMALL_BODY, { lastModified: new Date('2026-01-02T03:04:05Z'), contentType: 'text/plain', metadata: { owner: 'alice', 'x-y': 'z' } });
      for (const k of [...COMMON_KEYS, ...STUB_KEYS]) stub.put(k, `body of ${k}`);
      // One real round trip first: the transports' own timers start on real clocks, before
      // any test mocks setTimeout.
      const warm = s3rver();
      await readBody(await warm.get(SMALL));
    });

    after(async () => {
      for (const b of made) await b.close();
      await fleet.close();
      await stubProxy.close();
      await stub.close();
      assert.deepEqual(await settleTcpHandles(), [], 'no TCP handles left after closing backends and servers');
    });

    describe('keys and addressing', () => {
      for (const world of ['s3rver', 'stub'] as const) {
        it(`reads awkward keys byte for byte (${world}): spaces, unicode, +, %, ~, sub-delims, 1024 bytes`, async () => {
          const b = backendOf(world);
          const keys = world === 'stub' ? [...COMMON_KEYS, ...STUB_KEYS] : COMMON_KEYS;
          for (const k of keys) {
            const expected = `body of ${k}`;
            const h = await b.head(k);
            assert.equal(h.size, Buffer.byteLength(expected), `HEAD ${k}`);
            assert.equal(h.etag, `"${md5(Buffer.from(expected))}"`, `HEAD ${k}`);
            const g = await b.get(k);
            assert.equal(text(await readBody(g)), expected, `GET ${k}`);
          }
          if (world === 'stub') {
            const seen = stub.requests().filter((r) => r.key !== undefined && keys.includes(r.key));
            assert.equal(seen.length, keys.length * 2, 'every request reached the stub under its exact key');
            assert.ok(seen.every((r) => r.status === 200), 'and passed the SigV4 check');
          }
          assert.ok(keys.some((k) => Buffer.byteLength(k) === 1024));
        });

        it(`lists keys under a prefix byte for byte, in UTF-8 order, page by page (${world})`, async () => {
          const b = backendOf(world);
          assert.ok(b.list !== undefined, 'the transport lists');
          const keys = world === 'stub' ? [...COMMON_KEYS, ...STUB_KEYS] : COMMON_KEYS;
          const byBytes = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));
          // Each awkward key as its own prefix: it comes back exactly, with its size.
          for (const k of keys) {
            const page = await b.list({ prefix: k });
            assert.ok(page.objects.some((o) => o.key === k && o.size === Buffer.byteLength(`body of ${k}`)), `LIST prefix ${JSON.stringify(k)}: ${JSON.stringify(page.objects.map((o) => o.key))}`);
            assert.ok(page.objects.every((o) => o.key.startsWith(k)));
          }
          // Every key, two a page: each once, in S3's order, with a modification time. (s3rver
          // makes its continuation tokens with DES, which OpenSSL 3 refuses: any truncated page
          // is a 500 there, so it is asked for one page.)
          const perPage = world === 'stub' ? 2 : 1000;
          const all: string[] = [];
          let token: string | undefined;
          for (let pages = 0; pages < 100; pages++) {
            const page = await b.list({ prefix: '', maxKeys: perPage, ...(token === undefined ? {} : { continuationToken: token }) });
            assert.ok(page.objects.length <= perPage);
            for (const o of page.objects) {
              assert.ok(o.lastModified instanceof Date && !Number.isNaN(o.lastModified.getTime()), o.key);
              all.push(o.key);
            }
            if (!page.truncated) break;
            token = page.nextToken;
            assert.ok(token !== undefined, 'a truncated page says where the next begins');
          }
          assert.deepEqual(all, [...new Set([...keys, KEY, SMALL])].sort(byBytes));
          // start-after, and a prefix nothing has.
          assert.deepEqual((await b.list({ prefix: '', startAfter: SMALL })).objects.map((o) => o.key), all.filter((k) => byBytes(k, SMALL) > 0));
          assert.deepEqual(await b.list({ prefix: 'no such prefix/' }), { objects: [], truncated: false });
          if (world === 'stub') {
            const lists = stub.requests().filter((r) => r.key === '' && r.method === 'GET');
            assert.ok(lists.length >= keys.length && lists.every((r) => r.status === 200), 'every LIST passed the SigV4 check');
            assert.ok(lists.filter((r) => r.url.includes('continuation-token=')).length >= 3, 'and pages followed their tokens');
          }
        });

        it(`HEAD and GET of a missing key are BACKEND_ERROR with backendStatus 404 (${world})`, async () => {
          const b = backendOf(world);
          await assert.rejects(b.head('no/such key+'), isCode('BACKEND_ERROR', 404));
          await assert.rejects(b.get('no/such key+'), isCode('BACKEND_ERROR', 404));
        });
      }

      it('HEAD reports size, etag, content type, last-modified and user metadata', async () => {
        const h = await strict().head(SMALL);
        assert.equal(h.size, 20);
        assert.equal(h.etag, stubSmall.etag);
        assert.equal(h.contentType, 'text/plain');
        assert.equal(h.lastModified?.toISOString(), '2026-01-02T03:04:05.000Z');
        assert.deepEqual(h.metadata, { owner: 'alice', 'x-y': 'z' });
      });

      it('virtual-host addressing: Host is bucket.endpoint-host, the path holds only the key, the signature verifies', async () => {
        const b = strict({ endpoint: `http://localhost:${stubProxy.port}`, forcePathStyle: false, lookup: loopback });
        const k = COMMON_KEYS[0] as string;
        assert.equal(text(await readBody(await b.get(k))), `body of ${k}`);
        const r = stub.requests().at(-1);
        assert.equal(r?.virtualHost, true);
        assert.equal(r?.headers.host, `${BUCKET}.localhost:${stubProxy.port}`);
        assert.equal(r?.url.startsWith(`/${BUCKET}/`), false, 'no bucket in the path');
        assert.equal(r?.status, 200);
      });

      it('path-style addressing: the bucket leads the path, Host is the endpoint', async () => {
        const b = strict();
        await b.head(SMALL);
        const r = stub.requests().at(-1);
        assert.equal(r?.virtualHost, false);
        assert.equal(r?.url, `/${BUCKET}/${SMALL}`);
        assert.equal(r?.headers.host, `127.0.0.1:${stubProxy.port}`);
      });
    });

    describe('ranges', () => {
      const cases: [string, string, number][] = [
        ['bytes=0-0', '0', 1],
        ['bytes=19-19', 'j', 1],
        ['bytes=-5', 'fghij', 5],
        ['bytes=15-', 'fghij', 5],
        ['bytes=5-9', '56789', 5],
        ['bytes=10-999', 'abcdefghij', 10],
      ];
      for (const [range, body, size] of cases) {
        it(`${range}: ${size} byte(s), announced size ${size}, the object's from Content-Range`, async () => {
          const r = await strict().get(SMALL, { range });
          assert.equal(r.size, size);
          assert.equal(r.totalSize, 20);
          assert.equal(text(await readBody(r)), body);
        });
      }

      it('a whole answer carries no total size', async () => {
        const r = await strict().get(SMALL);
        assert.equal(r.totalSize, undefined);
        await readBody(r);
      });

      it('a range starting past the end is BACKEND_ERROR with backendStatus 416 (stub and s3rver)', async () => {
        await assert.rejects(strict().get(SMALL, { range: 'bytes=20-' }), isCode('BACKEND_ERROR', 416));
        await assert.rejects(s3rver().get(SMALL, { range: 'bytes=100-200' }), isCode('BACKEND_ERROR', 416));
      });

      describe('an answer that is not the range asked for', () => {
        /** Run `fn` with a backend of the transport on a server that answers every request with `answer`. */
        const answering = (answer: string, fn: (b: ConformanceBackend, srv: ScriptedServer) => Promise<void>): Promise<void> => onScripted((sock) => sock.write(answer), fn);
        /** The whole 20-byte object, as a server that ignores Range answers. */
        const WHOLE = `HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: keep-alive\r\n\r\n${SMALL_BODY}`;
        const notTheRange = (err: unknown): boolean => {
          isCode('BACKEND_ERROR')(err);
          assert.equal((err as { backendStatus?: number }).backendStatus, undefined, (err as Error).message);
          return true;
        };

        it('a 200 (the server ignored Range) to a range not from byte 0 is BACKEND_ERROR, not the whole object', () =>
          answering(WHOLE, async (b) => {
            for (const range of ['bytes=5-9', 'bytes=-5', 'bytes=15-']) await assert.rejects(b.get(SMALL, { range }), notTheRange, range);
          }));

        it('a 200 to a range from byte 0 is cut to the range, and says the object\'s size', () =>
          answering(WHOLE, async (b) => {
            const r = await b.get(SMALL, { range: 'bytes=0-4' });
            assert.equal(r.size, 5);
            assert.equal(r.totalSize, 20);
            assert.equal(text(await readBody(r)), '01234');
            const whole = await b.get(SMALL, { range: 'bytes=0-99' });
            assert.equal(whole.size, 20);
            assert.equal(whole.totalSize, 20);
            assert.equal(text(await readBody(whole)), SMALL_BODY);
            const suffix = await b.get(SMALL, { range: 'bytes=-30' });
            assert.equal(text(await readBody(suffix)), SMALL_BODY);
          }));

        it('a 200 with an empty object to a suffix range is S3\'s answer for an empty object: the empty range, not a 416', () =>
          answering('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n', async (b) => {
            const r = await b.get(SMALL, { range: 'bytes=-5' });
            assert.equal(r.size, 0);
            assert.equal(r.totalSize, 0);
            assert.equal((await readBody(r)).byteLength, 0);
            // Any other range of an empty object is past its end.
            for (const range of ['bytes=0-', 'bytes=0-0', 'bytes=-0']) await assert.rejects(b.get(SMALL, { range }), isCode('BACKEND_ERROR', 416), range);
          }));

        it('a 200 to a range past the object\'s end is the 416 a server honouring Range answers', () =>
          answering(WHOLE, async (b) => {
            await assert.rejects(b.get(SMALL, { range: 'bytes=20-' }), isCode('BACKEND_ERROR', 416));
          }));

        it('a 206 for other bytes than the range asked, or without a Content-Range, is BACKEND_ERROR', async () => {
          const partial = (contentRange: string | undefined, body: string): string =>
            `HTTP/1.1 206 Partial Content\r\n${contentRange === undefined ? '' : `Content-Range: ${contentRange}\r\n`}Content-Length: ${body.length}\r\n\r\n${body}`;
          await answering(partial('bytes 0-4/20', '01234'), (b) => assert.rejects(b.get(SMALL, { range: 'bytes=5-9' }), notTheRange));
          await answering(partial('bytes 5-8/20', '5678'), (b) => assert.rejects(b.get(SMALL, { range: 'bytes=5-9' }), notTheRange));
          await answering(partial('bytes 10-19/20', 'abcdefghij'), (b) => assert.rejects(b.get(SMALL, { range: 'bytes=-5' }), notTheRange));
          await answering(partial('bytes 5-9/20', '56789abc'), (b) => assert.rejects(b.get(SMALL, { range: 'bytes=5-9' }), notTheRange));
          await answering(partial(undefined, '56789'), (b) => assert.rejects(b.get(SMALL, { range: 'bytes=5-9' }), notTheRange));
          await answering(partial('bytes 5-9/20', '56789'), async (b) => {
            assert.equal(text(await readBody(await b.get(SMALL, { range: 'bytes=5-9' }))), '56789', 'the range asked for reads');
          });
        });
      });

      it('a middle range from s3rver', async () => {
        const r = await s3rver().get(SMALL, { range: 'bytes=6-10' });
        assert.equal(r.size, 5);
        assert.ok(r.totalSize !== undefined && r.totalSize > 10, String(r.totalSize));
        assert.equal(text(await readBody(r)), '6789a');
      });

      it('a range in another form RFC 9110 allows (any case of the unit, empty list elements, whitespace) is sent as bytes=FIRST-LAST, which s3rver reads too', async () => {
        // s3rver (as MinIO) reads only `bytes=`: sent as given, `Bytes=6-10` was answered whole.
        for (const world of ['s3rver', 'stub'] as const) {
          const b = backendOf(world);
          const proxy = proxyOf(world);
          for (const range of ['Bytes=6-10', 'bytes=6-10,', 'BYTES=, 6-10 ,']) {
            const seen = proxy.requestHeaders().length;
            const r = await b.get(SMALL, { range });
            assert.equal(text(await readBody(r)), '6789a', `${world} ${range}`);
            assert.equal(r.totalSize, 20, `${world} ${range}`);
            assert.equal(proxy.requestHeaders()[seen]?.range, 'bytes=6-10', `${world} ${range}`);
          }
        }
      });
    });

    describe('conditional headers', () => {
      it('If-Match: the right ETag reads, another is 412', async () => {
        const b = strict();
        assert.equal(text(await readBody(await b.get(SMALL, { ifMatch: stubSmall.etag }))), SMALL_BODY);
        await assert.rejects(b.get(SMALL, { ifMatch: '"0000"' }), isCode('BACKEND_ERROR', 412));
        await assert.rejects(b.head(SMALL, { ifMatch: '"0000"' }), isCode('BACKEND_ERROR', 412));
        assert.equal(stub.requests().at(-1)?.headers['if-match'], '"0000"');
      });

      it('If-None-Match: the current ETag is 304 (GET and HEAD), another reads', async () => {
        const b = strict();
        await assert.rejects(b.get(SMALL, { ifNoneMatch: stubSmall.etag }), isCode('BACKEND_ERROR', 304));
        await assert.rejects(b.head(SMALL, { ifNoneMatch: stubSmall.etag }), isCode('BACKEND_ERROR', 304));
        assert.equal((await b.head(SMALL, { ifNoneMatch: '"0000"' })).size, 20);
        // s3rver implements this one too.
        await assert.rejects(s3rver().get(SMALL, { ifNoneMatch: '*' }), isCode('BACKEND_ERROR', 304));
      });

      it('If-Modified-Since: not modified since is 304, modified since reads (HTTP date sent)', async () => {
        const b = strict();
        const lm = stubSmall.lastModified;
        await assert.rejects(b.get(SMALL, { ifModifiedSince: new Date(lm.getTime() + 1000) }), isCode('BACKEND_ERROR', 304));
        assert.equal(stub.requests().at(-1)?.headers['if-modified-since'], new Date(lm.getTime() + 1000).toUTCString());
        assert.equal(text(await readBody(await b.get(SMALL, { ifModifiedSince: new Date(lm.getTime() - 1000) }))), SMALL_BODY);
      });

      it('If-Unmodified-Since: modified since is 412, not modified reads', async () => {
        const b = strict();
        const lm = stubSmall.lastModified;
        await assert.rejects(b.get(SMALL, { ifUnmodifiedSince: new Date(lm.getTime() - 1000) }), isCode('BACKEND_ERROR', 412));
        assert.equal((await b.head(SMALL, { ifUnmodifiedSince: new Date(lm.getTime() + 1000) })).size, 20);
      });

      it('conditions combine with a range', async () => {
        const r = await strict().get(SMALL, { range: 'bytes=-3', ifMatch: stubSmall.etag });
        assert.equal(text(await readBody(r)), 'hij');
      });
    });

    describe('credentials', () => {
      it('sends (and signs) the session token', async () => {
        const b = strict(SESSION);
        assert.equal(text(await readBody(await b.get(SMALL))), SMALL_BODY);
        const h = stubProxy.requestHeaders().at(-1);
        assert.equal(h?.['x-amz-security-token'], SESSION.sessionToken);
        assert.match(String(h?.authorization), /SignedHeaders=[^,]*x-amz-security-token/);
        assert.equal(stub.requests().at(-1)?.status, 200);
      });

      it('a wrong secret is 403 SignatureDoesNotMatch; an unknown key 403; a wrong token 400', async () => {
        await assert.rejects(strict({ secretAccessKey: 'wrong' }).get(SMALL), isCode('BACKEND_ERROR', 403));
        assert.equal(stub.requests().at(-1)?.code, 'SignatureDoesNotMatch');
        await assert.rejects(strict({ accessKeyId: 'NOBODY' }).head(SMALL), isCode('BACKEND_ERROR', 403));
        await assert.rejects(strict({ ...SESSION, sessionToken: 'stale' }).get(SMALL), isCode('BACKEND_ERROR', 400));
        assert.equal(stub.requests().at(-1)?.code, 'InvalidToken');
      });

      it('a failing credential provider is a BACKEND_ERROR without a request; the next call retries it', async () => {
        let calls = 0;
        const b = strict({
          accessKeyId: undefined, secretAccessKey: undefined,
          credentials: async () => {
            calls++;
            if (calls === 1) throw new Error('metadata service unreachable');
            return { accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY };
          },
        });
        const seen = stubProxy.requestCount;
        await assert.rejects(b.get(SMALL), (err: unknown) => {
          isCode('BACKEND_ERROR')(err);
          assert.equal((err as { backendStatus?: number }).backendStatus, undefined);
          return true;
        });
        assert.equal(stubProxy.requestCount, seen, 'nothing sent without credentials');
        assert.equal(text(await readBody(await b.get(SMALL))), SMALL_BODY);
      });

      it('credentials that expire mid-batch are refreshed ahead of expiry, once, without failing a read', async () => {
        const start = Date.now();
        mock.timers.enable({ apis: ['Date'], now: start });
        try {
          const first = { accessKeyId: 'ROTATE1', secretAccessKey: 'rotate-1', sessionToken: 'token-1', expiresAt: new Date(start + 10 * 60_000) };
          const second = { accessKeyId: 'ROTATE2', secretAccessKey: 'rotate-2', sessionToken: 'token-2', expiresAt: new Date(start + 70 * 60_000) };
          stub.setCredentials([first, second]);
          const issued: string[] = [];
          const provider = async (): Promise<S3Credentials> => {
            const c = issued.length === 0 ? first : second;
            issued.push(c.accessKeyId);
            return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiresAt };
          };
          const b = strict({ accessKeyId: undefined, secretAccessKey: undefined, credentials: provider });
          const batch = async (): Promise<void> => {
            const bodies = await Promise.all(Array.from({ length: 8 }, async () => text(await readBody(await b.get(SMALL)))));
            assert.deepEqual(new Set(bodies), new Set([SMALL_BODY]));
          };
          await batch();
          assert.deepEqual(issued, ['ROTATE1'], 'fetched once, shared by the batch');
          mock.timers.tick(7 * 60_000); // 3 minutes left: inside the 5-minute refresh window
          await batch();
          mock.timers.tick(4 * 60_000); // the first credentials have now expired at the server
          await batch();
          assert.deepEqual(issued, ['ROTATE1', 'ROTATE2'], 'one refresh for the whole batch');
          const used = stub.requests().slice(-8).map((r) => /Credential=([^/]+)/.exec(String(r.headers.authorization))?.[1]);
          assert.deepEqual(new Set(used), new Set(['ROTATE2']), 'reads after the expiry are signed with the new credentials');
          assert.ok(stub.requests().slice(-24).every((r) => r.status === 200), 'no read was refused');
        } finally {
          mock.timers.reset();
          stub.setCredentials([{ accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY }, SESSION]);
        }
      });
    });

    describe('faults', () => {
      it('latency and gate: the answer waits, then arrives intact', async () => {
        const b = s3rver();
        const proxy = proxyOf('s3rver');
        proxy.failNext(1, { kind: 'latency', ms: 5 });
        assert.equal(sha(await readBody(await b.get(KEY))), sha(OBJ));
        const gate = deferred();
        proxy.failNext(1, { kind: 'gate', until: gate.promise });
        let done = false;
        const seen = proxy.requestCount;
        const p = b.get(KEY).then(async (r) => {
          done = true;
          return readBody(r);
        });
        await proxy.waitForRequests(seen + 1);
        assert.equal(done, false, 'held at the gate');
        gate.resolve();
        assert.equal(sha(await p), sha(OBJ));
      });

      it('503 SlowDown, 500 InternalError and 403 AccessDenied keep their status', async () => {
        const b = s3rver();
        const proxy = proxyOf('s3rver');
        proxy.failNext(1, { kind: 'slowdown' });
        await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', 503));
        proxy.failNext(1, { kind: 'status', status: 500, code: 'InternalError' });
        await assert.rejects(b.head(KEY), isCode('BACKEND_ERROR', 500));
        proxy.failNext(1, { kind: 'status', status: 403, code: 'AccessDenied', message: 'Access Denied' });
        await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', 403));
        proxy.failNext(1, { kind: 'status', status: 404, code: 'NoSuchKey' });
        await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', 404));
        assert.equal((await b.head(KEY)).size, OBJ.byteLength, 'the next request passes');
      });

      it('an error answer that is not XML is BACKEND_ERROR with its status', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'invalidXml', status: 500 });
        await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', 500));
        proxyOf('s3rver').failNext(1, { kind: 'invalidXml', status: 503 });
        await assert.rejects(b.head(KEY), isCode('BACKEND_ERROR', 503));
      });

      for (const status of [301, 307] as const) {
        it(`a ${status} redirect is a coded error for that copy and is not followed`, async () => {
          const b = s3rver();
          const proxy = proxyOf('s3rver');
          proxy.failNext(1, { kind: 'redirect', status });
          const seen = proxy.requestCount;
          await assert.rejects(b.get(KEY), isCode('BACKEND_ERROR', status));
          assert.equal(proxy.requestCount, seen + 1, 'one request, no second one to the Location');
          proxy.failNext(1, { kind: 'redirect', status });
          await assert.rejects(b.head(KEY), isCode('BACKEND_ERROR', status));
        });
      }

      it('a reset is BACKEND_ERROR without backendStatus (not TIMEOUT)', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'reset' });
        await assert.rejects(b.get(KEY), (err: unknown) => {
          isCode('BACKEND_ERROR')(err);
          assert.equal((err as { backendStatus?: number }).backendStatus, undefined);
          assert.ok(!hasCode(err, 'TIMEOUT'));
          return true;
        });
      });

      describe('a kept connection that dies under the next request', () => {
        /**
         * Run `fn` with a backend of the transport on a {@link scriptedServer}, with one
         * connection, so that a second GET goes out on the first one's kept connection.
         */

        it('is sent once more, on a new connection, and reads', () =>
          onScripted((s, connection, request) => {
            if (connection === 1 && request === 2) s.destroy(); // the server timed the idle connection out just now
            else s.write(OK_ANSWER);
          }, async (b, srv) => {
            assert.equal(text(await readBody(await b.get(SMALL))), 'ok');
            assert.equal(text(await readBody(await b.get(SMALL))), 'ok', 'the second GET is read from a new connection');
            assert.equal(srv.connections(), 2);
          }));

        it('is sent once more only: a new connection that fails too fails the call', () =>
          onScripted((s, connection, request) => {
            if (connection === 1 && request === 1) s.write(OK_ANSWER);
            else s.destroy();
          }, async (b, srv) => {
            await readBody(await b.get(SMALL));
            await assert.rejects(b.get(SMALL), (err: unknown) => {
              isCode('BACKEND_ERROR')(err);
              assert.equal((err as { backendStatus?: number }).backendStatus, undefined);
              return true;
            });
            assert.equal(srv.connections(), 2, 'one new connection, not more');
          }));

        it('a new connection dropped under its first request is not sent again', () =>
          onScripted((s) => s.destroy(), async (b, srv) => {
            await assert.rejects(b.get(SMALL), isCode('BACKEND_ERROR'));
            assert.equal(srv.connections(), 1);
          }));

        it('a kept connection dropped after the answer began is not sent again', () =>
          onScripted((s, connection, request) => {
            if (connection === 1 && request === 1) s.write(OK_ANSWER);
            else s.end('HTTP/1.1 200 OK\r\nContent-Le'); // half a head, then the connection ends
          }, async (b, srv) => {
            await readBody(await b.get(SMALL));
            await assert.rejects(b.get(SMALL), isCode('BACKEND_ERROR'));
            assert.equal(srv.connections(), 1);
          }));
      });

      it('a refused connection is BACKEND_ERROR naming ECONNREFUSED; the backend works once the server is back', async () => {
        const b = s3rver();
        await fleet.stop('b1');
        try {
          await assert.rejects(b.head(KEY), (err: unknown) => {
            isCode('BACKEND_ERROR')(err);
            assert.match((err as Error).message, /ECONNREFUSED/);
            return true;
          });
        } finally {
          await fleet.start('b1');
        }
        assert.equal((await b.head(KEY)).size, OBJ.byteLength);
      });

      it('a truncated body fails from the body stream as BACKEND_ERROR', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'truncate' }, { method: 'GET' });
        const r = await b.get(KEY);
        assert.equal(r.size, OBJ.byteLength, 'the headers announce the full length');
        await assert.rejects(readBody(r), isCode('BACKEND_ERROR'));
      });

      it('a Content-Length above the body: the body stream fails with BACKEND_ERROR', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'wrongLength', delta: 100 }, { method: 'GET' });
        const r = await b.get(KEY);
        assert.equal(r.size, OBJ.byteLength + 100);
        await assert.rejects(readBody(r), isCode('BACKEND_ERROR'));
      });

      it('a Content-Length below the body: a short body the probe rejects (INTEGRITY_MISMATCH)', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'wrongLength', delta: -100 }, { method: 'GET' });
        const r = await b.get(KEY);
        assert.equal(r.size, OBJ.byteLength - 100);
        const bytes = await readBody(r).catch((err: unknown) => err);
        if (bytes instanceof Uint8Array) {
          assert.equal(bytes.byteLength, OBJ.byteLength - 100);
          const location = { backendName: 'b1', location: { objectKey: KEY, backendName: 'b1', sizeBytes: OBJ.byteLength, createdAt: new Date(0), encrypted: false, contentHash: sha(OBJ) } };
          assert.throws(() => verifyBody(location, KEY, bytes), isCode('INTEGRITY_MISMATCH'));
          assert.throws(() => verifyBody({ backendName: 'b1', location: null }, KEY, bytes, r.etag), isCode('INTEGRITY_MISMATCH'));
        } else {
          isCode('BACKEND_ERROR')(bytes);
        }
        assert.equal(sha(await readBody(await b.get(KEY))), sha(OBJ), 'the next read is whole');
      });

      it('a corrupted body passes the transport unchanged in length (the hash check catches it)', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'corrupt' }, { method: 'GET' });
        const r = await b.get(KEY);
        const bytes = await readBody(r);
        assert.equal(bytes.byteLength, OBJ.byteLength);
        assert.notEqual(sha(bytes), sha(OBJ));
        assert.throws(() => verifyBody({ backendName: 'b1', location: null }, KEY, bytes, r.etag), isCode('INTEGRITY_MISMATCH'));
      });

      it('a 200 whose ETag is not the body MD5: the transport reports it as sent, the ETag check rejects it', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'etag' }, { method: 'GET' });
        const r = await b.get(KEY);
        const bytes = await readBody(r);
        assert.equal(sha(bytes), sha(OBJ));
        assert.notEqual(r.etag, `"${md5(OBJ)}"`);
        assert.throws(() => verifyBody({ backendName: 'b1', location: null }, KEY, bytes, r.etag), isCode('INTEGRITY_MISMATCH'));
      });

      it('no Content-Length (chunked): size -1, the body reads whole', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'chunked' }, { method: 'GET' });
        const r = await b.get(KEY);
        assert.equal(r.size, -1);
        assert.equal(sha(await readBody(r)), sha(OBJ));
      });

      it('a hanging request ends with TIMEOUT after timeoutMs and gives its socket up', () =>
        withMockedTimers(async () => {
          const b = s3rver({ timeoutMs: 200 });
          const proxy = proxyOf('s3rver');
          proxy.failNext(1, { kind: 'hang' });
          const seen = proxy.requestCount;
          const p = b.head(KEY);
          await proxy.waitForRequests(seen + 1);
          mock.timers.tick(199);
          let settled = false;
          p.then(() => (settled = true), () => (settled = true));
          await new Promise((resolve) => setImmediate(resolve));
          assert.equal(settled, false, 'not before the timeout');
          mock.timers.tick(1);
          await assert.rejects(p, isCode('TIMEOUT'));
          assert.ok(await eventually(() => b.sockets().active === 0, 100), 'the hung socket was given up');
        }));

      it('since: the timeout counts from the probe\'s start, so a hanging call ends when the probe\'s budget does', () =>
        withMockedTimers(async () => {
          const b = s3rver({ timeoutMs: 10_000 });
          const proxy = proxyOf('s3rver');
          proxy.failNext(1, { kind: 'hang' });
          const seen = proxy.requestCount;
          // The probe began 9 s ago (real clock): 1 s of its 10 s is left for this call.
          const p = b.get(KEY, { since: performance.now() - 9_000 });
          let settled = false;
          p.then(() => (settled = true), () => (settled = true));
          await proxy.waitForRequests(seen + 1);
          mock.timers.tick(800);
          await new Promise((resolve) => setImmediate(resolve));
          assert.equal(settled, false, 'not before the probe\'s budget is spent');
          mock.timers.tick(200);
          await assert.rejects(p, (err: unknown) => isCode('TIMEOUT')(err) && /the probe had no complete answer within 10000 ms/.test((err as Error).message));
          assert.ok(await eventually(() => b.sockets().active === 0, 100), 'the hung socket was given up');
        }));

      it('since: a call whose probe\'s timeout has run out fails with TIMEOUT and sends nothing (GET, HEAD, LIST)', async () => {
        const b = s3rver({ timeoutMs: 5_000 });
        const proxy = proxyOf('s3rver');
        const seen = proxy.requestCount;
        const since = performance.now() - 5_001;
        await assert.rejects(b.get(KEY, { since }), isCode('TIMEOUT'));
        await assert.rejects(b.head(KEY, { since }), isCode('TIMEOUT'));
        await assert.rejects(b.list?.({ prefix: 'k', since }) ?? Promise.reject(new Error('no list')), isCode('TIMEOUT'));
        assert.equal(proxy.requestCount, seen);
        // A backend without a timeout has nothing to run out of.
        const unbounded = s3rver({ timeoutMs: 0 });
        assert.equal(sha(await readBody(await unbounded.get(KEY, { since }))), sha(OBJ));
      });

      it('a stalled body ends with TIMEOUT: the timeout covers the body', () =>
        withMockedTimers(async () => {
          const b = s3rver({ timeoutMs: 200 });
          proxyOf('s3rver').failNext(1, { kind: 'stallBody', keepBytes: 1000 }, { method: 'GET' });
          const r = await b.get(KEY);
          const read = readBody(r);
          mock.timers.tick(200);
          await assert.rejects(read, isCode('TIMEOUT'));
          assert.ok(r.body.destroyed);
          assert.ok(await eventually(() => b.sockets().active === 0, 100));
        }));

      it('an unread body is destroyed when the timeout passes, freeing its socket', () =>
        withMockedTimers(async () => {
          const b = s3rver({ timeoutMs: 200 });
          proxyOf('s3rver').failNext(1, { kind: 'stallBody', keepBytes: 10 }, { method: 'GET' });
          const r = await b.get(KEY);
          assert.equal(b.sockets().active, 1);
          mock.timers.tick(199);
          assert.equal(r.body.destroyed, false);
          mock.timers.tick(1);
          assert.equal(r.body.destroyed, true);
          await closed(r.body);
          assert.ok(await eventually(() => b.sockets().active === 0, 100));
          await assert.rejects(readBody(r), isCode('TIMEOUT'));
        }));

      it('with timeoutCoversBody: false the body outlives the timeout', () =>
        withMockedTimers(async () => {
          const b = s3rver({ timeoutMs: 200, timeoutCoversBody: false });
          proxyOf('s3rver').failNext(1, { kind: 'stallBody', keepBytes: 10 }, { method: 'GET' });
          const r = await b.get(KEY);
          mock.timers.tick(1_000);
          assert.equal(r.body.destroyed, false);
          const ac = new AbortController();
          const read = readBody(r, ac.signal);
          ac.abort();
          await assert.rejects(read, isCode('ABORTED'));
          assert.ok(await eventually(() => b.sockets().active === 0, 100));
        }));
    });

    describe('aborts and sockets', () => {
      it('an already-aborted signal rejects with ABORTED and sends nothing', async () => {
        const b = s3rver();
        const proxy = proxyOf('s3rver');
        const seen = proxy.requestCount;
        await assert.rejects(b.head(KEY, { signal: AbortSignal.abort() }), isCode('ABORTED'));
        await assert.rejects(b.get(KEY, { signal: AbortSignal.abort() }), isCode('ABORTED'));
        assert.equal(proxy.requestCount, seen);
      });

      it('an abort mid-request ends with ABORTED and leaves no listener', async () => {
        const b = s3rver();
        const proxy = proxyOf('s3rver');
        proxy.failNext(1, { kind: 'hang' });
        const ac = new AbortController();
        const seen = proxy.requestCount;
        const p = b.get(KEY, { signal: ac.signal });
        await proxy.waitForRequests(seen + 1);
        assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'one listener while in flight');
        ac.abort(new Error('loser'));
        await assert.rejects(p, isCode('ABORTED'));
        assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
        assert.ok(await eventually(() => b.sockets().active === 0));
      });

      it('an abort mid-body destroys the body with ABORTED and closes its connection', async () => {
        const b = s3rver();
        const proxy = proxyOf('s3rver');
        proxy.failNext(1, { kind: 'stallBody', keepBytes: 100 }, { method: 'GET' });
        const ac = new AbortController();
        const r = await b.get(KEY, { signal: ac.signal });
        const first = await new Promise<Buffer>((resolve) => r.body.once('data', resolve));
        assert.ok(first.byteLength > 0, 'part of the body arrived');
        r.body.pause();
        assert.equal(b.sockets().active, 1);
        const closedBefore = proxy.closedConnections;
        ac.abort();
        assert.ok(r.body.destroyed, 'destroyed synchronously on abort');
        await assert.rejects(readBody(r), isCode('ABORTED'));
        assert.ok(await eventually(() => b.sockets().active === 0), 'the pool/agent no longer counts it');
        assert.ok(await eventually(() => proxy.closedConnections > closedBefore), 'the proxy saw the connection close');
        assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
      });

      it('an abort while a reader collects the body on the same signal: ABORTED, never an unhandled error', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'stallBody', keepBytes: 100 }, { method: 'GET' });
        const uncaught: unknown[] = [];
        const onUncaught = (err: unknown): void => {
          uncaught.push(err);
        };
        process.on('uncaughtException', onUncaught);
        try {
          const ac = new AbortController();
          const r = await b.get(KEY, { signal: ac.signal });
          // The backend's deadline listens first, the reader second: both act on one abort.
          const read = readBody(r, ac.signal);
          await new Promise((resolve) => setImmediate(resolve));
          // From a macrotask (as a cancel message arrives), where process.nextTick callbacks
          // run before promise jobs.
          await new Promise<void>((resolve) => setImmediate(() => {
            ac.abort();
            resolve();
          }));
          await assert.rejects(read, isCode('ABORTED'));
          await closed(r.body);
          for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
          assert.deepEqual(uncaught, [], 'no error event went unhandled');
        } finally {
          process.off('uncaughtException', onUncaught);
        }
      });

      it('a body read to the end gives its socket back for reuse and releases the listener', async () => {
        const b = s3rver();
        const ac = new AbortController();
        const r = await b.get(KEY, { signal: ac.signal });
        await readBody(r, ac.signal);
        assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
        assert.ok(await eventually(() => b.sockets().active === 0));
        assert.ok(b.sockets().free >= 1, 'kept alive');
        const proxy = proxyOf('s3rver');
        const open = proxy.openConnections;
        await readBody(await b.get(SMALL));
        assert.equal(proxy.openConnections, open, 'the next request reused it');
      });

      it('discardBody frees the socket of a body that will not be read', async () => {
        const b = s3rver();
        proxyOf('s3rver').failNext(1, { kind: 'stallBody', keepBytes: 10 }, { method: 'GET' });
        const r = await b.get(KEY);
        assert.equal(b.sockets().active, 1);
        discardBody(r);
        await closed(r.body);
        assert.ok(await eventually(() => b.sockets().active === 0));
      });

      it('serves many concurrent reads through a small socket pool', async () => {
        const b = s3rver({ maxSockets: 2 });
        const results = await Promise.all(Array.from({ length: 12 }, async () => sha(await readBody(await b.get(KEY)))));
        assert.deepEqual(new Set(results), new Set([sha(OBJ)]));
        assert.ok(b.sockets().free <= 2);
      });

      it('maxSockets bounds the connections of every kind of request together: HEAD, GET, ranged GET, LIST', async () => {
        // A proxy of its own: its connection counts are this backend's alone.
        const proxy = await FaultProxy.start({ upstreamPort: stub.port });
        try {
          const b = track(factory({
            name: 'stub', endpoint: proxy.url, region: REGION, bucket: BUCKET, forcePathStyle: true,
            accessKeyId: S3RVER_ACCESS_KEY, secretAccessKey: S3RVER_SECRET_KEY, timeoutMs: 5_000, maxSockets: 2,
          }));
          assert.ok(b.list !== undefined, 'the transport lists');
          const list = b.list.bind(b);
          const gate = deferred();
          proxy.failNext(2, { kind: 'gate', until: gate.promise });
          const calls = [
            b.head(KEY).then((h) => h.size),
            b.get(KEY).then(async (r) => sha(await readBody(r))),
            b.get(KEY, { range: 'bytes=0-99' }).then(async (r) => (await readBody(r)).byteLength),
            list({ prefix: SMALL }).then((page) => page.objects.map((o) => o.key).join()),
            b.head(SMALL).then((h) => h.size),
            b.get(SMALL).then(async (r) => text(await readBody(r))),
          ];
          await proxy.waitForRequests(2);
          assert.ok(await eventually(() => b.sockets().queued === 4), `4 requests wait for a connection: ${JSON.stringify(b.sockets())}`);
          assert.equal(proxy.openConnections, 2);
          gate.resolve();
          assert.deepEqual(await Promise.all(calls), [OBJ.byteLength, sha(OBJ), 100, SMALL, SMALL_BODY.length, SMALL_BODY]);
          assert.ok(proxy.openConnections + proxy.closedConnections <= 2, `at most 2 connections ever opened, saw ${proxy.openConnections + proxy.closedConnections}`);
        } finally {
          await proxy.close();
        }
      });

      it('close() closes every socket, is idempotent, and later calls fail as closed', async () => {
        const b = factory(fleet.backendOptions('b1', { timeoutMs: 5_000 }));
        await b.head(KEY);
        await readBody(await b.get(KEY));
        assert.ok(await eventually(() => b.sockets().free >= 1));
        const proxy = proxyOf('s3rver');
        const closedBefore = proxy.closedConnections;
        await b.close();
        await b.close();
        assert.deepEqual(b.sockets(), { active: 0, free: 0, queued: 0 });
        assert.ok(await eventually(() => proxy.closedConnections > closedBefore), 'the proxy saw the connection close');
        await assert.rejects(b.head(KEY), (err: unknown) => isCode('BACKEND_ERROR')(err) && /closed/.test((err as Error).message));
      });
    });
  });
}
