/**
 * The batch coordinator: pulls keys lazily from any iterable, keeps at most `concurrency` keys
 * in flight or waiting to be consumed, and yields exactly one outcome per key. A slot is freed
 * only when its outcome has been taken by the consumer, so a slow consumer stops the pulling:
 * memory stays bounded whatever the input's length.
 */
import { setMaxListeners } from 'node:events';
import { ReadPathError, abortedError, findReadPathError, messageOf, serializeError, type SerializedError } from '../errors.js';
import { keyProblem } from './keys.js';

/** The error half of a batch outcome. */
export interface BatchError {
  key: string;
  ok: false;
  error: SerializedError;
}

/** Options of {@link runBatch}. */
export interface RunBatchOptions {
  /** Most keys in flight or buffered at once (>= 1). */
  concurrency: number;
  signal?: AbortSignal;
  /** When given, a new key is started only while `saturated()` is false (backpressure). */
  capacity?: { saturated(): boolean; whenCapacity(): Promise<void> };
  /**
   * The longest the batch runs before it lets the event loop turn, in ms (default
   * {@link DEFAULT_TIME_SLICE_MS}; 0 = after every outcome; Infinity = never forces a turn).
   */
  timeSliceMs?: number;
}

/**
 * Default {@link RunBatchOptions.timeSliceMs}. Reads that settle without I/O (in-memory or
 * cached parts, a synchronous SQLite lookup) chain microtask to microtask, so without a
 * forced turn a whole batch would be one macrotask: timers, sockets, a metrics scrape and
 * V8's own GC tasks would wait for its end. A turn costs a few microseconds.
 */
export const DEFAULT_TIME_SLICE_MS = 10;

const turnEventLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && x !== undefined && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/**
 * Run `readOne` over every key of `keys`, yielding one outcome per key as reads finish (not in
 * input order). Invalid keys become INVALID_KEY outcomes without a read. Aborting the signal
 * aborts every read in flight and ends the iteration with ABORTED; ending the iteration early
 * (break) does the same without an error.
 */
