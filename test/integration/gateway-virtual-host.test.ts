/**
 * `readpath serve` addressed virtual-hosted style (`Host: {bucket}.gw.test`, path `/{key}`),
 * the default of DuckDB, Spark's S3A and the AWS SDKs, by clients nobody here wrote: the AWS SDK,
 * the aws CLI, rclone, s3cmd and curl's own SigV4 signer (`--aws-sigv4`). Nothing here can
 * resolve `*.gw.test`, so each client reaches the gateway the way it can be told to without
 * touching the machine's resolver: the SDK through an agent whose lookup answers 127.0.0.1,
 * curl with `--resolve`, and the aws CLI, rclone and s3cmd through HTTP_PROXY / s3cmd's
 * proxy_host pointing at the gateway itself — they then send the absolute-form request line
 * (`GET http://photos.gw.test:PORT/key`), which a server must accept (RFC 9112 §3.2.2).
 * Path style keeps working beside it, and `/health` under a bucket's host is that bucket's key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { CLIENT_REGION, S3Clients, assertSameFiles, filesUnder, ok, run, s3Order, tool, toolEnv, type ClientCred, type Serve } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';

const DOMAIN = 'gw.test';
const PHOTOS: ClientCred & { bucket: string } = { bucket: 'photos', id: 'AKIAVHOSTPHOTOS00001', secret: 'vhost/Secret+Key=0123456789' };
const DOTTED: ClientCred & { bucket: string } = { bucket: 'my.photos', id: 'AKIAVHOSTDOTTED00001', secret: 'dotted-secret-0123456789' };
const OBJECTS: ReadonlyMap<string, Buffer> = new Map([
  ['hello.txt', Buffer.from('hello, virtual host\n')],
  ['dir/with space + plus.txt', randomBytes(1234)],
  ['dir/ünï~.bin', randomBytes(4321)],
  ['health', Buffer.from('a key named like the health path\n')],
  ['big.bin', randomBytes(9 * 1024 * 1024 + 3)],
]);
const DOTTED_OBJECT = Buffer.from('in a bucket whose name has dots\n');

describe('readpath serve, virtual-hosted style (server.virtual_host_domains) with real clients', () => {
  let fx: GatewayFixture;
  let tmp: string;
  let clients: S3Clients;
  let serve: Serve;
  let port: number;
  let proxy: string;

  before(async () => {
    fx = await startGatewayFixture({
      tmpPrefix: 'readpath-gw-vhost-', server: { virtual_host_domains: [DOMAIN] },
      buckets: [{ name: PHOTOS.bucket, creds: [PHOTOS], objects: OBJECTS }, { name: DOTTED.bucket, creds: [DOTTED], objects: new Map([['note.txt', DOTTED_OBJECT]]) }],
    });
    tmp = fx.tmp;
    serve = fx.serve;
    clients = await S3Clients.create(tmp);
    port = Number(new URL(serve.url).port);
    proxy = serve.url;
  });

  after(async () => {
    await fx?.close();
  });

  /** Every host name resolves to the gateway's loopback address. */
  const loopback: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all === true) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  };

  it('the AWS SDK (forcePathStyle off): GetObject, a delimited ListObjectsV2, HeadBucket; a dotted bucket name (path style)', async () => {
    const seen: string[] = [];
    const agent = new http.Agent({ keepAlive: true, lookup: (host, opts, cb) => {
      seen.push(host);
      loopback(host, opts, cb);
    } });
    const sdk = (cred: ClientCred): S3Client => gatewaySdk(`http://${DOMAIN}:${port}`, cred, { forcePathStyle: false, requestHandler: new NodeHttpHandler({ httpAgent: agent }) });
    const s3 = sdk(PHOTOS);
    const dotted = sdk(DOTTED);
    try {
      for (const [k, v] of OBJECTS) {
        const g = await s3.send(new GetObjectCommand({ Bucket: PHOTOS.bucket, Key: k }));
        assert.ok(Buffer.from(await g.Body!.transformToByteArray()).equals(v), k);
      }
      const l = await s3.send(new ListObjectsV2Command({ Bucket: PHOTOS.bucket, Delimiter: '/' }));
      assert.deepEqual(l.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
      assert.deepEqual(l.Contents?.map((c) => c.Key), s3Order([...OBJECTS.keys()].filter((k) => !k.includes('/'))));
      assert.equal((await s3.send(new HeadBucketCommand({ Bucket: PHOTOS.bucket }))).$metadata.httpStatusCode, 200);
      const n = await dotted.send(new GetObjectCommand({ Bucket: DOTTED.bucket, Key: 'note.txt' }));
      assert.ok(Buffer.from(await n.Body!.transformToByteArray()).equals(DOTTED_OBJECT));
      // The bucket really went in the Host: the SDK asked for the bucket's own host name. (A
      // bucket name with dots it addresses path style, on the domain itself: both are served.)
      assert.ok(seen.includes(`photos.${DOMAIN}`), seen.join(', '));
      // Another bucket's credential is refused under its host too.
      await assert.rejects(dotted.send(new GetObjectCommand({ Bucket: PHOTOS.bucket, Key: 'hello.txt' })), (err: { name?: string }) => err.name === 'AccessDenied');
    } finally {
      s3.destroy();
      dotted.destroy();
      agent.destroy();
    }
  });

  it('curl --aws-sigv4 (curl\'s own signer): virtual-hosted GETs (a dotted bucket name too), and path style beside them', async () => {
    const curl = tool('curl');
    const get = (url: string, host: string, out: string, cred: ClientCred = PHOTOS): Promise<Awaited<ReturnType<typeof run>>> => run(curl, [
      '-sS', '--fail-with-body', '--noproxy', '*', '--resolve', `${host}:${port}:127.0.0.1`, '--aws-sigv4', `aws:amz:${CLIENT_REGION}:s3`,
      '--user', `${cred.id}:${cred.secret}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '-o', out, url,
    ], toolEnv(clients.home, {}));
    const vOut = path.join(tmp, 'curl-vhost.txt');
    ok(await get(`http://photos.${DOMAIN}:${port}/hello.txt`, `photos.${DOMAIN}`, vOut), 'curl (virtual host)');
    assert.ok((await readFile(vOut)).equals(OBJECTS.get('hello.txt') as Buffer));
    const pOut = path.join(tmp, 'curl-path.txt');
    ok(await get(`http://${DOMAIN}:${port}/photos/hello.txt`, DOMAIN, pOut), 'curl (path style on the domain)');
    assert.ok((await readFile(pOut)).equals(OBJECTS.get('hello.txt') as Buffer));
    // A bucket name with dots: every label before the domain.
    const dOut = path.join(tmp, 'curl-dotted.txt');
    ok(await get(`http://my.photos.${DOMAIN}:${port}/note.txt`, `my.photos.${DOMAIN}`, dOut, DOTTED), 'curl (dotted bucket)');
    assert.ok((await readFile(dOut)).equals(DOTTED_OBJECT));
    // /health under a bucket's host is that bucket's key, not the gateway's health check.
    const hOut = path.join(tmp, 'curl-health.txt');
    ok(await get(`http://photos.${DOMAIN}:${port}/health`, `photos.${DOMAIN}`, hOut), 'curl /health under the bucket');
    assert.ok((await readFile(hOut)).equals(OBJECTS.get('health') as Buffer));
  });

  describe('through HTTP_PROXY (absolute-form request lines)', { concurrency: 1 }, () => {
    it('aws s3 cp --recursive and aws s3 ls with addressing_style = virtual', async () => {
      const cfg = path.join(tmp, 'aws-vhost-config');
      await writeFile(cfg, `[default]\nregion = ${CLIENT_REGION}\ns3 =\n    addressing_style = virtual\n    signature_version = s3v4\n`);
      const env = { ...clients.awsEnv(PHOTOS), AWS_CONFIG_FILE: cfg, HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: '', no_proxy: '' };
      const dir = path.join(tmp, 'aws-vhost');
      const endpoint = `http://${DOMAIN}:${port}`;
      const cp = ok(await run(clients.aws, ['--endpoint-url', endpoint, '--debug', 's3', 'cp', '--recursive', 's3://photos/', dir], env, 120_000), 'aws s3 cp --recursive');
      assertSameFiles(await filesUnder(dir), OBJECTS, 'aws s3 cp --recursive (virtual host)');
      assert.match(cp.stderr, new RegExp(`http://photos\\.${DOMAIN.replace('.', '\\.')}:${port}/`), 'botocore addressed the bucket by host');
      const ls = ok(await run(clients.aws, ['--endpoint-url', endpoint, 's3', 'ls', 's3://photos/dir/'], env), 'aws s3 ls');
      assert.deepEqual(ls.stdout.split('\n').filter((l) => l !== '').map((l) => /^\S+ \S+\s+\d+ (.*)$/.exec(l)?.[1]).sort(), ['with space + plus.txt', 'ünï~.bin'].sort());
    });

    it('rclone copy with force_path_style = false', async () => {
      const dir = path.join(tmp, 'rclone-vhost');
      const r = ok(await clients.rcloneRun({ vh: { url: `http://${DOMAIN}:${port}`, cred: PHOTOS, pathStyle: false } }, ['--dump', 'headers', 'copy', 'vh:photos', dir], 120_000,
        { HTTP_PROXY: proxy, NO_PROXY: '' }), 'rclone copy');
      assertSameFiles(await filesUnder(dir), OBJECTS, 'rclone copy (virtual host)');
      assert.match(r.stderr, new RegExp(`Host: photos\\.${DOMAIN.replace('.', '\\.')}:${port}`), 'rclone addressed the bucket by host');
    });

    it('s3cmd get and ls with --host-bucket=%(bucket)s.gw.test', async () => {
      const cfg = path.join(tmp, 's3cmd-vhost.cfg');
      await writeFile(cfg, `[default]\nproxy_host = 127.0.0.1\nproxy_port = ${port}\n`);
      const s3cmd = (args: string[]): Promise<Awaited<ReturnType<typeof run>>> => clients.s3cmdRun(`http://${DOMAIN}:${port}`, PHOTOS, ['-d', ...args], undefined,
        { hostBucket: `%(bucket)s.${DOMAIN}:${port}`, config: cfg });
      const out = path.join(tmp, 's3cmd-vhost.bin');
      const g = ok(await s3cmd(['get', 's3://photos/dir/with space + plus.txt', out]), 's3cmd get');
      assert.ok((await readFile(out)).equals(OBJECTS.get('dir/with space + plus.txt') as Buffer));
      assert.doesNotMatch(g.stderr, /MD5 signatures do not match/, g.stderr);
      assert.match(g.stderr, new RegExp(`photos\\.${DOMAIN.replace('.', '\\.')}`), 's3cmd addressed the bucket by host');
      const ls = ok(await s3cmd(['ls', 's3://photos/']), 's3cmd ls');
      assert.match(ls.stdout, /s3:\/\/photos\/hello\.txt$/m);
      assert.match(ls.stdout, /DIR\s+s3:\/\/photos\/dir\/$/m);
    });
  });
});
