/**
 * A directory this process cannot create files in, even as root (tests run as root here, and
 * root ignores permission bits): mode 0555, and as root the immutable attribute too.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';

const asRoot = process.getuid?.() === 0;

/** Create `dir` unwritable; the returned function makes it removable again. */
export function unwritableDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o555);
  if (asRoot) execFileSync('chattr', ['+i', dir]);
  return () => {
    if (asRoot) execFileSync('chattr', ['-i', dir]);
    chmodSync(dir, 0o755);
  };
}
