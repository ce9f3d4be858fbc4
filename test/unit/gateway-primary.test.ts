/**
 * The primary of a gateway of several processes (src/gateway/cluster-primary.ts) over processes
 * the test plays: what each process is handed as it starts and on SIGHUP, how a reload is
 * reported for the whole gateway, a SIGHUP or a SIGTERM while a process is being replaced, and
 * a place whose replacements keep dying while another process serves.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { GatewayPrimary, type GatewayWorker } from '../../src/gateway/cluster-primary.js';
import { decodeConfig, type ToWorker } from '../../src/gateway/cluster-protocol.js';
import { loadConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';

/** A gateway process played by the test: what the primary sends it and the signals it gets. */
class FakeWorker extends EventEmitter implements GatewayWorker {
  static #pid = 1000;
  readonly sent: ToWorker[] = [];
  readonly signals: string[] = [];
  readonly process = { pid: ++FakeWorker.#pid, kill: (signal: NodeJS.Signals = 'SIGTERM'): boolean => this.signals.push(signal) > 0 };
  connected = true;
  isConnected(): boolean {
    return this.connected;
  }

  send(m: ToWorker): boolean {
    this.sent.push(m);
    return true;
  }

  /** Ask for the configuration, as a starting process does; the primary's answer. */
  askConfig(id = 1): { initial: ResolvedConfig; latest: ResolvedConfig | undefined } {
    this.emit('message', { rp: 'config', id });
    const a = this.sent.findLast((m) => m.rp === 'config');
    assert.ok(a !== undefined && a.id === id, 'the primary answers at once');
    return { initial: decodeConfig(a.config.initial), latest: a.config.latest === undefined ? undefined : decodeConfig(a.config.latest.config) };
  }

  listen(): void {
    this.emit('message', { rp: 'listening', url: 'http://127.0.0.1:9000' });
  }

  reloads(): Extract<ToWorker, { rp: 'reload' }>[] {
    return this.sent.filter((m): m is Extract<ToWorker, { rp: 'reload' }> => m.rp === 'reload');
  }

  /** Answer the last reload it was handed. */
  answerReload(answer: { error?: string; restartNeeded: string[] }): void {
    const r = this.reloads().at(-1);
    assert.ok(r !== undefined, 'a reload was handed');
    this.emit('message', { rp: 'reloaded', id: r.id, ...answer });
  }

  exit(code: number | null, signal: string | null = null): void {
    this.connected = false;
    this.emit('exit', code, signal);
  }
}

function config(secret: string): Promise<ResolvedConfig> {
  return loadConfig({
    backends: [{ name: 'b1', endpoint: 'http://127.0.0.1:9', bucket: 'd', access_key_id: 'AKID', secret_access_key: 'backend-secret' }],
    database: { driver: 'memory' },
    buckets: [{ name: 'data', credentials: [{ access_key_id: 'AKIAGATEWAY000000001', secret_access_key: secret }] }],
  });
}

/** A primary of `count` played processes; `forked` lists them in the order they were started. */
function primaryOf(initial: ResolvedConfig, count = 2): { primary: GatewayPrimary; forked: FakeWorker[]; warnings: string[] } {
  const forked: FakeWorker[] = [];
  const warnings: string[] = [];
  const primary = new GatewayPrimary({
    count, config: initial, warn: (m) => warnings.push(m), reloadTimeoutMs: 60_000,
    fork: () => {
      const w = new FakeWorker();
      forked.push(w);
      return w;
    },
  });
  return { primary, forked, warnings };
}

/** The primary's longest wait before it starts a replacement. */
const MAX_RESTART_DELAY_MS = 5_000;

function secretOf(c: ResolvedConfig | undefined): string | undefined {
  return c?.gateway.buckets[0]?.credentials[0]?.secretAccessKey;
}

/** Let the primary's promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Start a primary and bring every process up. */
async function started(initial: ResolvedConfig, count = 2): Promise<ReturnType<typeof primaryOf>> {
  const p = primaryOf(initial, count);
  const up = p.primary.start();
  for (const w of p.forked) {
    w.askConfig();
    w.listen();
  }
  await up;
  return p;
}

describe('gateway primary: the configuration every process serves', () => {
  it('each process is handed the configuration the primary loaded; a replacement also gets the one last reloaded', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const [initial, next] = [await config('initial-secret-0123456789'), await config('reloaded-secret-0123456789')];
    const { primary, forked } = primaryOf(initial);
    const up = primary.start();
    assert.equal(forked.length, 2);
    for (const w of forked) {
      const handed = w.askConfig();
      assert.equal(secretOf(handed.initial), 'initial-secret-0123456789');
      assert.equal(handed.latest, undefined);
      w.listen();
    }
    await up;
    const reloading = primary.reload(next);
    for (const w of forked) w.answerReload({ restartNeeded: [] });
    assert.deepEqual(await reloading, { applied: 2, failed: [], restartNeeded: [] });
    for (const w of forked) assert.equal(secretOf(decodeConfig(w.reloads()[0]?.config ?? '')), 'reloaded-secret-0123456789');

    forked[1]?.exit(null, 'SIGKILL');
    t.mock.timers.tick(MAX_RESTART_DELAY_MS);
    const replacement = forked[2];
    assert.ok(replacement !== undefined, 'replaced');
    const handed = replacement.askConfig(7);
    // The sections only a restart applies stay as the others have them: the initial ones, the reload's on top.
    assert.equal(secretOf(handed.initial), 'initial-secret-0123456789');
    assert.equal(secretOf(handed.latest), 'reloaded-secret-0123456789');
    replacement.listen();
    assert.equal(replacement.reloads().length, 0, 'it started with the reload: nothing to catch up');
    await stopAll(primary, forked);
  });

  it('one report per reload for the whole gateway: the processes that refused it, and what needs a restart once', async () => {
    const [initial, next] = [await config('initial-secret-0123456789'), await config('reloaded-secret-0123456789')];
    const { primary, forked } = await started(initial, 3);
    const reloading = primary.reload(next);
    forked[0]?.answerReload({ restartNeeded: ['backends'] });
    forked[1]?.answerReload({ error: 'the key does not match the certificate', restartNeeded: [] });
    forked[2]?.answerReload({ restartNeeded: ['backends', 'database'] });
    const report = await reloading;
    assert.equal(report.applied, 2);
    assert.deepEqual(report.failed, [{ process: 1, pid: forked[1]?.process.pid, error: 'the key does not match the certificate' }]);
    assert.deepEqual(report.restartNeeded, ['backends', 'database']);
    await stopAll(primary, forked);
  });

  it('a process that exits before it answers is no refusal: its replacement starts with the reload', async () => {
    const [initial, next] = [await config('initial-secret-0123456789'), await config('reloaded-secret-0123456789')];
    const { primary, forked } = await started(initial);
    const reloading = primary.reload(next);
    forked[0]?.answerReload({ restartNeeded: [] });
    forked[1]?.exit(1);
    assert.deepEqual(await reloading, { applied: 1, failed: [], restartNeeded: [] });
    await stopAll(primary, forked);
  });

  it('a SIGHUP while a process is being replaced reaches it once it listens', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const [initial, next, third] = await Promise.all([config('initial-secret-0123456789'), config('reloaded-secret-0123456789'), config('third-secret-0123456789')]);
    const { primary, forked, warnings } = await started(initial);
    forked[1]?.exit(null, 'SIGKILL');
    t.mock.timers.tick(MAX_RESTART_DELAY_MS);
    const replacement = forked[2];
    assert.ok(replacement !== undefined);
    // Handed the configuration the gateway serves now, then the SIGHUP comes before it listens.
    assert.equal(replacement.askConfig().latest, undefined);
    const reloading = primary.reload(next);
    forked[0]?.answerReload({ restartNeeded: [] });
    assert.deepEqual(await reloading, { applied: 1, failed: [], restartNeeded: [] });
    assert.equal(replacement.reloads().length, 0, 'still starting: not asked yet');
    replacement.listen();
    const caughtUp = replacement.reloads();
    assert.equal(caughtUp.length, 1, 'handed the reload as it listens');
    assert.equal(secretOf(decodeConfig(caughtUp[0]?.config ?? '')), 'reloaded-secret-0123456789');
    replacement.answerReload({ error: 'refused', restartNeeded: [] });
    await settle();
    assert.match(warnings.at(-1) ?? '', /^SIGHUP: gateway process 1 \(pid \d+\), started before the configuration was reloaded, could not apply it and serves the previous one: refused$/);
    // Up to date: the next reload is a plain one for both.
    const again = primary.reload(third);
    for (const w of [forked[0], replacement]) w?.answerReload({ restartNeeded: [] });
    assert.deepEqual(await again, { applied: 2, failed: [], restartNeeded: [] });
    assert.equal(replacement.reloads().length, 2);
    await stopAll(primary, forked);
  });
});

