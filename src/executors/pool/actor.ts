/**
 * The probe actor: what runs inside a pool worker. It builds the worker's backends once
 * (keep-alive sockets live here) and, per task of a batch, calls `runProbe` — the same probe the
 * inline executor runs — then sends the verdict back in its wire form, coalesced with the other
 * verdicts that completed in the same turn of the worker's loop. It never throws to piscina: a
 * thrown task result is cloned as a bare Error, and a message that cannot be posted kills the
 * worker, so every outcome is plain data here.
 *
 * Cancellation is cooperative. The main thread sets the task's flag in a shared Int32Array and
 * then broadcasts `{ t: 'cancel', id }`; the actor registers the task's AbortController before
 * it reads the flag, so whichever of the two it sees first, the probe is aborted — without
 * piscina ever terminating the thread.
 */
import { BroadcastChannel, type MessagePort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import v8 from 'node:v8';
import { ReadPathError, abortedError, messageOf, serializeError, type UsageLimitKind } from '../../errors.js';
import type { UsagePort } from '../../probe/billing.js';
import { runProbeWithin } from '../probe-within.js';
import { SpareControllers } from '../spare-controllers.js';
import type { ProbeTask, Verdict } from '../../probe/task.js';
import { buildBackends } from '../../backends/build.js';
import { importModule } from '../../probe/transform.js';
import { KeyRing } from '../../encryption/key-ring.js';
import type { ObjectBackend } from '../../types.js';
import {
  PROBE_PROTOCOL, type ControlMessage, type PooledTask, type ProbeWorkerData, type ProbeWorkerStart, type ReadyMessage, type ReserveMessage, type TaskBatch,
  type VerdictBatch,
} from './protocol.js';

/**
 * Lower this thread's CPU priority (Linux: threads are tasks with their own nice value, found
 * through /proc/thread-self). Best effort: elsewhere, or when refused, nothing changes. This is
 * what piscina's `niceIncrement` does with an optional native module.
 */
export function niceThisThread(nice: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return false;
    setPriority(tid, Math.max(getPriority(tid), nice));
    return true;
  } catch {
    return false;
  }
}

/** Build the backends a worker serves, from its workerData. */
export function buildWorkerBackends(data: ProbeWorkerData): Promise<Map<string, ObjectBackend>> {
  return buildBackends(data);
}

/** A Uint8Array that owns its whole ArrayBuffer, so transferring it moves exactly its bytes. */
function ownBytes(b: Uint8Array): Uint8Array {
  const buf = b.buffer;
  if (buf instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === buf.byteLength) return b;
  return b.slice();
}

/**
 * A verdict in its wire form: the error as plain data; a body or transform result as bytes
 * that are transferred (pushed onto `transfer`), not copied. A transform result that cannot cross
 * threads becomes this probe's TRANSFORM_FAILED here, rather than an exception that would kill
 * the worker.
 */
export function toWire(v: Verdict, task: ProbeTask, transfer: ArrayBuffer[]): Verdict {
  if (v.kind === 'error') {
    const w: Verdict = { kind: 'error', error: serializeError(v.error), api: v.api, egress: v.egress };
    if (v.decryptFailure !== undefined) w.decryptFailure = v.decryptFailure;
    return w;
  }
  if (v.kind !== 'ok') return v;
  if (v.writeError !== undefined) v.writeError = serializeError(v.writeError);
  if (v.body !== undefined) {
    v.body = ownBytes(v.body);
    transfer.push(v.body.buffer as ArrayBuffer);
    return v;
  }
  if (!('value' in v)) return v;
  const value = v.value;
  delete v.value;
  if (value instanceof Uint8Array) {
    v.bytes = ownBytes(value);
    transfer.push(v.bytes.buffer as ArrayBuffer);
    return v;
  }
  try {
    v.serialized = ownBytes(v8.serialize(value));
  } catch (err) {
    const error = new ReadPathError('TRANSFORM_FAILED', `transform result for ${JSON.stringify(task.key)} cannot be sent to the main thread: ${messageOf(err)}`, { cause: err });
    return { kind: 'error', error: serializeError(error), api: v.api, egress: v.egress };
  }
  transfer.push(v.serialized.buffer as ArrayBuffer);
  return v;
}

