/**
 * The piscina entry of the probe pool. Its logic lives in src/executors/pool/actor.ts; this file
 * only wires the worker's data and parent port to it. Loaded as `.ts` under tsx (tests) and as
 * the compiled `dist/workers/probe-worker.js` otherwise (see pool-executor.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createProbeActor } from '../src/executors/pool/actor.js';
import type { ProbeWorkerStart } from '../src/executors/pool/protocol.js';

export default createProbeActor(workerData as ProbeWorkerStart, parentPort);
