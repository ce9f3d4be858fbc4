/**
 * This thread's buffers for bodies read into files (`readMany`'s `out`, `readpath batch --out`):
 * a plain copy's bytes land in one of these (`BackendGetOptions.into`) and go straight to the
 * file, instead of into a fresh buffer per socket read that is written and dropped. Two sizes,
 * so 4 KiB objects do not each hold a mebibyte.
 */
import { SizedBodyBuffers, type BodyBuffers } from '../backends/body-buffers.js';
import type { ProbeTask } from './task.js';

/** Idle buffers kept per size: a worker's probes in flight (`runtime.tasks_per_thread`) rarely exceed it. */
const KEEP = 64;

const buffers = new SizedBodyBuffers([64 * 1024, 1024 * 1024], KEEP);

/**
 * A buffer for the whole body of `task`'s copy and the pool it goes back to, when the row says
 * the copy is plain (neither encrypted nor compressed: its stored bytes are the object's) and no
 * larger than the larger size; undefined otherwise.
 */
export function fileReadBuffer(task: ProbeTask): { buf: Buffer; pool: BodyBuffers } | undefined {
  const l = task.location;
  if (l === null || task.range !== undefined || l.encrypted || l.compression !== undefined) return undefined;
  return buffers.take(l.sizeBytes);
}
