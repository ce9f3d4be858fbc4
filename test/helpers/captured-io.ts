/** In-process CLI runs (runCli): stdout and stderr streams, and what was written to each so far. */
import { PassThrough } from 'node:stream';

/** See the module comment. */
export function captured(): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => { out += b.toString(); });
  stderr.on('data', (b: Buffer) => { err += b.toString(); });
  return { stdout, stderr, out: () => out, err: () => err };
}
