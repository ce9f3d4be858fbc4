/**
 * Where a module next to another one is, in the form the other one runs in: its `.ts` source
 * when `here` is a `.ts` file (under tsx, whose `--import` child processes and worker threads
 * inherit), its `.js` build when `here` is in dist/. Entry points started as processes or threads
 * (probe workers, the demo's S3 servers, bench helpers) are found this way.
 */

/** The URL of `relative` (a path without its extension) resolved against `here` (an `import.meta.url`). */
export function siblingModule(here: string, relative: string): URL {
  return new URL(`${relative}${here.endsWith('.ts') ? '.ts' : '.js'}`, here);
}