/** The worker side of one pool: a task handler plus its cancel and usage plumbing. */
export class ProbeActor implements UsagePort {
  readonly #flags: Int32Array;
  readonly #port: MessagePort | null;
  readonly #backends: Promise<Map<string, ObjectBackend>>;
  /** This worker's keys, when encryption is configured. */
  readonly #keys: KeyRing | undefined;
  readonly #active = new Map<number, AbortController>();
  /** Controllers of probes that ended neither cancelled nor listened to, for the next probes. */
  readonly #spare: SpareControllers;
  readonly #grants = new Map<number, (limit: UsageLimitKind | null) => void>();
  readonly #protocol: number;
  #ids: number[] = [];
  #verdicts: Verdict[] = [];
  #transfer: ArrayBuffer[] = [];
  #flushQueued = false;
  readonly #concurrency: number;
  /** server.backend_timeout for backends that do not bound their own calls (0: none). */
  readonly #probeTimeoutMs: number;
  #runningCount = 0;
  readonly #queue: (() => void)[] = [];

  constructor(data: ProbeWorkerData, port: MessagePort | null) {
    this.#protocol = data.protocol;
    this.#concurrency = Number.isSafeInteger(data.concurrency) && data.concurrency > 0 ? data.concurrency : 1;
    if (data.nice !== undefined && data.nice > 0) niceThisThread(data.nice);
    this.#flags = new Int32Array(data.flags);
    this.#port = port;
    this.#backends = buildWorkerBackends(data);
    // Building failures are reported per task; never as an unhandled rejection that kills the worker.
    this.#backends.catch(() => {});
    this.#keys = data.encryption === undefined ? undefined : new KeyRing(data.encryption);
    this.#probeTimeoutMs = data.probeTimeoutMs ?? 0;
    this.#spare = new SpareControllers(this.#concurrency);
  }

  /**
   * piscina's task handler: runs a batch's probes concurrently, answering each verdict as it
   * completes; resolves (with the batch's size) once every verdict has been posted.
   */
  readonly handle = async (batch: TaskBatch): Promise<number> => {
    await Promise.all(batch.tasks.map((task) => this.#admit(task)));
    this.#flush();
    return batch.tasks.length;
  };

  /** Run `task` once fewer than `concurrency` probes are running here (in arrival order). */
  #admit(task: PooledTask): Promise<void> {
    if (this.#runningCount < this.#concurrency) return this.#run(task);
    return new Promise<void>((resolve) => {
      this.#queue.push(() => {
        void this.#run(task).then(resolve);
      });
    });
  }

