/**
 * Both executors' probe runners — the pool's probe actor (run here on the test's thread) and the
 * inline executor — reuse a probe's AbortController for the next probe only when the probe ended
 * with it neither aborted nor still listened to: a listener left behind, or a cancel arriving
 * after its probe ended, must never reach another probe.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeActor } from '../../src/executors/pool/actor.js';
import { PROBE_PROTOCOL, type PooledTask } from '../../src/executors/pool/protocol.js';
import { createBackends, recordedSignals } from '../helpers/signal-recording-backends.js';
import { InlineExecutor } from '../../src/executors/inline.js';
import { LazyProbeRequest } from '../../src/engine/probe-request.js';
import { Recorder } from '../../src/telemetry/recorder.js';
import { ReadPathError } from '../../src/errors.js';

const MODULE = new URL('../helpers/signal-recording-backends.ts', import.meta.url).href;

function actor(): { run: (key: string, cancelled?: boolean) => Promise<void>; flags: Int32Array } {
  const flags = new SharedArrayBuffer(4 * 8);
  const a = new ProbeActor({ protocol: PROBE_PROTOCOL, flags, concurrency: 1, backendModule: MODULE }, null);
  const view = new Int32Array(flags);
  let id = 0;
  return {
    flags: view,
    run: async (key, cancelled = false) => {
      const task: PooledTask = { op: 'head', backend: 'r', key, location: { contentHash: null, sizeBytes: 1, encrypted: false, plaintextSize: null }, id: ++id, slot: 0 };
      Atomics.store(view, 0, cancelled ? 1 : 0);
      await a.handle({ tasks: [task] });
      Atomics.store(view, 0, 0);
    },
  };
}

describe('probe actor: AbortControllers reused only when nothing holds them', () => {
  it('a clean probe\'s signal serves the next probe; one left with a listener, or aborted, does not', async () => {
    const signals = recordedSignals();
    signals.length = 0;
    const { run } = actor();
    await run('a');
    await run('b');
    assert.equal(signals.length, 2);
    assert.equal(signals[1], signals[0], 'reused: the first probe left its signal clean');
    await run('leak-1');
    await run('c');
    assert.equal(signals.length, 4);
    assert.equal(signals[2], signals[1], 'the leaking probe got the spare');
    assert.notEqual(signals[3], signals[2], 'but its signal, still listened to, was not reused');
    await run('d', true);
    assert.equal(signals.length, 4, 'a probe cancelled before it started calls no backend');
    await run('e');
    assert.equal(signals.length, 5);
    // The cancelled probe took the spare (c's) and aborted it: that controller is not used again.
    assert.equal(signals[3]?.aborted, true);
    assert.notEqual(signals[4], signals[3]);
    assert.equal(signals[4]?.aborted, false);
  });
});

describe('inline executor: AbortControllers reused only when nothing holds them', () => {
  it('a clean probe\'s signal serves the next; a cancel after its probe ended reaches nothing; a leaked listener or a cancel in flight drops it', async () => {
    const signals = recordedSignals();
    signals.length = 0;
    const ex = new InlineExecutor({ recorder: new Recorder() });
    const backend = createBackends()[0]!;
    const location = { objectKey: 'k', backendName: 'r', sizeBytes: 1, createdAt: new Date(1), encrypted: false, contentHash: null };
    const request = () => new LazyProbeRequest({ backendName: 'r', backend, location }, backend);
    const first = request();
    await ex.head('a')(first);
    first.abort(new ReadPathError('ABORTED', 'late cancel'));
    const second = request();
    await ex.head('b')(second);
    assert.equal(signals.length, 2);
    assert.equal(signals[1], signals[0], 'reused');
    assert.equal(signals[1]?.aborted, false, 'the first request\'s late cancel did not reach the controller it had used');
    await ex.head('leak-1')(request());
    await ex.head('c')(request());
    assert.equal(signals[2], signals[1]);
    assert.notEqual(signals[3], signals[2], 'still listened to: not reused');
    // Cancelled while its backend call runs: the controller is aborted, then dropped.
    const cancelled = request();
    const probe = ex.head('d')(cancelled);
    cancelled.abort(new ReadPathError('ABORTED', 'cancelled in flight'));
    await probe.catch(() => {});
    assert.equal(signals[4], signals[3], 'd ran under c\'s spare');
    assert.equal(signals[4]?.aborted, true, 'and the cancel reached it');
    await ex.head('e')(request());
    assert.notEqual(signals[5], signals[4]);
    assert.equal(signals[5]?.aborted, false);
  });
});
