/**
 * `readpath serve` with `server.processes: 2`: a primary and two gateway processes on one port,
 * spawned as users run it over an s3rver fleet. New connections land on both processes; any
 * process's `/metrics` answers for the whole gateway; the rate limit is the gateway's, not each
 * process's; SIGHUP reaches every process, reported once; a process killed is replaced by one
 * serving what the gateway loaded (not the file as edited or broken since); SIGTERM drains them
 * all and exits 0; a port in use ends the start with the process's own error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { gatewaySdk } from '../helpers/gateway-sdk.js';
import type { ClientCred } from '../helpers/s3-clients.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.js';
import { rawRequest } from '../helpers/raw-request.js';
import { within } from '../helpers/within.js';

const CRED: ClientCred = { id: 'AKIAPROCESSES0000001', secret: 'processes-secret-0123456789' };
const NEXT: ClientCred = { id: 'AKIAPROCESSES0000002', secret: 'processes-next-secret-0123456789' };
const OBJECTS = new Map(Array.from({ length: 6 }, (_, i) => [`obj-${i}.bin`, Buffer.from(`object ${i} served by one of two processes\n`.repeat(i + 1))]));

/** An SDK client on fresh connections (each request may land on either process), no retries. */
function sdk(url: string, cred: ClientCred): S3Client {
  return gatewaySdk(url, cred, { requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: false }) }) });
}

/**
 * The health answers of `n` requests, each on a new connection. Bounded: a connection node:cluster
 * was handing to a process at the moment it was killed is never answered (the client's timeout
 * is what ends it, as for any client of a crashed server).
 */
async function healthOf(url: string, n: number): Promise<{ pid: number; process: number }[]> {
  const out: { pid: number; process: number }[] = [];
  for (let i = 0; i < n; i++) {
    const a = await rawRequest(`${url}/health`, { timeoutMs: 5_000 });
    assert.equal(a.status, 200);
    const b = JSON.parse(a.body.toString()) as { pid: number; process: number };
    out.push({ pid: b.pid, process: b.process });
  }
  return out;
}

