/**
 * The probe actor: what runs inside a pool worker. It builds the worker's backend clients once
 * (keep-alive sockets live here), runs one probe per task — the S3 call, the egress check, the
 * SHA-256 verification, an optional transform — and answers with a {@link Verdict}. It never
 * throws to piscina: a thrown task result is cloned as a bare Error, and a result that cannot be
 * posted kills the worker, so every outcome is turned into plain data here.
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
import { Piscina } from 'piscina';
import { ReadPathError, abortedError, messageOf, serializeError, type UsageLimitKind } from '../../errors.js';
import { collectBody, discardBody } from '../../backends/body.js';
import { isBilledFailure, verifyBody } from '../../probe/probes.js';
import type { GetResult, ObjectBackend, ObjectLocation } from '../../types.js';
import { importModule, runTransform } from '../../probe/transform.js';
import {
  PROBE_PROTOCOL, type ControlMessage, type CreateBackends, type OkVerdict, type ProbeTask, type ProbeWorkerData,
  type ReserveMessage, type Verdict, type WireHead, type WireUsage,
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

/** What a task handler returns to piscina: a verdict, possibly wrapped to transfer its bytes. */
export type ActorResult = Verdict | ReturnType<typeof Piscina.move>;

/** Build the backends a worker serves, from its workerData. */
export async function buildWorkerBackends(data: ProbeWorkerData): Promise<Map<string, ObjectBackend>> {
  const map = new Map<string, ObjectBackend>();
  if (data.s3 !== undefined && data.s3.length > 0) {
    // Loaded only when needed: the SDK costs ~100 ms of startup per worker.
    const s3 = (await importModule(new URL('../../backends/s3-options.js', import.meta.url).href)) as unknown as typeof import('../../backends/s3-options.js');
    await s3.preloadS3();
    for (const o of data.s3) map.set(o.name, s3.createS3Backend(o));
  }
  if (data.backendModule !== undefined) {
    let mod: { createBackends?: unknown; default?: unknown };
    try {
      mod = await importModule(data.backendModule);
    } catch (err) {
      throw new ReadPathError('INVALID_CONFIG', `backendModule ${data.backendModule}: cannot load: ${messageOf(err)}`, { cause: err });
    }
    const create = (mod.createBackends ?? mod.default) as CreateBackends | undefined;
    if (typeof create !== 'function') {
      throw new ReadPathError('INVALID_CONFIG', `backendModule ${data.backendModule}: exports no createBackends function`);
    }
    for (const b of await create(data.backendData)) map.set(b.name, b);
  }
  return map;
}

function headOf(r: { etag?: string; contentType?: string; lastModified?: Date; metadata?: Record<string, string> }): WireHead {
  const h: WireHead = {};
  if (r.etag !== undefined) h.etag = r.etag;
  if (r.contentType !== undefined) h.contentType = r.contentType;
  if (r.lastModified !== undefined) h.lastModified = r.lastModified;
  if (r.metadata !== undefined) h.metadata = r.metadata;
  return h;
}

/** Whether a failed call cost an API request: the same rule as the inline probes. */
function billedFailure(u: WireUsage, err: unknown): void {
  if (isBilledFailure(err)) u.api = 1;
}

/** A Uint8Array that owns its whole ArrayBuffer, so transferring it moves exactly its bytes. */
function ownBytes(b: Uint8Array): Uint8Array {
  const buf = b.buffer;
  if (buf instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === buf.byteLength) return b;
  return b.slice();
}

/** Wrap a verdict so piscina transfers `buffers` instead of copying them. */
function moving(v: Verdict, buffers: ArrayBuffer[]): ActorResult {
  if (buffers.length === 0) return v;
  return Piscina.move({ [Piscina.transferableSymbol]: buffers, [Piscina.valueSymbol]: v } as never);
}

/** The worker side of one pool: a task handler plus its cancel and usage plumbing. */
export class ProbeActor {
  readonly #flags: Int32Array;
  readonly #channel: BroadcastChannel;
  readonly #port: MessagePort | null;
  readonly #backends: Promise<Map<string, ObjectBackend>>;
  readonly #active = new Map<number, AbortController>();
  readonly #grants = new Map<number, (limit: UsageLimitKind | null) => void>();
  readonly #protocol: number;

  constructor(data: ProbeWorkerData, port: MessagePort | null) {
    this.#protocol = data.protocol;
    if (data.nice !== undefined && data.nice > 0) niceThisThread(data.nice);
    this.#flags = new Int32Array(data.flags);
    this.#port = port;
    this.#channel = new BroadcastChannel(data.channel);
    this.#channel.onmessage = (ev: unknown) => this.#onControl((ev as { data: ControlMessage }).data);
    // The worker lives as long as piscina's port; the channel must not hold it.
    this.#channel.unref();
    this.#backends = buildWorkerBackends(data);
    // Building failures are reported per task; never as an unhandled rejection that kills the worker.
    this.#backends.catch(() => {});
  }

