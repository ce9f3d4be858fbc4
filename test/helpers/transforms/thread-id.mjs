// Test transform: reports the thread it ran on, that thread's nice value (Linux: per thread),
// and what it was told.
import { getPriority } from 'node:os';
import { threadId } from 'node:worker_threads';

export default function whereAmI(bytes, info) {
  return { threadId, nice: getPriority(), bytes: bytes.byteLength, info };
}