/** What an S3 call came to: 'ok' or its error code. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof S3ServiceException) return err.name;
    throw err;
  }
}

/** The sum of a metric's samples whose line contains every one of `parts`. */
function sampleSum(text: string, name: string, ...parts: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === '{' || line[name.length] === ' ')) continue;
    if (parts.every((p) => line.includes(p))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('readpath serve: server.processes', () => {
  let fx: GatewayFixture;

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-processes-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }], server: { processes: 2 } });
  });

  after(async () => {
    await fx?.close();
  });

  it('says it serves once, and new connections land on both processes, each reading verified objects', async () => {
    assert.equal(fx.serve.stderr().match(/^readpath: serving S3 on /gm)?.length, 1, fx.serve.stderr());
    const seen = await healthOf(fx.serve.url, 8);
    assert.deepEqual(new Set(seen.map((h) => h.process)), new Set([0, 1]));
    const pids = new Set(seen.map((h) => h.pid));
    assert.equal(pids.size, 2, 'two processes');
    assert.ok(!pids.has(fx.serve.child.pid ?? -1), 'the primary serves no request itself');
    const c = sdk(fx.serve.url, CRED);
    for (const [k, v] of OBJECTS) {
      const g = await c.send(new GetObjectCommand({ Bucket: 'data', Key: k }));
      assert.ok(Buffer.from(await g.Body?.transformToByteArray() ?? []).equals(v), k);
    }
  });

  it('any process\'s /metrics counts the whole gateway\'s requests', async () => {
    const before = sampleSum((await rawRequest(`${fx.serve.url}/metrics`)).body.toString(), 'readpath_operation_duration_seconds_count', 'HeadObject');
    const c = sdk(fx.serve.url, CRED);
    const heads = 10;
    for (let i = 0; i < heads; i++) await c.send(new HeadObjectCommand({ Bucket: 'data', Key: 'obj-1.bin' }));
    // Scraped on new connections: each lands on the next process, and each sees every HEAD.
    for (let i = 0; i < 2; i++) {
      const text = (await rawRequest(`${fx.serve.url}/metrics`)).body.toString();
      assert.equal(sampleSum(text, 'readpath_operation_duration_seconds_count', 'HeadObject') - before, heads, text);
      assert.equal(sampleSum(text, 'readpath_gateway_processes'), 2);
      assert.match(text, /^readpath_backend_usage\{backend="b1",kind="api_requests"\} \d+$/m);
    }
  });

  it('SIGHUP reaches every process: a rotated key is refused and its successor read on every connection', async () => {
    const doc = structuredClone(fx.configDoc) as { buckets: { name: string; credentials: unknown[] }[] };
    doc.buckets = [{ name: 'data', credentials: [{ access_key_id: NEXT.id, secret_access_key: NEXT.secret }] }];
    await writeFile(fx.configPath, stringify(doc));
    fx.serve.child.kill('SIGHUP');
    const oldKey = sdk(fx.serve.url, CRED);
    const newKey = sdk(fx.serve.url, NEXT);
    // Reloads land a moment apart; once both processes have it, 6 connections in a row agree.
    await until('both processes to reload', async () => {
      for (let i = 0; i < 6; i++) if (await outcome(newKey.send(new HeadObjectCommand({ Bucket: 'data', Key: 'obj-0.bin' }))) !== 'ok') return false;
      return true;
    });
    for (let i = 0; i < 6; i++) assert.equal(await outcome(oldKey.send(new GetObjectCommand({ Bucket: 'data', Key: 'obj-0.bin' }))), 'InvalidAccessKeyId');
  });

  it('a process killed is replaced; SIGTERM drains every process and exits 0', async () => {
    const first = await healthOf(fx.serve.url, 4);
    const victim = first.find((h) => h.process === 1)?.pid;
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    await until('a new process 1', async () => {
      const now = await healthOf(fx.serve.url, 4).catch(() => []);
      return now.some((h) => h.process === 1 && h.pid !== victim) && now.some((h) => h.process === 0);
    });
    assert.match(fx.serve.stderr(), /gateway process 1 \(pid \d+\) exited \(signal SIGKILL\); starting another/);
    const text = (await rawRequest(`${fx.serve.url}/metrics`)).body.toString();
    assert.equal(sampleSum(text, 'readpath_gateway_process_restarts_total'), 1);
    const pids = new Set((await healthOf(fx.serve.url, 4)).map((h) => h.pid));
    assert.equal(pids.size, 2);
    fx.serve.child.kill('SIGTERM');
    assert.equal(await within(fx.serve.exit, 60_000, 'the gateway to exit after SIGTERM'), 0, fx.serve.stderr());
    for (const pid of pids) await until(`process ${pid} to exit`, () => Promise.resolve(!alive(pid)));
    // Everything written now: the SIGHUP above was reported once for the gateway, not once per process.
    assert.equal(fx.serve.stderr().match(/^readpath: configuration reloaded: /gm)?.length, 1, fx.serve.stderr());
  });
});

describe('readpath serve: server.processes with rate_limit', () => {
  let fx: GatewayFixture;

  before(async () => {
    fx = await startGatewayFixture({
      tmpPrefix: 'readpath-gw-processes-rl-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }], server: { processes: 2 },
      // A burst of 4 and almost no refill: what the test counts is the burst.
      sections: { rate_limit: { enabled: true, requests_per_sec: 0.001, burst: 4 } },
    });
  });

  after(async () => {
    await fx?.close();
  });

  it('one client\'s burst is the gateway\'s, however its connections are spread', async () => {
    const c = sdk(fx.serve.url, CRED);
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push(await outcome(c.send(new GetObjectCommand({ Bucket: 'data', Key: 'obj-0.bin' })).then((g) => g.Body?.transformToByteArray())));
    // Each process with its own buckets would have let 8 through (4 each).
    assert.deepEqual(got, ['ok', 'ok', 'ok', 'ok', 'SlowDown', 'SlowDown', 'SlowDown', 'SlowDown']);
    const seen = new Set((await healthOf(fx.serve.url, 4)).map((h) => h.process));
    assert.deepEqual(seen, new Set([0, 1]), 'the requests were spread over both processes');
    const text = (await rawRequest(`${fx.serve.url}/metrics`)).body.toString();
    assert.equal(sampleSum(text, 'readpath_gateway_rate_limited_total'), 4);
  });
});

