/**
 * The parts of a gateway of several processes that need no processes: the admission limit's
 * shares, the process place in the environment, combining metric families (backend usage
 * counted once), and the worker's link to the primary over a channel the test plays.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { shareOf } from '../../src/gateway/server.js';
import { AwaitedReplies, decodeConfig, encodeConfig, processPlace, type ToPrimary } from '../../src/gateway/cluster-protocol.js';
import { loadConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { PrimaryLink } from '../../src/gateway/cluster-link.js';
import { aggregateFamilies, combinedUsage } from '../../src/telemetry/metrics-aggregate.js';
import { MetricsExporter, type Family } from '../../src/telemetry/metrics.js';
import { Recorder } from '../../src/telemetry/recorder.js';

describe('gateway processes: admission shares', () => {
  it('a limit splits into shares that add up to it, at least 1 each; unlimited stays unlimited', () => {
    for (const [limit, count] of [[10, 3], [64, 2], [7, 7], [100, 8], [5, 4]] as const) {
      const shares = Array.from({ length: count }, (_, i) => shareOf(limit, i, count));
      assert.equal(shares.reduce((a, b) => a + b, 0), limit, `${limit} over ${count}: ${shares.join(',')}`);
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
    assert.deepEqual([0, 1, 2, 3].map((i) => shareOf(2, i, 4)), [1, 1, 1, 1], 'fewer slots than processes: each still admits one');
    assert.equal(shareOf(0, 1, 4), 0);
    assert.equal(shareOf(12, 0, 1), 12);
  });

  it('the place comes from READPATH_GATEWAY_PROCESS as INDEX/COUNT', () => {
    assert.deepEqual(processPlace('1/4'), { index: 1, count: 4 });
    for (const bad of [undefined, '', '4/4', '1/', 'a/b', '1/2/3', '-1/2']) assert.equal(processPlace(bad), undefined, String(bad));
  });
});

describe('gateway processes: metrics combined', () => {
  const usage = (name: string, values: [string, number][], aggregator: 'max' | 'sum' = 'max'): Family => ({
    name, help: 'h', type: 'gauge', aggregator, values: values.map(([backend, value]) => ({ labels: { backend, kind: 'api_requests' }, value })),
  });

  it('backend usage is the freshest baseline plus every process\'s unflushed deltas', () => {
    const a = [usage('readpath_backend_usage', [['b1', 100], ['b2', 7]]), usage('readpath_backend_usage_unflushed', [['b1', 5], ['b2', 0]], 'sum')];
    const b = [usage('readpath_backend_usage', [['b1', 104], ['b2', 7]]), usage('readpath_backend_usage_unflushed', [['b1', 3], ['b2', 2]], 'sum')];
    const u = combinedUsage([a, b]);
    assert.deepEqual(u?.values.map((v) => [v.labels['backend'], v.value]), [['b1', 112], ['b2', 9]]);
    assert.equal(combinedUsage([[]]), undefined);
  });

  it('two exporters combine: counters and histograms summed, breakers by the worst, usage once, the primary\'s own added', async () => {
    const exporter = (store: 'closed' | 'open', calls: number, unflushed: number): MetricsExporter => {
      const r = new Recorder();
      for (let i = 0; i < calls; i++) r.inc('hedges_sent_total');
      r.observe('operation_duration_seconds', { op: 'GetObject' }, 0.002);
      r.usage.setBaseline('b1', { apiRequests: 1000, egressBytes: 0, ingressBytes: 0 });
      r.usage.record('b1', unflushed, 0, 0);
      return new MetricsExporter(r, () => ({ store, backends: { b1: 'closed' } }), ['b1']);
    };
    const one = exporter('closed', 2, 10);
    const two = exporter('open', 3, 20);
    const registry = await aggregateFamilies([one.processFamilies(), two.processFamilies()], [
      { name: 'readpath_gateway_processes', help: 'p', type: 'gauge', aggregator: 'first', values: [{ labels: {}, value: 2 }] },
    ]);
    const text = await registry.metrics();
    assert.match(text, /^readpath_hedges_sent_total 5$/m);
    assert.match(text, /^readpath_operation_duration_seconds_count\{op="GetObject"\} 2$/m);
    assert.match(text, /^readpath_circuit_breaker_state\{breaker="store",backend=""\} 2$/m);
    assert.match(text, /^readpath_backend_usage\{backend="b1",kind="api_requests"\} 1030$/m);
    assert.doesNotMatch(text, /readpath_backend_usage_unflushed/);
    assert.match(text, /^readpath_backend_usage_limit\{backend="b1",kind="api_requests"\} 0$/m);
    assert.match(text, /^readpath_gateway_processes 2$/m);
    // One process alone renders what its own exposition says.
    assert.match(await one.render(), /^readpath_backend_usage\{backend="b1",kind="api_requests"\} 1010$/m);
  });
});

const MASTER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256);

/** A configuration with what JSON would not carry as it is: key bytes. */
function config(secret = 'gateway-secret-0123456789'): Promise<ResolvedConfig> {
  return loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID', secret_access_key: 'backend-secret' }],
    database: { driver: 'memory' },
    encryption: { enabled: true, master_key: Buffer.from(MASTER_KEY).toString('base64') },
    buckets: [{ name: 'data', credentials: [{ access_key_id: 'AKIAGATEWAY000000001', secret_access_key: secret }] }],
  });
}

describe('gateway processes: the configuration on the channel', () => {
  it('crosses as it was loaded: encryption keys stay bytes, every value the same', async () => {
    const c = await config();
    const back = decodeConfig(encodeConfig(c));
    assert.deepEqual(back, c);
    assert.ok(back.encryption?.localKeys[0]?.key instanceof Uint8Array);
    assert.equal(typeof encodeConfig(c), 'string', 'a string: it rides the JSON channel');
  });
});

