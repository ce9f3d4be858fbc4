/**
 * The probe actor (a pool worker's probe runner, run here on the test's thread) reuses a probe's
 * AbortController for the next probe only when the probe ended with it neither aborted nor
 * still listened to: a listener left behind must never hear another probe's cancel.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeActor } from '../../src/executors/pool/actor.js';
import { PROBE_PROTOCOL, type PooledTask } from '../../src/executors/pool/protocol.js';
import { recordedSignals } from '../helpers/signal-recording-backends.js';

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
