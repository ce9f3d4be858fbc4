/**
 * Where the benches' tools download (`--dest DIR`), and when those downloads are deleted.
 *
 * Every download stays until the whole bench has run, then all go at once. Deleting each run's
 * files before the next tool's run made that tool pay for the deletion: on a file system without
 * a journal (this machine's ext4 has none) the inode allocator skips inodes freed in the last
 * 60–360 s, reading each one's table entry, so every file created after 20,000 were deleted cost
 * several times more system time (`perf`: `recently_deleted`, `find_get_block_common` and
 * `find_inode_bit` were a quarter of a `batch --out` run's samples), and the more the longer a
 * bench went on. Which tool ran after which deletion then moved its figure more than the tools
 * differed (bench/RESULTS.md, "Downloads kept until the end").
 */
import { benchTempDir } from '../process-guard.js';
import { mkdir, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Linux file-system magic numbers (statfs f_type) of the file systems a bench is likely to write to. */
const FS_NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/3/4'],
  [0x01021994, 'tmpfs'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x794c7630, 'overlayfs'],
  [0x2fc12fc1, 'zfs'],
  [0x6969, 'nfs'],
]);

/** The name of a statfs `type`, or its hexadecimal number when not one of the usual ones. */
export function fileSystemName(type: number): string {
  return FS_NAMES.get(type) ?? `0x${type.toString(16)}`;
}

/** Where a bench's downloads go, as its report records it. */
export interface DownloadDestination {
  /** The directory every download of this run is made under (removed at the end). */
  path: string;
  /** Its file system (see {@link fileSystemName}). */
  fs: string;
}

/** A bench's download directories: one fresh directory per download, all removed by {@link DownloadDirs.close}. */
export class DownloadDirs {
  readonly destination: DownloadDestination;

  private constructor(destination: DownloadDestination) {
    this.destination = destination;
  }

  /**
   * A fresh directory under `dest` (default: the OS's temporary directory), created now. `dest`
   * must exist: it is where the user chose the downloads to go (a tmpfs, a disk under test).
   */
  static async open(dest: string | undefined, prefix: string): Promise<DownloadDirs> {
    const root = await benchTempDir(prefix, dest ?? os.tmpdir());
    const { type } = await statfs(root);
    return new DownloadDirs({ path: root, fs: fileSystemName(type) });
  }

  /** `run` with download directories under `dest` (see {@link open}), all removed once it settles. */
  static async during<T>(dest: string | undefined, prefix: string, run: (dirs: DownloadDirs) => Promise<T>): Promise<T> {
    const dirs = await DownloadDirs.open(dest, prefix);
    try {
      return await run(dirs);
    } finally {
      await dirs.close();
    }
  }

  /** A new, empty directory for one download (`name`: unique within the bench, may contain `/`). */
  async dir(name: string): Promise<string> {
    const d = path.join(this.destination.path, name);
    await mkdir(d, { recursive: true });
    return d;
  }

  /** Remove every download. */
  async close(): Promise<void> {
    await rm(this.destination.path, { recursive: true, force: true });
  }
}
