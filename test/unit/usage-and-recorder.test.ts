import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../../src/telemetry/recorder.js';
import { UsageTracker, usagePeriod } from '../../src/policies/usage-tracker.js';
import type { ProbeTask } from '../../src/probe/task.js';
import { ProbeOwner } from '../../src/policies/probe-owner.js';

test('usage tracker: limits per kind, 0 = unlimited, baseline + deltas', () => {
  const t = new UsageTracker({ limits: { b1: { apiRequests: 2, egressBytes: 100 } } });
  assert.equal(t.withinLimits('b1', 1, 0, 0), true);
  t.record('b1', 2, 50, 0);
  assert.equal(t.exceededLimit('b1', 1, 0, 0), 'api_requests');
  assert.equal(t.withinLimits('b2', 1e9, 1e9, 1e9), true, 'no limits configured');
  t.setLimits('b1', { egressBytes: 100 });
  assert.equal(t.exceededLimit('b1', 1, 51, 0), 'egress_bytes');
  assert.equal(t.withinLimits('b1', 1, 50, 0), true);
  t.setBaseline('b1', { apiRequests: 0, egressBytes: 40, ingressBytes: 0 });
  assert.equal(t.exceededLimit('b1', 0, 11, 0), 'egress_bytes', 'stored total counts');
  t.setLimits('b1', { ingressBytes: 5 });
  assert.equal(t.exceededLimit('b1', 0, 0, 6), 'ingress_bytes');
});

test('usage tracker: takeDeltas/restoreDeltas lose nothing; the month rolls over by itself', () => {
  let now = new Date('2026-11-30T23:59:00Z');
  const t = new UsageTracker({ limits: { b1: { apiRequests: 10 } }, now: () => now });
  t.record('b1', 7, 0, 0);
  const taken = t.takeDeltas();
  assert.deepEqual(taken, [{ backendName: 'b1', period: '2026-11', apiRequests: 7, egressBytes: 0, ingressBytes: 0 }]);
  assert.equal(t.usage('b1').apiRequests, 7, 'taken by a flush in flight, still counted against limits');
  t.restoreDeltas(taken); // a failed flush
  assert.equal(t.usage('b1').apiRequests, 7);
  t.restoreDeltas(t.takeDeltas(), true); // a successful one folds into the baseline
  assert.equal(t.usage('b1').apiRequests, 7);
  assert.equal(t.withinLimits('b1', 4, 0, 0), false);
  now = new Date('2026-12-01T00:00:01Z');
  assert.equal(t.period(), '2026-12');
  assert.equal(t.usage('b1').apiRequests, 0, 'new month, fresh budget');
  assert.equal(t.withinLimits('b1', 10, 0, 0), true);
  assert.equal(usagePeriod(new Date('2027-01-05T00:00:00Z')), '2027-01');
});

test('recorder: count sums over labels not given; histograms count samples', () => {
  const r = new Recorder();
  r.inc('degraded_reads_total', { operation: 'GetObject' });
  r.inc('degraded_reads_total', { operation: 'GetObject' });
  r.inc('degraded_reads_total', { operation: 'HeadObject' });
  assert.equal(r.count('degraded_reads_total'), 3);
  assert.equal(r.count('degraded_reads_total', { operation: 'GetObject' }), 2);
  assert.equal(r.count('degraded_reads_total', { operation: 'Nope' }), 0);
  r.observe('operation_duration_seconds', { operation: 'GetObject', backend: 'b1' }, 0.002);
  r.observe('operation_duration_seconds', { operation: 'GetObject', backend: 'b2' }, 50);
  assert.equal(r.count('operation_duration_seconds', { operation: 'GetObject' }), 2);
  assert.equal(r.count('operation_duration_seconds', { backend: 'b2' }), 1);
  const fam = r.families().find((f) => f.name === 'operation_duration_seconds');
  assert.ok(fam && fam.kind === 'histogram');
  assert.equal(fam.series.length, 2);
  r.record('b1', 1, 10, 0);
  assert.equal(r.usage.usage('b1').egressBytes, 10);
});

test('reads in flight across the month\'s end (UTC): their reservations count against the new month, and what they used lands in it', () => {
  let now = new Date('2026-11-30T23:59:59Z');
  const acct = new Recorder({ limits: { b1: { apiRequests: 3, egressBytes: 100 } }, now: () => now });
  acct.usage.record('b1', 3, 100, 0);
  const ledger = acct.reservations;
  const task = (): ProbeTask => ({ op: 'get', backend: 'b1', key: 'k', location: null, storedAt: 'k' });
  assert.throws(() => ledger.admit(task()), { code: 'USAGE_LIMIT_SKIP' }, 'November is used up');
  now = new Date('2026-12-01T00:00:00Z');
  const a = task();
  ledger.admit(a);
  assert.equal(ledger.reserveEgress(a, 60), null);
  // A second read: its request fits December's 3, its 60 bytes do not fit beside the first's 60.
  const b = task();
  ledger.admit(b);
  assert.equal(ledger.reserveEgress(b, 60), 'egress_bytes');
  ledger.settle(b, { api: 1, egress: 0 });
  ledger.settle(a, { api: 1, egress: 60 });
  assert.deepEqual(acct.usage.usage('b1'), { apiRequests: 2, egressBytes: 60, ingressBytes: 0 });
  assert.deepEqual(acct.usage.takeDeltas().map((d) => [d.period, d.apiRequests, d.egressBytes]), [['2026-11', 3, 100], ['2026-12', 2, 60]]);
  assert.deepEqual(ledger.pending('b1'), { api: 0, egress: 0 });
});