  async #run(task: PooledTask): Promise<void> {
    this.#runningCount++;
    try {
      await this.#probe(task);
    } finally {
      this.#runningCount--;
      this.#queue.shift()?.();
    }
  }

  async #probe(task: PooledTask): Promise<void> {
    const ac = this.#spare.take();
    // Register before reading the flag: a cancel broadcast from now on finds the controller.
    this.#active.set(task.id, ac);
    let v: Verdict;
    try {
      if (this.#protocol !== PROBE_PROTOCOL) throw new ReadPathError('BACKEND_ERROR', `probe worker speaks protocol ${this.#protocol}`);
      if (Atomics.load(this.#flags, task.slot) !== 0) ac.abort(new ReadPathError('ABORTED', 'probe cancelled before it started'));
      const backend = (await this.#backends).get(task.backend);
      if (backend === undefined) {
        throw new ReadPathError('BACKEND_NOT_FOUND', `backend ${task.backend} is not configured in the probe worker`);
      }
      v = await runProbeWithin(this.#probeTimeoutMs, task, backend, ac.signal, this, this.#keys);
    } catch (err) {
      v = { kind: 'error', error: err, api: 0, egress: 0 };
    } finally {
      this.#active.delete(task.id);
      this.#spare.give(ac);
    }
    this.#ids.push(task.id);
    this.#verdicts.push(toWire(v, task, this.#transfer));
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(this.#flush);
    }
  }

  /** Post the verdicts completed since the last flush, as one message. */
  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#ids.length === 0) return;
    const msg: VerdictBatch = { readpathVerdicts: true, ids: this.#ids, verdicts: this.#verdicts };
    const transfer = this.#transfer;
    this.#ids = [];
    this.#verdicts = [];
    this.#transfer = [];
    if (this.#port === null) return;
    this.#port.postMessage(msg, transfer);
  };

  /** The usage port: ask the main thread, which owns the ledger, to reserve egress. */
  reserveEgress(task: ProbeTask, bytes: number, signal: AbortSignal): Promise<UsageLimitKind | null> {
    return this.#reserve(task, { bytes }, signal);
  }

  /** The usage port: ask the main thread to reserve API requests admission did not. */
  reserveApi(task: ProbeTask, calls: number, signal: AbortSignal): Promise<UsageLimitKind | null> {
    return this.#reserve(task, { bytes: 0, api: calls }, signal);
  }

  /** Ask the main thread for a reservation; a probe waits for at most one at a time (its grants go by id). */
  #reserve(task: ProbeTask, what: Pick<ReserveMessage, 'bytes' | 'api'>, signal: AbortSignal): Promise<UsageLimitKind | null> {
    const id = (task as PooledTask).id;
    if (signal.aborted) return Promise.reject(abortedError(signal));
    if (this.#port === null) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#grants.delete(id);
        reject(abortedError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#grants.set(id, (limit) => {
        signal.removeEventListener('abort', onAbort);
        resolve(limit);
      });
      const msg: ReserveMessage = { readpathReserve: true, id, backend: task.backend, ...what };
      this.#port?.postMessage(msg);
    });
  }

  /** A message of the pool's channel (after init). */
  control(m: ControlMessage): void {
    if (m.t === 'init') return;
    if (m.t === 'cancel') {
      this.#active.get(m.id)?.abort(new ReadPathError('ABORTED', m.why));
      return;
    }
    const g = this.#grants.get(m.id);
    if (g !== undefined) {
      this.#grants.delete(m.id);
      g(m.limit);
    }
  }
}

/**
 * The lean transport's code, loaded while the worker waits for its init (the default
 * transport). Over plain HTTP, which needs no package: undici, for TLS backends, is loaded by
 * the init that names one rather than guessed at here, on a core the main thread is loading on.
 */
const WARM_TRANSPORT = [{ client: 'lean' as const, endpoint: 'http://127.0.0.1', accessKeyId: 'warm-up', secretAccessKey: 'warm-up' }];

/**
 * Create the actor of one worker and return piscina's handler. The worker listens on the pool's
 * channel, says it is ready and waits for its `init` (loading the default transport meanwhile
 * when `start.warm`); tasks that arrive before the init wait for it. The first init wins: the executor repeats it
 * for every worker that reports ready (including ones piscina starts to replace dead ones).
 */
export function createProbeActor(start: ProbeWorkerStart, port: MessagePort | null): (batch: TaskBatch) => Promise<number> {
  const channel = new BroadcastChannel(start.channel);
  // The worker lives as long as piscina's port; the channel must not hold it.
  channel.unref();
  let actor: ProbeActor | undefined;
  let initialised!: (a: ProbeActor) => void;
  let failed!: (err: unknown) => void;
  const ready = new Promise<ProbeActor>((resolve, reject) => {
    initialised = resolve;
    failed = reject;
  });
  // Seen by the tasks that await it; not an unhandled rejection that would kill the worker.
  ready.catch(() => {});
  channel.onmessage = (ev: unknown) => {
    const m = (ev as { data: ControlMessage }).data;
    if (actor !== undefined) {
      actor.control(m);
    } else if (m.t === 'init') {
      try {
        actor = new ProbeActor(m.data, port);
        initialised(actor);
      } catch (err) {
        // Thrown from this listener it would kill the worker and piscina would start another to
        // die the same way; failing its tasks instead ends them as WORKER_LOST with this cause.
        failed(err);
      }
    }
  };
  if (start.warm === true) {
    // A failure here only means the init loads it again (and reports it).
    importModule(new URL('../../backends/s3-options.js', import.meta.url).href)
      .then((m) => (m as unknown as typeof import('../../backends/s3-options.js')).preloadS3(WARM_TRANSPORT))
      .catch(() => {});
  }
  const hello: ReadyMessage = { readpathReady: true };
  port?.postMessage(hello);
  return async (batch: TaskBatch): Promise<number> => (actor ?? (await ready)).handle(batch);
}