describe('readpath serve: server.processes, started other ways', () => {
  for (const processes of [1, 2]) {
    it(`SIGINT (Ctrl-C) stops a gateway of ${processes} process${processes === 1 ? '' : 'es'} as SIGTERM does: it drains and exits 0`, async () => {
      const fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-sigint-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }], server: { processes } });
      try {
        const c = sdk(fx.serve.url, CRED);
        assert.equal((await c.send(new HeadObjectCommand({ Bucket: 'data', Key: 'obj-1.bin' }))).ContentLength, OBJECTS.get('obj-1.bin')?.length);
        c.destroy();
        assert.ok(fx.serve.child.kill('SIGINT'));
        assert.equal(await within(fx.serve.exit, 60_000, 'the gateway to exit after SIGINT'), 0, fx.serve.stderr());
      } finally {
        await fx.close();
      }
    });
  }

  for (const processes of [1, 2]) {
    it(`SIGHUP while a gateway of ${processes} process${processes === 1 ? '' : 'es'} shuts down is refused with a warning; it still drains and exits 0`, async () => {
      // The delay only keeps the shutdown going while the SIGHUP is sent: nothing measures it.
      const fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-hup-stop-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }], server: { processes, shutdown_delay: '8s' } });
      try {
        assert.ok(fx.serve.child.kill('SIGTERM'));
        // Readiness fails once the stop is under way (in every process: the primary has sent it on).
        await until('readiness to fail', async () => (await rawRequest(`${fx.serve.url}/health/ready`, { timeoutMs: 5_000 })).status === 503);
        assert.ok(fx.serve.child.kill('SIGHUP'));
        await until('the SIGHUP to be answered', () => Promise.resolve(/SIGHUP: ignored, the gateway is shutting down/.test(fx.serve.stderr()) || fx.serve.child.exitCode !== null || fx.serve.child.signalCode !== null));
        assert.equal(await within(fx.serve.exit, 60_000, 'the gateway to exit after SIGTERM'), 0, fx.serve.stderr());
        assert.match(fx.serve.stderr(), /^readpath: warning: SIGHUP: ignored, the gateway is shutting down$/m);
      } finally {
        await fx.close();
      }
    });
  }

  it('--processes 2 --metrics-port 0: the primary serves the whole gateway\'s metrics on its own port', async () => {
    const fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-processes-mp-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }] });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', fx.configPath, '--listen', '127.0.0.1:0', '--processes', '2', '--metrics-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until('serve to start', () => Promise.resolve(/serving S3 on/.test(err) || child.exitCode !== null), 600);
      const url = /^readpath: serving S3 on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(err)?.[1];
      const metricsUrl = /^readpath: metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(err)?.[1];
      assert.ok(url !== undefined && metricsUrl !== undefined, err);
      const c = sdk(url, CRED);
      for (let i = 0; i < 4; i++) await c.send(new HeadObjectCommand({ Bucket: 'data', Key: 'obj-2.bin' }));
      const health = await healthOf(url, 4);
      assert.deepEqual(new Set(health.map((h) => h.process)), new Set([0, 1]));
      const text = (await rawRequest(metricsUrl, { timeoutMs: 10_000 })).body.toString();
      assert.equal(sampleSum(text, 'readpath_operation_duration_seconds_count', 'HeadObject'), 4, text);
      assert.equal(sampleSum(text, 'readpath_gateway_processes'), 2);
      child.kill('SIGTERM');
      assert.equal(await within(exit, 60_000, 'the gateway to exit after SIGTERM'), 0, err);
    } finally {
      child.kill('SIGKILL');
      await fx.close();
    }
  });

  it('a port in use: the processes\' own error, and the primary exits with its code', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    const port = (holder.address() as net.AddressInfo).port;
    const fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-processes-busy-', buckets: [{ name: 'data', creds: [CRED] }] });
    try {
      await writeFile(fx.configPath, stringify({ ...fx.configDoc, server: { processes: 2 } }));
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '-c', fx.configPath, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        err += s;
      });
      const code = await within(new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), 60_000, 'the gateway to exit');
      if (typeof code === 'string') child.kill('SIGKILL');
      assert.equal(code, 2, err);
      assert.match(err, /cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
      assert.match(err, /gateway process \d \(pid \d+\) exited before it listened \(exit code 2\)/);
      assert.doesNotMatch(err, /serving S3 on/);
    } finally {
      await fx.close();
      holder.close();
    }
  });
});

