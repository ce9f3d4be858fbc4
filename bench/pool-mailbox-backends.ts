/**
 * Backend module for the pool mailbox bench: backends that answer GET at once with a fixed
 * body of `size` bytes, built inside each pool worker (and on the main thread for inline).
 */
import { Readable } from 'node:stream';
import type { GetResult, HeadResult, ObjectBackend } from '../src/types.js';

/** `createBackends({ names, size })`: one instant backend per name serving `size`-byte bodies. */
export function createBackends(data: { names: string[]; size: number }): ObjectBackend[] {
  const body = Buffer.alloc(data.size, 0x61);
  return data.names.map((name) => ({
    name,
    head: (): Promise<HeadResult> => Promise.resolve({ size: data.size }),
    get: (): Promise<GetResult> => Promise.resolve({ size: data.size, body: Readable.from([body]) }),
  }));
}
