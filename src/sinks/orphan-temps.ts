/**
 * Removing the temporary files a dead pool worker left under an output directory. A worker that
 * dies mid-write (process.exit, an uncaught exception, a resource limit) never reaches its
 * FileWrite's abort, so its `.<name>.readpath-<pid>-<threadId>-<seq>.tmp` would stay in DIR for
 * good, while the probe's retry on another worker writes the real file. The coordinator knows
 * which keys the dead worker held and which thread it was; thread ids are never reused within a
 * process, so a temporary file named with this process's pid and a dead thread's id has no
 * writer left and can go.
 *
 * Only on a worker's death, never on the hot path; asynchronous, so the main thread's loop keeps
 * serving while a large directory is listed. Nothing is followed through a symbolic link, and
 * only names that are exactly what temp-name.ts gives for one of the keys' names are
 * removed.
 */
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { outPathProblem } from './file-sink.js';
import { tempWriterOf } from './temp-name.js';

/**
 * The keys' names grouped by their parent directory (relative to root), for the keys that map
 * into root at all.
 */
function namesByDir(keys: Iterable<string>): Map<string, Set<string>> {
  const dirs = new Map<string, Set<string>>();
  for (const key of keys) {
    if (outPathProblem(key) !== undefined) continue;
    const slash = key.lastIndexOf('/');
    const dir = slash < 0 ? '' : key.slice(0, slash);
    const name = key.slice(slash + 1);
    let names = dirs.get(dir);
    if (names === undefined) dirs.set(dir, names = new Set());
    names.add(name);
  }
  return dirs;
}

/** Whether root/rel is reached through real directories only (no symbolic link on the way). */
async function realDirectory(root: string, rel: string): Promise<boolean> {
  if (rel === '') return true;
  let at = root;
  for (const segment of rel.split('/')) {
    at = path.join(at, segment);
    const st = await lstat(at).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) return false;
  }
  return true;
}

/** Whether `name` is the temporary name of one of `names`, written by one of `threads` of process `pid`. */
function isOrphan(name: string, names: ReadonlySet<string>, pid: number, threads: ReadonlySet<number>): boolean {
  const w = tempWriterOf(name, names);
  return w !== undefined && w.pid === pid && threads.has(w.thread);
}

/**
 * Remove, beside each of `keys` under the resolved directory `root`, the temporary files that
 * threads `deadThreads` of process `pid` left there. Resolves with how many were removed; never
 * rejects (a directory that cannot be listed, or a file gone meanwhile, is skipped).
 */
export async function removeOrphanTemps(root: string, keys: Iterable<string>, deadThreads: ReadonlySet<number>, pid: number = process.pid): Promise<number> {
  if (deadThreads.size === 0) return 0;
  let removed = 0;
  for (const [rel, names] of namesByDir(keys)) {
    try {
      if (!(await realDirectory(root, rel))) continue;
      const dir = path.join(root, rel);
      // withFileTypes reports a symbolic link as one (lstat semantics): it is never unlinked as a file.
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (!entry.isFile() || !isOrphan(entry.name, names, pid, deadThreads)) continue;
        try {
          await unlink(path.join(dir, entry.name));
          removed++;
        } catch {
          // Gone already, or not ours to remove after all.
        }
      }
    } catch {
      // The directory went away or cannot be listed: nothing to clean there.
    }
  }
  return removed;
}

/** {@link realDirectory}, synchronously. */
function realDirectorySync(root: string, rel: string): boolean {
  if (rel === '') return true;
  let at = root;
  for (const segment of rel.split('/')) {
    at = path.join(at, segment);
    if (lstatSync(at, { throwIfNoEntry: false })?.isDirectory() !== true) return false;
  }
  return true;
}

/**
 * Remove, beside each of `keys` under the resolved directory `root`, the temporary files any
 * thread of process `pid` made there; returns how many. Synchronous, for a process about to exit
 * at once (a second Ctrl-C) without waiting for its workers: the caller passes only the keys
 * being written right now, so this lists a few directories, not the whole tree. Never throws;
 * follows no symbolic link; touches no name that is not exactly one temp-name.ts gives one of the
 * keys' names.
 */
export function removeOwnTempsSync(root: string, keys: Iterable<string>, pid: number = process.pid): number {
  let removed = 0;
  for (const [rel, names] of namesByDir(keys)) {
    try {
      if (!realDirectorySync(root, rel)) continue;
      const dir = path.join(root, rel);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isFile() || tempWriterOf(entry.name, names)?.pid !== pid) continue;
        try {
          unlinkSync(path.join(dir, entry.name));
          removed++;
        } catch {
          // Gone already.
        }
      }
    } catch {
      // The directory went away or cannot be listed: nothing to clean there.
    }
  }
  return removed;
}
