/**
 * Writing verified bodies under an output directory (`batch --out DIR`), where the body is: in
 * the probe that read it, on the thread that read it. Synchronous on purpose: a small file costs
 * five system calls here (lstat, open, write, close, rename), while the same through libuv's
 * thread pool cost ~8x the CPU in hand-offs between threads (measured: 60 vs 508 us per 4 KiB
 * file, bench/RESULTS.md); the pool's workers and the inline executor can afford the few
 * microseconds of blocking.
 *
 * A key maps to a path only when that mapping is one-to-one and stays inside DIR: its `/`
 * separated segments must all be non-empty, not `.` or `..` (so no leading `/`, no `//`, no
 * trailing `/`) and at most 255 UTF-8 bytes (the longest file name); on Windows `\` and `:` are
 * refused too (INVALID_KEY). Beyond the name, the writer never follows a symbolic link:
 * directories are created one level at a time and must be real directories, an existing entry at
 * the file's path must be a regular file, and the body is written to a temporary file
 * (O_CREAT|O_EXCL|O_NOFOLLOW, its name short enough whatever the key's, see temp-name.ts) beside
 * it, then renamed over it — so a reader never sees a partial file, and a failed write leaves
 * none (a pool worker that dies mid-write cannot clean up: its coordinator does, orphan-temps.ts). DIR itself is resolved once (it may be a symlink). Someone else writing into DIR meanwhile
 * is outside this guarantee.
 */
import { accessSync, closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ReadPathError } from '../errors.js';
import { describeKey, keyProblem } from '../engine/keys.js';
import { makeDirs } from './make-dirs.js';
import { NAME_MAX_BYTES, nextTempName } from './temp-name.js';

/** Why `key` cannot be written under an output directory, or undefined when it can. */
export function outPathProblem(key: string, sep: string = path.sep): string | undefined {
  const invalid = keyProblem(key);
  if (invalid !== undefined) return invalid;
  if (key.startsWith('/')) return 'it is an absolute path';
  if (sep === '\\' && /[\\:]/.test(key)) return 'it contains "\\" or ":", which are path syntax on Windows';
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '') return 'it has an empty path segment ("//" or a trailing "/")';
    if (s === '.' || s === '..') return `it has a "${s}" path segment`;
    // No file system takes a longer name: refused before the read rather than after it.
    if (s.length * 3 > NAME_MAX_BYTES && Buffer.byteLength(s, 'utf8') > NAME_MAX_BYTES) return `it has a path segment over ${NAME_MAX_BYTES} bytes, the longest file name`;
  }
  return undefined;
}

/** The INVALID_KEY error for a key that cannot be written under `--out`. */
export function outPathError(key: string, problem: string): ReadPathError {
  return new ReadPathError('INVALID_KEY', `key ${describeKey(key)} cannot be written under --out: ${problem}`);
}

function fsError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The relative paths of `key`'s parent directories, outermost first (`a`, `a/b` for `a/b/c`). */
function* parentDirs(key: string, lastSlash: number): Generator<string, void, undefined> {
  for (let next = key.indexOf('/'); next >= 0 && next <= lastSlash; next = key.indexOf('/', next + 1)) yield key.slice(0, next);
}

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Writes files under one resolved directory. */
export class FileSink {
  /** The directory, resolved (symlinks included). */
  readonly root: string;
  /** Directories known to be real directories inside root (relative paths). */
  readonly #dirs = new Set<string>(['']);
  /**
   * Directories this sink created itself: whatever stands at a key's path in them, this sink
   * put there — a regular file the rename replaces — unless someone else writes into DIR
   * meanwhile (outside the guarantee), so the lstat of the target, a fifth of a small file's
   * cost, is skipped there.
   */
  readonly #fresh = new Set<string>();

  /** A sink over `root`, which must already be a resolved directory (see {@link FileSink.open}). */
  constructor(root: string) {
    this.root = root;
  }

  /**
   * Create `dir` when absent, resolve it once, and check it is a directory — and, unless
   * `writable` is false, one this process may create files in (EACCES/EPERM/EROFS otherwise).
   */
  static open(dir: string, opts: { writable?: boolean } = {}): FileSink {
    makeDirs(dir);
    const root = realpathSync(dir);
    if (!lstatSync(root).isDirectory()) throw fsError(`--out ${dir}: not a directory`, 'ENOTDIR');
    // Found now rather than once per key, after each key's GET was already sent.
    if (opts.writable !== false) accessSync(root, constants.W_OK | constants.X_OK);
    return new FileSink(root);
  }

  /**
   * Write `body` to root/<key>, replacing an existing regular file. Returns `key`. Throws
   * INVALID_KEY for keys that cannot map into root, and the filesystem's error (with its `code`:
   * ELOOP for a symlink on the way, ENOTDIR, EEXIST for a non-regular file, ENOSPC...) otherwise.
   */
  write(key: string, body: Uint8Array): string {
    const w = this.begin(key);
    try {
      w.write(body);
    } catch (err) {
      w.abort();
      throw err;
    }
    return w.commit();
  }

