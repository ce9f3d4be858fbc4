/**
 * A small in-memory world for failover tests: configured backends, a store, a cache, and
 * scripted probes whose every call is logged and controllable through gates.
 */
import { Recorder } from '../../src/telemetry/recorder.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { MemoryLocationCache } from '../../src/cache/memory-location-cache.js';
import { MemoryMetadataStore } from '../../src/stores/memory-store.js';
import { Failover, type FailoverOptions } from '../../src/engine/failover.js';
import type { Core, ObjectLocation, Probe, ProbeRequest, ProbeResult } from '../../src/types.js';
import { deferred, type Deferred } from './gate.js';

/** Build a Core over backends named `names`, in that order. */
export function makeCore(names: readonly string[], recorder = new Recorder()): Core & { map: Map<string, MemoryBackend> } {
  const map = new Map<string, MemoryBackend>();
  for (const n of names) map.set(n, new MemoryBackend(n));
  return {
    map,
    backends: () => map,
    backendOrder: () => names,
    acct: () => recorder,
  };
}

/**
 * A location row. `sizeBytes` is 1 unless given: the failover tests' probes make up their bodies;
 * a test whose probe reads a stored body gives that body's size, as upstream records it (a whole
 * GET answering another size than its row's is refused).
 */
export function loc(key: string, backendName: string, createdAtMs: number, extra: Partial<ObjectLocation> = {}): ObjectLocation {
  return { objectKey: key, backendName, sizeBytes: 1, createdAt: new Date(createdAtMs), encrypted: false, ...extra };
}

/** One logged probe call, with a gate the test settles. */
export interface ProbeCall {
  backendName: string;
  location: ObjectLocation | null;
  signal: AbortSignal;
  gate: Deferred<ProbeResult<string>>;
}

/**
 * A probe whose calls are logged and left pending until the test settles their gates, unless
 * `script` gives an immediate behaviour for a backend.
 */
export function scriptedProbe(script: Record<string, (req: ProbeRequest) => Promise<ProbeResult<string>>> = {}) {
  const calls: ProbeCall[] = [];
  const probe: Probe<string> = (req) => {
    const gate = deferred<ProbeResult<string>>();
    calls.push({ backendName: req.backendName, location: req.location, signal: req.signal, gate });
    const s = script[req.backendName];
    if (s !== undefined) s(req).then((r) => gate.resolve(r), (e: unknown) => gate.reject(e));
    return gate.promise;
  };
  return { probe, calls, started: () => calls.map((c) => c.backendName) };
}

/** A failover over a fresh world. */
export function makeWorld(names: readonly string[], opts: Partial<FailoverOptions> = {}) {
  const recorder = new Recorder();
  const core = makeCore(names, recorder);
  const store = new MemoryMetadataStore();
  const cache = new MemoryLocationCache({ ttlMs: 60_000, maxEntries: 1000 });
  const failover = new Failover({ core, stores: store, cache, ...opts });
  return { recorder, core, store, cache, failover };
}
