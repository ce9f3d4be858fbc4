/**
 * A backend module (`createBackends`) whose one backend, `r`, records the signal each call was
 * given (on `globalThis`, for a test running the probe actor on its own thread). A key starting
 * with `leak` leaves a listener on its signal, as a careless custom backend would.
 */
import type { HeadResult, ObjectBackend } from '../../src/types.js';

/** The signals `r` was given, in call order. */
export function recordedSignals(): AbortSignal[] {
  const g = globalThis as { readpathRecordedSignals?: AbortSignal[] };
  g.readpathRecordedSignals ??= [];
  return g.readpathRecordedSignals;
}

/** The module's factory. */
export function createBackends(): ObjectBackend[] {
  const r: ObjectBackend = {
    name: 'r',
    async head(key, opts): Promise<HeadResult> {
      const signal = opts?.signal;
      if (signal !== undefined) {
        recordedSignals().push(signal);
        if (key.startsWith('leak')) signal.addEventListener('abort', () => {});
      }
      return { size: 1, etag: '"e"' };
    },
    get(): never {
      throw new Error('not used');
    },
  };
  return [r];
}