describe('gateway primary: stopping and exit codes', () => {
  it('SIGTERM while a replacement starts: it is told by signal, and dying of that signal is no failure (exit 0)', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { primary, forked } = await started(await config('initial-secret-0123456789'));
    forked[1]?.exit(null, 'SIGKILL');
    t.mock.timers.tick(MAX_RESTART_DELAY_MS);
    const replacement = forked[2];
    assert.ok(replacement !== undefined);
    const stopping = primary.stop(60_000);
    assert.deepEqual(replacement.signals, ['SIGTERM']);
    assert.ok(forked[0]?.sent.some((m) => m.rp === 'stop'));
    // Too early in its start to have a handler for SIGTERM: Node's default ends it.
    replacement.exit(null, 'SIGTERM');
    forked[0]?.exit(0);
    assert.equal(await stopping, 0);
  });

  it('a process that fails while the gateway stops still makes the exit code', async () => {
    const { primary, forked } = await started(await config('initial-secret-0123456789'));
    const stopping = primary.stop(60_000);
    forked[0]?.exit(0);
    forked[1]?.exit(null, 'SIGTERM');
    assert.equal(await stopping, 1, 'a serving process was sent stop, not SIGTERM: dying of a signal is a failure');
  });

  it('a place whose replacements keep dying leaves the other process serving; the gateway gives up only when none serves', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { primary, forked, warnings } = await started(await config('initial-secret-0123456789'));
    let gaveUp = false;
    void primary.gaveUp.then(() => {
      gaveUp = true;
    });
    forked[1]?.exit(null, 'SIGKILL');
    for (let i = 0; i < 7; i++) {
      t.mock.timers.tick(MAX_RESTART_DELAY_MS);
      const w = forked.at(-1);
      assert.ok(w !== undefined && w !== forked[1]);
      w.exit(2);
    }
    assert.match(warnings.at(-1) ?? '', /^gateway process 1 exited 8 times in a row soon after starting \(last: exit code 2\); the other processes serve, starting another in 5000 ms$/);
    await settle();
    assert.equal(gaveUp, false);
    // Now the last one serving goes too, and its replacements die young as well.
    forked[0]?.exit(null, 'SIGKILL');
    for (let i = 0; i < 20 && !gaveUp; i++) {
      t.mock.timers.tick(MAX_RESTART_DELAY_MS);
      for (const w of forked.filter((x) => x.connected)) w.exit(2);
      await settle();
    }
    assert.equal(gaveUp, true);
    assert.match(warnings.at(-1) ?? '', /giving up$/);
    assert.equal(await primary.stop(1_000), 1);
  });
});

/** Stop the primary, every played process exiting as told. */
async function stopAll(primary: GatewayPrimary, forked: FakeWorker[]): Promise<void> {
  const stopping = primary.stop(60_000);
  for (const w of forked) if (w.connected) w.exit(0);
  assert.equal(await stopping, 0);
}
