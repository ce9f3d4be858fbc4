/**
 * `mkdir -p` that always ends. Node's `mkdirSync(dir, { recursive: true })` never returns for a
 * path under /proc or /sys (Node 20 and later): there `mkdir` of a missing child answers ENOENT
 * although the parent exists, and Node's walk takes ENOENT to mean "create the parent first",
 * finds it there (EEXIST) and tries the child again, forever, on the main thread, so not even
 * Ctrl-C ends it. Here each missing directory is tried once after its parent exists: a second
 * ENOENT is the answer.
 */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Create `dir` and its missing parents; like `mkdirSync(dir, { recursive: true })`, but finite. */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); ;) {
    try {
      mkdirSync(p);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // As the recursive form: an existing directory (or a link to one) is fine, a file is not.
        if (missing.length === 0 && !isDirectory(p)) throw err;
        break;
      }
      const parent = path.dirname(p);
      if (code !== 'ENOENT' || parent === p) throw err;
      missing.push(p);
      p = parent;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    const p = missing[i] as string;
    try {
      mkdirSync(p);
    } catch (err) {
      // Someone else made it meanwhile; any other error (ENOENT again, ENOTDIR) is final.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(p)) throw err;
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