test('limits of 0 are no limits: nothing is reserved, everything is recorded', () => {
  const acct = new Recorder({ limits: { b1: { apiRequests: 0, egressBytes: 0, ingressBytes: 0 } } });
  const t: ProbeTask = { op: 'get', backend: 'b1', key: 'k', location: null, storedAt: 'k' };
  acct.reservations.admit(t);
  assert.equal(t.usageId, 0);
  assert.equal(acct.reservations.reserveEgress(t, 1e12), null);
  acct.reservations.settle(t, { api: 1, egress: 1e12 });
  assert.deepEqual(acct.usage.usage('b1'), { apiRequests: 1, egressBytes: 1e12, ingressBytes: 0 });
  assert.equal(acct.withinLimits('b1', 1e9, 1e15, 1e15), true);
});

test('ledger write-off: probes still out are billed as reserved once; they run on, and settling records only what they used past that', async () => {
  const acct = new Recorder({ limits: { lim: { apiRequests: 10, egressBytes: 1000 } } });
  const ledger = acct.reservations;
  const row = (backend: string): ProbeTask => ({ op: 'get', backend, key: 'k', location: { contentHash: null, sizeBytes: 100, encrypted: false, plaintextSize: null } });
  const limited = row('lim');
  const free = row('free');
  ledger.admit(limited);
  ledger.admit(free);
  assert.equal(ledger.unsettled, 2, 'a probe on a backend without limits is counted out too');
  assert.equal(await ledger.whenSettled(0), false);
  const off = ledger.writeOff();
  assert.equal(off.probes, 2);
  assert.deepEqual([...off.byBackend], [['lim', { api: 1, egress: 100 }], ['free', { api: 1, egress: 100 }]]);
  assert.equal(ledger.writeOff().probes, 0, 'billed once');
  // Still running: it may still read under its reservation (the answer announces 150 bytes).
  assert.equal(ledger.reserveEgress(limited, 150), null);
  const settled = ledger.whenSettled(60_000);
  ledger.settle(limited, { api: 1, egress: 150 });
  ledger.settle(free, { api: 1, egress: 0 });
  assert.equal(await settled, true);
  assert.deepEqual(acct.usage.usage('lim'), { apiRequests: 1, egressBytes: 150, ingressBytes: 0 }, 'the bill, then the 50 bytes past it');
  assert.deepEqual(acct.usage.usage('free'), { apiRequests: 1, egressBytes: 100, ingressBytes: 0 }, 'the bill, never less');
  assert.deepEqual(ledger.pending('lim'), { api: 0, egress: 0 });
  assert.equal(ledger.unsettled, 0);
});

test('ledger owners: a reader waits for and writes off only the probes it admitted; the totals stay the ledger\'s', async () => {
  const acct = new Recorder({ limits: { lim: { apiRequests: 10, egressBytes: 1000 } } });
  const ledger = acct.reservations;
  const row = (backend: string): ProbeTask => ({ op: 'get', backend, key: 'k', location: { contentHash: null, sizeBytes: 100, encrypted: false, plaintextSize: null } });
  const [mine, theirs] = [new ProbeOwner(), new ProbeOwner()];
  const [myLimited, myFree, theirLimited, theirFree] = [row('lim'), row('free'), row('lim'), row('free')];
  ledger.admit(myLimited, mine);
  ledger.admit(myFree, mine);
  ledger.admit(theirLimited, theirs);
  ledger.admit(theirFree, theirs);
  assert.deepEqual([ledger.unsettled, mine.unsettled, theirs.unsettled], [4, 2, 2]);
  assert.deepEqual(ledger.pending('lim'), { api: 2, egress: 200 }, 'both readers reserve against one count');
  const mineSettled = ledger.whenSettled(60_000, mine);
  ledger.settle(myLimited, { api: 1, egress: 100 });
  ledger.settle(myFree, { api: 1, egress: 100 });
  assert.equal(await mineSettled, true, 'the other reader\'s probes do not hold it');
  assert.equal(await ledger.whenSettled(0), false, 'without an owner: every probe');
  assert.equal(ledger.writeOff(mine).probes, 0, 'nothing of its own left to bill');
  const off = ledger.writeOff(theirs);
  assert.equal(off.probes, 2);
  ledger.settle(theirLimited, { api: 1, egress: 100 });
  ledger.settle(theirFree, { api: 1, egress: 100 });
  assert.deepEqual(acct.usage.usage('lim'), { apiRequests: 2, egressBytes: 200, ingressBytes: 0 }, 'each probe billed once');
  assert.deepEqual(acct.usage.usage('free'), { apiRequests: 2, egressBytes: 200, ingressBytes: 0 });
  assert.deepEqual([ledger.unsettled, mine.unsettled, theirs.unsettled], [0, 0, 0]);
});

test('ledger: a probe whose outcome is lost is settled as reserved, and once', () => {
  const acct = new Recorder({ limits: { lim: { apiRequests: 10, egressBytes: 1000 } } });
  const ledger = acct.reservations;
  const t: ProbeTask = { op: 'get', backend: 'lim', key: 'k', location: null };
  ledger.admit(t);
  // A degraded probe: a listing and a GET reserved; the answer announced 40 bytes.
  assert.equal(ledger.reserveEgress(t, 40), null);
  ledger.settleLost(t);
  ledger.settleLost(t);
  ledger.settle(t, { api: 0, egress: 0 });
  assert.deepEqual(acct.usage.usage('lim'), { apiRequests: 2, egressBytes: 40, ingressBytes: 0 });
  assert.deepEqual(ledger.pending('lim'), { api: 0, egress: 0 });
});
