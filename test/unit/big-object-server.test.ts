// The big-object test server (issue 14): generated content, S3 GET/HEAD/Range semantics, and
// each fault — checked over real HTTP, with gates on server state instead of sleeps.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BigObjectServer, generatedBytes, generatedEtag, generatedSha256, parseRange, startBigObjectServer } from '../../bench/large/big-object-server.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { eventually } from '../helpers/handles.js';
import { runWithPeakRss } from '../helpers/rss-child.js';

const MiB = 1024 * 1024;

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The response ended early (cut) or the request failed. */
  error: Error | undefined;
}

/** One request on its own connection (agent: false), body collected; errors resolve, not reject. */
function request(url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Got> {
  return new Promise<Got>((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    const done = (error: Error | undefined): void => resolve({ status, headers, body: Buffer.concat(chunks), error });
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.complete ? undefined : new Error('incomplete')));
      res.on('error', done);
    });
    req.on('error', done);
    req.end();
  });
}

/** Stream a GET into SHA-256 without keeping the body. */
function hashGet(url: string): Promise<{ status: number; sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        h.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: h.digest('hex'), bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Turn the event loop until `cond()` holds (no wall-clock window: the test timeout bounds it). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) await new Promise<void>((r) => (i < 100 ? setImmediate(r) : setTimeout(r, 1)));
}

describe('generated content', () => {
  it('any span equals the same offsets of a longer span (unaligned starts and ends)', () => {
    const size = 300_000;
    const all = generatedBytes(size, 42, 0, size);
    for (const [a, b] of [[0, 1], [1, 17], [15, 16], [65_535, 65_537], [131_071, 200_003], [299_999, 300_000], [7, 7]] as const) {
      assert.deepEqual(generatedBytes(size, 42, a, b), all.subarray(a, b), `[${a}, ${b})`);
    }
    assert.notDeepEqual(generatedBytes(size, 43, 0, 64), all.subarray(0, 64), 'another seed, other bytes');
    assert.deepEqual(generatedBytes(size, '42', 0, 64), all.subarray(0, 64), 'seeds compare by String()');
    assert.throws(() => generatedBytes(size, 42, 10, size + 1), RangeError);
  });

  it('generatedSha256 hashes the whole object, cached', async (t) => {
    const size = 1_000_003;
    const want = createHash('sha256').update(generatedBytes(size, 'x', 0, size)).digest('hex');
    assert.equal(await generatedSha256(size, 'x'), want);
    assert.equal(generatedSha256(size, 'x'), generatedSha256(size, 'x'), 'one cached promise');
    const t0 = performance.now();
    await generatedSha256(256 * MiB, 'speed');
    // Reported, not asserted (no wall-clock assertions): generation + SHA-256 together.
    t.diagnostic(`generate+hash 256 MiB: ${(256 / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`);
  });

  it('parseRange follows RFC 9110 single ranges', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), [0, 9]);
    assert.deepEqual(parseRange('bytes=90-', 100), [90, 99]);
    assert.deepEqual(parseRange('bytes=90-1000', 100), [90, 99]);
    assert.deepEqual(parseRange('bytes=-10', 100), [90, 99]);
    assert.deepEqual(parseRange('bytes=-1000', 100), [0, 99]);
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    for (const ignored of [undefined, 'bytes=5-1', 'bytes=0-1,5-6', 'items=0-1', 'bytes=-', 'bytes=a-b']) assert.equal(parseRange(ignored, 100), undefined, String(ignored));
  });
});