/** A cluster worker's channel, played by the test: what the link sends, and messages to deliver. */
class FakeChannel extends EventEmitter {
  readonly sent: ToPrimary[] = [];
  connected = true;
  send = (m: ToPrimary): boolean => {
    if (!this.connected) throw new Error('channel closed');
    this.sent.push(m);
    return true;
  };
}

describe('gateway processes: the link to the primary', () => {
  const families: Family[] = [{ name: 'readpath_x_total', help: 'x', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: 3 }] }];

  it('asks for the rate limit and metrics, answers the primary\'s collection, hears reload and stop', async () => {
    const ch = new FakeChannel();
    const link = new PrimaryLink(() => families, ch);
    link.listening('http://127.0.0.1:1');
    assert.deepEqual(ch.sent[0], { rp: 'listening', url: 'http://127.0.0.1:1' });

    const allowed = link.allow('10.0.0.1');
    const ask = ch.sent[1] as Extract<ToPrimary, { rp: 'allow' }>;
    assert.equal(ask.client, '10.0.0.1');
    ch.emit('message', { rp: 'allow', id: ask.id, ok: false });
    assert.equal(await allowed, false);

    const text = link.metrics();
    const m = ch.sent[2] as Extract<ToPrimary, { rp: 'metrics' }>;
    ch.emit('message', { rp: 'metrics', id: m.id, text: 'readpath_x_total 6\n' });
    assert.equal(await text, 'readpath_x_total 6\n');

    const failed = link.metrics();
    const m2 = ch.sent[3] as Extract<ToPrimary, { rp: 'metrics' }>;
    ch.emit('message', { rp: 'metrics', id: m2.id, error: 'boom' });
    await assert.rejects(failed, /boom/);

    ch.emit('message', { rp: 'families', id: 41 });
    assert.deepEqual(ch.sent[4], { rp: 'families', id: 41, families });

    const handed = await config();
    ch.emit('message', { rp: 'reload', id: 8, generation: 1, config: encodeConfig(handed) });
    assert.deepEqual(ch.sent[5], { rp: 'reloaded', id: 8, error: 'the process is not serving yet', restartNeeded: [] }, 'not serving yet: refused');
    const applied: ResolvedConfig[] = [];
    link.onReload((c) => {
      applied.push(c);
      return { restartNeeded: ['backends'] };
    });
    ch.emit('message', { rp: 'reload', id: 9, generation: 1, config: encodeConfig(handed) });
    ch.emit('message', { cmd: 'NODE_CLUSTER', rp: undefined });
    ch.emit('message', 'not ours');
    assert.deepEqual(applied, [handed]);
    assert.deepEqual(ch.sent[6], { rp: 'reloaded', id: 9, restartNeeded: ['backends'] });
    link.onReload(() => {
      throw new Error('the key does not match the certificate');
    });
    ch.emit('message', { rp: 'reload', id: 10, generation: 2, config: encodeConfig(handed) });
    assert.deepEqual(ch.sent[7], { rp: 'reloaded', id: 10, error: 'the key does not match the certificate', restartNeeded: [] });
    let stopped = false;
    void link.stopped.then(() => {
      stopped = true;
    });
    ch.emit('message', { rp: 'stop' });
    await new Promise((r) => setImmediate(r));
    assert.equal(stopped, true);
    link.close();
    assert.equal(ch.listenerCount('message'), 0);
  });

  it('awaited replies: each question gets its own answer; one that times out gets undefined and its late answer is dropped', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const replies = new AwaitedReplies<string>();
    const sent: number[] = [];
    const a = replies.ask((id) => sent.push(id) > 0, 1000);
    const b = replies.ask((id) => sent.push(id) > 0, 5000);
    assert.equal(new Set(sent).size, 2, 'distinct ids');
    replies.answer(sent[1] as number, 'for b');
    t.mock.timers.tick(1000);
    assert.equal(await a, undefined);
    assert.equal(await b, 'for b');
    replies.answer(sent[0] as number, 'too late');
    assert.equal(await replies.ask(() => false, 1000), undefined, 'not sent: undefined at once');
  });

  it('asks the primary for its configuration: the one the gateway started with, and the one last reloaded', async () => {
    const ch = new FakeChannel();
    const link = new PrimaryLink(() => families, ch);
    const [initial, latest] = [await config(), await config('reloaded-secret-0123456789')];
    const first = link.config();
    const ask = ch.sent[0] as Extract<ToPrimary, { rp: 'config' }>;
    assert.equal(ask.rp, 'config');
    ch.emit('message', { rp: 'config', id: ask.id, config: { initial: encodeConfig(initial) } });
    assert.deepEqual(await first, { initial, latest: undefined });
    const second = link.config();
    const ask2 = ch.sent[1] as Extract<ToPrimary, { rp: 'config' }>;
    ch.emit('message', { rp: 'config', id: ask2.id, config: { initial: encodeConfig(initial), latest: { generation: 3, config: encodeConfig(latest) } } });
    assert.deepEqual(await second, { initial, latest });
    link.close();
    const gone = new FakeChannel();
    gone.connected = false;
    const orphan = new PrimaryLink(() => families, gone);
    await assert.rejects(orphan.config(), /did not hand this gateway process its configuration/);
    orphan.close();
  });

  it('the rate limit fails open when the primary cannot be asked; metrics then fail', async () => {
    const ch = new FakeChannel();
    ch.connected = false;
    const link = new PrimaryLink(() => families, ch);
    assert.equal(await link.allow('10.0.0.2'), true);
    await assert.rejects(link.metrics(), /did not answer/);
    link.close();
  });
});
