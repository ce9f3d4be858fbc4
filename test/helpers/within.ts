/**
 * A bounded wait for tests: a process that never exits must fail its test with what it printed,
 * not hang it until the runner's timeout (which reports it cancelled, with no output).
 */

/** `p`'s value, or the text `still waiting for <what> after <ms> ms` if it takes longer. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still waiting for ${what} after ${ms} ms`), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
