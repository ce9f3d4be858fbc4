/**
 * The few helpers the encryption and compression benches share: flags, means, number
 * formatting and this process's CPU time.
 */

/** `--name N` from the command line, else `dflt`. */
export function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : dflt;
}

/** `--name TEXT` from the command line. */
export function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** A line on stderr (stdout carries the report). */
export function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/** `n` with `d` decimals and thousands separators. */
export function fmt(n: number, d = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** CPU time of this process so far (user + system, all threads), ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
