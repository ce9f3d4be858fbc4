/**
 * The progress bar of `readpath get -o`: bytes, rate and ETA of one large object, on a TTY
 * stderr only (pipes and logs stay clean), and only for objects big enough to be worth
 * watching.
 */
import { createProgress, type ProgressOptions, type ProgressStream } from './progress.js';

/** Objects smaller than this finish before a bar would tell anyone anything. */
export const BYTE_PROGRESS_MIN_SIZE = 8 * 1024 * 1024;

/** A byte counter drawn as a bar. */
export interface ByteProgress {
  add(bytes: number): void;
  stop(): void;
}

/** A bar for `total` bytes of `label` on `stream`, or undefined when there is nothing to draw. */
export function createByteProgress(stream: ProgressStream, total: number, label: string, opts: Omit<ProgressOptions, 'unit' | 'label'> = {}): ByteProgress | undefined {
  if (total < BYTE_PROGRESS_MIN_SIZE) return undefined;
  const p = createProgress(stream, { ...opts, unit: 'bytes', label: label.length > 30 ? `…${label.slice(-29)}` : label });
  if (p === undefined) return undefined;
  p.setTotal(total);
  return { add: (n) => p.advance(n), stop: () => p.stop() };
}
