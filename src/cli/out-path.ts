/**
 * `readpath batch --out DIR`: each body goes to DIR/<key>, and never outside DIR, whatever the
 * key says.
 *
 * A key maps to a path only when that mapping is one-to-one and stays inside DIR: its `/`
 * separated segments must all be non-empty and not `.` or `..` (so no leading `/`, no `//`, no
 * trailing `/`); on Windows `\` and `:` are refused too. Such keys are rejected with
 * INVALID_KEY before anything is read. Beyond the name, the writer refuses to follow symbolic
 * links: directories are created one level at a time and must be real directories, and the file
 * itself is opened with O_NOFOLLOW. (DIR itself may be a symlink: it is resolved once, up front.)
 * Someone else writing into DIR while the batch runs is outside this guarantee.
 */
import { close, constants, fstat, open, write } from 'node:fs';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ReadPathError } from '../errors.js';
import { describeKey, keyProblem } from '../engine/keys.js';

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
  }
  return undefined;
}

/** The INVALID_KEY error for a key that cannot be written under `--out`. */
export function outPathError(key: string, problem: string): ReadPathError {
  return new ReadPathError('INVALID_KEY', `key ${describeKey(key)} cannot be written under --out: ${problem}`);
}

/**
 * Files written at once by default. Creating a file is mostly kernel work (inode, directory
 * entry, journal) done on libuv's thread pool (4 threads): two at a time keep a write going
 * while another waits on the kernel, and leave two threads for the rest of the process's file
 * I/O (the key file is read through the same pool), which a queue of writes would otherwise
 * stall. The batch loop does not wait for writes anyway (see commands/batch.ts).
 */
export const DEFAULT_WRITE_CONCURRENCY = 2;

/** Writes bodies under one directory (see the module comment). */
export class OutDir {
  readonly root: string;
  /** Directories known to be real directories inside root (relative paths). */
  readonly #dirs = new Set<string>(['']);
  readonly #creating = new Map<string, Promise<void>>();
  /** Writes in flight by absolute path (the last one queued). */
  readonly #writing = new Map<string, Promise<string>>();
  /** Files being written now, and those waiting for their turn. */
  readonly #maxWriting: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  private constructor(root: string, maxWriting: number) {
    this.root = root;
    this.#maxWriting = maxWriting;
  }

  /**
   * Create `dir` when absent and resolve it (symlinks included) once. `writeConcurrency` files
   * are written at a time (default {@link DEFAULT_WRITE_CONCURRENCY}); more writes wait their turn.
   */
  static async open(dir: string, opts: { writeConcurrency?: number } = {}): Promise<OutDir> {
    await mkdir(dir, { recursive: true });
    const root = await realpath(dir);
    const st = await lstat(root);
    if (!st.isDirectory()) throw new Error(`--out ${dir}: not a directory`);
    return new OutDir(root, Math.max(1, opts.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY));
  }

  /**
   * Write `body` to root/<key>, replacing an existing file. Returns the path relative to root.
   * Throws INVALID_KEY for keys that cannot map into root, and the filesystem's error otherwise.
   *
   * Cost per file: open (O_NOFOLLOW, and O_NONBLOCK so a FIFO planted at the path fails at once
   * instead of blocking a thread), fstat (refuse anything but a regular file), one write for
   * most bodies, close — through fs's callback API, four thread-pool trips and no promise or
   * FileHandle per step. Directories are created once and remembered. Concurrent writes of the
   * same key (a key listed twice) run one after the other.
   */
  write(key: string, body: Uint8Array): Promise<string> {
    const problem = outPathProblem(key);
    if (problem !== undefined) return Promise.reject(outPathError(key, problem));
    const target = path.join(this.root, key);
    // Belt and braces: the segment rules above already make this impossible.
    if (!target.startsWith(this.root + path.sep)) return Promise.reject(outPathError(key, 'it resolves outside the directory'));
    const slash = key.lastIndexOf('/');
    const parent = slash < 0 ? '' : key.slice(0, slash);
    const start = (): Promise<string> => {
      const written = this.#dirs.has(parent) ? this.#limited(target, key, body) : this.#ensureParents(key).then(() => this.#limited(target, key, body));
      return written.then(() => key);
    };
    const before = this.#writing.get(target);
    const p = before === undefined ? start() : before.then(start, start);
    this.#writing.set(target, p);
    const forget = (): void => {
      if (this.#writing.get(target) === p) this.#writing.delete(target);
    };
    p.then(forget, forget);
    return p;
  }

  /** {@link writeFileAt}, at most `maxWriting` at a time. */
  #limited(target: string, key: string, body: Uint8Array): Promise<void> {
    // A finished write hands its slot straight to the next one waiting.
    const release = (): void => {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#running--;
    };
    const run = (): Promise<void> => {
      const p = writeFileAt(target, key, body);
      p.then(release, release);
      return p;
    };
    if (this.#running < this.#maxWriting) {
      this.#running++;
      return run();
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(run);
  }

  async #ensureParents(key: string): Promise<void> {
    const segments = key.split('/');
    let rel = '';
    for (let i = 0; i < segments.length - 1; i++) {
      rel = rel === '' ? (segments[i] as string) : `${rel}/${segments[i] as string}`;
      await this.#ensureDir(rel);
    }
  }

  async #ensureDir(rel: string): Promise<void> {
    if (this.#dirs.has(rel)) return;
    let p = this.#creating.get(rel);
    if (p === undefined) {
      p = this.#makeDir(rel).finally(() => this.#creating.delete(rel));
      this.#creating.set(rel, p);
    }
    await p;
  }

  async #makeDir(rel: string): Promise<void> {
    const abs = path.join(this.root, ...rel.split('/'));
    try {
      await mkdir(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await lstat(abs);
    if (st.isSymbolicLink()) throw Object.assign(new Error(`${rel} is a symbolic link; refusing to follow it`), { code: 'ELOOP' });
    if (!st.isDirectory()) throw Object.assign(new Error(`${rel} exists and is not a directory`), { code: 'ENOTDIR' });
    this.#dirs.add(rel);
  }
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** open, fstat, write (all of it), close: see {@link OutDir.write}. */
function writeFileAt(target: string, key: string, body: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    open(target, WRITE_FLAGS, 0o644, (openErr, fd) => {
      if (openErr !== null) return reject(openErr);
      const finish = (err: Error | null): void => {
        close(fd, (closeErr) => {
          const e = err ?? closeErr;
          if (e !== null) reject(e);
          else resolve();
        });
      };
      fstat(fd, (statErr, st) => {
        if (statErr !== null) return finish(statErr);
        if (!st.isFile()) return finish(Object.assign(new Error(`${key}: not a regular file`), { code: 'EEXIST' }));
        let offset = 0;
        const more = (): void => {
          if (offset >= body.byteLength) return finish(null);
          write(fd, body, offset, body.byteLength - offset, null, (writeErr, n) => {
            if (writeErr !== null) return finish(writeErr);
            offset += n;
            more();
          });
        };
        more();
      });
    });
  });
}
