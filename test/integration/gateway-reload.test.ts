/**
 * `readpath serve` reloading its configuration on SIGHUP, as s3-orchestrator does: credentials
 * rotate, buckets come and go and the TLS certificate is renewed without a restart; settings
 * only a restart applies are named in a warning and keep their values; a file that does not load
 * (bad YAML, a certificate file gone) changes nothing. Driven against a spawned gateway over
 * TLS, with the AWS SDK and plain TLS handshakes that report the certificate served.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { stringify } from 'yaml';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import { ok, run, tool, type ClientCred } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';

const OLD: ClientCred = { id: 'AKIARELOADOLDKEY0001', secret: 'old-secret-0123456789' };
const NEW: ClientCred = { id: 'AKIARELOADNEWKEY0001', secret: 'new-secret-0123456789' };
const DOC = Buffer.from('served before and after every reload\n');
const MORE = Buffer.from('a bucket added by a reload\n');

describe('readpath serve: SIGHUP reloads the configuration', () => {
  let fx: GatewayFixture;
  let certs: { one: string; two: string; keyOne: string; keyTwo: string };
  let ca: string[];
  let url: string;
  let cleanup: string | undefined;

  /** A self-signed certificate for 127.0.0.1 and its key, under `dir`. */
  const makeCert = async (dir: string, name: string): Promise<{ cert: string; key: string }> => {
    const cert = path.join(dir, `${name}.pem`);
    const key = path.join(dir, `${name}-key.pem`);
    ok(await run(tool('openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { ...process.env, HOME: dir }), 'openssl req');
    return { cert, key };
  };

  before(async () => {
    // The certificates live beside the fixture's own directory: made first, named by absolute path.
    const certDir = await mkdtemp(path.join(os.tmpdir(), 'readpath-reload-certs-'));
    cleanup = certDir;
    const one = await makeCert(certDir, 'one');
    const two = await makeCert(certDir, 'two');
    certs = { one: one.cert, two: two.cert, keyOne: one.key, keyTwo: two.key };
    ca = [await readFile(one.cert, 'utf8'), await readFile(two.cert, 'utf8')];
    fx = await startGatewayFixture({
      tmpPrefix: 'readpath-gw-reload-',
      buckets: [{ name: 'docs', creds: [OLD], objects: new Map([['doc.txt', DOC]]) }, { name: 'more', creds: [{ id: 'AKIARELOADUNUSED0001', secret: 'unused-secret-0123456789' }], objects: new Map([['more.txt', MORE]]) }],
      server: { tls: { cert_file: one.cert, key_file: one.key } },
    });
    url = fx.serve.url;
  });

  after(async () => {
    await fx?.close();
    if (cleanup !== undefined) await rm(cleanup, { recursive: true, force: true });
  });

  /** A client trusting both certificates, on fresh connections (each request sees the certificate in use). */
  const sdk = (cred: ClientCred): S3Client => gatewaySdk(url, cred, { requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca, keepAlive: false }) }) });

  /** The SHA-256 fingerprint of the certificate a new TLS connection is served. */
  const servedCert = (): Promise<string> => new Promise((resolve, reject) => {
    const u = new URL(url);
    const sock = tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' }, () => {
      resolve(sock.getPeerX509Certificate()?.fingerprint256 ?? '');
      sock.end();
    });
    sock.once('error', reject);
  });
  const fingerprint = async (file: string): Promise<string> => new X509Certificate(await readFile(file)).fingerprint256;

  const read = async (cred: ClientCred, bucket: string, key: string): Promise<Buffer> => {
    const c = sdk(cred);
    try {
      const g = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await g.Body!.transformToByteArray());
    } finally {
      c.destroy();
    }
  };
  const refusal = async (cred: ClientCred, bucket: string, key: string): Promise<string> => {
    try {
      await read(cred, bucket, key);
      return 'served';
    } catch (err) {
      return (err as { name?: string }).name ?? String(err);
    }
  };

  /** Rewrite the configuration file with `change` applied, send SIGHUP, wait for the stderr line saying how it went. */
  const reloadWith = async (text: string, want: RegExp): Promise<string> => {
    await writeFile(fx.configPath, text);
    const before = fx.serve.stderr().length;
    assert.ok(fx.serve.child.kill('SIGHUP'), 'SIGHUP sent');
    // The gateway's stderr is read as it comes: wait for the line (a deadline, not a timing check).
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!want.test(fx.serve.stderr().slice(before))) return;
        clearTimeout(deadline);
        fx.serve.child.stderr?.off('data', check);
        resolve();
      };
      const deadline = setTimeout(() => {
        fx.serve.child.stderr?.off('data', check);
        reject(new Error(`no stderr line matching ${String(want)} after SIGHUP; stderr since:\n${fx.serve.stderr().slice(before)}`));
      }, 30_000);
      fx.serve.child.stderr?.on('data', check);
      check();
    });
    return fx.serve.stderr().slice(before);
  };
  const withDoc = (change: (doc: Record<string, unknown>) => void): string => {
    const doc = structuredClone(fx.configDoc);
    change(doc);
    return stringify(doc);
  };

  it('credentials rotate, a bucket is granted, the certificate is renewed; restart-only changes are named and kept', async () => {
    assert.ok((await read(OLD, 'docs', 'doc.txt')).equals(DOC));
    assert.equal(await refusal(NEW, 'docs', 'doc.txt'), 'InvalidAccessKeyId');
    assert.equal(await servedCert(), await fingerprint(certs.one));

    const out = await reloadWith(withDoc((d) => {
      d['buckets'] = [
        { name: 'docs', credentials: [{ access_key_id: NEW.id, secret_access_key: NEW.secret }] },
        { name: 'more', credentials: [{ access_key_id: 'AKIARELOADMORE000001', secret_access_key: NEW.secret }] },
      ];
      d['server'] = { tls: { cert_file: certs.two, key_file: certs.keyTwo }, listen_addr: '127.0.0.1:1', max_concurrent_reads: 64 };
      d['runtime'] = { threads: 2 };
    }), /configuration reloaded: 2 buckets, 2 credentials[\s\S]*restart/);
    assert.match(out, /changed but applied only after a restart: server\.listen_addr, runtime/);
    assert.doesNotMatch(out, new RegExp(NEW.secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no secret on stderr');

    assert.equal(await refusal(OLD, 'docs', 'doc.txt'), 'InvalidAccessKeyId', 'the removed key is refused');
    assert.ok((await read(NEW, 'docs', 'doc.txt')).equals(DOC), 'the new key reads');
    assert.ok((await read({ id: 'AKIARELOADMORE000001', secret: NEW.secret }, 'more', 'more.txt')).equals(MORE));
    assert.equal(await refusal(NEW, 'more', 'more.txt'), 'AccessDenied', 'a key reads its own buckets only');
    assert.equal(await servedCert(), await fingerprint(certs.two), 'new connections get the new certificate');
    // Still on the port it started on (listen_addr is restart-only).
    const c = sdk(NEW);
    try {
      assert.deepEqual((await c.send(new ListObjectsV2Command({ Bucket: 'docs' }))).Contents?.map((o) => o.Key), ['doc.txt']);
    } finally {
      c.destroy();
    }
  });

  it('a file that does not load — bad YAML, a certificate file gone, no buckets — changes nothing', async () => {
    const current = withDoc((d) => {
      d['buckets'] = [{ name: 'docs', credentials: [{ access_key_id: NEW.id, secret_access_key: NEW.secret }] }];
      d['server'] = { tls: { cert_file: certs.two, key_file: certs.keyTwo } };
    });
    await reloadWith(current, /configuration reloaded: 1 buckets, 1 credentials/);
    for (const [what, text] of [
      ['bad YAML', 'buckets: [unclosed\n'],
      ['a missing certificate', withDoc((d) => {
        d['buckets'] = [{ name: 'docs', credentials: [{ access_key_id: OLD.id, secret_access_key: OLD.secret }] }];
        d['server'] = { tls: { cert_file: path.join(fx.tmp, 'gone.pem'), key_file: certs.keyTwo } };
      })],
      ['a certificate with another certificate\'s key', withDoc((d) => {
        d['buckets'] = [{ name: 'docs', credentials: [{ access_key_id: OLD.id, secret_access_key: OLD.secret }] }];
        d['server'] = { tls: { cert_file: certs.one, key_file: certs.keyTwo } };
      })],
      ['no buckets', withDoc((d) => {
        d['buckets'] = [];
      })],
    ] as const) {
      const out = await reloadWith(text, /configuration reload failed, still serving the previous one/);
      assert.doesNotMatch(out, /configuration reloaded/, what);
      assert.ok((await read(NEW, 'docs', 'doc.txt')).equals(DOC), `${what}: the key in use still reads`);
      assert.equal(await refusal(OLD, 'docs', 'doc.txt'), 'InvalidAccessKeyId', `${what}: nothing of the bad file applied`);
      assert.equal(await servedCert(), await fingerprint(certs.two), `${what}: the certificate in use stays`);
    }
    assert.equal(fx.serve.child.exitCode, null, 'still running');
  });

  it('SIGTERM with a (reloaded) shutdown_delay: readiness fails at once while S3 requests and liveness are still served', async () => {
    /** GET a side path over TLS: its status and JSON body. */
    const side = (p: string): Promise<{ status: number; body: Record<string, unknown> }> => new Promise((resolve, reject) => {
      https.get(`${url}${p}`, { ca, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      }).once('error', reject);
    });
    assert.deepEqual(await side('/health/ready'), { status: 200, body: { status: 'ready', instance: os.hostname(), pid: fx.serve.child.pid } });
    await reloadWith(withDoc((d) => {
      d['buckets'] = [{ name: 'docs', credentials: [{ access_key_id: NEW.id, secret_access_key: NEW.secret }] }];
      d['server'] = { tls: { cert_file: certs.two, key_file: certs.keyTwo }, shutdown_delay: '10m' };
    }), /configuration reloaded/);
    assert.ok(fx.serve.child.kill('SIGTERM'));
    // The flip happens when the signal is handled: ask until it shows (a deadline, not a timing check).
    let ready = await side('/health/ready');
    for (let i = 0; i < 200 && ready.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 25));
      ready = await side('/health/ready');
    }
    assert.deepEqual(ready, { status: 503, body: { status: 'not ready', instance: os.hostname(), pid: fx.serve.child.pid } });
    // Still inside the 10-minute delay: the gateway serves what the load balancer still sends.
    assert.ok((await read(NEW, 'docs', 'doc.txt')).equals(DOC));
    const live = await side('/health');
    assert.equal(live.status, 200);
    assert.equal(live.body['status'], 'ok');
    assert.equal(fx.serve.child.exitCode, null, 'waiting out shutdown_delay');
  });
});
