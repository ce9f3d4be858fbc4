// Test transform: reports the thread it ran on and what it was told.
import { threadId } from 'node:worker_threads';

export default function whereAmI(bytes, info) {
  return { threadId, bytes: bytes.byteLength, info };
}
