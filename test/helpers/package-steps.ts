/**
 * Reading the package log that package-log-hooks.mjs / package-log-require.ts write in a child
 * process: one package name per line as it loads, and `STEP name` lines the child writes
 * between the steps of its life.
 */

/** Packages loaded by the end of each step, from the child's log. */
export function loadedBySteps(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('STEP ')) out.set(line.slice(5), new Set(seen));
    else if (line !== '') seen.add(line);
  }
  return out;
}
