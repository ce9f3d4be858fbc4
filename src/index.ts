// Public entry point: re-exports only.
export * from './errors.js';
export * from './types.js';
export { Recorder, METRIC, DEFAULT_BUCKETS, type Labels, type MetricFamily } from './accounting/recorder.js';
export { UsageTracker, usagePeriod, type UsageLimits, type UsageStat, type UsageDelta, type UsageTrackerOptions } from './accounting/usage-tracker.js';
export { MemoryBackend, parseByteRange, type MemoryObjectMeta } from './backend/memory-backend.js';
export { MemoryMetadataStore } from './store/memory-store.js';
export { MemoryLocationCache, type MemoryLocationCacheOptions } from './cache/memory-location-cache.js';
export { Failover, type FailoverOptions, type ReadOutcome, type ReadPathKind } from './failover/failover.js';
export { headProbe, getProbe, readBody, verifyBody, sha256Hex, type FetchedObject, type GetProbeOptions } from './failover/probes.js';
export { ProbeRun, type Candidate, type ProbeFailure, type RunOutcome, type HedgePolicy, type Timers, type ProbeRunOptions } from './scheduler/probe-run.js';
export { classifyBroadcastFailure, type BroadcastVerdict } from './broadcast/classify.js';
