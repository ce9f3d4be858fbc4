/**
 * The name of the temporary file a body is written to beside its target before the rename
 * (`batch --out`, `get -o`): `.<target's name>.readpath-<unique>.tmp`, hidden and never taken
 * for a finished file.
 */

/**
 * The longest file name, in bytes, on the file systems a download lands on (ext4, XFS, Btrfs,
 * APFS, NTFS, tmpfs all allow 255).
 */
export const NAME_MAX_BYTES = 255;

/** How much of the target's name a temporary name keeps when the whole would not fit. */
const KEPT_CODE_POINTS = 32;

/**
 * The temporary name for a file named `base`; `unique` tells writers apart (pid, thread, counter).
 * The target's name is only a hint for whoever finds a leftover, so when the whole would exceed
 * {@link NAME_MAX_BYTES} it is cut to its first few characters: a target whose own name fits must
 * never fail for want of room in its temporary name.
 */
export function tempNameFor(base: string, unique: string): string {
  const suffix = `.readpath-${unique}.tmp`;
  const whole = `.${base}${suffix}`;
  if (Buffer.byteLength(whole, 'utf8') <= NAME_MAX_BYTES) return whole;
  // Cut by code points, not UTF-16 units: half a surrogate pair is not a valid file name character.
  return `.${Array.from(base).slice(0, KEPT_CODE_POINTS).join('')}~${suffix}`;
}
