/**
 * The gateway's RateLimiter and the `rate_limit:` section: token arithmetic on a clock the test
 * moves, how the client is found behind proxies, forgetting idle clients, the bound on how many
 * are tracked, and the configuration's checks (CIDRs checked even while disabled, as upstream).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CLIENTS, RateLimiter } from '../../src/gateway/rate-limit.js';
import { loadConfig } from '../../src/config/load.js';
import { InvalidConfigError } from '../../src/config/issues.js';
import type { RateLimitSettings } from '../../src/config/types.js';

const BASE: RateLimitSettings = { enabled: true, requestsPerSec: 10, burst: 5, trustedProxies: [], cleanupIntervalMs: 0, cleanupMaxAgeMs: 60_000 };

describe('RateLimiter', () => {
  it('a full burst, then one token per 1/rate seconds, never more than the burst', () => {
    let t = 1000;
    const l = new RateLimiter(BASE, { now: () => t });
    const take = (n: number): boolean[] => Array.from({ length: n }, () => l.allow('c'));
    assert.deepEqual(take(6), [true, true, true, true, true, false]);
    t += 99;
    assert.equal(l.allow('c'), false, '0.99 of a token');
    t += 1;
    assert.deepEqual(take(2), [true, false]);
    t += 3_600_000;
    assert.deepEqual(take(6), [true, true, true, true, true, false], 'an hour idle still gives only the burst');
    assert.equal(l.allow('other'), true, 'clients are counted apart');
  });

  it('fractional rates and a burst of one', () => {
    let t = 0;
    const l = new RateLimiter({ ...BASE, requestsPerSec: 0.5, burst: 1 }, { now: () => t });
    assert.deepEqual([l.allow('c'), l.allow('c')], [true, false]);
    t += 1999;
    assert.equal(l.allow('c'), false);
    t += 1;
    assert.equal(l.allow('c'), true);
  });

  it('the client: the peer, unless the peer is a trusted proxy — then the rightmost untrusted X-Forwarded-For hop', () => {
    const l = new RateLimiter({ ...BASE, trustedProxies: ['10.0.0.0/8', '::1', 'fd00::/8'] });
    assert.equal(l.clientOf('192.0.2.1', '203.0.113.5'), '192.0.2.1', 'an untrusted peer cannot name another client');
    assert.equal(l.clientOf('10.2.3.4', '203.0.113.5'), '203.0.113.5');
    assert.equal(l.clientOf('::ffff:10.2.3.4', '203.0.113.5, 10.9.9.9'), '203.0.113.5', 'IPv4-mapped peer; trusted hops skipped');
    assert.equal(l.clientOf('10.2.3.4', ['198.51.100.1, 203.0.113.5', '10.1.1.1']), '203.0.113.5', 'repeated headers are one list');
    assert.equal(l.clientOf('::1', 'fd00::5, 10.0.0.1'), 'fd00::5', 'every hop trusted: the leftmost');
    assert.equal(l.clientOf('10.2.3.4', ' , '), '10.2.3.4', 'no hop: the peer');
    assert.equal(l.clientOf('10.2.3.4', undefined), '10.2.3.4');
    assert.equal(l.clientOf(undefined, undefined), '');
    const none = new RateLimiter(BASE);
    assert.equal(none.clientOf('10.2.3.4', '203.0.113.5'), '10.2.3.4', 'no trusted proxies: X-Forwarded-For is never read');
  });

  it('clients idle for cleanup_max_age are forgotten by the sweep; recent ones stay', () => {
    let t = 0;
    const l = new RateLimiter({ ...BASE, cleanupMaxAgeMs: 1000 }, { now: () => t });
    l.allow('old');
    t = 600;
    l.allow('recent');
    t = 1200;
    l.sweep();
    assert.equal(l.size, 1);
    // A forgotten client starts again with a full burst.
    for (let i = 0; i < 5; i++) assert.equal(l.allow('old'), true);
  });

  it(`at most ${MAX_CLIENTS} clients are tracked: the least recently seen one makes room`, () => {
    const t = 0;
    const l = new RateLimiter({ ...BASE, burst: 1 }, { now: () => t });
    l.allow('first');
    for (let i = 0; i < MAX_CLIENTS - 1; i++) l.allow(`c${i}`);
    assert.equal(l.size, MAX_CLIENTS);
    assert.equal(l.allow('c0'), false, 'c0 is known: its one token is spent (and it is now the most recent)');
    l.allow('newcomer');
    assert.equal(l.size, MAX_CLIENTS);
    assert.equal(l.allow('first'), true, 'first was the least recent: forgotten, so it has a token again');
    assert.equal(l.allow('c0'), false, 'c0 was seen recently: still tracked, still empty');
  });
});

describe('config: rate_limit', () => {
  const base = { backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'x', access_key_id: 'k', secret_access_key: 's' }], database: { driver: 'memory' } };
  const load = (rl: unknown) => loadConfig({ ...base, rate_limit: rl } as never, { env: {} });
  const issues = async (rl: unknown): Promise<string[]> => {
    try {
      await load(rl);
    } catch (err) {
      assert.ok(err instanceof InvalidConfigError, String(err));
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  };

  it('upstream\'s keys and defaults', async () => {
    const c = await load({ enabled: true, requests_per_sec: 2.5, trusted_proxies: [' 10.0.0.0/8 ', '::1'], cleanup_interval: '30s' });
    assert.deepEqual(c.gateway.rateLimit, { enabled: true, requestsPerSec: 2.5, burst: 200, trustedProxies: ['10.0.0.0/8', '::1'], cleanupIntervalMs: 30_000, cleanupMaxAgeMs: 300_000 });
    assert.equal((await load(undefined)).gateway.rateLimit.enabled, false);
  });

  it('a bad CIDR is an error even while disabled; while enabled, a negative rate or burst is an error (0 is the default)', async () => {
    assert.deepEqual(await issues({ enabled: false, trusted_proxies: ['10.0.0.0/33'] }), ['rate_limit.trusted_proxies[0]: expected a CIDR such as 10.0.0.0/8 or fd00::/8 (or one address)']);
    assert.match((await issues({ enabled: true, trusted_proxies: ['10.0.0.0/8', 'proxy.example'] })).join('\n'), /rate_limit\.trusted_proxies\[1\]: expected a CIDR/);
    assert.match((await issues({ enabled: true, requests_per_sec: -1 })).join('\n'), /rate_limit\.requests_per_sec: must be greater than 0/);
    assert.match((await issues({ enabled: true, burst: -1 })).join('\n'), /rate_limit\.burst: must be at least 1/);
    assert.match((await issues({ enabled: true, burst: 1.5 })).join('\n'), /rate_limit\.burst/);
    assert.match((await issues({ enabled: true, bogus: 1 })).join('\n'), /rate_limit/);
  });
});