  /**
   * Start writing root/<key>: its checks (see {@link write}) and its temporary file, now. Feed
   * it with {@link FileWrite.write}, then {@link FileWrite.commit} (rename into place) or
   * {@link FileWrite.abort} (nothing left behind).
   */
  begin(key: string): FileWrite {
    const problem = outPathProblem(key);
    if (problem !== undefined) throw outPathError(key, problem);
    const target = path.join(this.root, key);
    // Belt and braces: the segment rules above already make this impossible.
    if (!target.startsWith(this.root + path.sep)) throw outPathError(key, 'it resolves outside the directory');
    const slash = key.lastIndexOf('/');
    if (slash >= 0) this.#ensureParents(key, slash);
    const fresh = slash >= 0 && this.#fresh.has(key.slice(0, slash));
    const existing = fresh ? undefined : lstatSync(target, { throwIfNoEntry: false });
    if (existing !== undefined && !existing.isFile()) {
      if (existing.isSymbolicLink()) throw fsError(`${key} is a symbolic link; refusing to follow it`, 'ELOOP');
      throw fsError(`${key}: not a regular file`, 'EEXIST');
    }
    const dir = path.dirname(target);
    const temp = path.join(dir, nextTempName(path.basename(target)));
    const fd = openSync(temp, TEMP_FLAGS, 0o644);
    // A file replaced keeps its permission bits (a 0600 file stays private); never set-user-ID.
    if (existing !== undefined) {
      try {
        fchmodSync(fd, existing.mode & 0o777);
      } catch (err) {
        closeSync(fd);
        unlinkQuietly(temp);
        throw err;
      }
    }
    return new FileWrite(key, fd, temp, target);
  }

  /**
   * Whether root/<key> already holds a regular file reached through real directories only (no
   * symbolic link on the way or at the end): what an earlier run left there, for `batch
   * --skip-existing`. False for a key that cannot map into root, for anything else at the path
   * and when the file system will not say (the write then reports it). Directories found real
   * are remembered.
   */
  hasFile(key: string): boolean {
    try {
      return this.#hasFile(key);
    } catch {
      // EACCES and the like: not known to be there, so the key is read and its write reports why.
      return false;
    }
  }

  #hasFile(key: string): boolean {
    if (outPathProblem(key) !== undefined) return false;
    const slash = key.lastIndexOf('/');
    if (slash >= 0 && !this.#dirs.has(key.slice(0, slash))) {
      for (const rel of parentDirs(key, slash)) {
        if (this.#dirs.has(rel)) continue;
        const st = lstatSync(path.join(this.root, rel), { throwIfNoEntry: false });
        if (st === undefined || !st.isDirectory()) return false;
        this.#dirs.add(rel);
      }
    }
    return lstatSync(path.join(this.root, key), { throwIfNoEntry: false })?.isFile() === true;
  }

  #ensureParents(key: string, lastSlash: number): void {
    if (this.#dirs.has(key.slice(0, lastSlash))) return;
    for (const rel of parentDirs(key, lastSlash)) if (!this.#dirs.has(rel)) this.#makeDir(rel);
  }

  #makeDir(rel: string): void {
    const abs = path.join(this.root, rel);
    let created = false;
    try {
      mkdirSync(abs);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) throw fsError(`${rel} is a symbolic link; refusing to follow it`, 'ELOOP');
    if (!st.isDirectory()) throw fsError(`${rel} exists and is not a directory`, 'ENOTDIR');
    this.#dirs.add(rel);
    if (created) this.#fresh.add(rel);
  }
}

/** One file being written: a temporary file until {@link FileWrite.commit} renames it into place. */
export class FileWrite {
  readonly key: string;
  readonly #temp: string;
  readonly #target: string;
  #fd: number | undefined;

  constructor(key: string, fd: number, temp: string, target: string) {
    this.key = key;
    this.#fd = fd;
    this.#temp = temp;
    this.#target = target;
  }

  /** Append `bytes` (all of them). */
  write(bytes: Uint8Array): void {
    const fd = this.#fd;
    if (fd === undefined) throw fsError(`${this.key}: write after the file was finished`, 'EBADF');
    for (let at = 0; at < bytes.byteLength;) at += writeSync(fd, bytes, at, bytes.byteLength - at);
  }

  /** Close and rename into place; returns the key. On failure nothing is left behind. */
  commit(): string {
    const fd = this.#fd;
    if (fd === undefined) throw fsError(`${this.key}: the file was already finished`, 'EBADF');
    this.#fd = undefined;
    try {
      closeSync(fd);
      renameSync(this.#temp, this.#target);
    } catch (err) {
      unlinkQuietly(this.#temp);
      throw err;
    }
    return this.key;
  }

  /** Close and remove the temporary file. Idempotent; never throws. */
  abort(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Already closed, or unusable: the temp file goes either way.
    }
    unlinkQuietly(this.#temp);
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Nothing to remove, or nothing more to do about it.
  }
}

// One sink per directory and thread: the directories it found real or created are remembered
// across the probes of one batch. Not beyond it: between two batches the tree may change (a
// directory removed, or replaced by a symlink out of DIR), and a remembered directory is one the
// writer no longer checks.
const sinks = new Map<string, { scope: string | undefined; sink: FileSink }>();

/**
 * The sink of a resolved output directory, shared by the probes of the batch `scope` on this
 * thread (a scope other than the last one seen for `root` starts afresh).
 */
export function sinkFor(root: string, scope?: string): FileSink {
  const held = sinks.get(root);
  if (held !== undefined && held.scope === scope) return held.sink;
  const sink = new FileSink(root);
  sinks.set(root, { scope, sink });
  return sink;
}
