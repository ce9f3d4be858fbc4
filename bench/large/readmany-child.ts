/**
 * One timed `readMany` of verified objects, in a process of its own, against a given build of
 * readpath (its `dist/src/index.js`): the stream bench runs this build and an older one side by
 * side to check that large-object support left small reads no slower.
 *
 *   node dist/bench/large/readmany-child.js LIB CONFIG KEYS_FILE
 * prints one JSON line: { reads, ms, readsPerSec, cpuMsPerRead }.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Lib {
  ReadPath: { open(config: string): Promise<{ readMany(keys: string[], opts?: { concurrency?: number }): AsyncIterable<{ ok: boolean }>; close(): Promise<void> }> };
}

const [lib, config, keysFile] = process.argv.slice(2);
if (lib === undefined || config === undefined || keysFile === undefined) throw new Error('usage: readmany-child LIB CONFIG KEYS_FILE');
const { ReadPath } = (await import(pathToFileURL(lib).href)) as Lib;
const keys = readFileSync(keysFile, 'utf8').split('\n').filter((k) => k !== '');
const rp = await ReadPath.open(config);
// One warm-up pass: workers started, sockets open, code optimised.
for await (const o of rp.readMany(keys.slice(0, 64))) if (!o.ok) throw new Error('warm-up read failed');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let ok = 0;
for await (const o of rp.readMany(keys, { concurrency: 64 })) if (o.ok) ok++;
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await rp.close();
if (ok !== keys.length) throw new Error(`${keys.length - ok} reads failed`);
process.stdout.write(`${JSON.stringify({ reads: ok, ms, readsPerSec: (ok / ms) * 1000, cpuMsPerRead: (cpu.user + cpu.system) / 1000 / ok })}\n`);
