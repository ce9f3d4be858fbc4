/**
 * The peer benchmark's S3 stub, in process on 127.0.0.1: object reads (ranges, HEAD, 404), both
 * list versions with paging (rclone's `Other` provider pages ListObjects v1 with `marker`), and
 * the download check the benchmark runs after every tool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createS3Stub, type StubObject } from '../../bench/peers/s3-stub.js';
import { childCpuMs, runCommand, verifyDownload } from '../../bench/peers/tools.js';

const keyOf = (i: number): string => `set/${String(i % 7).padStart(2, '0')}/${String(i).padStart(5, '0')}.bin`;
const OBJECTS: StubObject[] = Array.from({ length: 2500 }, (_, i) => ({ key: keyOf(i), body: Buffer.from(`object ${i} `.repeat(1 + (i % 5))) }));
OBJECTS.push({ key: 'odd key+%~/ü.txt', body: Buffer.from('odd') });
const ALL_KEYS = OBJECTS.map((o) => o.key).sort();

function tags(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1] as string);
}

describe('peer bench S3 stub', () => {
  let server: http.Server;
  let base: string;
  let tmp: string;

  before(async () => {
    server = http.createServer(createS3Stub('bkt', OBJECTS));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'readpath-stub-test-'));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(tmp, { recursive: true, force: true });
  });

  it('GET, HEAD and ranges; ETag is the quoted MD5; a missing key is NoSuchKey', async () => {
    const o = OBJECTS[3] as StubObject;
    const url = `${base}/bkt/${o.key}`;
    const full = await fetch(url);
    assert.equal(full.status, 200);
    assert.deepEqual(Buffer.from(await full.arrayBuffer()), o.body);
    assert.equal(full.headers.get('etag'), `"${createHash('md5').update(o.body).digest('hex')}"`);
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(o.body.byteLength));
    for (const [range, start, end] of [['bytes=0-4', 0, 5], ['bytes=5-', 5, o.body.byteLength], ['bytes=-3', o.body.byteLength - 3, o.body.byteLength], ['bytes=2-99999', 2, o.body.byteLength]] as const) {
      const r = await fetch(url, { headers: { range } });
      assert.equal(r.status, 206, range);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), o.body.subarray(start, end), range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/${o.body.byteLength}`);
    }
    const past = await fetch(url, { headers: { range: `bytes=${o.body.byteLength}-` } });
    assert.equal(past.status, 416);
    await past.arrayBuffer();
    const odd = await fetch(`${base}/bkt/${'odd key+%~/ü.txt'.split('/').map(encodeURIComponent).join('/')}`);
    assert.equal(await odd.text(), 'odd');
    const missing = await fetch(`${base}/bkt/nope`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<Code>NoSuchKey<\/Code>/);
    const put = await fetch(url, { method: 'PUT', body: 'x' });
    assert.equal(put.status, 501);
    await put.arrayBuffer();
  });

  it('ListObjects v1 pages with marker / NextMarker through every key, once', async () => {
    const seen: string[] = [];
    let marker = '';
    for (let page = 0; page < 10; page++) {
      const xml = await (await fetch(`${base}/bkt?max-keys=1000&marker=${encodeURIComponent(marker)}`)).text();
      const keys = tags(xml, 'Key');
      seen.push(...keys);
      if (tags(xml, 'IsTruncated')[0] !== 'true') break;
      marker = tags(xml, 'NextMarker')[0] ?? (keys.at(-1) as string);
    }
    assert.deepEqual(seen, ALL_KEYS);
  });

  it('delimiter listings roll keys up into common prefixes, and paging never repeats one', async () => {
    const root = await (await fetch(`${base}/bkt?delimiter=%2F`)).text();
    assert.deepEqual(tags(root, 'Prefix').slice(1), ['odd key+%~/', 'set/']);
    assert.deepEqual(tags(root, 'Key'), []);
    const prefixes: string[] = [];
    let marker = '';
    for (let page = 0; page < 20; page++) {
      const xml = await (await fetch(`${base}/bkt?delimiter=%2F&prefix=set%2F&max-keys=3&marker=${encodeURIComponent(marker)}`)).text();
      prefixes.push(...tags(xml, 'Prefix').slice(1));
      if (tags(xml, 'IsTruncated')[0] !== 'true') break;
      marker = tags(xml, 'NextMarker')[0] as string;
    }
    assert.deepEqual(prefixes, Array.from({ length: 7 }, (_, i) => `set/0${i}/`));
    const dir = await (await fetch(`${base}/bkt?delimiter=%2F&prefix=set%2F03%2F`)).text();
    assert.deepEqual(tags(dir, 'Key'), ALL_KEYS.filter((k) => k.startsWith('set/03/')));
  });

  it('ListObjectsV2 pages with continuation tokens; start-after and encoding-type=url work', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const xml = await (await fetch(`${base}/bkt?list-type=2&max-keys=700${token === undefined ? '' : `&continuation-token=${encodeURIComponent(token)}`}`)).text();
      const keys = tags(xml, 'Key');
      assert.equal(Number(tags(xml, 'KeyCount')[0]), keys.length);
      seen.push(...keys);
      if (tags(xml, 'IsTruncated')[0] !== 'true') break;
      token = tags(xml, 'NextContinuationToken')[0];
    }
    assert.deepEqual(seen, ALL_KEYS);
    const after = await (await fetch(`${base}/bkt?list-type=2&start-after=${encodeURIComponent(ALL_KEYS[2497] as string)}`)).text();
    assert.deepEqual(tags(after, 'Key'), ALL_KEYS.slice(2498));
    const enc = await (await fetch(`${base}/bkt?list-type=2&prefix=odd&encoding-type=url`)).text();
    assert.deepEqual(tags(enc, 'Key').map(decodeURIComponent), ['odd key+%~/ü.txt']);
    assert.ok(!(tags(enc, 'Key')[0] as string).includes(' '), 'the key is percent-encoded');
  });

  it('the download check counts missing, wrong and unexpected files', async () => {
    const objects = OBJECTS.slice(0, 4).map((o) => ({ key: o.key, size: o.body.byteLength, sha256: createHash('sha256').update(o.body).digest('hex') }));
    const dir = path.join(tmp, 'dl');
    for (const o of OBJECTS.slice(0, 4)) {
      await mkdir(path.dirname(path.join(dir, o.key)), { recursive: true });
      await writeFile(path.join(dir, o.key), o.body);
    }
    assert.deepEqual(await verifyDownload(dir, objects), { files: 4, bytes: objects.reduce((n, o) => n + o.size, 0), missing: 0, wrong: 0, unexpected: 0, ok: true });
    await writeFile(path.join(dir, OBJECTS[1]?.key as string), 'corrupted');
    await rm(path.join(dir, OBJECTS[2]?.key as string));
    await writeFile(path.join(dir, 'stray.bin'), 'x');
    const v = await verifyDownload(dir, objects);
    assert.equal(v.ok, false);
    assert.deepEqual({ missing: v.missing, wrong: v.wrong, unexpected: v.unexpected, files: v.files }, { missing: 1, wrong: 1, unexpected: 1, files: 4 });
  });

  it('a command run with cpu: true reports the CPU it used (bash `times`)', async () => {
    assert.equal(childCpuMs('0m0.001s 0m0.002s\n1m2.500s 0m0.250s\n'), 62_750);
    assert.equal(childCpuMs('garbage'), undefined);
    const r = await runCommand(process.execPath, ['-e', 'let x = 0; const end = Date.now() + 200; while (Date.now() < end) x++; process.exit(3)'], { env: process.env, cpu: true });
    assert.equal(r.code, 3, 'the exit code comes through');
    assert.ok(r.cpuMs !== undefined && r.cpuMs > 0, `cpu ${String(r.cpuMs)}`);
  });
});