  /** piscina's task handler. */
  readonly handle = async (task: ProbeTask): Promise<ActorResult> => {
    const u: WireUsage = { api: 0, egress: 0 };
    const ac = new AbortController();
    // Register before reading the flag: a cancel broadcast from now on finds the controller.
    this.#active.set(task.id, ac);
    try {
      if (this.#protocol !== PROBE_PROTOCOL) throw new ReadPathError('BACKEND_ERROR', `probe worker speaks protocol ${this.#protocol}`);
      if (Atomics.load(this.#flags, task.slot) !== 0) ac.abort(new ReadPathError('ABORTED', 'probe cancelled before it started'));
      const backend = (await this.#backends).get(task.backend);
      if (backend === undefined) {
        throw new ReadPathError('BACKEND_NOT_FOUND', `backend ${task.backend} is not configured in the probe worker`);
      }
      return task.op === 'head' ? await this.#head(task, backend, ac.signal, u) : await this.#get(task, backend, ac.signal, u);
    } catch (err) {
      const error = serializeError(err);
      return { kind: 'error', error, notFound: error.backendStatus === 404, api: u.api, egress: u.egress };
    } finally {
      this.#active.delete(task.id);
    }
  };

  async #head(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, u: WireUsage): Promise<ActorResult> {
    if (signal.aborted) throw abortedError(signal);
    let h;
    try {
      h = await backend.head(task.key, { signal });
    } catch (err) {
      billedFailure(u, err);
      throw err;
    }
    u.api = 1;
    return { kind: 'ok', size: h.size, objectSize: h.size, head: headOf(h), api: 1, egress: 0 };
  }

  async #get(task: ProbeTask, backend: ObjectBackend, signal: AbortSignal, u: WireUsage): Promise<ActorResult> {
    if (signal.aborted) throw abortedError(signal);
    let res: GetResult;
    try {
      res = await backend.get(task.key, task.range === undefined ? { signal } : { signal, range: task.range });
    } catch (err) {
      billedFailure(u, err);
      throw err;
    }
    u.api = 1;
    if (task.egressLimited === true) {
      let limit: UsageLimitKind | null;
      try {
        limit = await this.#reserve(task, res.size < 0 ? 0 : res.size, signal);
      } catch (err) {
        discardBody(res);
        throw err;
      }
      if (limit !== null) {
        discardBody(res);
        return { kind: 'skip', limit, api: 1, egress: 0 };
      }
    }
    // -1 means the backend announced no length: then there is nothing to check the body against.
    const body = await collectBody(res.body, res.size >= 0 ? { signal, expectedSize: res.size } : { signal });
    u.egress = body.byteLength;
    const verify = task.verify ?? true;
    const verified = verify && task.range === undefined
      ? verifyBody({ backendName: task.backend, location: task.location as ObjectLocation | null }, task.key, body, (task.verifyEtag ?? true) ? res.etag : undefined)
      : false;
    const head = headOf(res);
    const base: OkVerdict = { kind: 'ok', size: body.byteLength, objectSize: res.size, head, verified, api: 1, egress: body.byteLength };
    if (task.transform === undefined) {
      base.body = body;
      return moving(base, [body.buffer as ArrayBuffer]);
    }
    const value = await runTransform(task.transform, body, {
      ...head,
      key: task.key,
      backend: task.backend,
      size: body.byteLength,
      verified,
      ...(task.range !== undefined ? { range: task.range } : {}),
    });
    if (value instanceof Uint8Array) {
      base.bytes = ownBytes(value);
      return moving(base, [base.bytes.buffer as ArrayBuffer]);
    }
    let bytes: Uint8Array;
    try {
      // Serialized here rather than cloned by postMessage: a value that cannot cross threads
      // becomes this read's error instead of an exception that would kill the worker.
      bytes = ownBytes(v8.serialize(value));
    } catch (err) {
      throw new ReadPathError('BACKEND_ERROR', `transform result for ${JSON.stringify(task.key)} cannot be sent to the main thread: ${messageOf(err)}`, { cause: err });
    }
    base.serialized = bytes;
    return moving(base, [bytes.buffer as ArrayBuffer]);
  }

  /** Ask the main thread to reserve `bytes` of egress; resolves with the exceeded limit or null. */
  #reserve(task: ProbeTask, bytes: number, signal: AbortSignal): Promise<UsageLimitKind | null> {
    if (signal.aborted) return Promise.reject(abortedError(signal));
    if (this.#port === null) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#grants.delete(task.id);
        reject(abortedError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#grants.set(task.id, (limit) => {
        signal.removeEventListener('abort', onAbort);
        resolve(limit);
      });
      const msg: ReserveMessage = { readpathReserve: true, id: task.id, backend: task.backend, bytes };
      this.#port?.postMessage(msg);
    });
  }

  #onControl(m: ControlMessage): void {
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

/** Create the actor of one worker and return piscina's handler. */
export function createProbeActor(data: ProbeWorkerData, port: MessagePort | null): (task: ProbeTask) => Promise<ActorResult> {
  return new ProbeActor(data, port).handle;
}
