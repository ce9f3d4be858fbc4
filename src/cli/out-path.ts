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
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath } from 'node:fs/promises';
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

/** Writes bodies under one directory (see the module comment). */
export class OutDir {
  readonly root: string;
  /** Directories known to be real directories inside root (relative paths). */
  readonly #dirs = new Set<string>(['']);
  readonly #creating = new Map<string, Promise<void>>();

  private constructor(root: string) {
    this.root = root;
  }

  /** Create `dir` when absent and resolve it (symlinks included) once. */
  static async open(dir: string): Promise<OutDir> {
    await mkdir(dir, { recursive: true });
    const root = await realpath(dir);
    const st = await lstat(root);
    if (!st.isDirectory()) throw new Error(`--out ${dir}: not a directory`);
    return new OutDir(root);
  }

  /**
   * Write `body` to root/<key>, replacing an existing file. Returns the path relative to root.
   * Throws INVALID_KEY for keys that cannot map into root, and the filesystem's error otherwise.
   */
  async write(key: string, body: Uint8Array): Promise<string> {
    const problem = outPathProblem(key);
    if (problem !== undefined) throw outPathError(key, problem);
    const segments = key.split('/');
    const target = path.join(this.root, ...segments);
    // Belt and braces: the segment rules above already make this impossible.
    if (!target.startsWith(this.root + path.sep)) throw outPathError(key, 'it resolves outside the directory');
    let rel = '';
    for (const seg of segments.slice(0, -1)) {
      rel = rel === '' ? seg : `${rel}/${seg}`;
      await this.#ensureDir(rel);
    }
    const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error(`${key}: not a regular file`), { code: 'EEXIST' });
      await fh.writeFile(body);
    } finally {
      await fh.close();
    }
    return segments.join('/');
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
