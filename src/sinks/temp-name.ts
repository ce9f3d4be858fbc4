/**
 * The name of the temporary file a body is written to beside its target before the rename
 * (`batch --out`, `get -o`): `.<target's name>.readpath-<pid>-<thread>-<n>.tmp`, hidden and never
 * taken for a finished file. This module is the one place that both makes such names and
 * recognizes them: the sweeps of leftovers (orphan-temps.ts) must find exactly what the writers
 * made, so the format is written down once.
 */
import { threadId } from 'node:worker_threads';

/**
 * The longest file name, in bytes, on the file systems a download lands on (ext4, XFS, Btrfs,
 * APFS, NTFS, tmpfs all allow 255).
 */
export const NAME_MAX_BYTES = 255;

/** How much of the target's name a temporary name keeps when the whole would not fit. */
const KEPT_CODE_POINTS = 32;

/** Who wrote a temporary file: the process, its thread, and that thread's count of temporary files. */
export interface TempWriter {
  pid: number;
  thread: number;
  seq: number;
}

/** The writer part and the end of every temporary name: what {@link TEMP_NAME} takes apart. */
function suffixOf(w: TempWriter): string {
  return `.readpath-${w.pid}-${w.thread}-${w.seq}.tmp`;
}

/** The shape of {@link tempNameFor}'s names; the writer's numbers are captured. */
const TEMP_NAME = /^\..*\.readpath-(\d+)-(\d+)-(\d+)\.tmp$/s;

/**
 * The temporary name for a file named `base`, written by `writer`. The target's name is only a
 * hint for whoever finds a leftover, so when the whole would exceed {@link NAME_MAX_BYTES} it is
 * cut to its first few characters: a target whose own name fits must never fail for want of room
 * in its temporary name.
 */
export function tempNameFor(base: string, writer: TempWriter): string {
  const suffix = suffixOf(writer);
  const whole = `.${base}${suffix}`;
  if (Buffer.byteLength(whole, 'utf8') <= NAME_MAX_BYTES) return whole;
  // Cut by code points, not UTF-16 units: half a surrogate pair is not a valid file name character.
  return `.${Array.from(base).slice(0, KEPT_CODE_POINTS).join('')}~${suffix}`;
}

let seq = 0;

/** The temporary name for a new file named `base`, written by this thread of this process. */
export function nextTempName(base: string): string {
  return tempNameFor(base, { pid: process.pid, thread: threadId, seq: ++seq });
}

/**
 * The writer of `name` when `name` is exactly the temporary name {@link tempNameFor} gives a file
 * named one of `bases` (whole or shortened), else undefined: a name that only looks alike (another
 * target's, digits written otherwise, anything after `.tmp`) is not one.
 */
export function tempWriterOf(name: string, bases: Iterable<string>): TempWriter | undefined {
  const m = TEMP_NAME.exec(name);
  if (m === null) return undefined;
  const writer: TempWriter = { pid: Number(m[1]), thread: Number(m[2]), seq: Number(m[3]) };
  // Rebuilt and compared whole: the name part may be shortened, and `0042` is not 42's name.
  for (const base of bases) if (tempNameFor(base, writer) === name) return writer;
  return undefined;
}