describe('BigObjectServer: S3 GET/HEAD', () => {
  let s: BigObjectServer;
  const SIZE = 64 * MiB;
  const SMALL = 1_000_000;
  before(async () => {
    s = await startBigObjectServer({ buckets: ['empty'] });
    s.addObject('b', 'big/object one.bin', { size: SIZE, seed: 1 });
    s.addObject('b', 'small', { size: SMALL, seed: 2 });
    s.addObject('b', 'literal', { bytes: Buffer.from('hello world') });
  });
  after(() => s.close());
  const url = (key: string, bucket = 'b'): string => `${s.url}/${bucket}/${encodeURIComponent(key).replaceAll('%2F', '/')}`;

  it('a full GET of 64 MiB hashes to generatedSha256, with S3 headers', async () => {
    const got = await hashGet(url('big/object one.bin'));
    assert.equal(got.status, 200);
    assert.equal(got.bytes, SIZE);
    assert.equal(got.sha256, await generatedSha256(SIZE, 1));
    const head = await request(url('big/object one.bin'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(SIZE));
    assert.equal(head.headers.etag, generatedEtag(SIZE, 1));
    assert.match(head.headers.etag ?? '', /^"[0-9a-f]{32}-2"$/, 'multipart-shaped: not an MD5 to verify');
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.ok(!Number.isNaN(Date.parse(head.headers['last-modified'] ?? '')));
    const rec = s.stats().requests.find((r) => r.method === 'GET' && r.key === 'big/object one.bin');
    assert.deepEqual(rec, { method: 'GET', bucket: 'b', key: 'big/object one.bin', range: undefined, status: 200, bytesSent: SIZE, cut: false });
  });

  it('ranges return exactly generatedBytes at those offsets, with Content-Range', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 1],
      ['bytes=1-16', 1, 17],
      ['bytes=65535-131073', 65_535, 131_074],
      ['bytes=999990-', 999_990, SMALL],
      ['bytes=999990-5000000', 999_990, SMALL],
      ['bytes=-7', SMALL - 7, SMALL],
      ['bytes=-2000000', 0, SMALL],
    ];
    for (const [range, a, b] of cases) {
      const got = await request(url('small'), { headers: { range } });
      assert.equal(got.status, 206, range);
      assert.equal(got.headers['content-range'], `bytes ${a}-${b - 1}/${SMALL}`, range);
      assert.equal(got.headers['content-length'], String(b - a), range);
      assert.deepEqual(got.body, generatedBytes(SMALL, 2, a, b), range);
    }
    const mid = await hashGet(url('big/object one.bin'));
    assert.equal(mid.bytes, SIZE, 'ranges do not disturb full reads');
    const head = await request(url('small'), { method: 'HEAD', headers: { range: 'bytes=10-19' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers['content-length'], '10');
  });

  it('416 InvalidRange past the end; invalid or multi-range headers are ignored (200)', async () => {
    for (const range of ['bytes=1000000-', 'bytes=2000000-2000001', 'bytes=-0']) {
      const got = await request(url('small'), { headers: { range } });
      assert.equal(got.status, 416, range);
      assert.equal(got.headers['content-range'], `bytes */${SMALL}`);
      assert.match(got.body.toString(), /<Error><Code>InvalidRange<\/Code>/);
    }
    const multi = await request(url('small'), { headers: { range: 'bytes=0-1,4-5' } });
    assert.equal(multi.status, 200);
    assert.equal(multi.body.length, SMALL);
  });

  it('404 NoSuchKey / NoSuchBucket as S3 XML (HEAD: no body); 405, 412, literal objects', async () => {
    const miss = await request(url('nope'));
    assert.equal(miss.status, 404);
    assert.match(miss.body.toString(), /<Code>NoSuchKey<\/Code>/);
    assert.equal(miss.headers['content-type'], 'application/xml');
    const missHead = await request(url('nope'), { method: 'HEAD' });
    assert.equal(missHead.status, 404);
    assert.equal(missHead.body.length, 0);
    assert.match((await request(url('k', 'nobucket'))).body.toString(), /<Code>NoSuchBucket<\/Code>/);
    assert.match((await request(url('k', 'empty'))).body.toString(), /<Code>NoSuchKey<\/Code>/, 'an empty bucket exists');
    assert.equal((await request(url('small'), { method: 'PUT' })).status, 405);
    const lit = await request(url('literal'), { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=whatever' } });
    assert.equal(lit.body.toString(), 'hello world');
    assert.equal(s.bytesOf('b', 'literal', 6, 11).toString(), 'world');
    assert.deepEqual(s.bytesOf('b', 'small', 65_530, 200_000), generatedBytes(SMALL, 2, 65_530, 200_000));
    assert.equal(lit.headers.etag, `"${createHash('md5').update('hello world').digest('hex')}"`);
    assert.equal((await request(url('literal'), { headers: { 'if-match': lit.headers.etag } })).status, 200);
    assert.equal((await request(url('literal'), { headers: { 'if-match': '"other"' } })).status, 412);
  });
});

describe('BigObjectServer: faults', () => {
  let s: BigObjectServer;
  const SIZE = 1_000_000;
  before(async () => {
    s = await startBigObjectServer();
    s.addObject('b', 'k', { size: SIZE, seed: 9 });
    s.addObject('b', 'other', { size: SIZE, seed: 10 });
  });
  after(() => s.close());
  const url = (key = 'k'): string => `${s.url}/b/${key}`;
  const lastRec = (): NonNullable<ReturnType<BigObjectServer['stats']>['requests'][number]> => {
    const r = s.stats().requests.at(-1);
    assert.ok(r);
    return r;
  };

  it('failStatus answers S3 errors for the next failTimes requests', async () => {
    s.setFaults({ failStatus: 503, failTimes: 2 });
    for (let i = 0; i < 2; i++) {
      const got = await request(url());
      assert.equal(got.status, 503);
      assert.match(got.body.toString(), /<Code>SlowDown<\/Code>/);
    }
    assert.equal((await request(url())).status, 200);
    s.setFaults({ failStatus: 500 }, { key: 'other' });
    assert.match((await request(url('other'))).body.toString(), /<Code>InternalError<\/Code>/);
    assert.equal((await request(url())).status, 200, 'per-key faults touch only that key');
    s.setFaults({}, { key: 'other' });
    s.setFaults({});
  });

  it('cutAtByte sends exactly [start, N) then closes; cutTimes limits it; ranges past N are whole', async () => {
    const N = 300_001;
    s.setFaults({ cutAtByte: N, cutTimes: 2 });
    const cut = await request(url());
    assert.equal(cut.status, 200);
    assert.ok(cut.error, 'the client sees a premature close');
    assert.deepEqual(cut.body, generatedBytes(SIZE, 9, 0, N));
    assert.deepEqual({ cut: lastRec().cut, bytesSent: lastRec().bytesSent }, { cut: true, bytesSent: N });

    const before = await request(url(), { headers: { range: `bytes=0-${N - 1}` } });
    assert.equal(before.error, undefined, 'a range ending before N does not cover it');
    assert.equal(before.body.length, N);
    const atN = await request(url(), { headers: { range: `bytes=${N}-` } });
    assert.equal(atN.status, 206, 'a range starting at N covers it: headers, then 0 body bytes');
    assert.ok(atN.error);
    assert.equal(atN.body.length, 0);
    assert.deepEqual({ cut: lastRec().cut, bytesSent: lastRec().bytesSent }, { cut: true, bytesSent: 0 });
    const third = await request(url());
    assert.equal(third.error, undefined, 'cutTimes: 2 responses only');
    assert.deepEqual(third.body, generatedBytes(SIZE, 9, 0, SIZE));
    s.setFaults({});
  });

  it('flipByteAt changes exactly that byte in every covering response', async () => {
    const N = 123_457;
    s.setFaults({ flipByteAt: N });
    const want = generatedBytes(SIZE, 9, 0, SIZE);
    for (const [range, a] of [[undefined, 0], [`bytes=${N}-${N}`, N], [`bytes=100000-`, 100_000]] as const) {
      const got = await request(url(), { headers: range === undefined ? {} : { range } });
      const diffs: number[] = [];
      for (let i = 0; i < got.body.length; i++) if (got.body[i] !== want[a + i]) diffs.push(a + i);
      assert.deepEqual(diffs, [N], String(range));
      assert.equal(got.body[N - a], (want[N] ?? 0) ^ 0xff);
    }
    const notCovering = await request(url(), { headers: { range: `bytes=0-${N - 1}` } });
    assert.deepEqual(notCovering.body, want.subarray(0, N));
    s.setFaults({});
  });

  it('stallAtByte holds the response open at N until releaseStalls()', async () => {
    const N = 200_000;
    s.setFaults({ stallAtByte: N, stallTimes: 1 });
    const pending = request(url());
    await until(() => s.stats().stalled === 1);
    assert.equal(lastRec().bytesSent, N, 'exactly [0, N) went out');
    assert.equal(s.stats().openSockets, 1, 'the socket stays open');
    s.releaseStalls();
    const got = await pending;
    assert.equal(got.error, undefined);
    assert.deepEqual(got.body, generatedBytes(SIZE, 9, 0, SIZE));
    assert.equal((await request(url())).error, undefined, 'stallTimes: 1');
    s.setFaults({});
  });

  it('openSockets counts connections and returns to 0 when the client destroys them', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const get = (): Promise<number> => new Promise((resolve, reject) => {
      http.get(url(), { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    assert.deepEqual(await Promise.all([get(), get(), get()]), [200, 200, 200]);
    assert.equal(s.stats().openSockets, 3, 'keep-alive sockets stay open');
    agent.destroy();
    assert.ok(await eventually(() => s.stats().openSockets === 0));
  });
});

describe('BigObjectServer: flow control', () => {
  it('backpressure: a paused client stops generation at a bounded amount; resuming finishes', async () => {
    const s = await startBigObjectServer();
    const SIZE = 256 * MiB;
    s.addObject('b', 'k', { size: SIZE, seed: 5 });
    let res: http.IncomingMessage | undefined;
    const req = http.get(`${s.url}/b/k`, { agent: false }, (r) => {
      r.pause();
      res = r;
    });
    await until(() => res !== undefined);
    // Gate: the server waits for 'drain' and bytesSent has not moved for 50 turns of the loop.
    let last = -1;
    let still = 0;
    await until(() => {
      const st = s.stats();
      still = st.bytesSent === last ? still + 1 : 0;
      last = st.bytesSent;
      return st.waitingDrain === 1 && still >= 50;
    });
    // Socket buffers on loopback (send + receive, autotuned) hold a few MiB at most.
    assert.ok(last < 32 * MiB, `paused client: ${last} bytes generated`);
    assert.ok(last > 0);
    const h = createHash('sha256');
    let n = 0;
    const r = res;
    assert.ok(r);
    r.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    r.resume();
    await new Promise<void>((resolve) => r.on('end', resolve));
    assert.equal(n, SIZE);
    assert.equal(h.digest('hex'), await generatedSha256(SIZE, 5));
    req.destroy();
    await s.close();
  });

  it('bytesPerSecond: a token bucket on an injected clock, exact to one chunk', async () => {
    const clock = new FakeClock();
    const s = await startBigObjectServer({ clock });
    const SIZE = 2 * MiB + 12_345;
    s.addObject('b', 'k', { size: SIZE, seed: 3 });
    const RATE = MiB;
    s.setFaults({ bytesPerSecond: RATE });
    const bw = s.bandwidth();
    assert.deepEqual({ rate: bw.bytesPerSecond, chunk: bw.chunk, granted: bw.granted }, { rate: RATE, chunk: Math.floor(RATE / 50), granted: 0 });

    let done = false;
    const pending = hashGet(`${s.url}/b/k`).finally(() => (done = true));
    let steps = 0;
    for (;;) {
      // Gate: the response is waiting for tokens (a timer is pending) or is finished. Time only
      // moves while the server waits, so no grant is lost to the bucket's cap.
      await until(() => done || s.bandwidth().waiting > 0);
      const b = s.bandwidth();
      const allowed = (RATE * (clock.now() - b.since)) / 1000;
      assert.ok(b.granted <= b.burst + b.chunk + allowed, `t=${clock.now()}: ${b.granted} > ${b.burst + b.chunk + allowed}`);
      assert.ok(b.granted >= allowed, `t=${clock.now()}: ${b.granted} < ${allowed}`);
      assert.ok(s.stats().bytesSent <= b.granted, 'nothing goes out ungranted');
      if (done) break;
      const due = clock.pendingDue()[0];
      assert.ok(due !== undefined);
      await clock.advanceTo(due);
      steps++;
    }
    const got = await pending;
    assert.equal(got.sha256, await generatedSha256(SIZE, 3));
    const b = s.bandwidth();
    assert.equal(b.granted, SIZE);
    // SIZE bytes at 1 MiB/s, less the initial burst: the fake clock reads that, to 1 ms a chunk.
    const ideal = ((SIZE - b.burst) / RATE) * 1000;
    assert.ok(clock.now() >= ideal - (b.chunk / RATE) * 1000 && clock.now() <= ideal + steps, `t=${clock.now()} vs ${ideal.toFixed(1)} ms`);
    s.setFaults({});
    assert.equal(s.bandwidth().bytesPerSecond, undefined);
    await s.close();
  });

  it('close() is idempotent and ends stalled and throttled responses', async () => {
    const clock = new FakeClock();
    const s = await startBigObjectServer({ clock });
    s.addObject('b', 'k', { size: 10 * MiB, seed: 1 });
    s.setFaults({ stallAtByte: 0 });
    const stalled = request(`${s.url}/b/k`);
    await until(() => s.stats().stalled === 1);
    s.setFaults({ bytesPerSecond: 1024 });
    const throttled = request(`${s.url}/b/k`, { headers: { range: 'bytes=5-' } });
    await until(() => s.bandwidth().waiting === 1);
    await Promise.all([s.close(), s.close()]);
    assert.ok((await stalled).error);
    assert.ok((await throttled).error);
    assert.equal(s.stats().openSockets, 0);
    assert.equal(clock.pendingCount, 0, 'the bucket cleared its timer');
  });
});

describe('runWithPeakRss', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rss-child-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reports the child peak RSS, its exit code and its stdout without the report', async () => {
    // The child reports the RSS it saw itself with the buffer live: the peak cannot be lower.
    // (Comparing with a second, empty child was flaky: its start-up RSS varies by tens of MiB.)
    const script = join(dir, 'alloc.ts');
    await writeFile(script, [
      'const mib: number = Number(process.argv[2]);',
      'const b = Buffer.alloc(mib * 1024 * 1024, 1);',
      "process.stdout.write('sum ' + String(b[b.length - 1]) + ' rss ' + String(process.memoryUsage().rss));",
      'process.exitCode = 3;',
      '',
    ].join('\n'));
    const base = await runWithPeakRss(script, ['0']);
    const big = await runWithPeakRss(script, ['160']);
    assert.equal(big.code, 3);
    const seen = /^sum 1 rss (\d+)$/.exec(big.stdout);
    assert.ok(seen !== null, big.stdout);
    assert.match(base.stdout, /^sum undefined rss \d+$/);
    assert.ok(base.maxRssBytes !== undefined && big.maxRssBytes !== undefined);
    const seenRss = Number(seen[1]);
    assert.ok(seenRss > 160 * MiB, `the child saw ${seenRss} bytes`);
    assert.ok(big.maxRssBytes >= seenRss, `peak ${big.maxRssBytes} < ${seenRss} seen inside the child`);
    assert.ok(big.maxRssBytes > base.maxRssBytes, `${base.maxRssBytes} -> ${big.maxRssBytes}`);
  });
});