export async function* runBatch<S extends { key: string; ok: true }>(
  keys: Iterable<unknown> | AsyncIterable<unknown>,
  readOne: (key: string, signal: AbortSignal) => Promise<Omit<S, 'key' | 'ok'>>,
  opts: RunBatchOptions,
): AsyncGenerator<S | BatchError, void, undefined> {
  const concurrency = opts.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ReadPathError('INVALID_CONFIG', `concurrency: expected an integer >= 1, got ${String(concurrency)}`);
  }
  const slice = opts.timeSliceMs ?? DEFAULT_TIME_SLICE_MS;
  if (typeof slice !== 'number' || Number.isNaN(slice) || slice < 0) {
    throw new ReadPathError('INVALID_CONFIG', `timeSliceMs: expected a number of ms >= 0, got ${String(slice)}`);
  }
  const signal = opts.signal;
  if (signal?.aborted) throw abortedError(signal);
  let iterator: AnyIterator;
  let isAsync: boolean;
  if (isAsyncIterable(keys)) {
    iterator = keys[Symbol.asyncIterator]();
    isAsync = true;
  } else if (isIterable(keys)) {
    iterator = keys[Symbol.iterator]();
    isAsync = false;
  } else {
    throw new ReadPathError('INVALID_KEY', 'keys: expected an iterable or async iterable of strings');
  }

  const ready: (S | BatchError)[] = [];
  // One controller for the whole batch: reads are only ever aborted all together (caller abort,
  // early end), and every AbortSignal Node creates costs a hidden class of its own in V8's old
  // space, which per key kept a batch's garbage alive past young-generation GCs.
  const batchAc = new AbortController();
  const batchSignal = batchAc.signal;
  // Each read in flight listens on it (up to `concurrency` at once): not a leak.
  setMaxListeners(0, batchSignal);
  let active = 0;
  let pulling = false;
  let inputDone = false;
  let inputError: unknown;
  let aborted = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const settleKey = (key: string, p: Promise<Omit<S, 'key' | 'ok'>>): void => {
    // Never rejects: both outcomes become a batch outcome.
    void p.then(
      // Not `{ ...v, key, ok }`: V8 gives every object built by a spread followed by new
      // properties a hidden class of its own (see bench/RESULTS.md, Soak).
      (v) => Object.assign({}, v, { key, ok: true }) as S,
      (err: unknown): BatchError => ({ key, ok: false, error: serializeError(err) }),
    ).then((outcome) => {
      active--;
      if (!aborted) ready.push(outcome);
      pump();
      notify();
    });
  };

  const accept = (value: unknown): void => {
    const problem = keyProblem(value);
    const key = typeof value === 'string' ? value : String(value);
    if (problem !== undefined) {
      ready.push({ key, ok: false, error: serializeError(new ReadPathError('INVALID_KEY', `invalid key: ${problem}`)) });
      return;
    }
    active++;
    let p: Promise<Omit<S, 'key' | 'ok'>>;
    try {
      p = readOne(key, batchSignal);
    } catch (err) {
      p = Promise.reject(err);
    }
    settleKey(key, p);
  };

  const capacity = opts.capacity;
  let waitingForCapacity = false;
  const pump = (): void => {
    while (!pulling && !inputDone && !aborted && inputError === undefined && active + ready.length < concurrency) {
      if (capacity !== undefined && active > 0 && capacity.saturated()) {
        // At least one read is in flight, so progress is guaranteed; resume when a slot frees.
        if (!waitingForCapacity) {
          waitingForCapacity = true;
          capacity.whenCapacity().then(() => {
            waitingForCapacity = false;
            pump();
            notify();
          }, () => {
            waitingForCapacity = false;
          });
        }
        return;
      }
      if (!isAsync) {
        let r: IteratorResult<unknown>;
        try {
          r = (iterator as Iterator<unknown>).next();
        } catch (err) {
          inputError = err;
          break;
        }
        if (r.done === true) inputDone = true;
        else accept(r.value);
        continue;
      }
      pulling = true;
      let next: Promise<IteratorResult<unknown>>;
      try {
        next = Promise.resolve((iterator as AsyncIterator<unknown>).next());
      } catch (err) {
        next = Promise.reject(err);
      }
      next.then(
        (r) => {
          pulling = false;
          if (r.done === true) inputDone = true;
          else if (!aborted) accept(r.value);
          pump();
          notify();
        },
        (err: unknown) => {
          pulling = false;
          inputError = err;
          notify();
        },
      );
    }
  };

  const onAbort = (): void => {
    aborted = true;
    batchAc.abort(signal?.reason);
    notify();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  let sliceStart = performance.now();
  let turned = false;
  try {
    pump();
    for (;;) {
      if (aborted) throw abortedError(signal);
      if (ready.length > 0) {
        if (!turned && slice !== Number.POSITIVE_INFINITY && performance.now() - sliceStart >= slice) {
          // Reads in flight keep settling meanwhile; new keys wait for the consumer as usual.
          await turnEventLoop();
          sliceStart = performance.now();
          turned = true;
          continue;
        }
        // At least one outcome per turn, so that a slice of 0 still makes progress.
        turned = false;
        yield ready.shift() as S | BatchError;
        pump();
        continue;
      }
      // The input failed: the keys it gave are still read, each to its outcome, and then the
      // batch ends with the input's failure.
      if (inputError !== undefined && active === 0) {
        // A coded failure keeps its code (a key listing's DB_UNAVAILABLE), recognised by its
        // shape as hasCode does; anything else the input threw is about the keys.
        const code = findReadPathError(inputError)?.code ?? 'INVALID_KEY';
        throw new ReadPathError(code, `reading keys failed: ${messageOf(inputError)}`, { cause: inputError });
      }
      if (inputDone && active === 0 && !pulling) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    aborted = true;
    if (active > 0 && !batchAc.signal.aborted) batchAc.abort(signal?.reason ?? new ReadPathError('ABORTED', 'batch ended before this read finished'));
    if (!inputDone) {
      // Let the input release what it holds (files, cursors); its own failure here is not ours.
      try {
        const ret = iterator.return?.();
        if (ret !== undefined && typeof (ret as Promise<unknown>).then === 'function') (ret as Promise<unknown>).catch(() => {});
      } catch {
        // ignore
      }
    }
  }
}
