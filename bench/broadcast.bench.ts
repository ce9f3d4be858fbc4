/**
 * The broadcast benchmark, one scenario from the command line: the same flags as
 * `readpath bench` (API.md §4).
 *
 *   npm run build && node dist/bench/broadcast.bench.js --latency '*=tail(10,0.02,10)' --json out.json --chart out.svg
 *   node --import tsx bench/broadcast.bench.ts --help
 */
import { benchMain } from './harness/index.js';
import { guardBenchProcess } from './process-guard.js';

// benchMain answers --help itself, with the flag list; the guard handles signals only.
guardBenchProcess(import.meta.url, []);

process.exitCode = await benchMain(process.argv.slice(2));