describe('readpath serve: server.processes, the configuration every process serves', () => {
  let fx: GatewayFixture;

  before(async () => {
    fx = await startGatewayFixture({ tmpPrefix: 'readpath-gw-processes-config-', buckets: [{ name: 'data', creds: [CRED], objects: OBJECTS }], server: { processes: 2 } });
  });

  after(async () => {
    await fx?.close();
  });

  /** The configuration file with `cred` as the bucket's only credential. */
  const withCred = (cred: ClientCred): string => stringify({ ...fx.configDoc, buckets: [{ name: 'data', credentials: [{ access_key_id: cred.id, secret_access_key: cred.secret }] }] });

  /** Kill gateway process `index` and wait until another serves in its place. */
  async function replace(index: number): Promise<void> {
    const victim = (await healthOf(fx.serve.url, 6)).find((h) => h.process === index)?.pid;
    assert.ok(victim !== undefined, `process ${index} seen`);
    process.kill(victim, 'SIGKILL');
    await until(`a new process ${index}`, async () => {
      const now = await healthOf(fx.serve.url, 4).catch(() => []);
      return now.some((h) => h.process === index && h.pid !== victim) && new Set(now.map((h) => h.process)).size === 2;
    }, 600);
  }

  /** What `cred` gets on 6 new connections in a row (so on both processes). */
  async function outcomes(cred: ClientCred): Promise<string[]> {
    const c = sdk(fx.serve.url, cred);
    const out: string[] = [];
    // GET, not HEAD: a refused HEAD has no body to name its error code.
    for (let i = 0; i < 6; i++) out.push(await outcome(c.send(new GetObjectCommand({ Bucket: 'data', Key: 'obj-0.bin' })).then((g) => g.Body?.transformToByteArray())));
    return out;
  }

  const lines = (re: RegExp): number => fx.serve.stderr().split('\n').filter((l) => re.test(l)).length;
  const OK6 = Array<string>(6).fill('ok');
  const REFUSED6 = Array<string>(6).fill('InvalidAccessKeyId');

  it('a replacement serves what the gateway loaded, not the file as edited or broken since; a SIGHUP reloads every process with one line', async () => {
    // Edited without a SIGHUP: the replacement still serves what the others serve.
    await writeFile(fx.configPath, withCred(NEXT));
    await replace(1);
    assert.deepEqual(await outcomes(CRED), OK6);
    assert.deepEqual(await outcomes(NEXT), REFUSED6);
    // Broken since: the replacement comes up all the same (it never reads the file).
    await writeFile(fx.configPath, 'backends: [\n');
    await replace(1);
    assert.doesNotMatch(fx.serve.stderr(), /exit code 2/);
    assert.deepEqual(await outcomes(CRED), OK6);
    // A SIGHUP with the file broken: refused once, every process serving on.
    fx.serve.child.kill('SIGHUP');
    await until('the refusal', () => Promise.resolve(lines(/SIGHUP: configuration reload failed/) > 0));
    assert.deepEqual(await outcomes(CRED), OK6);
    // Fixed: one SIGHUP, one line for the gateway, and every process serves the new key at once.
    await writeFile(fx.configPath, withCred(NEXT));
    fx.serve.child.kill('SIGHUP');
    await until('the reload', () => Promise.resolve(lines(/configuration reloaded/) > 0));
    assert.deepEqual(await outcomes(NEXT), OK6);
    assert.deepEqual(await outcomes(CRED), REFUSED6);
    // Edited again, and a SIGHUP only to the gateway processes themselves (as a terminal's
    // hangup reaches the whole process group): the primary's reload is the only one.
    await writeFile(fx.configPath, withCred(CRED));
    for (const pid of new Set((await healthOf(fx.serve.url, 6)).map((h) => h.pid))) process.kill(pid, 'SIGHUP');
    // And a replacement starts with the configuration last reloaded, not the file.
    await replace(0);
    assert.deepEqual(await outcomes(NEXT), OK6);
    assert.deepEqual(await outcomes(CRED), REFUSED6);
    fx.serve.child.kill('SIGTERM');
    assert.equal(await within(fx.serve.exit, 60_000, 'the gateway to exit after SIGTERM'), 0, fx.serve.stderr());
    assert.equal(lines(/^readpath: configuration reloaded: 1 buckets, 1 credentials$/), 1, fx.serve.stderr());
    assert.equal(lines(/SIGHUP: configuration reload failed/), 1, fx.serve.stderr());
  });
});
